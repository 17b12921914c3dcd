from django.contrib import admin

from tickets.models import Feedback, IdempotencyRecord, Suggestion, Ticket


class SuggestionInline(admin.TabularInline):
    model = Suggestion
    extra = 0
    fields = ["rank", "score", "title", "source", "backend"]
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
    list_filter = ["status", "priority", "channel", "assignee"]
    search_fields = ["subject", "body", "customer__email", "customer__name", "=id"]
    list_select_related = ["customer", "assignee"]
    raw_id_fields = ["customer", "order"]
    # body_clean is derived from body (helpdesk.reading) when the ticket arrives.
    readonly_fields = [
        "number",
        "body_clean",
        "created_at",
        "updated_at",
        "first_response_at",
        "resolved_at",
    ]
    date_hierarchy = "created_at"
    inlines = [SuggestionInline]


@admin.register(Suggestion)
class SuggestionAdmin(admin.ModelAdmin):
    list_display = ["ticket", "rank", "title", "score", "backend", "created_at"]
    list_filter = ["backend"]
    search_fields = ["title", "=ticket__id"]
    list_select_related = ["ticket"]
    raw_id_fields = ["ticket", "article"]


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
