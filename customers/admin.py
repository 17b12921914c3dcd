from django.contrib import admin

from customers.models import Customer, Interaction, InteractionOutbox, Order


class OrderInline(admin.TabularInline):
    model = Order
    extra = 0
    fields = ["number", "status", "total", "currency", "placed_at"]
    show_change_link = True
    ordering = ["-placed_at"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "tier", "locale", "external_id", "created_at"]
    list_filter = ["tier", "locale"]
    search_fields = ["email", "name", "external_id", "phone"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [OrderInline]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["number", "customer", "status", "total", "currency", "placed_at"]
    list_filter = ["status", "currency"]
    search_fields = ["number", "customer__email", "customer__name"]
    list_select_related = ["customer"]
    raw_id_fields = ["customer"]
    date_hierarchy = "placed_at"
    readonly_fields = ["created_at", "updated_at"]


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ["occurred_at", "kind", "customer", "ticket_id", "summary", "actor"]
    list_filter = ["kind"]
    search_fields = ["customer__email", "summary", "=ticket_id"]
    list_select_related = ["customer"]
    raw_id_fields = ["customer"]
    readonly_fields = ["id", "expires_at"]


@admin.register(InteractionOutbox)
class InteractionOutboxAdmin(admin.ModelAdmin):
    list_display = ["interaction_id", "attempts", "next_attempt_at", "last_error", "created_at"]
    search_fields = ["interaction_id", "last_error"]
    readonly_fields = ["interaction_id", "payload", "created_at"]
