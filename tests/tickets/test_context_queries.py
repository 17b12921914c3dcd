"""GET /tickets/{id}/context: a fixed, small number of queries, and the figures they fold."""

from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.interactions import InteractionRecord, get_interaction_store
from customers.models import Order
from tests.factories import CustomerFactory, OrderFactory, SuggestionFactory, TicketFactory
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

# ticket (+ customer, assignee), suggestions, the conversation's newest messages, ticket
# history, recent orders with the order figures per currency and open tickets with the ticket
# counts (one read on Postgres, two elsewhere: customers.selectors.customer_360_rows), recent
# interactions. The API key is verified from the per-process cache after the first request.
# The throttle's counter (the shared cache: with the database cache a constant few queries per
# request, on its own table) is not counted.
CONTEXT_QUERIES = 6 if connection.vendor == "postgresql" else 7


@contextmanager
def at_most_context_queries():
    with CaptureQueriesContext(connection) as captured:
        yield
    # The database cache writes the counter inside transaction.atomic(): its savepoint pair is
    # the cache's, not the context's (a read path that opens no transaction of its own).
    queries = [
        q["sql"]
        for q in captured.captured_queries
        if "helpdesk_cache" not in q["sql"] and "SAVEPOINT" not in q["sql"]
    ]
    assert len(queries) <= CONTEXT_QUERIES, "\n".join(queries)


def _busy_customer(*, tickets: int, orders: int, interactions: int):
    customer = CustomerFactory()
    for n in range(orders):
        OrderFactory(customer=customer, currency=["USD", "EUR"][n % 2])
    made = [TicketFactory(customer=customer) for _ in range(tickets)]
    for ticket in made[:3]:
        for rank in range(1, 6):
            SuggestionFactory(ticket=ticket, rank=rank)
    store = get_interaction_store()
    for n in range(interactions):
        store.append(
            InteractionRecord(
                customer_id=customer.id, ticket_id=made[n % len(made)].id, kind="note"
            )
        )
    return made[0]


def test_context_reads_a_fixed_number_of_queries(api):
    ticket = _busy_customer(tickets=2, orders=1, interactions=1)
    api.get("/tickets")  # the key is verified once, then remembered

    with at_most_context_queries():
        response = api.get(f"/tickets/{ticket.id}/context")

    assert response.status_code == 200, response.content


def test_context_queries_do_not_grow_with_the_customer_or_the_tables(api):
    for _ in range(5):  # other customers' rows only grow the tables
        _busy_customer(tickets=4, orders=3, interactions=6)
    ticket = _busy_customer(tickets=25, orders=12, interactions=40)
    api.get("/tickets")

    with at_most_context_queries():
        response = api.get(f"/tickets/{ticket.id}/context")

    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["customer"]["open_tickets"]) == 10
    assert len(body["customer"]["recent_orders"]) == 5
    assert len(body["customer"]["recent_interactions"]) == 10
    assert len(body["suggestions"]) == 5
    assert body["customer"]["lifetime"]["orders"] == 12


def test_open_tickets_are_the_newest_active_ones_and_counts_cover_all(api):
    customer = CustomerFactory()
    now = timezone.now()
    active = []
    for n, status in enumerate(["new", "open", "pending"] * 4):  # 12 active
        ticket = TicketFactory(customer=customer, status=status)
        Ticket.objects.filter(pk=ticket.pk).update(created_at=now - timedelta(hours=n))
        active.append(ticket.id)
    for n in range(3):  # the newest tickets of all, but inactive
        ticket = TicketFactory(customer=customer, status="closed", resolved_at=now)
        Ticket.objects.filter(pk=ticket.pk).update(created_at=now + timedelta(hours=n))

    body = api.get(f"/tickets/{active[0]}/context").json()["customer"]

    assert [t["id"] for t in body["open_tickets"]] == active[:10]
    assert body["open_tickets"][0]["number"] == f"HD-{active[0]:06d}"
    assert body["lifetime"]["tickets"] == 15
    assert body["lifetime"]["open_tickets"] == 12


def test_a_customer_with_only_closed_tickets_has_none_open(api):
    ticket = TicketFactory(status="resolved", resolved_at=timezone.now())
    TicketFactory(customer=ticket.customer, status="closed", resolved_at=timezone.now())

    body = api.get(f"/tickets/{ticket.id}/context").json()["customer"]

    assert body["open_tickets"] == []
    assert (body["lifetime"]["tickets"], body["lifetime"]["open_tickets"]) == (2, 0)


def test_lifetime_counts_every_order_and_spends_only_kept_ones_per_currency(api):
    ticket = TicketFactory()
    customer = ticket.customer
    for status, total, currency in [
        (Order.Status.DELIVERED, "10.50", "USD"),
        (Order.Status.PAID, "4.25", "USD"),
        (Order.Status.REFUNDED, "99.00", "USD"),
        (Order.Status.SHIPPED, "7.00", "EUR"),
        (Order.Status.CANCELLED, "3.00", "GBP"),  # a currency with nothing kept
    ]:
        OrderFactory(customer=customer, status=status, total=Decimal(total), currency=currency)
    OrderFactory(total=Decimal("500.00"))  # someone else's

    lifetime = api.get(f"/tickets/{ticket.id}/context").json()["customer"]["lifetime"]

    assert lifetime["orders"] == 5
    assert lifetime["spent"] == [
        {"currency": "EUR", "total": "7.00"},
        {"currency": "USD", "total": "14.75"},
    ]


def test_a_currency_none_of_the_newest_orders_is_in_is_still_summed(api):
    """Recent orders and the figures per currency are one read: the 5 newest orders, and each
    currency's newest order carrying its figures, even one older than those 5."""
    ticket = TicketFactory()
    customer = ticket.customer
    now = timezone.now()
    OrderFactory(
        customer=customer,
        currency="JPY",
        total=Decimal("1200.00"),
        status=Order.Status.DELIVERED,
        placed_at=now - timedelta(days=400),
    )
    OrderFactory(
        customer=customer,
        currency="JPY",
        total=Decimal("300.00"),
        status=Order.Status.REFUNDED,
        placed_at=now - timedelta(days=300),
    )
    numbers = []
    for n in range(7):
        order = OrderFactory(
            customer=customer,
            currency="USD",
            total=Decimal("2.00"),
            status=Order.Status.PAID,
            placed_at=now - timedelta(days=n),
        )
        numbers.append(order.number)

    body = api.get(f"/tickets/{ticket.id}/context").json()["customer"]

    assert [order["number"] for order in body["recent_orders"]] == numbers[:5]
    assert body["lifetime"]["orders"] == 9
    assert body["lifetime"]["spent"] == [
        {"currency": "JPY", "total": "1200.00"},
        {"currency": "USD", "total": "14.00"},
    ]


def test_a_customer_without_orders_or_tickets_elsewhere_has_empty_figures(api):
    ticket = TicketFactory()

    body = api.get(f"/tickets/{ticket.id}/context").json()["customer"]

    assert body["recent_orders"] == []
    assert body["lifetime"] == {"orders": 0, "spent": [], "tickets": 1, "open_tickets": 1}
