"""The ticket page: what an agent works a ticket from.

The customer's words (read-only), the conversation, a reply box and a note box, status /
priority / assignee controls, the KB suggestions with "insert" and feedback buttons, the
customer 360 and the ticket's history. Every write goes through tickets.services, exactly as the
API's, so the same change made here or through the API has the same effects (transitions,
timestamps, e-mail through the outbox, interactions). Reads are the API's selectors: the page
costs the same few queries for any ticket, thread or customer.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse

from customers.interactions import get_interaction_store
from customers.mentions import orders_mentioned, texts_of
from customers.models import Order
from customers.selectors import (
    RECENT_INTERACTIONS,
    customer_360,
    interaction_cursor,
    interaction_json,
)
from helpdesk.api.exceptions import HelpdeskError
from helpdesk.auth import actor_of
from tickets import delivery, selectors, services
from tickets.admin.queue import ticket_number_in
from tickets.macros import macro_render
from tickets.models import Attachment, Feedback, IncidentReply, Macro, Message, Ticket
from tickets.satisfaction import current_rating
from triage import similar_base as similar
from triage.corrections import ticket_categorize
from triage.models import Category

logger = logging.getLogger(__name__)

TEMPLATE = "admin/tickets/ticket/workspace.html"
KEEP_STATUS = ""
# The page lists this many macros (by name); more is a sign they need folders, not a longer page.
MACROS_SHOWN = 50
CHANNEL_LABELS = dict(Message.CHANNELS)


class MessageForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), strip=True)
    status = forms.ChoiceField(
        required=False,
        choices=[(KEEP_STATUS, "and keep the status"), *Ticket.Status.choices],
        help_text="A status to move the ticket to with this message (the allowed changes only).",
    )
    # On a problem ticket's reply: also to every open incident's customer (services.problem_reply).
    incidents = forms.BooleanField(required=False)


ORDERS_OFFERED = 50


class OrderChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Order) -> str:
        return f"{obj.number} · {obj.status} · {obj.placed_at:%Y-%m-%d}"


NO_CATEGORY_FITS = "none"  # the Category menu's "None of these categories"


class _CategoryChoices(forms.models.ModelChoiceIterator):
    def __iter__(self):
        choices = super().__iter__()
        yield next(choices)  # the empty choice: not decided
        yield (NO_CATEGORY_FITS, "None of these categories")
        yield from choices


class CategoryChoiceField(forms.ModelChoiceField):
    """The active categories, "—" (not decided) and "None of these categories" (an agent's
    decision, NO_CATEGORY_FITS: triage trains on it as out of scope)."""

    iterator = _CategoryChoices

    def to_python(self, value):
        return NO_CATEGORY_FITS if value == NO_CATEGORY_FITS else super().to_python(value)


class ControlsForm(forms.Form):
    # Every status validates: a change the rules forbid is the service's to refuse (a page
    # opened before someone else closed the ticket), with its own message. The menu offers
    # only the allowed ones.
    status = forms.ChoiceField(choices=Ticket.Status.choices)
    priority = forms.ChoiceField(choices=Ticket.Priority.choices)
    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(), required=False, empty_label="Unassigned"
    )
    # A change here is an agent's label: recorded as a correction of triage (triage/corrections).
    # "None of these categories" (or "—" on a ticket that has one) is the agent's decision
    # that no category fits: also a label (triage trains on it as out of scope).
    category = CategoryChoiceField(
        queryset=Category.objects.filter(active=True), required=False, empty_label="—"
    )
    # One of the customer's orders (the newest ORDERS_OFFERED, and the ticket's own): a change
    # here is the agent's (order_source `agent`).
    order = OrderChoiceField(queryset=Order.objects.none(), required=False, empty_label="No order")
    # The problem ticket this one is an incident of, by number ("HD-000123", "#123", "123");
    # empty: none (services.ticket_link_problem).
    problem = forms.CharField(
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"placeholder": "HD-000123", "size": 10}),
    )

    def clean_problem(self) -> int | None:
        value = self.cleaned_data["problem"].strip()
        if not value:
            return None
        number, _ = ticket_number_in(value)
        if number is None or number < 1:
            raise forms.ValidationError("A ticket number, such as HD-000123.")
        return number

    def __init__(self, *args, ticket: Ticket, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = (
            get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username")
        )
        newest = Order.objects.filter(customer_id=ticket.customer_id).order_by("-placed_at", "-id")
        self.fields["order"].queryset = Order.objects.filter(
            Q(pk__in=newest.values("pk")[:ORDERS_OFFERED]) | Q(pk=ticket.order_id)
        ).order_by("-placed_at", "-id")
        allowed = {ticket.status, *Ticket.TRANSITIONS[ticket.status]}
        self.fields["status"].widget.choices = [
            (value, label) for value, label in Ticket.Status.choices if value in allowed
        ]


class MergeForm(forms.Form):
    duplicate = forms.IntegerField(min_value=1, max_value=2**63 - 1)


class IncidentForm(forms.Form):
    incident = forms.IntegerField(min_value=1, max_value=2**63 - 1)


class ResendForm(forms.Form):
    message = forms.IntegerField(min_value=1, max_value=2**63 - 1)


class FeedbackForm(forms.Form):
    VERDICTS = {
        "helpful": (True, False),
        "not_helpful": (False, False),
        "resolved": (True, True),
    }
    suggestion = forms.IntegerField(min_value=1)
    verdict = forms.ChoiceField(choices=[(v, v) for v in VERDICTS])


def ticket_page(model_admin, request, object_id: str) -> TemplateResponse | HttpResponseRedirect:
    ticket = selectors.ticket_get(ticket_id=int(object_id)) if object_id.isdigit() else None
    if ticket is None:
        raise Http404("No such ticket.")
    if not model_admin.has_view_or_change_permission(request, ticket):
        raise PermissionDenied
    forms_ = {
        "reply": MessageForm(prefix="reply"),
        "note": MessageForm(prefix="note"),
        "controls": ControlsForm(
            prefix="controls",
            ticket=ticket,
            initial={
                "status": ticket.status,
                "priority": ticket.priority,
                "assignee": ticket.assignee_id,
                "category": NO_CATEGORY_FITS if ticket.no_category_fits else ticket.category_id,
                "order": ticket.order_id,
                "problem": Ticket.number_for(ticket.problem_id) if ticket.problem_id else "",
            },
        ),
    }
    if request.method == "POST":
        action = request.POST.get("_action", "")
        handler = ACTIONS.get(action)
        if handler is None:
            raise PermissionDenied  # not a form of this page
        permission, handle = handler
        if not request.user.has_perm(permission):
            raise PermissionDenied
        try:
            done = handle(request, ticket, forms_)
        except HelpdeskError as exc:  # the service said no: nothing was written
            messages.error(request, str(exc))
            return HttpResponseRedirect(request.path)
        if done:
            messages.success(request, done)
            return HttpResponseRedirect(request.path)
        # A form error: shown with the page.
    return TemplateResponse(
        request,
        TEMPLATE,
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "title": f"{ticket.number} {ticket.subject}",
            "subtitle": None,
            "ticket": ticket,
            "forms": forms_,
            "can_write": request.user.has_perm("tickets.add_message"),
            "can_change": model_admin.has_change_permission(request, ticket),
            "can_feedback": request.user.has_perm("tickets.add_feedback"),
            "can_view_attachments": request.user.has_perm("tickets.view_attachment"),
            **page_data(
                ticket,
                actor=actor_of(request),
                history_before=interaction_cursor(request.GET.get("history_before")),
            ),
            "macros": [
                {
                    "name": macro.name,
                    "text": macro_render(body=macro.body, ticket=ticket, user=request.user),
                }
                for macro in Macro.objects.order_by("name")[:MACROS_SHOWN]
            ],
        },
    )


def _message(kind: str):
    def handle(request, ticket: Ticket, forms_: dict) -> str | None:
        form = MessageForm(request.POST, prefix=kind)
        forms_[kind] = form
        if not form.is_valid():
            return None
        incidents = ""
        if kind == Message.Kind.REPLY and form.cleaned_data["incidents"]:
            replied = services.problem_reply(
                problem=ticket,
                body=form.cleaned_data["body"],
                status=form.cleaned_data["status"] or None,
                actor=actor_of(request),
                user=request.user,
            )
            posted = replied.posted
            incidents = f" Also sent to the customers of {len(replied.incidents)} incident(s)."
            if replied.failed:
                numbers = ", ".join(Ticket.number_for(pk) for pk in replied.failed)
                incidents += f" Not posted on {numbers} (see the log)."
            if replied.queued:
                incidents += (
                    f" {len(replied.queued)} more are queued: the scheduled drain posts and "
                    "e-mails them."
                )
        else:
            posted = services.message_create(
                ticket=ticket,
                kind=kind,
                body=form.cleaned_data["body"],
                status=form.cleaned_data["status"] or None,
                # A note is written here, not through the API; a reply still leaves as e-mail.
                channel=Message.WORKSPACE if kind == Message.Kind.NOTE else None,
                actor=actor_of(request),
                user=request.user,
            )
        if kind == Message.Kind.NOTE:
            return "Note added."
        if posted.message.sent_at:
            return f"Reply sent to {ticket.customer.email}.{incidents}"
        return f"Reply to {ticket.customer.email} queued: the outbox sends it.{incidents}"

    return handle


def _controls(request, ticket: Ticket, forms_: dict) -> str | None:
    form = ControlsForm(request.POST, prefix="controls", ticket=ticket)
    forms_["controls"] = form
    if not form.is_valid():
        return None
    assignee = form.cleaned_data["assignee"]
    category = form.cleaned_data["category"]
    order = form.cleaned_data["order"]
    order_changed = (order.pk if order else None) != ticket.order_id
    order_change = {
        "order": order if order_changed else None,
        "unlink_order": order_changed and order is None,
    }
    if form.cleaned_data["problem"] != ticket.problem_id:
        ticket = services.ticket_link_problem(
            ticket=ticket, problem_id=form.cleaned_data["problem"], actor=actor_of(request)
        )
    # "—" leaves an undecided ticket as it is; on one with a category it removes it, which is
    # the decision "None of these categories" makes.
    no_fit = category == NO_CATEGORY_FITS
    category = None if no_fit else category
    changed = (category.pk if category else None) != ticket.category_id
    if changed or (no_fit and not ticket.no_category_fits):
        priority_given = form.cleaned_data["priority"] != ticket.priority
        assignee_given = (assignee.pk if assignee else None) != ticket.assignee_id
        categorized = ticket_categorize(
            ticket=ticket,
            category=category,
            actor=actor_of(request),
            priority_given=priority_given,
            assignee_given=assignee_given,
        )
        # What the category's defaults set stays unless the agent chose otherwise here.
        services.ticket_update(
            ticket=categorized,
            actor=actor_of(request),
            status=form.cleaned_data["status"],
            priority=form.cleaned_data["priority"] if priority_given else None,
            assignee=assignee if assignee_given else None,
            unassign=assignee_given and assignee is None,
            **order_change,
        )
        return f"{ticket.number} updated."
    services.ticket_update(
        ticket=ticket,
        actor=actor_of(request),
        status=form.cleaned_data["status"],
        priority=form.cleaned_data["priority"],
        assignee=assignee,
        unassign=assignee is None,
        **order_change,
    )
    return f"{ticket.number} updated."


def _feedback(request, ticket: Ticket, forms_: dict) -> str | None:
    form = FeedbackForm(request.POST)
    if not form.is_valid():
        raise PermissionDenied  # only the page's own buttons post this
    helpful, resolved = FeedbackForm.VERDICTS[form.cleaned_data["verdict"]]
    recorded = services.feedback_create(
        ticket=ticket,
        suggestion_id=form.cleaned_data["suggestion"],
        helpful=helpful,
        resolved=resolved,
        actor=actor_of(request),
        user=request.user,
    )
    what = "resolved the ticket" if resolved else ("helped" if helpful else "did not help")
    verb = "Recorded" if recorded.created else "Updated"
    return f"{verb}: “{recorded.feedback.suggestion.title}” {what}."


def _merge(request, ticket: Ticket, forms_: dict) -> str | None:
    """A duplicate of the same customer (from "Similar open tickets" or "Other open tickets")
    merged into the ticket on the page: services.ticket_merge, as POST /tickets/{id}/merge."""
    form = MergeForm(request.POST)
    if not form.is_valid():
        raise PermissionDenied  # only the page's own buttons post this
    merged = services.ticket_merge(
        ticket=Ticket(pk=form.cleaned_data["duplicate"]),
        into_id=ticket.pk,
        actor=actor_of(request),
        user=request.user,
        channel=Message.WORKSPACE,
    )
    if not merged.merged:
        return f"{merged.ticket.number} was already merged into this ticket."
    return (
        f"{merged.ticket.number} “{merged.ticket.subject}” was merged into this ticket and "
        "closed; its customer's messages are in the note below."
    )


def _link_incident(request, ticket: Ticket, forms_: dict) -> str | None:
    """Another customer's ticket (from "Similar open tickets") made an incident of the ticket
    on the page: services.ticket_link_problem, as PATCH /tickets/{id} `problem_id`."""
    form = IncidentForm(request.POST)
    if not form.is_valid():
        raise PermissionDenied  # only the page's own buttons post this
    incident = services.ticket_link_problem(
        ticket=Ticket(pk=form.cleaned_data["incident"]),
        problem_id=ticket.pk,
        actor=actor_of(request),
    )
    return f"{incident.number} is now an incident of this ticket."


def _unlink_problem(request, ticket: Ticket, forms_: dict) -> str | None:
    if ticket.problem_id is None:
        return "This ticket is not an incident."
    number = Ticket.number_for(ticket.problem_id)
    services.ticket_link_problem(ticket=ticket, problem_id=None, actor=actor_of(request))
    return f"This ticket is no longer an incident of {number}."


def _resend(request, ticket: Ticket, forms_: dict) -> str | None:
    """A reply that was not delivered, sent again to the customer's address as it is now
    (tickets/delivery.py `reply_resend`, as POST …/messages/{id}/resend)."""
    form = ResendForm(request.POST)
    if not form.is_valid():
        raise PermissionDenied  # only the page's own buttons post this
    message = Message.objects.filter(ticket=ticket, pk=form.cleaned_data["message"]).first()
    if message is None:
        raise PermissionDenied
    delivery.reply_resend(message=message, actor=actor_of(request))
    return f"The reply is sent again to {ticket.customer.email}."


ACTIONS = {
    "reply": ("tickets.add_message", _message(Message.Kind.REPLY)),
    "resend": ("tickets.add_message", _resend),
    "note": ("tickets.add_message", _message(Message.Kind.NOTE)),
    "update": ("tickets.change_ticket", _controls),
    "feedback": ("tickets.add_feedback", _feedback),
    "merge": ("tickets.change_ticket", _merge),
    "link_incident": ("tickets.change_ticket", _link_incident),
    "unlink_problem": ("tickets.change_ticket", _unlink_problem),
}


def _attachments_of(message_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The files of the messages shown, in one query, by message id."""
    found: dict[int, list[dict[str, Any]]] = {}
    rows = Attachment.objects.filter(message_id__in=message_ids).values(
        "id", "message_id", "name", "content_type", "size", "skipped"
    )
    for row in rows.order_by("message_id", "id"):
        found.setdefault(row["message_id"], []).append(row)
    return found


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def page_data(ticket: Ticket, *, actor: str, history_before: str | None = None) -> dict[str, Any]:
    """What the page shows, read as the API's /context reads it (bounded queries); an
    interaction-store outage leaves the history out and says so, never fails the page. The
    history shows the newest events, or those older than `history_before`."""
    store = get_interaction_store()
    degraded = []
    history_page = None
    try:
        history_page = store.for_ticket(
            ticket.id, limit=selectors.TICKET_HISTORY, before=history_before
        )
        history = history_page.items
        recent = store.for_customer(ticket.customer_id, limit=RECENT_INTERACTIONS).items
    except Exception:
        logger.exception("Reading interactions for the ticket page failed")
        history, recent = [], []
        degraded.append("interactions")
    customer = customer_360(customer=ticket.customer, interactions=recent)
    for row in customer["recent_orders"]:
        row["placed_at"] = _when(row["placed_at"])
    for row in [*customer["recent_interactions"]]:
        row["occurred_at"] = _when(row["occurred_at"])
    customer["other_open_tickets"] = [
        {**row, "created_at": _when(row["created_at"])}
        for row in customer["open_tickets"]
        if row["id"] != ticket.id
    ]

    conversation = selectors.conversation_recent(ticket_id=ticket.id)
    attachments = _attachments_of([row["id"] for row in conversation])
    for row in conversation:
        row["channel_label"] = CHANNEL_LABELS.get(row["channel"], row["channel"])
        row["attachments"] = attachments.get(row["id"], [])
        row["created_at"] = _when(row["created_at"])
        row["sent_at"] = _when(row["sent_at"])
        # A customer's quoted history, signature, greeting: kept, folded away under the new
        # words. What an agent sent is shown as sent.
        clean = row["body_clean"].strip()
        from_customer = row["role"] == Message.Role.CUSTOMER
        row["shown"] = clean if from_customer and clean else row["body"]
        row["folded"] = from_customer and bool(clean) and clean != row["body"].strip()

    suggestions = selectors.suggestions_current(ticket_id=ticket.id)
    given = {
        row["suggestion_id"]: row
        for row in Feedback.objects.filter(
            suggestion_id__in=[s["id"] for s in suggestions], submitted_by=actor[:200]
        ).values("suggestion_id", "helpful", "resolved")
    }
    for row in suggestions:
        link = row["source"] if row["source"].startswith(("http://", "https://")) else ""
        row["link"] = link
        row["insert"] = f"{row['snippet'].strip()}\n\n{link}".strip()
        answer = given.get(row["id"])
        row["verdict"] = (
            None
            if answer is None
            else "resolved"
            if answer["resolved"]
            else "helpful"
            if answer["helpful"]
            else "not_helpful"
        )
    decision = ticket.triage if isinstance(ticket.triage, dict) else {}
    similar, similar_note = _similar(ticket)
    return {
        "similar": similar,
        "similar_note": similar_note,
        "active": ticket.status in Ticket.ACTIVE_STATUSES,
        "merged_into": (
            {"id": ticket.merged_into_id, "number": Ticket.number_for(ticket.merged_into_id)}
            if ticket.merged_into_id
            else None
        ),
        "problem": (
            {"id": ticket.problem_id, "number": Ticket.number_for(ticket.problem_id)}
            if ticket.problem_id
            else None
        ),
        **_incidents(ticket),
        "merged_here": [
            {**row, "number": Ticket.number_for(row["id"])}
            for row in Ticket.objects.filter(merged_into_id=ticket.pk)
            .order_by("id")
            .values("id", "subject")[:MERGED_SHOWN]
        ],
        "customer": customer,
        "conversation": conversation,
        # The customer's rating from the e-mail that resolved the ticket, if they gave one.
        "satisfaction": current_rating(ticket),
        "suggestions": suggestions,
        # Why the suggestions are what they are (a ticket or follow-up in another language
        # than the KB's: triage.arrival), kept with the decision; "" for most tickets.
        "suggestions_note": decision.get("suggestions_note") or "",
        "triage": _triage_shown(ticket, decision),
        "orders_mentioned": _orders_mentioned(ticket, customer["recent_orders"]),
        "history": [
            {
                **interaction_json(record),
                "occurred_at": record.occurred_at,
                "channel_label": CHANNEL_LABELS.get((record.data or {}).get("channel"), ""),
            }
            for record in history
        ],
        # "Older events" (None on the last page), and whether this is an older page.
        "history_older": history_page.next_cursor if history_page else None,
        "history_before": history_before,
        "degraded": degraded,
    }


