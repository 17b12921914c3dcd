"""A ticket's priority when a category is set on it, and when a customer's message is read.

`category_defaults`: what a category brings (its default priority and assignee), by one rule
for every path that sets a category: triage/arrival.py on a new ticket and on a customer's
follow-up, triage/corrections.py when an agent sets it with PATCH /tickets/{id} or on the admin
ticket page. `priority_rule`: the sentiment rule, which applies only where a customer's message
is read (a new ticket, a follow-up), after the category's defaults; an agent setting a category
does not apply it again, so the priority decisions made since stand. No queries, no numpy (the
Lambda runs it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from triage.models import Category

PRIORITY_ORDER = ("low", "normal", "high", "urgent")
NEGATIVE_PRIORITY = "high"


@dataclass(frozen=True)
class Defaulted:
    priority: str
    defaulted_priority: str  # Ticket.defaulted_priority after it
    assignee_id: int | None  # the category's default assignee to set; None: leave the ticket's


def category_defaults(
    *,
    category: Category | None,
    priority: str,
    defaulted_priority: str,
    assignee_id: int | None,
    priority_given: bool = False,
    assignee_given: bool = False,
) -> Defaulted:
    """The ticket's priority and assignee once `category` (None: none applied) is set on it,
    given its current `priority`, `defaulted_priority` (Ticket.defaulted_priority) and
    `assignee_id`:

    1. A priority given in the same change (`priority_given`: the caller sets it; a client's in
       POST /tickets, an agent's with the category) wins: the default priority is not applied,
       and the priority is no longer the defaulted one ("").
    2. Otherwise the category's default priority, if it has one, replaces the priority while
       that is still the one defaults gave the ticket (`priority == defaulted_priority`: the
       `normal` of a new ticket whose client gave none, or a category's default since), lower
       too; otherwise it applies only when it is higher: a default never lowers a priority that
       a client, an agent or the priority rule set.
    3. The category's default assignee, when the ticket has none and the same change gives
       none (`assignee_given`).

    The priority rule is not part of it (`priority_rule`: the caller that read a customer's
    message applies it after this)."""
    if priority_given:
        defaulted_priority = ""
    assignee = None
    if category is not None:
        default = category.default_priority
        still = bool(defaulted_priority) and priority == defaulted_priority
        if default and not priority_given and (still or _rank(default) > _rank(priority)):
            priority = default
            # Raised over one that was set, it is not the defaults' alone: never lowered again.
            defaulted_priority = default if still else ""
        if category.default_assignee_id and assignee_id is None and not assignee_given:
            assignee = category.default_assignee_id
    return Defaulted(priority, defaulted_priority, assignee)


def priority_rule(priority: str, score: float | None) -> tuple[str, str]:
    """The priority rule, where a customer's message is read (a new ticket, a follow-up; after
    `category_defaults`): a sentiment `score` at or below TRIAGE_NEGATIVE_SENTIMENT raises the
    priority to at least `high`, never lowers it (None: not scored, nothing). Returns the
    priority and what the rule did ("": nothing)."""
    negative = score is not None and score <= settings.TRIAGE_NEGATIVE_SENTIMENT
    if negative and _rank(priority) < _rank(NEGATIVE_PRIORITY):
        return NEGATIVE_PRIORITY, (
            f"sentiment {score} ≤ {settings.TRIAGE_NEGATIVE_SENTIMENT}: "
            f"priority raised to {NEGATIVE_PRIORITY}"
        )
    return priority, ""


def _rank(priority: str) -> int:
    return PRIORITY_ORDER.index(priority) if priority in PRIORITY_ORDER else 0
