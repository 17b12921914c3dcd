"""Reads for tickets: lists, open-ticket summaries and the ticket context (customer 360)."""

from typing import Any

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When, Window

from customers.interactions import get_interaction_store
from customers.models import Customer, Order
from customers.selectors import customer_360, interaction_json, order_object_json
from customers.serializers import ORDER_FIELDS
from helpdesk.api.compiled import CompiledRead
from helpdesk.api.utils import iso
from tickets.models import Message, Suggestion, Ticket
from tickets.serializers import SUGGESTION_FIELDS, ticket_json
from triage.models import Category

TICKET_HISTORY = 20
# Ticket ids are a signed 64-bit column: anything larger names no ticket.
_MAX_ID = 2**63 - 1


def ticket_list() -> QuerySet[Ticket]:
    # `ticket_json` shows the assignee's username and only the order's id.
    return Ticket.objects.select_related("customer", "assignee", "category")


_TICKET_FIELDS = tuple(f.attname for f in Ticket._meta.concrete_fields)
_CUSTOMER_FIELDS = tuple(f.attname for f in Customer._meta.concrete_fields)


def _ticket_row(ticket_id: int) -> QuerySet:
    username = get_user_model().USERNAME_FIELD
    return Ticket.objects.filter(pk=ticket_id).values(
        *_TICKET_FIELDS,
        *(f"customer__{name}" for name in _CUSTOMER_FIELDS),
        f"assignee__{username}",
        "category__name",
        # The ticket's order as the context shows it (a LEFT JOIN: no order, NULLs).
        *(f"order__{name}" for name in ORDER_FIELDS),
    )


_ticket = CompiledRead(_ticket_row, int)


def ticket_get(*, ticket_id: int) -> Ticket | None:
    """The ticket with its customer and assignee (username only) loaded, in one query."""
    if not 0 < ticket_id <= _MAX_ID:
        return None
    rows = _ticket.rows(ticket_id)
    if not rows:
        return None
    row = rows[0]
    ticket = Ticket.from_db(DEFAULT_DB_ALIAS, _TICKET_FIELDS, [row[n] for n in _TICKET_FIELDS])
    ticket.customer = Customer.from_db(
        DEFAULT_DB_ALIAS, _CUSTOMER_FIELDS, [row[f"customer__{n}"] for n in _CUSTOMER_FIELDS]
    )
    if ticket.assignee_id is not None:
        user_model = get_user_model()
        username = user_model.USERNAME_FIELD
        # The other fields are deferred: read from the database only if something asks.
        ticket.assignee = user_model.from_db(
            DEFAULT_DB_ALIAS,
            [user_model._meta.pk.attname, username],
            [ticket.assignee_id, row[f"assignee__{username}"]],
        )
    if ticket.category_id is not None:
        ticket.category = Category.from_db(
            DEFAULT_DB_ALIAS, ["id", "name"], [ticket.category_id, row["category__name"]]
        )
    if ticket.order_id is not None:  # the other fields are deferred, as the assignee's
        ticket.order = Order.from_db(
            DEFAULT_DB_ALIAS, ORDER_FIELDS, [row[f"order__{name}"] for name in ORDER_FIELDS]
        )
    return ticket


# One query: active tickets sort first, and the counts are window aggregates over all of the
# customer's tickets (computed before LIMIT); an inactive ticket that fills a slot left over is
# dropped by `open_tickets_summary`.
_is_active = Q(status__in=Ticket.ACTIVE_STATUSES)
_OPEN_TICKETS_ORDER = ("-active", "-created_at", "-id")
# The ticket's own columns in each row (the read adds `active` and the two counts); a ticket
# not yet read gets its row from the same list (open_tickets_with).
_OPEN_TICKETS_COLUMNS = ("id", "subject", "status", "priority", "created_at")
_open_tickets = CompiledRead(
    lambda customer_id, limit: (
        Ticket.objects.filter(customer_id=customer_id)
        .annotate(
            active=Case(
                When(_is_active, then=Value(1)), default=Value(0), output_field=IntegerField()
            ),
            total_count=Window(Count("id")),
            open_count=Window(Count("id", filter=_is_active)),
        )
        .order_by(*_OPEN_TICKETS_ORDER)
        .values(*_OPEN_TICKETS_COLUMNS, "active", "total_count", "open_count")[:limit]
    ),
    int,
)


# For reads that take the open tickets with others in one statement (CompiledReads): the read
# and its ORDER BY.
open_tickets_read = (_open_tickets, _OPEN_TICKETS_ORDER)


def open_tickets_summary(*, customer_id: int, limit: int) -> dict[str, Any]:
    """The customer's active tickets (newest first, at most `limit`) and ticket counts."""
    return open_tickets_summary_of(_open_tickets.rows(customer_id, shape=(limit,)))


