"""The ticket queue (the Ticket changelist): what is open, most severe and oldest first.

Every change goes through tickets.services, so a bulk action has exactly the effect of the same
PATCH through the API (transitions, timestamps, interactions).
"""

from __future__ import annotations

import re

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth import get_user_model
from django.db.models import Case, IntegerField, OuterRef, QuerySet, Subquery, Value, When
from django.utils.translation import ngettext

from helpdesk.api.exceptions import HelpdeskError
from helpdesk.auth import actor_of
from tickets import services
from tickets.models import (
    DECIDED_NO_CATEGORY,
    NOT_CATEGORISED,
    Message,
    Satisfaction,
    Ticket,
)
from triage.models import Category

# Most severe first: the queue sorts on this, not on the priority's name.
SEVERITY = {
    Ticket.Priority.URGENT: 0,
    Ticket.Priority.HIGH: 1,
    Ticket.Priority.NORMAL: 2,
    Ticket.Priority.LOW: 3,
}
OPEN_WORK = [s for s in Ticket.Status if s not in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED)]
# "HD-000015", "hd-15", "HD 15" or "#15" in the search box is a ticket number; a bare number
# may be one too, or words of a subject.
NUMBER = re.compile(r"^\s*(hd[-\s]?|#)?0*(\d{1,18})\s*$", re.IGNORECASE)


def severity() -> Case:
    return Case(
        *(When(priority=priority, then=Value(rank)) for priority, rank in SEVERITY.items()),
        default=Value(len(SEVERITY)),
        output_field=IntegerField(),
    )


def last_customer_message() -> Subquery:
    return Subquery(
        Message.objects.filter(ticket=OuterRef("pk"), role=Message.Role.CUSTOMER)
        .order_by("-created_at", "-id")
        .values("created_at")[:1]
    )


def last_reply_failed() -> Subquery:
    """When the ticket's latest agent reply turned out not to reach the customer (null: it did,
    or nothing was sent): tickets/delivery.py."""
    return Subquery(
        Message.objects.filter(
            ticket=OuterRef("pk"), role=Message.Role.AGENT, kind=Message.Kind.REPLY
        )
        .order_by("-created_at", "-id")
        .values("email_failed_at")[:1]
    )


