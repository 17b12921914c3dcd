"""Reads for customers: lists and the customer 360 that tickets show."""

from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from customers.interactions import InteractionRecord, get_interaction_store
from customers.models import Customer, Order
from customers.serializers import ORDER_FIELDS
from helpdesk.api.compiled import CompiledRead
from helpdesk.api.utils import iso

RECENT_ORDERS = 5
RECENT_INTERACTIONS = 10
OPEN_TICKETS = 10


def customer_list() -> QuerySet[Customer]:
    return Customer.objects.all()


def order_list() -> QuerySet[Order]:
    return Order.objects.select_related("customer")


def interaction_json(record: InteractionRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "kind": record.kind,
        "occurred_at": iso(record.occurred_at),
        "ticket_id": record.ticket_id,
        "summary": record.summary,
        "actor": record.actor,
        "data": record.data,
    }


def order_json(order: dict[str, Any]) -> dict[str, Any]:
    """An order row (`values(*ORDER_FIELDS)`) as the API shows it."""
    return {
        "id": order["id"],
        "number": order["number"],
        "status": order["status"],
        "total": str(order["total"]),
        "currency": order["currency"],
        "placed_at": iso(order["placed_at"]),
        "line_items": order["line_items"],
    }


def customer_profile_json(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "email": customer.email,
        "name": customer.name,
        "external_id": customer.external_id,
        "phone": customer.phone,
        "tier": customer.tier,
        "locale": customer.locale,
        "metadata": customer.metadata,
        "created_at": iso(customer.created_at),
    }


# The reads behind every ticket's context, compiled once per process (see CompiledRead).
_recent_orders = CompiledRead(
    lambda customer_id: (
        Order.objects.filter(customer_id=customer_id)
        .order_by("-placed_at")
        .values(*ORDER_FIELDS)[:RECENT_ORDERS]
    ),
    int,
)
# One pass per currency gives both the order count (all orders) and what was spent
# (cancelled and refunded orders left out).
_counted = ~Q(status__in=[Order.Status.CANCELLED, Order.Status.REFUNDED])
_order_figures = CompiledRead(
    lambda customer_id: (
        Order.objects.filter(customer_id=customer_id)
        .values("currency")
        .annotate(
            orders=Count("id"),
            spent_orders=Count("id", filter=_counted),
            spent=Sum("total", filter=_counted),
        )
        .order_by("currency")
    ),
    int,
)


def customer_360(
    *,
    customer: Customer,
    interactions: list[InteractionRecord] | None = None,
) -> dict[str, Any]:
    """Profile, recent orders, recent interactions, open tickets and lifetime figures.

    Every query is bounded and indexed by customer, so the cost does not grow with table size.
    `interactions` may be passed in when the caller has already read them.
    """
    from tickets.selectors import open_tickets_summary

    recent_orders = _recent_orders.rows(customer.id)
    by_currency = _order_figures.rows(customer.id)
    if interactions is None:
        interactions = (
            get_interaction_store().for_customer(customer.id, limit=RECENT_INTERACTIONS).items
        )
    tickets = open_tickets_summary(customer_id=customer.id, limit=OPEN_TICKETS)
    return {
        "profile": customer_profile_json(customer),
        "recent_orders": [order_json(order) for order in recent_orders],
        "recent_interactions": [interaction_json(record) for record in interactions],
        "open_tickets": tickets["items"],
        "lifetime": {
            "orders": sum(row["orders"] for row in by_currency),
            "spent": [
                {"currency": row["currency"], "total": f"{row['spent']:.2f}"}
                for row in by_currency
                if row["spent_orders"]
            ],
            "tickets": tickets["total"],
            "open_tickets": tickets["open"],
        },
    }