def open_tickets_with(
    rows: list[dict[str, Any]], ticket: Ticket, limit: int
) -> list[dict[str, Any]]:
    """`open_tickets_read`'s rows (at most `limit`) as they read once `ticket` is inserted,
    from `rows` read before it in the same transaction: its row added in the read's order
    (_OPEN_TICKETS_ORDER) and the counts taken up by one. POST /tickets reads the customer's
    picture while the KB search runs, before the ticket exists."""
    active = int(ticket.status in Ticket.ACTIVE_STATUSES)
    total = (rows[0]["total_count"] if rows else 0) + 1
    open_count = (rows[0]["open_count"] if rows else 0) + active
    own = {name: getattr(ticket, name) for name in _OPEN_TICKETS_COLUMNS}
    ordered = [*rows, {**own, "active": active}]
    for field in reversed(_OPEN_TICKETS_ORDER):  # stable sorts, least significant first
        name = field.lstrip("-")
        ordered.sort(key=lambda row, name=name: row[name], reverse=field.startswith("-"))
    return [{**row, "total_count": total, "open_count": open_count} for row in ordered[:limit]]


def open_tickets_summary_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """`open_tickets_summary` from the read's rows (`open_tickets_read`)."""
    counts = (
        {"total": rows[0]["total_count"], "open": rows[0]["open_count"]}
        if rows
        else {"total": 0, "open": 0}
    )
    items = [
        {
            "id": row["id"],
            "number": Ticket.number_for(row["id"]),
            "subject": row["subject"],
            "status": row["status"],
            "priority": row["priority"],
            "created_at": iso(row["created_at"]),
        }
        for row in rows
        if row["active"]
    ]
    return {"items": items, **counts}


# The current round only: a follow-up's suggestions supersede the earlier ones (which stay,
# for feedback, and are listed with `superseded_at` by the ticket's suggestion history).
_suggestions = CompiledRead(
    lambda ticket_id: (
        Suggestion.objects.filter(ticket_id=ticket_id, superseded_at__isnull=True)
        .order_by("rank")
        .values(*SUGGESTION_FIELDS)
    ),
    int,
)


def suggestions_current(*, ticket_id: int) -> list[dict[str, Any]]:
    """The ticket's current round of suggestions, best first, as the API shows them."""
    return _suggestions.rows(ticket_id)


# --- the conversation -------------------------------------------------------------------------

# The context shows the newest messages of a long thread (oldest first among them); the whole
# thread is paged by GET /tickets/{id}/messages.
CONTEXT_MESSAGES = 50

MESSAGE_FIELDS = (
    "id",
    "ticket_id",
    "role",
    "kind",
    "body",
    "body_clean",
    "channel",
    "author",
    "sender_address",
    "email_message_id",
    "email_in_reply_to",
    "email_references",
    "created_at",
    "sent_at",
    "email_failed_at",
    "email_error",
)


def message_list(*, ticket_id: int) -> QuerySet[Message]:
    """A ticket's messages, oldest first."""
    return Message.objects.filter(ticket_id=ticket_id).order_by("created_at", "id")


def message_json(message: Message | dict[str, Any]) -> dict[str, Any]:
    get = message.get if isinstance(message, dict) else lambda name: getattr(message, name)
    row = {name: get(name) for name in MESSAGE_FIELDS}
    row["created_at"] = iso(row["created_at"])
    row["sent_at"] = iso(row["sent_at"])
    row["email_failed_at"] = iso(row["email_failed_at"])
    # An agent reply is e-mailed through the outbox: `sent` once it left, `queued` before,
    # `failed` when it did not reach the customer (tickets/delivery.py; `email_error` says why).
    row["email_status"] = (
        ("failed" if row["email_failed_at"] else "sent" if row["sent_at"] else "queued")
        if row["role"] == Message.Role.AGENT
        and row["kind"] == Message.Kind.REPLY
        and row["email_message_id"]
        else None
    )
    return row


_recent_messages = CompiledRead(
    lambda ticket_id, limit: (
        Message.objects.filter(ticket_id=ticket_id)
        .order_by("-created_at", "-id")
        .values(*MESSAGE_FIELDS)[:limit]
    ),
    int,
)


def conversation_recent(*, ticket_id: int, limit: int = CONTEXT_MESSAGES) -> list[dict[str, Any]]:
    """The newest `limit` messages, oldest first, in one query."""
    rows = _recent_messages.rows(ticket_id, shape=(limit,))
    return [message_json(row) for row in reversed(rows)]


def ticket_context(*, ticket: Ticket) -> dict[str, Any]:
    """What an agent sees for a ticket: the ticket, the customer 360, suggestions, history."""
    history = get_interaction_store().for_ticket(ticket.id, limit=TICKET_HISTORY).items
    decision = ticket.triage if isinstance(ticket.triage, dict) else {}
    return {
        "ticket": ticket_json(ticket),
        # The order the ticket is about, whether or not it is among the customer's recent ones.
        "order": order_object_json(ticket.order) if ticket.order_id is not None else None,
        "customer": customer_360(customer=ticket.customer),
        "suggestions": suggestions_current(ticket_id=ticket.id),
        # Why the current suggestions are what they are (kept with the triage decision by
        # arrival and by a customer's follow-up; the admin ticket page shows it too).
        "suggestions_note": decision.get("suggestions_note", ""),
        "conversation": conversation_recent(ticket_id=ticket.id),
        "history": [interaction_json(record) for record in history],
    }