class WorkFilter(admin.SimpleListFilter):
    """Status, defaulting to the open work (new, open, pending); "All" shows every ticket."""

    title = "status"
    parameter_name = "status"
    ALL = "all"

    def lookups(self, request, model_admin):
        return [(self.ALL, "All"), *Ticket.Status.choices]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset.filter(status__in=OPEN_WORK)
        if value in Ticket.Status.values:
            return queryset.filter(status=value)
        return queryset

    def choices(self, changelist):
        value = self.value()
        yield {
            "selected": value is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Open work (new, open, pending)",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


class DeliveryFilter(admin.SimpleListFilter):
    """Tickets whose customer did not get the latest reply (refused or bounced): someone has
    to reach them another way."""

    title = "e-mail"
    parameter_name = "email"
    FAILED = "not_delivered"

    def lookups(self, request, model_admin):
        return [(self.FAILED, "Last reply not delivered")]

    def queryset(self, request, queryset):
        if self.value() == self.FAILED:
            return queryset.filter(last_reply_failed_at__isnull=False)
        return queryset


class CategoryFilter(admin.SimpleListFilter):
    """The active categories, the tickets no one has categorised yet (left for an agent: what
    triage suggested or found out of scope), and those an agent decided no category fits."""

    title = "category"
    parameter_name = "category"
    WAITING = "none_yet"
    NO_FIT = "no_fit"

    def lookups(self, request, model_admin):
        return [
            (self.WAITING, "Not categorised yet"),
            (self.NO_FIT, "None of these (agent)"),
            *((str(pk), name) for pk, name in Category.objects.values_list("pk", "name")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == self.WAITING:
            return queryset.filter(NOT_CATEGORISED)
        if value == self.NO_FIT:
            return queryset.filter(DECIDED_NO_CATEGORY)
        if value and value.isdigit():
            return queryset.filter(category_id=int(value))
        return queryset


class RatingFilter(admin.SimpleListFilter):
    """The customer's rating from the e-mail that resolved the ticket (tickets/satisfaction.py):
    the bad ones are worth a follow-up. Rated tickets are resolved or closed, so this reads
    with the status filter's "All"."""

    title = "customer rating"
    parameter_name = "rating"

    def lookups(self, request, model_admin):
        return Satisfaction.Rating.choices

    def queryset(self, request, queryset):
        if self.value() in Satisfaction.Rating.values:
            return queryset.filter(satisfaction__rating=self.value())
        return queryset


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assignee"
    MINE = "mine"
    NOBODY = "unassigned"

    def lookups(self, request, model_admin):
        staff = (
            get_user_model()
            .objects.filter(is_staff=True, is_active=True)
            .order_by("username")
            .values_list("pk", "username")
        )
        return [(self.MINE, "Mine"), (self.NOBODY, "Unassigned"), *staff]

    def queryset(self, request, queryset):
        value = self.value()
        if value == self.MINE:
            return queryset.filter(assignee=request.user)
        if value == self.NOBODY:
            return queryset.filter(assignee__isnull=True)
        if value and value.isdigit():
            return queryset.filter(assignee_id=int(value))
        return queryset


def _update_each(modeladmin, request, queryset, what: str, **change) -> None:
    """Apply one change to each ticket through ticket_update (see `_each`)."""
    _each(
        modeladmin,
        request,
        queryset,
        what,
        lambda ticket: services.ticket_update(ticket=ticket, actor=actor_of(request), **change),
    )


def _each(modeladmin, request, queryset, what: str, change) -> None:
    """Apply `change` (a service call) to each ticket; report what could not be done, ticket by
    ticket (a forbidden transition changes nothing on that ticket), and how many it did."""
    done = 0
    for ticket in queryset.select_related(None).order_by("pk"):
        try:
            change(ticket)
        except HelpdeskError as exc:
            modeladmin.message_user(request, f"{ticket.number}: {exc}", messages.ERROR)
        else:
            done += 1
    if done:
        modeladmin.message_user(
            request,
            ngettext("%(n)d ticket %(what)s.", "%(n)d tickets %(what)s.", done)
            % {"n": done, "what": what},
            messages.SUCCESS,
        )


@admin.action(description="Assign to me", permissions=["change"])
def assign_to_me(modeladmin, request, queryset):
    _update_each(modeladmin, request, queryset, "assigned to you", assignee=request.user)


def _set_action(field: str, value: str):
    """A bulk action setting `field` (status or priority) to `value` through ticket_update."""

    @admin.action(description=f"Set {field}: {value}", permissions=["change"])
    def action(modeladmin, request, queryset):
        _update_each(modeladmin, request, queryset, f"set to {value}", **{field: value})

    action.__name__ = f"set_{field}_{value}"
    return action


class QueueActionForm(ActionForm):
    """The action menu, and the problem ticket that "Link as incidents" links to."""

    problem = forms.CharField(
        required=False,
        max_length=40,
        label="Problem",
        widget=forms.TextInput(attrs={"placeholder": "HD-000123", "size": 10}),
    )


@admin.action(description="Link as incidents of the Problem", permissions=["change"])
def link_as_incidents(modeladmin, request, queryset):
    """An outage's tickets, found by search and selected, linked to its problem ticket in one go
    (services.ticket_link_problem, as PATCH `problem_id`); the problem itself, if selected, is
    left as it is, and a ticket that cannot be linked is reported and the others are."""
    problem_id, _ = ticket_number_in(request.POST.get("problem", ""))
    if problem_id is None or problem_id < 1:
        modeladmin.message_user(
            request,
            "Name the problem ticket (HD-000123) in the Problem box beside the action.",
            messages.ERROR,
        )
        return
    _each(
        modeladmin,
        request,
        queryset.exclude(pk=problem_id),
        f"linked to problem {Ticket.number_for(problem_id)}",
        lambda ticket: services.ticket_link_problem(
            ticket=ticket, problem_id=problem_id, actor=actor_of(request)
        ),
    )


QUEUE_ACTIONS = [
    assign_to_me,
    link_as_incidents,
    *(_set_action("status", status) for status in Ticket.Status.values),
    *(_set_action("priority", priority) for priority in Ticket.Priority.values),
]


def queue_queryset(queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
    return queryset.annotate(
        severity=severity(),
        last_customer_message_at=last_customer_message(),
        last_reply_failed_at=last_reply_failed(),
    ).select_related("customer", "assignee")


def ticket_number_in(term: str) -> tuple[int | None, bool]:
    """The ticket id a search term names, and whether it can only be a number (a prefix)."""
    match = NUMBER.match(term)
    if match is None or int(match.group(2)) >= 2**63:
        return None, False
    return int(match.group(2)), bool(match.group(1))
