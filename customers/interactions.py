"""The interaction log: what happened with a customer (tickets, suggestions, feedback, e-mails).

Callers use one small interface, `InteractionStore`, through `get_interaction_store()`; which
store is behind it is a setting (INTERACTION_STORE). The `database` store keeps the log in the
relational DB; the `dynamodb` store (PynamoDB) is the scale path.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from helpdesk.api.compiled import CompiledInsert, CompiledRead
from helpdesk.api.exceptions import HelpdeskError
from helpdesk.api.utils import elapsed_ms

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


_ULID_LOCK = threading.Lock()
_ulid_last = [0, 0]  # this process's previous id: (millisecond, random part)


def new_ulid(at: datetime | None = None) -> str:
    """A ULID: 48-bit millisecond time + 80 random bits, Crockford base32, sorts by time.

    Monotonic within a process: an id in the same millisecond as the one before it takes that
    one's random part plus one, so two events logged in one millisecond (a status change and its
    note) keep the order they were logged in."""
    millis = int((at.timestamp() if at else time.time()) * 1000)
    random_part = int.from_bytes(os.urandom(10), "big")
    with _ULID_LOCK:
        last_millis, last_random = _ulid_last
        if millis == last_millis and last_random + 1 < 1 << 80:
            random_part = last_random + 1
        _ulid_last[:] = [millis, random_part]
    value = (millis << 80) | random_part
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_CROCKFORD[index])
    return "".join(reversed(chars))


class Kind:
    TICKET_CREATED = "ticket_created"
    SUGGESTIONS_SHOWN = "suggestions_shown"
    FEEDBACK = "feedback"
    STATUS_CHANGED = "status_changed"
    NOTE = "note"
    EMAIL_IN = "email_in"
    EMAIL_OUT = "email_out"
    # An agent reply that did not reach the customer: refused when sent, or bounced.
    EMAIL_FAILED = "email_failed"
    # That reply sent again (to the address as corrected, say).
    EMAIL_RESENT = "email_resent"
    # The customer rated how their request was handled (tickets/satisfaction.py).
    SATISFACTION_RATED = "satisfaction_rated"
    TICKET_MERGED = "ticket_merged"
    INCIDENT_LINKED = "incident_linked"
    INCIDENT_UNLINKED = "incident_unlinked"
    # Priority, assignee, category or order changed (tickets.changes); status has its own kind.
    TICKET_CHANGED = "ticket_changed"
    # An order pushed by an integration (POST /orders) and its status changes (PATCH).
    ORDER_PLACED = "order_placed"
    ORDER_STATUS_CHANGED = "order_status_changed"
    # The customer's profile changed (an integration's PATCH, an administrator in the admin).
    CUSTOMER_UPDATED = "customer_updated"


@dataclass(frozen=True)
class InteractionRecord:
    customer_id: int
    kind: str
    summary: str = ""
    ticket_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    actor: str = ""
    occurred_at: datetime = field(default_factory=timezone.now)
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", new_ulid(self.occurred_at))

    def to_json(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["occurred_at"] = self.occurred_at.isoformat()
        return payload

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> InteractionRecord:
        payload = dict(payload)
        payload["occurred_at"] = datetime.fromisoformat(payload["occurred_at"])
        return cls(**payload)


@dataclass(frozen=True)
class InteractionPage:
    items: list[InteractionRecord]
    # Pass as `before` to get the next (older) page; None when there is none.
    next_cursor: str | None


@dataclass(frozen=True)
class StoreHealth:
    ok: bool
    detail: str
    latency_ms: float


class InteractionStoreUnavailable(HelpdeskError):
    """The store could not be reached, was throttled past its retries, or its table is missing.

    Callers degrade (and keep the interaction for later: writes are idempotent, so delivering
    the same record again is safe). The original error is chained as `__cause__`.
    """

    code = "interaction_store_unavailable"
    http_status = 503


class InteractionStore(Protocol):
    name: str
    # True when the store is reached over the network and not through the Django database:
    # /health runs its check in a worker, cut at HEALTH_CHECK_TIMEOUT_SECONDS.
    remote: bool

    def append(self, record: InteractionRecord) -> None:
        """Store one interaction. Idempotent: a retried record (same id) is stored once."""

    def for_customer(
        self, customer_id: int, *, limit: int = 20, before: str | None = None
    ) -> InteractionPage:
        """A customer's interactions, newest first, expired ones left out."""

    def for_ticket(
        self, ticket_id: int, *, limit: int = 50, before: str | None = None
    ) -> InteractionPage:
        """One ticket's interactions, newest first, expired ones left out."""

    def check(self) -> StoreHealth:
        """Reachability and latency, for /health."""


