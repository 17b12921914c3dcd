"""Reads for customers: lists and the customer 360 that tickets show."""

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Count, F, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from customers.interactions import InteractionRecord, get_interaction_store, newest_by_email
from customers.models import Customer, Order
from customers.serializers import INTERACTION_ID, ORDER_FIELDS
from helpdesk.api.compiled import CompiledRead, CompiledReads
from helpdesk.api.utils import iso

RECENT_ORDERS = 5
RECENT_INTERACTIONS = 10
OPEN_TICKETS = 10


def customer_list() -> QuerySet[Customer]:
    return Customer.objects.all()


# Every ticket from a known address looks its customer up by e-mail: compiled once (see
# CompiledRead; thread CPU per look-up 0.29 ms through get_or_create's queryset, 0.13 ms here).
_CUSTOMER_FIELDS = tuple(f.attname for f in Customer._meta.concrete_fields)
_customer_by_email = CompiledRead(
    lambda email: Customer.objects.filter(email=email).values(*_CUSTOMER_FIELDS), str
)


def customer_by_email(email: str) -> Customer | None:
    """The customer whose (normalised, lower-case) e-mail is `email`, or None."""
    return _customer_of(_customer_by_email.rows(email))


def _customer_of(rows: list[dict]) -> Customer | None:
    """The customer of `_customer_by_email`'s rows (none: None), as the ORM would load it."""
    if not rows:
        return None
    row = rows[0]
    return Customer.from_db(DEFAULT_DB_ALIAS, _CUSTOMER_FIELDS, [row[f] for f in _CUSTOMER_FIELDS])


@lru_cache(maxsize=1)
def _customer_and_interactions_read() -> CompiledReads:
    return CompiledReads((_customer_by_email, ("id",)), (newest_by_email, ("-id",)))


def customer_by_email_with_interactions(
    email: str, *, limit: int
) -> tuple[Customer | None, list[InteractionRecord]]:
    """`customer_by_email(email)` and, from the `database` interaction store, that customer's
    `limit` newest interactions (what `for_customer` answers), read together: one statement
    on Postgres (CompiledReads; in a request, look-up and history 0.95-1.06 -> 0.73-0.79 ms
    thread CPU, median; bench/trips_ab.py)."""
    (customer_rows, interaction_rows) = _customer_and_interactions_read().rows(
        ((email,), ()), ((email, timezone.now()), (limit,))
    )
    customer = _customer_of(customer_rows)
    if customer is None:
        return None, []
    return customer, [InteractionRecord(**row) for row in interaction_rows]


# At most this many of a customer's orders are read to find the one a ticket's words name
# (customers/mentions.py), newest first; the newest RECENT_ORDERS come with the picture.
ORDERS_NAMED_READ = 1000


def customer_order_numbers(customer_id: int) -> list[tuple[int, str]]:
    """(id, number) of the customer's ORDERS_NAMED_READ newest orders."""
    orders = Order.objects.filter(customer_id=customer_id).order_by("-placed_at", "-id")
    return list(orders.values_list("id", "number")[:ORDERS_NAMED_READ])


def picture_order_numbers(
    customer_id: int, rows: list[dict] | None
) -> tuple[list[tuple[int, str]], Callable[[], list[tuple[int, str]]] | None]:
    """The customer's orders read with their picture (`customer_360_rows`' orders; None when
    not read), and a read of the rest when there may be more (None when the picture holds them
    all): what customers.mentions.orders_mentioned takes."""
    if rows is None:
        return [], lambda: customer_order_numbers(customer_id)
    known = [(row["id"], row["number"]) for row in rows]
    total = sum(row["currency_orders"] for row in rows if row["in_currency"] == 1)
    more = (lambda: customer_order_numbers(customer_id)) if total > len(known) else None
    return known, more


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


def interaction_cursor(value: str | None) -> str | None:
    """A page's `?…_before=` cursor (an interaction id, `next_before`), upper-cased; None for
    anything else (the admin pages then show the newest events)."""
    if value and INTERACTION_ID.match(value):
        return value.upper()
    return None


