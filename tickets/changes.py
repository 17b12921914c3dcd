"""What a change to a ticket's priority, assignee, category or order logs on its history.

One `ticket_changed` interaction per change (an agent's PATCH, a page's Save, a bulk action, a
merge), holding each field's value before and after as a reader sees it: the priority, the
assignee's username, the category's name, the order's number, with the ids beside the names. A
status change keeps its own `status_changed` record (what integrations already read), a
problem link its `incident_linked` / `incident_unlinked`; every service logs those through
`log_ticket_event` here.
"""

from __future__ import annotations

from typing import Any

from customers.interactions import Kind
from customers.outbox import interaction_log
from triage.models import NO_CATEGORY

# Read with the ticket's row (select_related) by the services that change them.
RELATED = ("assignee", "category", "order")

# What set a field, when not the actor's own choice (a change's `by`), as the summary says it.
BY = {
    "category": "the category's default",
    "triage": "triage",
    "rule": "the sentiment rule",
    "words": "the customer's words",
}


def shown(ticket) -> dict[str, tuple[Any, int | None]]:
    """The logged fields of `ticket` as (shown value, id); the priority has no id. A ticket an
    agent decided no category fits shows NO_CATEGORY (no id), so that decision is logged too."""
    if ticket.category_id:
        category = ticket.category.name
    else:
        category = NO_CATEGORY if ticket.no_category_fits else None
    return {
        "category": (category, ticket.category_id),
        "priority": (ticket.priority, None),
        "assignee": (
            ticket.assignee.get_username() if ticket.assignee_id else None,
            ticket.assignee_id,
        ),
        "order": (ticket.order.number if ticket.order_id else None, ticket.order_id),
    }


def log_changes(
    ticket,
    before: dict[str, tuple[Any, int | None]],
    *,
    actor: str,
    by: dict[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Logs what differs between `before` (`shown` of the ticket as it was) and the ticket now,
    in the caller's transaction (outbox rules); nothing when nothing differs. `by` names what
    set a field other than the actor's own choice, one of BY (`{"priority": "category"}`: the
    category's default). Returns the changes logged."""
    changes: dict[str, dict[str, Any]] = {}
    for field, (after, after_id) in shown(ticket).items():
        value, value_id = before[field]
        if (value, value_id) == (after, after_id):
            continue
        change: dict[str, Any] = {"from": value, "to": after}
        if field != "priority":
            change.update(from_id=value_id, to_id=after_id)
        if by and field in by:
            change["by"] = by[field]
        changes[field] = change
    if not changes:
        return changes
    summary = "; ".join(
        f"{field} {change['from'] or '—'} → {change['to'] or '—'}"
        + (f" (by {BY[change['by']]})" if "by" in change else "")
        for field, change in changes.items()
    )
    log_ticket_event(
        ticket,
        kind=Kind.TICKET_CHANGED,
        summary=f"{ticket.number}: {summary}",
        actor=actor,
        data={"changes": changes},
    )
    return changes


def log_ticket_event(ticket, *, kind: str, summary: str, actor: str, data: dict) -> None:
    """Log something that happened to a ticket, in the caller's transaction (outbox rules)."""
    interaction_log(
        customer_id=ticket.customer_id,
        ticket_id=ticket.id,
        kind=kind,
        summary=summary,
        actor=actor,
        data=data,
    )