def expiry_for(record: InteractionRecord) -> datetime:
    return record.occurred_at + _retention()


def _retention() -> timedelta:
    return timedelta(days=settings.INTERACTION_RETENTION_DAYS)


_RECORD_FIELDS = (
    "id",
    "customer_id",
    "ticket_id",
    "kind",
    "occurred_at",
    "summary",
    "data",
    "actor",
)


def _page_rows(field: str, value: int, now: datetime, before: str | None, limit: int):
    from customers.models import Interaction

    rows = Interaction.objects.filter(**{field: value}, expires_at__gt=now)
    if before is not None:
        rows = rows.filter(id__lt=before)
    # Rows, not model instances, and one more than a page to know whether another follows.
    return rows.order_by("-id").values(*_RECORD_FIELDS)[: limit + 1]


_newest_page = CompiledRead(
    lambda value, now, field, limit: _page_rows(field, value, now, None, limit), int, datetime
)
_older_page = CompiledRead(
    lambda value, now, before, field, limit: _page_rows(field, value, now, before, limit),
    int,
    datetime,
    str,
)


def _newest_by_email(email: str, now: datetime, limit: int):
    from customers.models import Interaction

    rows = Interaction.objects.filter(customer__email=email, expires_at__gt=now)
    return rows.order_by("-id").values(*_RECORD_FIELDS)[:limit]


# A customer's newest interactions by their (normalised) e-mail, for a read made together with
# the customer's look-up (customers.selectors.customer_by_email_with_interactions).
newest_by_email = CompiledRead(_newest_by_email, str, datetime)


@lru_cache(maxsize=1)
def _insert_interaction() -> CompiledInsert:
    from customers.models import Interaction  # on first use, as this module's reads do

    return CompiledInsert(Interaction, ignore_conflicts=True)


class InteractionWriteFailed(Exception):
    """The database refused an interaction (the Postgres function's answer: SQLSTATE and
    message); the caller's transaction is as it was before the write."""


# One statement: the write and its savepoint, server-side (customers migration 0003).
_APPEND_SQL = "SELECT customers_interaction_append(%s)"
_append_function_found = [False]


def _guarded_append() -> bool:
    """Whether writes go through the Postgres function: on Postgres once migration 0003 has
    made it. New code can run before `migrate` does (`zappa update`, then `zappa manage
    migrate`); until then a write keeps the client-side savepoint, and the function is looked
    for again on the next write (one statement more, only then). Once found, remembered."""
    if connection.vendor != "postgresql":
        return False
    if not _append_function_found[0]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT to_regprocedure('customers_interaction_append(text)') IS NOT NULL"
            )
            _append_function_found[0] = cursor.fetchone()[0]
    return _append_function_found[0]


