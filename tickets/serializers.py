"""The ticket's JSON shape, shared by the ticket endpoints and the stored idempotent replies."""

from typing import Any

from helpdesk.api.utils import iso
from tickets.models import Ticket


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "number": ticket.number,
        "customer_id": ticket.customer_id,
        "order_id": ticket.order_id,
        "subject": ticket.subject,
        "body": ticket.body,
        "body_clean": ticket.body_clean,
        "channel": ticket.channel,
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee": ticket.assignee.get_username() if ticket.assignee_id else None,
        "metadata": ticket.metadata,
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "first_response_at": iso(ticket.first_response_at),
        "resolved_at": iso(ticket.resolved_at),
    }
