"""An agent sets a ticket's category (PATCH /tickets/{id}, the admin ticket page): the label
wins over the model's in training, and the change is recorded (triage.models.CategoryCorrection)
so GET /triage/metrics can measure the model against it. No numpy here (the Lambda runs it)."""

from __future__ import annotations

from django.db import transaction

from helpdesk.api.exceptions import InvalidInput
from triage.models import Category, CategoryCorrection


@transaction.atomic
def ticket_categorize(
    *,
    ticket,
    category: Category | None,
    actor: str,
    priority_given: bool = False,
    assignee_given: bool = False,
):
    """Set (or clear, with None) the ticket's category as an agent; returns the saved ticket.

    Setting the category the model applied confirms it (source becomes `agent`, recorded);
    setting what an agent already set is a no-op. The category's default priority and assignee
    follow, as when triage applies it, unless the same change gives its own (`*_given`) or the
    ticket already has an assignee. An inactive category is refused."""
    from tickets.models import Ticket
    from tickets.services import ticket_update

    if category is not None and not category.active:
        raise InvalidInput(
            "This category is inactive.", fields={"category_id": ["An inactive category."]}
        )
    locked = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("customer", "assignee", "category")
        .get(pk=ticket.pk)
    )
    new_id = category.pk if category is not None else None
    if locked.category_id == new_id and (new_id is None or locked.category_source == "agent"):
        return locked
    CategoryCorrection.objects.create(
        ticket=locked,
        previous_id=locked.category_id,
        previous_source=locked.category_source,
        category=category,
        actor=actor[:200],
    )
    locked.category = category
    locked.category_source = "agent" if category is not None else ""
    locked.category_confidence = None
    locked.save(update_fields=["category", "category_source", "category_confidence", "updated_at"])
    if category is None:
        return locked
    priority = category.default_priority if not priority_given else ""
    assignee = (
        category.default_assignee
        if category.default_assignee_id and not assignee_given and locked.assignee_id is None
        else None
    )
    if priority or assignee is not None:
        locked = ticket_update(
            ticket=locked, actor=actor, priority=priority or None, assignee=assignee
        )
    return locked
