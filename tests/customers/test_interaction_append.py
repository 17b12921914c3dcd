"""The `database` store's write inside a ticket's transaction: one statement on Postgres (a
function whose exception block is the savepoint), SAVEPOINT + INSERT + RELEASE elsewhere, and
either way a failed write never aborts the ticket: it waits in the outbox."""

from contextlib import contextmanager

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers import interactions
from customers.interactions import InteractionRecord, get_interaction_store
from customers.models import Interaction, InteractionOutbox
from customers.outbox import interaction_record, outbox_deliver
from tests.factories import CustomerFactory
from tickets.models import Suggestion, Ticket

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a trigger makes the write fail on Postgres"
)

PAYLOAD = {
    "customer": {"email": "refused@example.com"},
    "subject": "My parcel arrived damaged",
    "body": "The box was crushed and the mug inside is broken. Can I get a refund?",
}


@contextmanager
def interactions_refused(how: str = "RAISE EXCEPTION 'interactions refused'"):
    """A real failure of the interaction INSERT, by a trigger (rolled back with the test)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_interaction() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {how}; RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_interaction BEFORE INSERT ON customers_interaction "
            "FOR EACH ROW EXECUTE FUNCTION refuse_interaction()"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER refuse_interaction ON customers_interaction")
            cursor.execute("DROP FUNCTION refuse_interaction()")


def note(customer, **fields) -> InteractionRecord:
    return InteractionRecord(customer_id=customer.id, kind="note", summary="Called", **fields)


def test_a_write_is_one_statement_on_postgres_and_a_savepoint_elsewhere():
    customer = CustomerFactory()
    interactions._guarded_append()  # a process looks for the function once, before its first

    with CaptureQueriesContext(connection) as queries:
        assert interaction_record(records=[note(customer)]) == []

    sent = [q["sql"].split(None, 1)[0].upper() for q in queries.captured_queries]
    if connection.vendor == "postgresql":
        assert sent == ["SELECT"]
    else:
        assert sent == ["SAVEPOINT", "INSERT", "RELEASE"]
    assert Interaction.objects.filter(customer=customer).count() == 1


def test_the_same_interaction_twice_is_stored_once_and_not_queued():
    customer = CustomerFactory()
    record = note(customer, data={"n": 1, "text": "naïve ☕"})

    assert interaction_record(records=[record]) == []
    assert interaction_record(records=[record]) == []

    (row,) = Interaction.objects.filter(customer=customer)
    assert (row.id, row.summary, row.data) == (record.id, "Called", {"n": 1, "text": "naïve ☕"})
    assert row.occurred_at == record.occurred_at
    assert not InteractionOutbox.objects.exists()
    assert get_interaction_store().for_customer(customer.id).items == [record]


@postgres_only
def test_a_refused_write_waits_in_the_outbox_and_the_transaction_goes_on():
    customer = CustomerFactory()
    record = note(customer)

    with interactions_refused():
        assert interaction_record(records=[record]) == [record.id]
        # The transaction is usable: the outbox row was written after the failure.
        (queued,) = InteractionOutbox.objects.all()
        assert queued.interaction_id == record.id
        assert not Interaction.objects.exists()
        failed = outbox_deliver(interaction_ids=[record.id])  # refused again: it stays
        assert (failed.delivered, failed.failed) == (0, 1)
        queued.refresh_from_db()
        assert "interactions refused" in queued.last_error

    assert outbox_deliver(interaction_ids=[record.id]).delivered == 1
    assert Interaction.objects.get().id == record.id
    assert not InteractionOutbox.objects.exists()


@postgres_only
def test_a_write_cut_by_the_statement_timeout_waits_in_the_outbox():
    customer = CustomerFactory()
    record = note(customer)

    with interactions_refused("PERFORM pg_sleep(5)"):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 100")
        try:
            assert interaction_record(records=[record]) == [record.id]
            assert InteractionOutbox.objects.get().interaction_id == record.id
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = 0")


@postgres_only
def test_a_ticket_whose_log_write_is_refused_is_kept_and_its_log_queued(api):
    with interactions_refused():
        response = api.post("/tickets", PAYLOAD, format="json")

        assert response.status_code == 201
        body = response.json()
        # Refused in the ticket's transaction and again when delivered after it: degraded.
        assert body["degraded"] == ["interactions"]
        ticket = Ticket.objects.get()
        assert body["ticket"]["id"] == ticket.id
        assert Suggestion.objects.filter(ticket=ticket).count() == len(body["suggestions"]) == 5
        (queued,) = InteractionOutbox.objects.all()
        assert queued.payload["ticket_id"] == ticket.id
        assert queued.payload["kind"] == "ticket_created"
        assert queued.attempts == 1
        assert not Interaction.objects.exists()
        # The answer still shows what was accepted.
        assert body["customer"]["recent_interactions"][0]["id"] == queued.interaction_id

    assert outbox_deliver(interaction_ids=[queued.interaction_id]).delivered == 1
    assert Interaction.objects.get().ticket_id == ticket.id


@postgres_only
def test_before_migrate_has_made_the_function_a_write_keeps_the_savepoint(api, monkeypatch):
    """New code can run before `migrate` (`zappa update`, then `zappa manage migrate`)."""
    monkeypatch.setattr(interactions, "_append_function_found", [False])
    with connection.cursor() as cursor:  # rolled back with the test
        cursor.execute("DROP FUNCTION customers_interaction_append(text)")

    with CaptureQueriesContext(connection) as queries:
        response = api.post("/tickets", PAYLOAD, format="json")

    assert response.status_code == 201
    assert response.json()["degraded"] == []
    ticket = Ticket.objects.get()
    assert Interaction.objects.get().ticket_id == ticket.id
    assert not InteractionOutbox.objects.exists()
    sent = [q["sql"] for q in queries.captured_queries]
    assert not any(sql.startswith("SELECT customers_interaction_append(") for sql in sent)
    assert any(sql.startswith("SAVEPOINT") for sql in sent)
    assert interactions._append_function_found == [False]  # looked for again next time
