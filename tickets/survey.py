"""/survey/<token>: the page a customer rates the handling of their request on, reached from
the links in the e-mail that resolved it (tickets/satisfaction.py). Public: the signed token is
the key. A GET shows the form (the link's rating chosen, the comment box); only its POST
records anything."""

from __future__ import annotations

from django import forms
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from tickets import satisfaction
from tickets.models import Satisfaction


class SurveyForm(forms.Form):
    rating = forms.ChoiceField(choices=Satisfaction.Rating.choices, widget=forms.RadioSelect)
    comment = forms.CharField(
        required=False,
        max_length=satisfaction.MAX_COMMENT,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Anything you would like to tell us? (optional)",
    )


@require_http_methods(["GET", "POST"])
def survey_view(request, token: str):
    try:
        ticket = satisfaction.ticket_of(token)
    except satisfaction.LinkExpired:
        return render(request, "tickets/survey.html", {"gone": "expired"}, status=410)
    except satisfaction.LinkInvalid:
        return render(request, "tickets/survey.html", {"gone": "invalid"}, status=404)
    earlier = satisfaction.current_rating(ticket)
    if request.method == "POST":
        form = SurveyForm(request.POST)
        if form.is_valid():
            rated = satisfaction.satisfaction_record(
                ticket=ticket,
                rating=form.cleaned_data["rating"],
                comment=form.cleaned_data["comment"],
            )
            return render(request, "tickets/survey.html", {"ticket": ticket, "rated": rated})
        status = 400
    else:
        chosen = request.GET.get("rating")
        initial = {"comment": earlier.comment} if earlier else {}
        if chosen in Satisfaction.Rating.values:
            initial["rating"] = chosen
        elif earlier is not None:
            initial["rating"] = earlier.rating
        form, status = SurveyForm(initial=initial), 200
    context = {"ticket": ticket, "form": form, "earlier": earlier}
    return render(request, "tickets/survey.html", context, status=status)
