"""The customer 360's shape (what `POST /tickets` and `GET /tickets/{id}/context` show),
declared once as output serializers; `customers.selectors` builds it from rows.
tests/test_schema.py checks the builders against these."""

import re

from rest_framework import serializers

from customers.models import Customer, Order


class CustomerProfileOutput(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField(allow_blank=True)
    external_id = serializers.CharField(allow_null=True, allow_blank=True)
    phone = serializers.CharField(allow_blank=True)
    tier = serializers.ChoiceField(choices=Customer.Tier.choices)
    locale = serializers.CharField(allow_blank=True)
    metadata = serializers.DictField(child=serializers.JSONField())
    created_at = serializers.DateTimeField()


class RecentOrderOutput(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    status = serializers.ChoiceField(choices=Order.Status.choices)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    placed_at = serializers.DateTimeField()
    line_items = serializers.ListField(
        child=serializers.JSONField(), help_text="As pushed: `{sku, name, quantity, unit_price}`."
    )


# The columns a recent order is read from: the serializer is the declaration.
ORDER_FIELDS = tuple(RecentOrderOutput().fields)


class InteractionOutput(serializers.Serializer):
    id = serializers.CharField(help_text="A ULID: sorts by time.")
    kind = serializers.CharField(
        help_text="`ticket_created`, `status_changed`, `ticket_changed`, `feedback`, "
        "`order_placed`, `order_status_changed`, ..."
    )
    occurred_at = serializers.DateTimeField()
    ticket_id = serializers.IntegerField(allow_null=True)
    summary = serializers.CharField(allow_blank=True)
    actor = serializers.CharField(allow_blank=True)
    data = serializers.DictField(child=serializers.JSONField())


# An interaction's id (a ULID, Crockford base32 in either case): what `next_before` answers
# and `before` takes back.
INTERACTION_ID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$", re.IGNORECASE)
HISTORY_PAGE_MAX = 100


class InteractionPageInput(serializers.Serializer):
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=HISTORY_PAGE_MAX, default=20
    )
    before = serializers.RegexField(
        INTERACTION_ID,
        required=False,
        help_text="The `next_before` of the page before: the interactions older than it.",
        error_messages={"invalid": "An interaction id, as `next_before` gives it."},
    )

    def validate_before(self, value: str) -> str:
        return value.upper()


class InteractionPageOutput(serializers.Serializer):
    results = InteractionOutput(many=True, help_text="Newest first.")
    next_before = serializers.CharField(
        allow_null=True,
        help_text="Pass as `before` for the next (older) page; null on the last page.",
    )


class OpenTicketOutput(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    subject = serializers.CharField()
    status = serializers.CharField(help_text="`new`, `open` or `pending`.")
    priority = serializers.CharField()
    created_at = serializers.DateTimeField()


class SpentOutput(serializers.Serializer):
    currency = serializers.CharField()
    total = serializers.DecimalField(max_digits=None, decimal_places=2)


class LifetimeOutput(serializers.Serializer):
    orders = serializers.IntegerField(min_value=0)
    spent = SpentOutput(
        many=True, help_text="Per currency; cancelled and refunded orders left out."
    )
    tickets = serializers.IntegerField(min_value=0)
    open_tickets = serializers.IntegerField(min_value=0)


class Customer360Output(serializers.Serializer):
    profile = CustomerProfileOutput()
    recent_orders = RecentOrderOutput(many=True, help_text="Newest first.")
    recent_interactions = InteractionOutput(many=True, help_text="Newest first.")
    open_tickets = OpenTicketOutput(many=True, help_text="Newest first.")
    lifetime = LifetimeOutput()