def _orders_mentioned(ticket: Ticket, recent_orders: list[dict]) -> list[dict[str, Any]]:
    """While the ticket has no order: the customer's recent orders its words name (several,
    which arrival left for an agent, or one an agent unlinked), to choose from."""
    if ticket.order_id is not None:
        return []
    texts = texts_of(ticket.body, ticket.body_clean, ticket.subject)
    named = orders_mentioned(texts, [(row["id"], row["number"]) for row in recent_orders])
    return [{"id": order_id, "number": number} for order_id, number in named]


SIMILAR_SHOWN = 5
MERGED_SHOWN = 20


def _triage_shown(ticket: Ticket, decision: dict[str, Any]) -> dict[str, Any]:
    """What triage read and, while the ticket has no category and no agent has decided that
    none fits, what it proposed: the
    language (its name), the sentiment, and a category below the threshold (`suggested`) or
    none that fits (`out_of_scope`). The API answers these on arrival; here an agent sees them
    where the category is chosen."""
    from django.utils.translation import get_language_info

    from triage import arrival

    language = ticket.language
    try:
        language_name = get_language_info(language)["name"] if language else ""
    except KeyError:  # a code Django has no name for
        language_name = language
    shown: dict[str, Any] = {
        "language": language,
        "language_name": language_name,
        "sentiment": ticket.sentiment,
        "sentiment_score": ticket.sentiment_score,
        "status": "",
    }
    status = decision.get("status")
    if ticket.category_id is not None or ticket.no_category_fits:
        return shown
    if status not in (arrival.SUGGESTED, arrival.OUT_OF_SCOPE):
        return shown
    shown["status"] = status
    shown["confidence"] = decision.get("confidence")
    shown["threshold"] = decision.get("threshold") or settings.TRIAGE_APPLY_THRESHOLD
    if status == arrival.SUGGESTED:
        category = Category.objects.filter(pk=decision.get("category_id"), active=True).first()
        if category is None:  # deleted or made inactive since: nothing to propose
            shown["status"] = ""
        else:
            shown["category"] = {"id": category.pk, "name": category.name}
    return shown


