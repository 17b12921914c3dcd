"""The contract every interaction store keeps: the same tests against `database` and `dynamodb`.

The `dynamodb` runs talk to a real DynamoDB-protocol server (moto in server mode, started by
tests/dynamodb_server.py), one fresh table per test.
"""

from dataclasses import replace
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from customers.interactions import (
    InteractionRecord,
    Kind,
    new_ulid,
)
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer():
    return CustomerFactory()


def _record(customer, *, seconds_ago=0, **fields) -> InteractionRecord:
    fields.setdefault("kind", Kind.NOTE)
    return InteractionRecord(
        customer_id=customer.id,
        occurred_at=timezone.now() - timedelta(seconds=seconds_ago),
        **fields,
    )


def _history(customer, count, *, ticket_id=None) -> list[InteractionRecord]:
    """`count` records, oldest first, one minute apart."""
    return [
        _record(customer, seconds_ago=60 * (count - n), ticket_id=ticket_id, summary=f"#{n}")
        for n in range(count)
    ]


def test_append_then_read_returns_records_newest_first(store, customer):
    other = CustomerFactory()
    records = _history(customer, 3)
    for record in records:
        store.append(record)
    store.append(_record(other, summary="someone else's"))

    page = store.for_customer(customer.id)

    assert [r.id for r in page.items] == [r.id for r in reversed(records)]
    assert page.next_cursor is None


def test_records_read_back_with_every_field(store, customer):
    record = _record(
        customer,
        kind=Kind.TICKET_CREATED,
        ticket_id=42,
        summary="T-42: Refund for damaged blender",
        actor="api-key:crm",
        data={"channel": "email", "suggestions": [3, 1, 2], "score": 0.75, "nested": {"a": None}},
    )
    store.append(record)

    (stored,) = store.for_customer(customer.id).items

    assert stored == record


def test_record_without_ticket_or_text_reads_back_empty(store, customer):
    record = _record(customer, summary="", actor="", data={})
    store.append(record)

    (stored,) = store.for_customer(customer.id).items

    assert (stored.ticket_id, stored.summary, stored.actor, stored.data) == (None, "", "", {})


def test_pages_follow_the_cursor_to_older_records(store, customer):
    records = _history(customer, 5)
    for record in records:
        store.append(record)
    newest_first = [r.id for r in reversed(records)]

    first = store.for_customer(customer.id, limit=2)
    second = store.for_customer(customer.id, limit=2, before=first.next_cursor)
    third = store.for_customer(customer.id, limit=2, before=second.next_cursor)

    assert [r.id for r in first.items] == newest_first[:2]
    assert first.next_cursor == newest_first[1]
    assert [r.id for r in second.items] == newest_first[2:4]
    assert [r.id for r in third.items] == newest_first[4:]
    assert third.next_cursor is None


def test_last_full_page_has_no_cursor(store, customer):
    for record in _history(customer, 4):
        store.append(record)

    first = store.for_customer(customer.id, limit=2)
    second = store.for_customer(customer.id, limit=2, before=first.next_cursor)

    assert len(second.items) == 2
    assert second.next_cursor is None


def test_for_ticket_reads_one_ticket_newest_first(store, customer):
    other = CustomerFactory()
    ticket_records = _history(customer, 3, ticket_id=7)
    for record in ticket_records:
        store.append(record)
    store.append(_record(customer, ticket_id=8, summary="another ticket"))
    store.append(_record(customer, summary="no ticket at all"))
    store.append(_record(other, ticket_id=7, summary="same ticket, reassigned customer"))

    page = store.for_ticket(7)

    assert [r.summary for r in page.items] == [
        "same ticket, reassigned customer",
        "#2",
        "#1",
        "#0",
    ]
    assert {r.ticket_id for r in page.items} == {7}