class DatabaseInteractionStore:
    """The embedded default: the log in the relational DB (customers.Interaction)."""

    name = "database"
    remote = False

    def append(self, record: InteractionRecord) -> None:
        # A retried record (same id) is stored once (ON CONFLICT DO NOTHING), without the
        # savepoint a caught IntegrityError would need inside the caller's transaction.
        if _guarded_append():
            self._append_guarded(record)
        else:
            self._append_insert(record)

    def append_in_transaction(self, record: InteractionRecord) -> None:
        """`append` inside the caller's transaction: a failure raises and leaves that
        transaction usable (what `interaction_record` needs to keep the ticket). On Postgres
        `append` is already one guarded statement; elsewhere it gets a savepoint."""
        if _guarded_append():
            self.append(record)
        else:
            with transaction.atomic():
                self.append(record)

    def _append_guarded(self, record: InteractionRecord) -> None:
        """Postgres: one `SELECT customers_interaction_append(row)`, whose own `BEGIN …
        EXCEPTION` block is the savepoint (SAVEPOINT, INSERT, RELEASE were three statements;
        thread CPU per ticket 0.55-0.72 -> 0.22-0.29 ms, median; bench/trips_ab.py). The row
        travels as JSON text, parsed inside the guard; the function answers NULL, or why it
        wrote nothing."""
        occurred_at = record.occurred_at
        if timezone.is_naive(occurred_at):  # as DateTimeField would read it
            occurred_at = timezone.make_aware(occurred_at)
        row = json.dumps(
            {
                "id": record.id,
                "customer_id": record.customer_id,
                "ticket_id": record.ticket_id,
                "kind": record.kind,
                "occurred_at": occurred_at.isoformat(),
                "summary": record.summary[:500],
                "data": record.data,
                "actor": record.actor[:200],
                "expires_at": (occurred_at + _retention()).isoformat(),
            }
        )
        with connection.cursor() as cursor:
            cursor.execute(_APPEND_SQL, [row])
            (error,) = cursor.fetchone()
        if error is not None:
            raise InteractionWriteFailed(error)

    def _append_insert(self, record: InteractionRecord) -> None:
        from customers.models import Interaction

        # INSERT … ON CONFLICT DO NOTHING. Every ticket writes one: the statement is built
        # once per process (CompiledInsert).
        _insert_interaction().insert(
            [
                Interaction(
                    id=record.id,
                    customer_id=record.customer_id,
                    ticket_id=record.ticket_id,
                    kind=record.kind,
                    occurred_at=record.occurred_at,
                    summary=record.summary[:500],
                    data=record.data,
                    actor=record.actor[:200],
                    expires_at=expiry_for(record),
                )
            ]
        )

    def for_customer(self, customer_id, *, limit=20, before=None) -> InteractionPage:
        return self._page({"customer_id": customer_id}, limit, before)

    def for_ticket(self, ticket_id, *, limit=50, before=None) -> InteractionPage:
        return self._page({"ticket_id": ticket_id}, limit, before)

    def _page(self, where: dict, limit: int, before: str | None) -> InteractionPage:
        ((field, value),) = where.items()
        # The newest page is on every ticket's hot path: a compiled read (see CompiledRead).
        if before:
            rows = _older_page.rows(value, timezone.now(), before, shape=(field, limit))
        else:
            rows = _newest_page.rows(value, timezone.now(), shape=(field, limit))
        items = [InteractionRecord(**row) for row in rows[:limit]]
        next_cursor = items[-1].id if len(rows) > limit else None
        return InteractionPage(items=items, next_cursor=next_cursor)

    def check(self) -> StoreHealth:
        started = time.perf_counter()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as exc:  # any driver error means "down" for /health
            return StoreHealth(False, f"database unreachable: {exc}", elapsed_ms(started))
        return StoreHealth(True, "ok", elapsed_ms(started))


@lru_cache(maxsize=1)
def _store_for(name: str) -> InteractionStore:
    if name == "database":
        return DatabaseInteractionStore()
    if name == "dynamodb":
        # Imported lazily: the default deployment never loads PynamoDB.
        from customers.dynamodb import DynamoDBInteractionStore

        return DynamoDBInteractionStore()
    raise ValueError(f"Unknown INTERACTION_STORE {name!r}; expected 'database' or 'dynamodb'.")


def get_interaction_store() -> InteractionStore:
    return _store_for(settings.INTERACTION_STORE)


__all__ = [
    "InteractionPage",
    "InteractionRecord",
    "InteractionStore",
    "InteractionStoreUnavailable",
    "Kind",
    "StoreHealth",
    "get_interaction_store",
    "new_ulid",
]
