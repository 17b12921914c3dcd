"""Recording interactions without losing any: the transactional outbox.

`interaction_record` is called inside the transaction that accepts the ticket (or the status
change, or the feedback). With the `database` store the interaction is written right there. With
another store (DynamoDB) an outbox row is written in that transaction, and delivery is tried as
soon as it commits; whatever cannot be delivered stays in the outbox for `outbox_drain`
(`manage.py interactions_drain_outbox`, or the scheduled Lambda event), which delivers in id
order with exponential backoff. Stores write idempotently by interaction id, so a delivery that
is repeated (a crash between writing and deleting the row, two drains at once) stores it once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from customers.interactions import InteractionRecord, get_interaction_store
from customers.models import InteractionOutbox
from helpdesk.redact import redact

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 5
BACKOFF_MAX_SECONDS = 3600


def interaction_log(
    *,
    customer_id: int,
    kind: str,
    summary: str,
    actor: str,
    data: dict,
    ticket_id: int | None = None,
) -> None:
    """One event on a customer's timeline (and its ticket's history, with `ticket_id`), in the
    caller's transaction: `interaction_record` of a single record."""
    interaction_record(
        records=[
            InteractionRecord(
                customer_id=customer_id,
                ticket_id=ticket_id,
                kind=kind,
                summary=summary,
                actor=actor,
                data=data,
            )
        ]
    )


def interaction_record(
    *, records: Iterable[InteractionRecord], deliver_on_commit: bool = True
) -> list[str]:
    """Record interactions as part of the caller's transaction.

    Returns the ids that went to the outbox: all of them for a non-database store, and, for the
    database store, any whose write failed. Delivery is tried right after the commit, unless
    the caller asks to do it itself (`outbox_deliver(interaction_ids=...)` once committed).
    """
    records = list(records)
    store = get_interaction_store()
    if store.name != "database":
        _enqueue(records)
        ids = [r.id for r in records]
        if deliver_on_commit:
            transaction.on_commit(lambda: outbox_deliver(interaction_ids=ids))
        return ids
    failed = []
    for record in records:
        try:
            store.append_in_transaction(record)  # a failure leaves the transaction usable
        except Exception:
            logger.exception("Writing interaction %s failed; it waits in the outbox", record.id)
            failed.append(record)
    _enqueue(failed)
    return [r.id for r in failed]


def _enqueue(records: list[InteractionRecord]) -> None:
    if not records:  # every write succeeded: not even an empty bulk_create (0.07 ms a ticket)
        return
    now = timezone.now()
    InteractionOutbox.objects.bulk_create(
        InteractionOutbox(interaction_id=r.id, payload=r.to_json(), next_attempt_at=now)
        for r in records
    )


def outbox_depth() -> int:
    return InteractionOutbox.objects.count()


@dataclass
class DrainResult:
    delivered: int = 0
    failed: int = 0
    remaining: int = 0  # set by outbox_drain only


def outbox_deliver(*, interaction_ids: list[str] | None = None, limit: int = 500) -> DrainResult:
    """Deliver due outbox rows (or just the given ones), oldest first.

    Stops at the first failure: the store is most likely down. A failed row is retried after
    5 s, 10 s, 20 s, … (at most an hour); rows behind it that are due are still tried, since
    reads order a history by the interactions' time-ordered ids, not by delivery order.
    """
    store = get_interaction_store()
    result = DrainResult()
    rows = InteractionOutbox.objects.order_by("id")
    if interaction_ids is not None:
        rows = rows.filter(interaction_id__in=interaction_ids)
    else:
        rows = rows.filter(next_attempt_at__lte=timezone.now())
    delivered: list[int] = []
    try:
        for row in list(rows[:limit]):
            try:
                store.append(InteractionRecord.from_json(row.payload))
            except Exception as exc:  # any store failure: keep the row, back off
                row.attempts += 1
                delay = min(BACKOFF_BASE_SECONDS * 2 ** (row.attempts - 1), BACKOFF_MAX_SECONDS)
                row.next_attempt_at = timezone.now() + timedelta(seconds=delay)
                row.last_error = redact(f"{exc.__class__.__name__}: {exc}")[:2000]
                row.save(update_fields=["attempts", "next_attempt_at", "last_error"])
                logger.warning("Interaction %s not delivered: %s", row.interaction_id, exc)
                result.failed += 1
                break
            delivered.append(row.pk)
    finally:
        # One DELETE for the batch. Appends are idempotent, so a row delivered twice (a crash
        # before this line, a concurrent drain) is stored once.
        InteractionOutbox.objects.filter(pk__in=delivered).delete()
    result.delivered = len(delivered)
    return result


def outbox_drain(*, batch: int = 500, max_batches: int = 100) -> DrainResult:
    """Deliver everything due, batch by batch, until done or a delivery fails."""
    total = DrainResult()
    for _ in range(max_batches):
        result = outbox_deliver(limit=batch)
        total.delivered += result.delivered
        total.failed += result.failed
        if result.failed or result.delivered < batch:
            break
    total.remaining = outbox_depth()  # counted once, here: a delivery after commit needs no count
    return total
