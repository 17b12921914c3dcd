"""customer_360 reads the customer's orders and tickets in one statement on Postgres
(CompiledReads) and answers exactly what the two reads answer one by one."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers import selectors
from customers.models import Order
from customers.selectors import customer_360
from tests.factories import CustomerFactory, OrderFactory, TicketFactory
from tickets.models import Ticket
from tickets.selectors import open_tickets_read

pytestmark = pytest.mark.django_db


def two_reads(customer_id: int) -> tuple[list[dict], list[dict]]:
    """What customer_360 read before: each read on its own."""
    orders = selectors._orders_and_figures.rows(customer_id)
    tickets = open_tickets_read[0].rows(customer_id, shape=(selectors.OPEN_TICKETS,))
    return orders, tickets


def varied_customers() -> list:
    now = timezone.now()
    nothing = CustomerFactory()
    one_order = CustomerFactory()
    OrderFactory(customer=one_order, total=Decimal("19.90"), line_items=[{"sku": "X", "qty": 1}])
    many = CustomerFactory()
    statuses = [Order.Status.DELIVERED, Order.Status.CANCELLED, Order.Status.REFUNDED]
    for n in range(9):  # several currencies, one of them only among the older orders
        OrderFactory(
            customer=many,
            currency=["USD", "EUR", "USD", "GBP"][n % 4] if n < 7 else "JPY",
            status=statuses[n % 3] if n < 7 else Order.Status.DELIVERED,
            total=Decimal(f"{10 + n}.{n}5"),
            placed_at=now - timedelta(days=n if n < 7 else 30 + n),
        )
    OrderFactory(customer=many, placed_at=now - timedelta(days=2))  # same day as another
    for n in range(13):  # open and closed, more than the answer shows
        ticket = TicketFactory(customer=many)
        status = [Ticket.Status.NEW, Ticket.Status.CLOSED, Ticket.Status.PENDING][n % 3]
        Ticket.objects.filter(pk=ticket.pk).update(
            status=status,
            created_at=now - timedelta(hours=n % 5),
            resolved_at=now if status == Ticket.Status.CLOSED else None,
        )
    only_tickets = CustomerFactory()
    for status in (Ticket.Status.CLOSED, Ticket.Status.RESOLVED, Ticket.Status.OPEN):
        Ticket.objects.filter(pk=TicketFactory(customer=only_tickets).pk).update(
            status=status, resolved_at=None if status == Ticket.Status.OPEN else now
        )
    return [nothing, one_order, many, only_tickets]


def test_one_read_answers_what_the_two_reads_answer_field_by_field(monkeypatch):
    for customer in varied_customers():
        combined = customer_360(customer=customer, interactions=[])
        orders, tickets = selectors.customer_360_rows(customer.id)
        assert (orders, tickets) == two_reads(customer.id)
        with monkeypatch.context() as patched:
            patched.setattr(selectors, "customer_360_rows", two_reads)
            separate = customer_360(customer=customer, interactions=[])
        assert combined == separate
        for part in ("recent_orders", "open_tickets", "lifetime"):
            assert combined[part] == separate[part], part


def test_the_picture_of_manycustomer_360_rows_is_complete():
    many = varied_customers()[2]

    picture = customer_360(customer=many, interactions=[])

    assert len(picture["recent_orders"]) == 5
    assert picture["lifetime"]["orders"] == 10
    # EUR: cancelled and refunded only; JPY: none of the five newest orders.
    assert [s["currency"] for s in picture["lifetime"]["spent"]] == ["GBP", "JPY", "USD"]
    assert picture["lifetime"]["tickets"] == 13
    assert len(picture["open_tickets"]) == picture["lifetime"]["open_tickets"] == 9


def testcustomer_360_rows_are_one_statement_on_postgres():
    customer = varied_customers()[2]

    with CaptureQueriesContext(connection) as queries:
        customer_360(customer=customer, interactions=[])

    assert len(queries) == (1 if connection.vendor == "postgresql" else 2)


def test_a_new_tickets_answer_shows_the_picture_a_fresh_read_shows(api):
    """POST /tickets reads the customer's orders and tickets while the KB search runs, before
    the ticket exists, and adds the ticket to them (tickets.selectors.open_tickets_with): the
    answer's picture is the one GET /tickets/{id}/context reads afterwards, for customers with
    nothing, orders only, more tickets than are shown (the new one pushes one out), closed
    ones only, and an open ticket dated after the new one (imported, clock skew)."""
    from tests.helpers import post_ticket

    later = CustomerFactory()
    Ticket.objects.filter(pk=TicketFactory(customer=later).pk).update(
        status=Ticket.Status.OPEN, created_at=timezone.now() + timedelta(days=1)
    )
    for customer in [*varied_customers(), later]:
        body = post_ticket(api, "Where is my parcel?", "Not here yet.", email=customer.email)
        context = api.get(f"/tickets/{body['ticket']['id']}/context").json()["customer"]
        for part in ("profile", "recent_orders", "open_tickets", "lifetime"):
            assert body["customer"][part] == context[part], (customer.email, part)
        assert body["ticket"]["id"] in [t["id"] for t in body["customer"]["open_tickets"]]