def _similar(ticket: Ticket) -> tuple[list[dict[str, Any]], str]:
    """The open tickets that look like this one (GET /tickets/{id}/similar at its default
    threshold), and why there are none to show when it cannot tell: the ticket has no
    embedding and none can be made (SIMILAR_ENCODER=local without the local encoder, Bedrock
    failing), or it failed (logged; the page still renders)."""
    if ticket.status not in Ticket.ACTIVE_STATUSES:
        return [], ""
    try:
        found = similar.similar_tickets(
            ticket=ticket, threshold=settings.SIMILAR_TICKETS_THRESHOLD, limit=SIMILAR_SHOWN
        )
    except similar.EmbeddingUnavailable as exc:
        logger.warning("No similar tickets for %s: %s", ticket.number, exc)
        return [], "Similar tickets: this ticket has no embedding, and none can be made just now."
    except Exception:
        logger.exception("Reading similar tickets for the ticket page failed")
        return [], "Similar tickets could not be read just now."
    return [
        {
            "id": item.ticket.pk,
            "number": item.ticket.number,
            "subject": item.ticket.subject,
            "status": item.ticket.status,
            "customer_email": item.ticket.customer.email,
            "similarity": item.similarity,
            "same_customer": item.relation == similar.PROBABLE_DUPLICATE,
            "problem_id": item.ticket.problem_id,
        }
        for item in found
    ], ""


