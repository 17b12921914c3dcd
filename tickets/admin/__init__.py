from django.contrib import admin
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.timezone import localtime

from tickets.admin import queue, workspace
from tickets.models import (
    Attachment,
    EmailOutbox,
    Feedback,
    IdempotencyRecord,
    IncidentReply,
    Macro,
    Satisfaction,
    Suggestion,
    Ticket,
)


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    """The queue (changelist) and the ticket page (change view: tickets/admin/workspace.py)."""

    list_display = [
        "number_link",
        "subject",
        "customer_label",
        "status_label",
        "priority_label",
        "channel",
        "assignee",
        "age",
        "last_customer_message",
    ]
    list_display_links = ["number_link"]
    list_filter = [
        queue.WorkFilter,
        "priority",
        "channel",
        queue.CategoryFilter,
        queue.AssigneeFilter,
        queue.DeliveryFilter,
        queue.RatingFilter,
        ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = ["subject", "customer__email"]
    search_help_text = "A ticket number (HD-000015), words of the subject, or a customer e-mail."
    actions = queue.QUEUE_ACTIONS
    action_form = queue.QueueActionForm
    # The exact total of a filtered 10,000-ticket queue costs a second COUNT(*) per page.
    show_full_result_count = False
    list_per_page = 50
    date_hierarchy = "created_at"

    class Media:
        # The queue's columns wrap to fit the page (no column cut at the edge).
        css = {"all": ["tickets/queue.css"]}

    def get_ordering(self, request):
        # Most severe first, then the oldest: the ticket waiting longest at the top of its
        # level. An expression, not the annotation's name: other admins order their ticket
        # choices (raw-id fields) with this on a plain queryset.
        return [queue.severity().asc(), "created_at", "id"]

    def get_queryset(self, request):
        # Annotated before the ordering that names the annotation (what super() would apply).
        queryset = queue.queue_queryset(self.model._default_manager.get_queryset())
        return queryset.order_by(*self.get_ordering(request))

    def get_search_results(self, request, queryset, search_term):
        ticket_id, only_a_number = queue.ticket_number_in(search_term)
        if only_a_number:
            return queryset.filter(pk=ticket_id), False
        found, duplicates = super().get_search_results(request, queryset, search_term)
        if ticket_id is not None:
            found = found | queryset.filter(pk=ticket_id)
        return found, duplicates

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The ticket page, not a model form: every change goes through the services.
        return workspace.ticket_page(self, request, object_id)

    def has_add_permission(self, request) -> bool:
        # A ticket comes in through POST /tickets or e-mail (retrieval, the first message, the
        # interaction log), never through a bare form.
        return False

    @admin.display(description="number", ordering="id")
    def number_link(self, ticket: Ticket) -> str:
        return ticket.number

    @admin.display(description="customer", ordering="customer__email")
    def customer_label(self, ticket: Ticket) -> str:
        customer = ticket.customer
        return f"{customer.name} <{customer.email}>" if customer.name else customer.email

    @admin.display(description="status", ordering="status")
    def status_label(self, ticket: Ticket) -> str:
        if ticket.last_reply_failed_at is None:
            return ticket.get_status_display()
        return format_html(
            '{}<br><span class="hd-undelivered" title="{}">reply not delivered</span>',
            ticket.get_status_display(),
            "The customer did not get the latest reply: see the ticket page.",
        )

    @admin.display(description="priority", ordering="severity")
    def priority_label(self, ticket: Ticket) -> str:
        return ticket.get_priority_display()

    @admin.display(description="age", ordering="created_at")
    def age(self, ticket: Ticket) -> str:
        return timesince(ticket.created_at, depth=1)

    @admin.display(description="customer wrote", ordering="last_customer_message_at")
    def last_customer_message(self, ticket: Ticket) -> str:
        # "2 hours ago", like the age: a full date and time made the last column run off the
        # page edge (the exact time is in the title).
        when = ticket.last_customer_message_at
        if when is None:
            return "—"
        return format_html(
            '<span title="{}">{} ago</span>',
            date_format(localtime(when), "DATETIME_FORMAT"),
            timesince(when, depth=1),
        )


@admin.register(Satisfaction)
class SatisfactionAdmin(admin.ModelAdmin):
    """The customers' ratings (tickets/satisfaction.py): theirs, never edited here."""

    list_display = ["ticket", "rating", "comment", "rated_at"]
    list_filter = ["rating", ("rated_at", admin.DateFieldListFilter)]
    search_fields = ["comment", "ticket__customer__email"]
    list_select_related = ["ticket"]
    readonly_fields = ["ticket", "rating", "comment", "rated_at", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Suggestion)
class SuggestionAdmin(admin.ModelAdmin):
    list_display = ["ticket", "round", "rank", "title", "score", "superseded_at", "created_at"]
    list_filter = ["backend"]
    search_fields = ["title", "=ticket__id"]
    list_select_related = ["ticket"]
    raw_id_fields = ["ticket", "article"]


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    """Files that came with inbound e-mail; read-only (they are what the customer sent)."""

    list_display = ["name", "content_type", "size", "inline", "skipped", "message", "created_at"]
    list_filter = ["inline", "content_type"]
    search_fields = ["name", "=message__ticket__id"]
    list_select_related = ["message"]
    raw_id_fields = ["message"]
    readonly_fields = [
        "message",
        "name",
        "content_type",
        "size",
        "file",
        "inline",
        "content_id",
        "skipped",
        "created_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(EmailOutbox)
class EmailOutboxAdmin(admin.ModelAdmin):
    list_display = ["message", "attempts", "next_attempt_at", "last_error", "created_at"]
    list_select_related = ["message"]
    raw_id_fields = ["message"]
    readonly_fields = ["attempts", "claimed_until", "last_error", "created_at"]


@admin.register(IncidentReply)
class IncidentReplyAdmin(admin.ModelAdmin):
    """A problem's reply still to post on an incident, or refused for good (`failed_at`, the
    reason): written and drained by services.problem_reply / incident_replies_drain; read
    here (deleting a row gives that incident's reply up)."""

    list_display = ["reply", "incident", "attempts", "failed_at", "last_error", "created_at"]
    list_filter = [("failed_at", admin.EmptyFieldListFilter)]
    list_select_related = ["reply", "incident"]
    raw_id_fields = ["reply", "incident", "author_user", "author_api_key"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["ticket", "suggestion", "helpful", "resolved", "submitted_by", "created_at"]
    list_filter = ["helpful", "resolved"]
    search_fields = ["comment", "submitted_by", "=ticket__id"]
    list_select_related = ["ticket", "suggestion"]
    raw_id_fields = ["ticket", "suggestion", "user"]

    # Feedback is given on the ticket page (feedback_create: one answer per caller and
    # suggestion, logged, `resolved` resolving the ticket); here it is read.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ["key", "client", "ticket", "status_code", "created_at"]
    search_fields = ["key", "client"]
    list_select_related = ["ticket"]
    raw_id_fields = ["ticket"]
    readonly_fields = ["request_hash", "response"]


@admin.register(Macro)
class MacroAdmin(admin.ModelAdmin):
    """Canned replies; the body is checked when saved (Macro.clean: placeholders only)."""

    list_display = ["name", "body", "updated_at"]
    search_fields = ["name", "body"]
    readonly_fields = ["created_at", "updated_at"]
