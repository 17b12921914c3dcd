import logging
from datetime import datetime
from typing import Any

from django.contrib import admin

from customers.interactions import get_interaction_store
from customers.models import Customer, Interaction, InteractionOutbox, Order
from customers.selectors import customer_360, interaction_cursor, interaction_json
from customers.services import customer_update, order_update
from helpdesk.auth import actor_of

logger = logging.getLogger(__name__)


# Events on the customer page's timeline, a page at a time (Older / Newest links).
TIMELINE = 20


def customer_page(customer: Customer, *, before: str | None = None) -> dict[str, Any]:
    """The customer's picture, and their timeline: the newest TIMELINE events, or those older
    than `before` (GET /customers/{id}/interactions' cursor)."""
    degraded, page = [], None
    try:
        page = get_interaction_store().for_customer(customer.id, limit=TIMELINE, before=before)
        events = page.items
    except Exception:
        logger.exception("Reading interactions for the customer page failed")
        events, degraded = [], ["interactions"]
    # The timeline shows the events (those of the page asked for), not the picture.
    picture = customer_360(customer=customer, interactions=[])
    for order in picture["recent_orders"]:
        order["placed_at"] = datetime.fromisoformat(order["placed_at"])
    timeline = [
        {**interaction_json(record), "occurred_at": record.occurred_at} for record in events
    ]
    return {
        "picture": picture,
        "timeline": timeline,
        "timeline_older": page.next_cursor if page else None,
        "timeline_before": before,
        "degraded": degraded,
    }


class ChangedThroughService:
    """An administrator's change goes through the service an integration's PATCH calls, from
    the row as it was, so it is on the customer's timeline as that one is (`customer_updated`,
    `order_status_changed`). Adding a row stays the admin's own save."""

    update: Any  # the service: customer_update / order_update
    updated: str  # its keyword for the row

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        self.update(
            **{self.updated: type(obj).objects.get(pk=obj.pk)},
            actor=actor_of(request),
            **{name: getattr(obj, name) for name in form.changed_data},
        )


@admin.register(Customer)
class CustomerAdmin(ChangedThroughService, admin.ModelAdmin):
    update = staticmethod(customer_update)
    updated = "customer"
    list_display = ["email", "name", "tier", "locale", "external_id", "created_at"]
    list_filter = ["tier", "locale"]
    search_fields = ["email", "name", "external_id", "phone"]
    readonly_fields = ["created_at", "updated_at"]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Under the profile: the customer's picture as a ticket shows it (recent orders, open
        # tickets, timeline, lifetime figures), read-only and bounded however long the history.
        customer = self.get_object(request, object_id)
        if customer is not None:
            before = interaction_cursor(request.GET.get("timeline_before"))
            extra_context = {**(extra_context or {}), **customer_page(customer, before=before)}
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Order)
class OrderAdmin(ChangedThroughService, admin.ModelAdmin):
    update = staticmethod(order_update)
    updated = "order"
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
