"""The customer rates how their request was handled (tickets/satisfaction.py): the links in the
e-mail that resolves the ticket, the public page they open (signed, dated links; only a POST
records), the history, the ticket page and the dashboard."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from customers.models import Interaction
from tests.factories import TicketFactory
from tests.tickets.test_email_out import emailed_ticket, reply
from tickets.models import Satisfaction, Ticket

pytestmark = pytest.mark.django_db

PUBLIC = "https://help.brightside.example"


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.HELPDESK_PUBLIC_URL = PUBLIC


def resolved_with_links(api, django_capture_on_commit_callbacks) -> tuple[Ticket, dict[str, str]]:
    """Ana's ticket resolved by a reply: the survey links its e-mail carries, by rating."""
    ticket = emailed_ticket()
    with django_capture_on_commit_callbacks(execute=True):
        reply(api, ticket, "Hi Ana,\na new jar ships today.", status="resolved")
    (sent,) = mail.outbox
    links = dict(re.findall(rf"({PUBLIC}/survey/\S+\?rating=(good|bad))", sent.body))
    return ticket, {rating: url for url, rating in links.items()}


def path_of(url: str) -> str:
    return url.removeprefix(PUBLIC)


def test_the_reply_that_resolves_a_ticket_asks_how_it_went(api, django_capture_on_commit_callbacks):
    ticket, links = resolved_with_links(api, django_capture_on_commit_callbacks)

    assert set(links) == {"good", "bad"}
    (sent,) = mail.outbox
    assert "How did we do? Good: " in sent.body
    html = sent.alternatives[0][0]
    assert "Good, I'm satisfied" in html and links["bad"].replace("&", "&amp;") in html

    # A reply that does not resolve asks nothing; nor does any reply without a public address.
    other = TicketFactory(customer__email="ben@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        reply(api, other, "Looking into it.", status="pending")
    assert "/survey/" not in mail.outbox[-1].body
    assert ticket.status != Ticket.Status.CLOSED


def test_no_links_without_a_public_address(api, settings, django_capture_on_commit_callbacks):
    settings.HELPDESK_PUBLIC_URL = ""
    ticket = emailed_ticket()
    with django_capture_on_commit_callbacks(execute=True):
        reply(api, ticket, "Done.", status="resolved")
    assert "/survey/" not in mail.outbox[-1].body and "How did we do" not in mail.outbox[-1].body


def test_a_customer_rates_it_in_two_clicks_and_can_change_their_mind(
    api, django_capture_on_commit_callbacks
):
    ticket, links = resolved_with_links(api, django_capture_on_commit_callbacks)
    customer = Client(enforce_csrf_checks=True)  # as a browser: the form's CSRF token

    page = customer.get(path_of(links["good"]))  # a mail scanner following the link: no rating
    assert page.status_code == 200
    html = page.content.decode()
    assert f"{ticket.number}: Re: Cracked jar" in html
    assert re.search(r'value="good"[^>]*checked', html)
    assert not Satisfaction.objects.exists()

    token = customer.cookies["csrftoken"].value
    form = {"rating": "good", "comment": "Quick and kind.", "csrfmiddlewaretoken": token}
    thanks = customer.post(path_of(links["good"]).split("?")[0], form)

    assert thanks.status_code == 200 and "Thank you!" in thanks.content.decode()
    rated = Satisfaction.objects.get(ticket=ticket)
    assert (rated.rating, rated.comment) == ("good", "Quick and kind.")
    logged = Interaction.objects.get(ticket_id=ticket.pk, kind="satisfaction_rated")
    assert logged.actor == "customer:ana@example.com"
    assert logged.data == {"rating": "good", "comment": "Quick and kind.", "previous": None}
    assert logged.summary == f"{ticket.number}: the customer rated it good: “Quick and kind.”"

    # Later, from the other link: the page says what they said before; sending replaces it.
    again = customer.get(path_of(links["bad"])).content.decode()
    assert "You rated it good on" in again
    assert re.search(r'value="bad"[^>]*checked', again) and "Quick and kind." in again
    form = {"rating": "bad", "comment": "", "csrfmiddlewaretoken": token}
    sorry = customer.post(path_of(links["bad"]).split("?")[0], form).content.decode()
    assert "We are sorry it did not go well" in sorry
    rated = Satisfaction.objects.get(ticket=ticket)
    assert (rated.rating, rated.comment) == ("bad", "")
    summaries = list(
        Interaction.objects.filter(kind="satisfaction_rated")
        .order_by("id")
        .values_list("summary", flat=True)
    )
    assert summaries[-1] == f"{ticket.number}: the customer rated it bad (was good)"


def test_a_post_without_the_forms_token_is_refused(api, django_capture_on_commit_callbacks):
    _, links = resolved_with_links(api, django_capture_on_commit_callbacks)
    forged = Client(enforce_csrf_checks=True).post(
        path_of(links["good"]).split("?")[0], {"rating": "good"}
    )
    assert forged.status_code == 403
    assert not Satisfaction.objects.exists()


def test_a_bad_rating_is_a_form_error_and_records_nothing(api, django_capture_on_commit_callbacks):
    _, links = resolved_with_links(api, django_capture_on_commit_callbacks)
    url = path_of(links["good"]).split("?")[0]
    for form in ({"rating": "excellent"}, {}, {"rating": "good", "comment": "x" * 2001}):
        answer = Client().post(url, form)
        assert answer.status_code == 400, form
        assert "errorlist" in answer.content.decode()
    assert not Satisfaction.objects.exists()


def test_links_that_are_not_ours_or_too_old_say_so_as_a_page(
    api, django_capture_on_commit_callbacks
):
    ticket, links = resolved_with_links(api, django_capture_on_commit_callbacks)
    url = path_of(links["good"])
    token = url.split("/survey/")[1].split("?")[0]
    visitor = Client()

    for bad in ("nonsense", token[:-2] + "xx", token.replace(":", "", 1)):
        answer = visitor.get(f"/survey/{bad}")
        assert answer.status_code == 404
        assert answer["Content-Type"].startswith("text/html")
        assert "This link is not valid" in answer.content.decode()
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        expired = visitor.post(url.split("?")[0], {"rating": "good"})
    assert expired.status_code == 410 and "This link has expired" in expired.content.decode()
    Ticket.objects.filter(pk=ticket.pk).delete()
    assert visitor.get(url).status_code == 404
    assert not Satisfaction.objects.exists()