INCIDENTS_SHOWN = 50


def _incidents(ticket: Ticket) -> dict[str, Any]:
    """A problem ticket's incidents (the newest INCIDENTS_SHOWN, with their customers), how
    many are open (a reply can go to their customers), and its replies to them still queued or
    refused: two queries, three for a larger outage; none for a ticket with no incidents."""
    rows = list(
        Ticket.objects.filter(problem_id=ticket.pk)
        .order_by("-id")
        .values("id", "subject", "status", "customer__email")[: INCIDENTS_SHOWN + 1]
    )
    for row in rows:
        row["number"] = Ticket.number_for(row["id"])
    shown = rows[:INCIDENTS_SHOWN]
    open_ = sum(r["status"] in Ticket.ACTIVE_STATUSES for r in shown)
    if len(rows) > INCIDENTS_SHOWN:  # a large outage: count the rest too
        open_ = Ticket.objects.filter(
            problem_id=ticket.pk, status__in=Ticket.ACTIVE_STATUSES
        ).count()
    # A reply sent to the incidents past INCIDENT_REPLIES_INLINE: what still waits for the
    # drain, and what was refused (services.problem_reply); one more query, on problems only.
    replies = (
        list(
            IncidentReply.objects.filter(reply__ticket_id=ticket.pk)
            .order_by("incident_id")
            .values_list("incident_id", "failed_at", "last_error")
        )
        if rows
        else []
    )
    return {
        "incidents": shown,
        "incidents_more": len(rows) > INCIDENTS_SHOWN,
        "incidents_open": open_,
        "incident_replies_waiting": sum(failed is None for _, failed, _ in replies),
        "incident_replies_refused": [
            {"number": Ticket.number_for(pk), "reason": reason}
            for pk, failed, reason in replies
            if failed is not None
        ],
    }
