from django.contrib import admin

from tickets.models import EmailOutbox, Feedback, IdempotencyRecord, Message, Suggestion, Ticket


class MessageInline(admin.StackedInline):
    """The conversation, oldest first, read-only: replies and notes go through the API's
    rules (status, first response, e-mail outbox), not through a form that bypasses them."""

    model = Message
    extra = 0
    fields = [
        "created_at",
        "role",
        "kind",
        "author",
        "channel",
        "body",
        "body_clean",
        "sender_address",
        "email_message_id",
        "email_in_reply_to",
        "sent_at",
    ]
    readonly_fields = fields
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class SuggestionInline(admin.TabularInline):
    model = Suggestion
    extra = 0
    fields = ["round", "rank", "score", "title", "source", "backend", "superseded_at"]
    readonly_fields = fields
    can_delete = False


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "subject",
        "customer",
        "status",
        "priority",
        "channel",
        "assignee",
        "created_at",
    ]
    list_filter = ["status", "priority", "channel", "category", "assignee"]
    search_fields = ["subject", "body", "customer__email", "customer__name", "=id"]
    list_select_related = ["customer", "assignee"]
    raw_id_fields = ["customer", "order"]
    autocomplete_fields = ["category"]
    # body_clean is derived from body (helpdesk.reading) when the ticket arrives.
    readonly_fields = [
        "number",
        "body_clean",
        "category_confidence",
        "created_at",
        "updated_at",
        "first_response_at",
        "resolved_at",
    ]
    date_hierarchy = "created_at"
    inlines = [MessageInline, SuggestionInline]


@admin.register(Suggestion)
class SuggestionAdmin(admin.ModelAdmin):
    list_display = ["ticket", "round", "rank", "title", "score", "superseded_at", "created_at"]
    list_filter = ["backend"]
    search_fields = ["title", "=ticket__id"]
    list_select_related = ["ticket"]
    raw_id_fields = ["ticket", "article"]


@admin.register(EmailOutbox)
class EmailOutboxAdmin(admin.ModelAdmin):
    list_display = ["message", "attempts", "next_attempt_at", "last_error", "created_at"]
    list_select_related = ["message"]
    raw_id_fields = ["message"]
    readonly_fields = ["attempts", "claimed_until", "last_error", "created_at"]


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["ticket", "suggestion", "helpful", "resolved", "submitted_by", "created_at"]
    list_filter = ["helpful", "resolved"]
    search_fields = ["comment", "submitted_by", "=ticket__id"]
    list_select_related = ["ticket", "suggestion"]
    raw_id_fields = ["ticket", "suggestion", "user"]


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ["key", "client", "ticket", "status_code", "created_at"]
    search_fields = ["key", "client"]
    list_select_related = ["ticket"]
    raw_id_fields = ["ticket"]
    readonly_fields = ["request_hash", "response"]