def interaction_page(
    *, customer_id: int | None = None, ticket_id: int | None = None, limit: int, before=None
) -> dict[str, Any]:
    """One page of a customer's interactions or a ticket's history, newest first, as
    `GET /customers/{id}/interactions` and `GET /tickets/{id}/history` answer it (the store's
    own paging: `next_before` is the cursor for the older page, None after the last)."""
    store = get_interaction_store()
    if ticket_id is not None:
        page = store.for_ticket(ticket_id, limit=limit, before=before)
    else:
        page = store.for_customer(customer_id, limit=limit, before=before)
    return {
        "results": [interaction_json(record) for record in page.items],
        "next_before": page.next_cursor,
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


def order_object_json(order: Order) -> dict[str, Any]:
    """An Order as `order_json` shows its row."""
    return order_json({name: getattr(order, name) for name in ORDER_FIELDS})


def ticket_order_json(
    order_id: int | None, *, given: Order | None = None, rows: list[dict] | None = None
) -> dict[str, Any] | None:
    """The order a new ticket is about as the API shows it (None without one): the Order the
    client named (`given`), else its row among the customer's orders already read (`rows`),
    else one read by its key (an order older than those)."""
    if order_id is None:
        return None
    if given is not None and given.pk == order_id:
        return order_object_json(given)
    row = next((row for row in rows or () if row["id"] == order_id), None)
    if row is None:
        row = Order.objects.filter(pk=order_id).values(*ORDER_FIELDS).first()
    return order_json(row) if row is not None else None


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
# Recent orders and the order figures per currency in one read: every order of the customer
# numbered by recency overall and within its currency, with its currency's figures as window
# aggregates (the order count; what was spent, cancelled and refunded orders left out). Kept:
# the RECENT_ORDERS newest, plus each currency's newest order, which carries that currency's
# figures (so a currency none of the newest orders are in is still summed).
_counted = ~Q(status__in=[Order.Status.CANCELLED, Order.Status.REFUNDED])
_newest_first = [F("placed_at").desc(), F("id").desc()]
_orders_and_figures = CompiledRead(
    lambda customer_id: (
        Order.objects.filter(customer_id=customer_id)
        .annotate(
            recency=Window(RowNumber(), order_by=_newest_first),
            in_currency=Window(RowNumber(), partition_by=[F("currency")], order_by=_newest_first),
            currency_orders=Window(Count("id"), partition_by=[F("currency")]),
            currency_spent_orders=Window(
                Count("id", filter=_counted), partition_by=[F("currency")]
            ),
            currency_spent=Window(Sum("total", filter=_counted), partition_by=[F("currency")]),
        )
        .filter(Q(recency__lte=RECENT_ORDERS) | Q(in_currency=1))
        .order_by("recency")
        .values(
            *ORDER_FIELDS,
            "recency",
            "in_currency",
            "currency_orders",
            "currency_spent_orders",
            "currency_spent",
        )
    ),
    int,
)


@lru_cache(maxsize=1)
def _orders_and_tickets_read() -> CompiledReads:
    from tickets.selectors import open_tickets_read  # tickets' selectors import this module

    return CompiledReads((_orders_and_figures, ("recency",)), open_tickets_read)


def customer_360_rows(customer_id: int) -> tuple[list[dict], list[dict]]:
    """The rows of both of customer_360's reads (orders with their figures, tickets with their
    counts), by one statement on Postgres (CompiledReads; customer_360 in a request 1.03-1.06
    -> 0.80-0.84 ms thread CPU, median; trips_ab.py); a caller that reads them early passes
    them to customer_360 as `rows`."""
    orders, tickets = _orders_and_tickets_read().rows(
        ((customer_id,), ()), ((customer_id,), (OPEN_TICKETS,))
    )
    return orders, tickets


def _orders_picture(rows: list[dict]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the RECENT_ORDERS newest orders, newest first; per currency in currency order, its
    order count, kept-order count and what was spent), from `_orders_and_figures`' rows."""
    recent = [row for row in rows if row["recency"] <= RECENT_ORDERS]
    by_currency = sorted(
        (
            {
                "currency": row["currency"],
                "orders": row["currency_orders"],
                "spent_orders": row["currency_spent_orders"],
                "spent": row["currency_spent"],
            }
            for row in rows
            if row["in_currency"] == 1
        ),
        key=lambda figures: figures["currency"],
    )
    return recent, by_currency


def customer_360(
    *,
    customer: Customer,
    interactions: list[InteractionRecord] | None = None,
    rows: tuple[list[dict], list[dict]] | None = None,
) -> dict[str, Any]:
    """Profile, recent orders, recent interactions, open tickets and lifetime figures.

    Every query is bounded and indexed by customer, so the cost does not grow with table size.
    `interactions` may be passed in when the caller has already read them, and `rows` when it
    has read the rest (`customer_360_rows`).
    """
    from tickets.selectors import open_tickets_summary_of

    order_rows, ticket_rows = rows if rows is not None else customer_360_rows(customer.id)
    recent_orders, by_currency = _orders_picture(order_rows)
    if interactions is None:
        interactions = (
            get_interaction_store().for_customer(customer.id, limit=RECENT_INTERACTIONS).items
        )
    tickets = open_tickets_summary_of(ticket_rows)
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
