"""What fuzzing the schema (tests/test_schemathesis.py) found, each pinned by a plain test."""

from datetime import UTC, datetime

import pytest

from customers.models import Order
from tests.factories import OrderFactory, TicketFactory
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def test_a_time_filter_with_an_offset_postgres_cannot_take_is_compared_in_utc(api):
    # 10:00+23:19 is 10:41 UTC the day before: Postgres rejects offsets past ±15:59 (a 500).
    early, late = TicketFactory(), TicketFactory()
    Ticket.objects.filter(pk=early.pk).update(created_at=datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    Ticket.objects.filter(pk=late.pk).update(created_at=datetime(2026, 3, 1, 11, 0, tzinfo=UTC))

    response = api.get("/tickets", {"created_after": "2026-03-02T10:00:00+23:19"})

    assert response.status_code == 200, response.content
    assert [row["id"] for row in response.json()["results"]] == [late.id]


def test_an_order_time_filter_with_a_large_offset_is_compared_in_utc(api):
    order = OrderFactory(placed_at=datetime(2026, 3, 1, 10, 0, tzinfo=UTC))

    before = api.get("/orders", {"placed_before": "2026-03-01T09:00:00-15:30"})
    after = api.get("/orders", {"placed_before": "2026-03-01T09:00:00+23:30"})

    assert [row["id"] for row in before.json()["results"]] == [order.id]
    assert after.json()["results"] == []
    assert Order.objects.count() == 1
