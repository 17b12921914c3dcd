"""Nothing lost: interactions the store cannot take wait in the outbox and are drained later,
in order, exactly once."""

import socket
from dataclasses import asdict
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from customers.interactions import DatabaseInteractionStore, _store_for, get_interaction_store
from customers.models import Interaction, InteractionOutbox
from customers.outbox import outbox_drain
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def payload(n: int) -> dict:
    return {
        "customer": {"email": f"outage{n % 3}@example.com"},
        "subject": f"Outage ticket {n}",
        "body": "Where is my parcel?",
    }


def test_a_failed_database_write_waits_in_the_outbox_and_is_drained(api, monkeypatch):
    real_append = DatabaseInteractionStore.append

    def down(self, record):
        raise ConnectionError("store down")

    monkeypatch.setattr(DatabaseInteractionStore, "append", down)
    response = api.post("/tickets", payload(1), format="json")

    assert response.status_code == 201
    assert response.json()["degraded"] == ["interactions"]
    (row,) = InteractionOutbox.objects.all()
    assert row.payload["kind"] == "ticket_created"
    assert not Interaction.objects.exists()

    monkeypatch.setattr(DatabaseInteractionStore, "append", real_append)
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):  # past the backoff
        result = outbox_drain()

    assert (result.delivered, result.failed, result.remaining) == (1, 0, 0)
    ticket = Ticket.objects.get()
    assert Interaction.objects.get(ticket_id=ticket.id).id == row.interaction_id


def test_a_failing_delivery_backs_off_and_stops_the_batch(monkeypatch):
    monkeypatch.setattr(DatabaseInteractionStore, "append", lambda self, r: 1 / 0)
    from customers.interactions import InteractionRecord
    from customers.outbox import interaction_record
    from tests.factories import CustomerFactory

    customer = CustomerFactory()
    records = [InteractionRecord(customer_id=customer.id, kind="note") for _ in range(3)]
    assert len(interaction_record(records=records)) == 3

    result = outbox_drain()

    assert (result.delivered, result.failed, result.remaining) == (0, 1, 3)
    first, second, third = InteractionOutbox.objects.order_by("id")
    assert first.attempts == 1 and "ZeroDivisionError" in first.last_error
    assert first.next_attempt_at > timezone.now()
    assert second.attempts == third.attempts == 0  # not tried: order is kept

    # The first row is backing off; the next due one is tried (history order comes from the
    # time-ordered ids, not from delivery order, so a stuck row must not block the rest).
    result = outbox_drain()
    assert (result.delivered, result.failed) == (0, 1)
    assert list(InteractionOutbox.objects.order_by("id").values_list("attempts", flat=True)) == [
        1,
        1,
        0,
    ]


def test_health_reports_the_outbox_backlog(outsider, monkeypatch, api):
    monkeypatch.setattr(DatabaseInteractionStore, "append", lambda self, r: 1 / 0)
    api.post("/tickets", payload(2), format="json")

    store = outsider.get("/health").json()["checks"]["interaction_store"]

    assert store["status"] == "degraded"
    assert store["outbox_depth"] == 1
    assert "outbox" in store["detail"]


def test_drain_command_and_scheduled_event_report_counts():
    out = StringIO()
    call_command("interactions_drain_outbox", stdout=out)
    assert "Delivered 0, failed 0, 0 waiting" in out.getvalue()
    assert asdict(outbox_drain()) == {  # what the scheduled event reports
        "delivered": 0,
        "failed": 0,
        "remaining": 0,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_dynamodb_outage_loses_nothing(api, dynamodb_server, settings):
    """Stop the DynamoDB server mid-run, keep taking tickets, restart it, drain: every
    interaction is there exactly once."""
    from moto.server import ThreadedMotoServer

    from customers.dynamodb import interactions_table_create

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        settings.INTERACTION_STORE = "dynamodb"
        settings.DYNAMODB_ENDPOINT_URL = f"http://127.0.0.1:{port}"
        settings.DYNAMODB_TABLE = "helpdesk-outage-test"
        _store_for.cache_clear()
        with override_settings():
            interactions_table_create()

        before = [api.post("/tickets", payload(n), format="json") for n in range(3)]
        server.stop()
        during = [api.post("/tickets", payload(n), format="json") for n in range(3, 8)]
        assert InteractionOutbox.objects.count() == 5
        still_down = outbox_drain()  # every row is backing off: nothing delivered, nothing lost
        assert (still_down.delivered, still_down.remaining) == (0, 5)

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()  # moto keeps its tables in-process: the same table is back
        with time_machine.travel(timezone.now() + timedelta(hours=2)):  # past every backoff
            result = outbox_drain()
            again = outbox_drain()

        assert all(r.status_code == 201 for r in before + during)
        assert all(r.json()["degraded"] == [] for r in before)
        assert all(r.json()["degraded"] == ["interactions"] for r in during)
        assert (result.delivered, result.remaining, again.delivered) == (5, 0, 0)
        store = get_interaction_store()
        for response in before + during:
            ticket_id = response.json()["ticket"]["id"]
            history = store.for_ticket(ticket_id).items
            assert [(r.kind, r.ticket_id) for r in history] == [("ticket_created", ticket_id)]
    finally:
        server.stop()
        _store_for.cache_clear()