def test_for_ticket_pages_with_the_cursor(store, customer):
    records = _history(customer, 3, ticket_id=9)
    for record in records:
        store.append(record)

    first = store.for_ticket(9, limit=2)
    second = store.for_ticket(9, limit=2, before=first.next_cursor)

    assert [r.id for r in first.items] == [records[2].id, records[1].id]
    assert [r.id for r in second.items] == [records[0].id]
    assert second.next_cursor is None


def test_unknown_customer_or_ticket_reads_empty(store):
    assert store.for_customer(999_999).items == []
    assert store.for_ticket(999_999).items == []


def test_retried_write_of_the_same_record_is_stored_once(store, customer):
    record = _record(customer, ticket_id=5, summary="first delivery")
    store.append(record)

    store.append(record)
    store.append(replace(record, summary="a late retry with other text"))

    assert [r.summary for r in store.for_customer(customer.id).items] == ["first delivery"]
    assert len(store.for_ticket(5).items) == 1


def test_expired_records_are_left_out(store, customer, settings):
    retention = timedelta(days=settings.INTERACTION_RETENTION_DAYS)
    expired = _record(customer, ticket_id=3, summary="old")
    expired = replace(expired, occurred_at=timezone.now() - retention - timedelta(hours=1))
    fresh = _record(customer, ticket_id=3, summary="fresh")
    store.append(expired)
    store.append(fresh)

    assert [r.summary for r in store.for_customer(customer.id).items] == ["fresh"]
    assert [r.summary for r in store.for_ticket(3).items] == ["fresh"]


def test_records_disappear_once_the_retention_has_passed(store, customer, settings):
    store.append(_record(customer, ticket_id=4, summary="soon gone"))
    later = timezone.now() + timedelta(days=settings.INTERACTION_RETENTION_DAYS, minutes=1)

    with time_machine.travel(later, tick=False):
        assert store.for_customer(customer.id).items == []
        assert store.for_ticket(4).items == []


def test_expired_records_do_not_cut_a_page_short(store, customer, settings):
    for record in _history(customer, 3):
        store.append(record)
    # Expired, yet with the newest ids (a late import of old events): they sort first, so a
    # store that filtered after limiting would hand back an empty page.
    old = timezone.now() - timedelta(days=settings.INTERACTION_RETENTION_DAYS, hours=1)
    for n in range(3):
        store.append(
            InteractionRecord(
                id=new_ulid(timezone.now() + timedelta(minutes=n + 1)),
                customer_id=customer.id,
                kind=Kind.EMAIL_IN,
                summary=f"expired {n}",
                occurred_at=old,
            )
        )

    first = store.for_customer(customer.id, limit=2)
    second = store.for_customer(customer.id, limit=2, before=first.next_cursor)

    assert [r.summary for r in first.items] == ["#2", "#1"]
    assert [r.summary for r in second.items] == ["#0"]
    assert second.next_cursor is None


def test_oversized_payload_is_truncated_not_failed(store, customer):
    long_summary = "Customer wrote: " + "blender broken " * 1000
    record = _record(
        customer,
        ticket_id=12,
        summary=long_summary,
        data={"body": "é" * 100_000 + "x" * 400_000},  # well past DynamoDB's 400 KB
    )

    store.append(record)

    (stored,) = store.for_customer(customer.id).items
    assert stored.id == record.id
    assert len(stored.summary) <= 500
    assert stored.summary.startswith(long_summary[:400])
    # The database keeps the whole payload; DynamoDB keeps a marker and a preview.
    assert stored.data == record.data or stored.data["_truncated"] is True


def test_check_reports_ok_with_latency(store):
    health = store.check()

    assert health.ok is True
    assert health.detail == "ok"
    assert health.latency_ms >= 0


def test_ids_made_in_one_millisecond_keep_their_order():
    at = timezone.now()
    ids = [new_ulid(at) for _ in range(1000)]
    assert ids == sorted(ids) and len(set(ids)) == 1000
    assert len({i[:10] for i in ids}) == 1  # one timestamp, ordered by the random part
