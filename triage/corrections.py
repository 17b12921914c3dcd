"""An agent sets a ticket's category (PATCH /tickets/{id}, the admin ticket page): the label
wins over the model's in training, and the change is recorded (triage.models.CategoryCorrection)
so GET /triage/metrics can measure the model against it. No numpy here (the Lambda runs it)."""

from __future__ import annotations

from django.db import transaction

from helpdesk.api.exceptions import InvalidInput
from triage.defaults import category_defaults
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
    """Set the ticket's category as an agent, or with None decide that no category fits;
    returns the saved ticket.

    Setting the category the model applied confirms it (source becomes `agent`, recorded);
    setting what an agent already set is a no-op. None is a decision too (source `agent`, no
    category): the model trains on such tickets as out of scope (models.NO_CATEGORY), so it
    learns to leave tickets like them ("Help", "Hello?") for an agent instead of guessing.

    The category's default priority and assignee follow by the rule triage applies a category
    with (triage.defaults): a priority or assignee the same change gives (`*_given`, which the
    caller sets) wins; otherwise the default priority replaces the priority while it is still
    the defaulted one and else only raises it, and the default assignee only goes to a ticket
    with none. The priority rule is not
    applied again: it applied when the customer's messages were read, and the priority
    decisions made since stand. An inactive category is refused."""
    from tickets import changes
    from tickets.models import Ticket

    if category is not None and not category.active:
        raise InvalidInput(
            "This category is inactive.", fields={"category_id": ["An inactive category."]}
        )
    locked = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("customer", *changes.RELATED)
        .get(pk=ticket.pk)
    )
    new_id = category.pk if category is not None else None
    if locked.category_id == new_id and locked.category_source == "agent":
        return locked
    before = changes.shown(locked)
    CategoryCorrection.objects.create(
        ticket=locked,
        previous_id=locked.category_id,
        previous_source=locked.category_source,
        category=category,
        actor=actor[:200],
    )
    locked.category = category
    locked.category_source = "agent"
    locked.category_confidence = None
    fields = ["category", "category_source", "category_confidence"]
    defaulted = None
    if category is not None:
        defaulted = category_defaults(
            category=category,
            priority=locked.priority,
            defaulted_priority=locked.defaulted_priority,
            assignee_id=locked.assignee_id,
            priority_given=priority_given,
            assignee_given=assignee_given,
        )
        # Saved here, in the one UPDATE, not with ticket_update: a priority that service sets
        # is a set one (and it logs no priority or assignee change either).
        for name in ("priority", "defaulted_priority"):
            if getattr(defaulted, name) != getattr(locked, name):
                setattr(locked, name, getattr(defaulted, name))
                fields.append(name)
        if defaulted.assignee_id is not None:
            locked.assignee = category.default_assignee
            fields.append("assignee")
    locked.save(update_fields=[*fields, "updated_at"])
    # Logged with the category: a priority or assignee changed here is its default.
    changes.log_changes(
        locked, before, actor=actor, by={"priority": "category", "assignee": "category"}
    )
    return locked
