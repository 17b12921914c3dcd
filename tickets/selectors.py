"""Reads for tickets: lists, open-ticket summaries and the ticket context (customer 360)."""

from typing import Any

from django.db.models import Count, Q, QuerySet

from customers.interactions import get_interaction_store
from customers.selectors import customer_360, interaction_json
from helpdesk.api.utils import iso
from tickets.models import Suggestion, Ticket

TICKET_HISTORY = 20


def ticket_list() -> QuerySet[Ticket]:
    return Ticket.objects.select_related("customer", "order", "assignee")


def ticket_get(*, ticket_id: int) -> Ticket | None:
    return ticket_list().filter(pk=ticket_id).first()


def open_tickets_summary(*, customer_id: int, limit: int) -> dict[str, Any]:
    """The customer's active tickets (newest first, at most `limit`) and ticket counts."""
    active = Ticket.ACTIVE_STATUSES
    rows = list(
        Ticket.objects.filter(customer_id=customer_id, status__in=active)
        .order_by("-created_at", "-id")
        .values("id", "subject", "status", "priority", "created_at")[:limit]
    )
    counts = Ticket.objects.filter(customer_id=customer_id).aggregate(
        total=Count("id"), open=Count("id", filter=Q(status__in=active))
    )
    items = [
        {
            "id": row["id"],
            "number": f"HD-{row['id']:06d}",
            "subject": row["subject"],
            "status": row["status"],
            "priority": row["priority"],
            "created_at": iso(row["created_at"]),
        }
        for row in rows
    ]
    return {"items": items, "total": counts["total"], "open": counts["open"]}


def suggestion_json(suggestion: Suggestion) -> dict[str, Any]:
    return {
        "id": suggestion.id,
        "rank": suggestion.rank,
        "score": suggestion.score,
        "title": suggestion.title,
        "snippet": suggestion.snippet,
        "source": suggestion.source,
        "article_id": suggestion.article_id,
        "passage_ref": suggestion.passage_ref,
        "backend": suggestion.backend,
    }


def ticket_context(*, ticket: Ticket) -> dict[str, Any]:
    """What an agent sees for a ticket: the ticket, the customer 360, suggestions, history."""
    from tickets.serializers import ticket_json

    store = get_interaction_store()
    suggestions = list(ticket.suggestions.order_by("rank"))
    history = store.for_ticket(ticket.id, limit=TICKET_HISTORY).items
    return {
        "ticket": ticket_json(ticket),
        "customer": customer_360(customer=ticket.customer),
        "suggestions": [suggestion_json(s) for s in suggestions],
        "history": [interaction_json(record) for record in history],
    }
