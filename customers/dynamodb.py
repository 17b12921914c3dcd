"""The `dynamodb` interaction store: the interaction log in DynamoDB through PynamoDB.

Table design (one item per interaction):

    customer_id  N  hash key
    sk           S  range key: the record's ULID (time-ordered and unique), so a customer's
                    items sort by time and `sk < cursor` is the next (older) page
    ticket_id    N  hash key of the `by_ticket` GSI (range key `sk`, all attributes projected);
                    absent on interactions without a ticket, so the index is sparse
    expires_at   N  TTL attribute, epoch seconds: occurred_at + INTERACTION_RETENTION_DAYS
    kind, summary, actor (S), occurred_at (S, ISO 8601 UTC), data (S, JSON)
    billing: PAY_PER_REQUEST

Table name, region and endpoint come from Django settings when the store is built. Errors that
mean "the store cannot take this now" (throttled past the retries, unreachable, table missing,
credentials refused) become `InteractionStoreUnavailable`, so callers degrade.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from functools import lru_cache
from typing import TypeVar

from django.conf import settings
from django.utils import timezone
from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.constants import PAY_PER_REQUEST_BILLING_MODE
from pynamodb.exceptions import PynamoDBException, TableDoesNotExist
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from customers.interactions import (
    InteractionPage,
    InteractionRecord,
    InteractionStoreUnavailable,
    StoreHealth,
    expiry_for,
)
from helpdesk.api.utils import elapsed_ms
from helpdesk.redact import redact

logger = logging.getLogger(__name__)

T = TypeVar("T")

# DynamoDB rejects items over "400 KB" (attribute names + values, UTF-8); AWS's real cut-off is
# near 409 KB, moto's 405,000 bytes. Stay under the decimal reading, with room for our estimate.
ITEM_MAX_BYTES = 398_000
SUMMARY_MAX_CHARS = 500  # the same cap as the database store, so both read back alike
ACTOR_MAX_CHARS = 200
KIND_MAX_CHARS = 64
TRUNCATED_MARKER = "… [truncated]"
DATA_PREVIEW_CHARS = 2000

# Codes worth another attempt: throttling and DynamoDB's own transient failures.
RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
# Codes that say something about the request itself; retrying or queueing will not fix them.
REQUEST_ERROR_CODES = frozenset(
    {"ConditionalCheckFailedException", "ValidationException", "SerializationException"}
)
MAX_ATTEMPTS = 4
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 1.0
# A ticket request waits on these: each call's connect and read timeout is
# DYNAMODB_TIMEOUT_SECONDS (default 1 s; DynamoDB answers in milliseconds), and a timed-out call
# is not retried: the caller degrades and the outbox delivers later.


class TicketIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_ticket"
        projection = AllProjection()

    ticket_id = NumberAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class InteractionItem(Model):
    """Attributes and index only; `interaction_model()` binds it to a table from settings."""

    customer_id = NumberAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    ticket_id = NumberAttribute(null=True)
    kind = UnicodeAttribute()
    summary = UnicodeAttribute(null=True)
    actor = UnicodeAttribute(null=True)
    occurred_at = UTCDateTimeAttribute()
    data = JSONAttribute(null=True)
    expires_at = TTLAttribute()

    by_ticket = TicketIndex()


@lru_cache(maxsize=32)
def interaction_model(
    table_name: str, host: str | None, region: str | None, timeout: float = 1.0
) -> type[InteractionItem]:
    """A model class bound to one table. PynamoDB reads `Meta` when a class is created, so
    the settings' values go into a subclass built here (once per table/host/region)."""
    meta = type(
        "Meta",
        (),
        {
            "table_name": table_name,
            "host": host,
            "region": region,
            "billing_mode": PAY_PER_REQUEST_BILLING_MODE,
            # Retries are ours (see `_call`): bounded, with a patchable sleep.
            "max_retry_attempts": 0,
            "connect_timeout_seconds": timeout,
            "read_timeout_seconds": timeout,
        },
    )
    return type(
        f"InteractionItem[{table_name}]",
        (InteractionItem,),
        {"Meta": meta, "__module__": __name__},
    )


class DynamoDBInteractionStore:
    """The `InteractionStore` protocol on a DynamoDB table (see the module docstring)."""

    name = "dynamodb"
    # Reached over the network, never through the Django database: /health may run its check
    # in a worker and give up on it at HEALTH_CHECK_TIMEOUT_SECONDS.
    remote = True

    def __init__(
        self,
        *,
        table_name: str | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float | None = None,
    ) -> None:
        self.table_name = table_name or settings.DYNAMODB_TABLE
        self.endpoint_url = endpoint_url or settings.DYNAMODB_ENDPOINT_URL
        self.region = region or settings.AWS_REGION
        self.max_attempts = max(1, max_attempts)
        self.sleep = sleep
        self.model = interaction_model(
            self.table_name,
            self.endpoint_url,
            self.region,
            timeout or settings.DYNAMODB_TIMEOUT_SECONDS,
        )

    # --- writes -------------------------------------------------------------------------------

    def append(self, record: InteractionRecord) -> None:
        item = self._to_item(record)
        try:
            # The condition makes a retry of the same record id a no-op instead of an overwrite.
            self._call("write", lambda: item.save(condition=self.model.sk.does_not_exist()))
        except PynamoDBException as exc:
            if response_code(exc) != "ConditionalCheckFailedException":
                raise
            logger.debug("Interaction %s already stored", record.id)

    # --- reads --------------------------------------------------------------------------------

    def for_customer(
        self, customer_id: int, *, limit: int = 20, before: str | None = None
    ) -> InteractionPage:
        return self._page(self.model.query, customer_id, limit, before)

    def for_ticket(
        self, ticket_id: int, *, limit: int = 50, before: str | None = None
    ) -> InteractionPage:
        # A GSI read is eventually consistent on AWS: a record written a moment ago may be
        # missing from it for a fraction of a second.
        return self._page(self.model.by_ticket.query, ticket_id, limit, before)

    def _page(self, query, key: int, limit: int, before: str | None) -> InteractionPage:
        if limit < 1:
            return InteractionPage(items=[], next_cursor=None)

        def run() -> list[InteractionItem]:
            # `limit` counts items after the filter: PynamoDB keeps paging until it has them.
            # DynamoDB deletes expired items lazily (local servers never do), hence the filter.
            return list(
                query(
                    key,
                    range_key_condition=self.model.sk < before if before else None,
                    filter_condition=self.model.expires_at > timezone.now(),
                    scan_index_forward=False,
                    limit=limit + 1,
                )
            )

        items = self._call("read", run)
        records = [_to_record(item) for item in items[:limit]]
        next_cursor = records[-1].id if len(items) > limit else None
        return InteractionPage(items=records, next_cursor=next_cursor)

    # --- health -------------------------------------------------------------------------------

    def check(self) -> StoreHealth:
        started = time.perf_counter()
        try:
            table = self.model.describe_table()
        except TableDoesNotExist:
            return StoreHealth(
                False,
                f"table {self.table_name!r} does not exist at {self._where()}; "
                "run `manage.py interactions_create_table`",
                elapsed_ms(started),
            )
        except Exception as exc:  # any client or transport error means "down" for /health
            return StoreHealth(
                False,
                f"DynamoDB unreachable at {self._where()}: {_reason(exc)}",
                elapsed_ms(started),
            )
        status = table.get("TableStatus", "UNKNOWN")
        if status != "ACTIVE":
            return StoreHealth(False, f"table {self.table_name!r} is {status}", elapsed_ms(started))
        return StoreHealth(True, "ok", elapsed_ms(started))

    # --- helpers ------------------------------------------------------------------------------

    def _call(self, what: str, operation: Callable[[], T]) -> T:
        """Run one DynamoDB operation; retry throttling with backoff; map outages to
        `InteractionStoreUnavailable`. Request errors (failed condition, validation) pass
        through unchanged: retrying or queueing them would not help."""
        attempt = 1
        while True:
            try:
                return operation()
            except PynamoDBException as exc:
                code = response_code(exc)
                if code in REQUEST_ERROR_CODES:
                    raise
                if code in RETRYABLE_CODES and attempt < self.max_attempts:
                    delay = self._backoff(attempt)
                    logger.warning(
                        "DynamoDB %s on %s (attempt %d/%d); retrying in %.3fs",
                        code, self.table_name, attempt, self.max_attempts, delay,
                    )  # fmt: skip
                    self.sleep(delay)
                    attempt += 1
                    continue
                raise InteractionStoreUnavailable(self._unavailable(what, exc, attempt)) from exc

    def _backoff(self, attempt: int) -> float:
        # Exponential with "equal jitter": half fixed, half random, so retries spread out.
        delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
        return delay / 2 + random.uniform(0, delay / 2)

    def _unavailable(self, what: str, exc: PynamoDBException, attempts: int) -> str:
        code = response_code(exc)
        if code in RETRYABLE_CODES:
            return f"DynamoDB {what} throttled ({code}) after {attempts} attempts"
        if code == "ResourceNotFoundException":
            return (
                f"DynamoDB table {self.table_name!r} does not exist at {self._where()}; "
                "run `manage.py interactions_create_table`"
            )
        return f"DynamoDB {what} failed at {self._where()}: {_reason(exc)}"

    def _where(self) -> str:
        # Never the endpoint URL: this text reaches /health (public) and the outbox's errors.
        return "the configured endpoint" if self.endpoint_url else f"region {self.region}"

    def _to_item(self, record: InteractionRecord) -> InteractionItem:
        occurred_at = record.occurred_at
        if timezone.is_naive(occurred_at):
            occurred_at = timezone.make_aware(occurred_at, UTC)
        expires_at = expiry_for(record)
        if timezone.is_naive(expires_at):
            expires_at = timezone.make_aware(expires_at, UTC)
        item = self.model(
            record.customer_id,
            record.id,
            ticket_id=record.ticket_id,
            kind=_clip(record.kind, KIND_MAX_CHARS, marker=""),
            summary=_clip(record.summary, SUMMARY_MAX_CHARS) or None,
            actor=_clip(record.actor, ACTOR_MAX_CHARS) or None,
            occurred_at=occurred_at,
            data=record.data,
            expires_at=expires_at,
        )
        size = _item_bytes(item)
        if size > ITEM_MAX_BYTES:
            # Only `data` is unbounded (the strings above are capped): keep a marker and a
            # preview instead of failing the write.
            encoded = json.dumps(record.data)
            item.data = {
                "_truncated": True,
                "reason": f"item of {size} bytes exceeds DynamoDB's item size limit",
                "original_bytes": len(encoded.encode()),
                "preview": encoded[:DATA_PREVIEW_CHARS],
            }
            logger.warning("Interaction %s: data truncated (%d bytes)", record.id, size)
        return item


def _to_record(item: InteractionItem) -> InteractionRecord:
    return InteractionRecord(
        id=item.sk,
        customer_id=int(item.customer_id),
        ticket_id=int(item.ticket_id) if item.ticket_id is not None else None,
        kind=item.kind,
        summary=item.summary or "",
        data=item.data if item.data is not None else {},
        actor=item.actor or "",
        occurred_at=item.occurred_at,
    )


def _clip(value: str, limit: int, *, marker: str = TRUNCATED_MARKER) -> str:
    if len(value) <= limit:
        return value
    return value[: limit - len(marker)] + marker


def _item_bytes(item: InteractionItem) -> int:
    """DynamoDB's size of an item: attribute names plus values (strings in UTF-8; numbers are
    at most 21 bytes, counted generously here as their text)."""
    total = 0
    for name, typed in item.serialize().items():
        total += len(name.encode())
        for value in typed.values():
            total += len(str(value).encode())
    return total


def _reason(exc: Exception) -> str:
    cause = getattr(exc, "cause", None) or exc.__cause__ or exc
    return redact(f"{cause.__class__.__name__}: {cause}")


def response_code(exc: PynamoDBException) -> str | None:
    """DynamoDB's error code behind a PynamoDB error, None when there is none.

    Not `exc.cause_response_code`: that reads `exc.cause.response.get(...)`, and a transport
    error (botocore's ReadTimeoutError, ConnectTimeoutError, EndpointConnectionError) carries
    `response = None`, so the property itself raises AttributeError, and a hanging or
    unreachable DynamoDB would surface as an AttributeError instead of an outage.
    """
    response = getattr(getattr(exc, "cause", None), "response", None)
    if not isinstance(response, dict):
        return None
    error = response.get("Error")
    code = error.get("Code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


# --- table administration (manage.py interactions_create_table) ------------------------------

ADMIN_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class TableSetup:
    table_name: str
    created: bool
    ttl_enabled_now: bool
    ttl_attribute: str
    billing_mode: str
    indexes: list[str]


def interactions_table_create() -> TableSetup:
    """Create the interactions table (GSI, on-demand billing) if missing, wait until it is
    active, and make sure TTL is enabled on `expires_at`. Safe to run any number of times."""
    from helpdesk.aws import dynamodb_client

    # Administration, not a request: the default client timeouts, not DYNAMODB_TIMEOUT_SECONDS.
    store = DynamoDBInteractionStore(timeout=ADMIN_TIMEOUT_SECONDS)
    model = store.model
    client = dynamodb_client()
    created = False
    if not model.exists():
        # PynamoDB enables TTL itself right after creating; its errors are not fatal here
        # because the step below checks and enables TTL in any case.
        model.create_table(
            wait=True, billing_mode=PAY_PER_REQUEST_BILLING_MODE, ignore_update_ttl_errors=True
        )
        created = True

    ttl_attribute = InteractionItem.expires_at.attr_name
    ttl = client.describe_time_to_live(TableName=store.table_name)["TimeToLiveDescription"]
    status, current = ttl.get("TimeToLiveStatus"), ttl.get("AttributeName")
    ttl_enabled_now = False
    if status in ("ENABLED", "ENABLING"):
        if current != ttl_attribute:
            raise ValueError(
                f"TTL on {store.table_name!r} uses {current!r}, not {ttl_attribute!r}; "
                "disable it first (AWS allows one TTL change per hour)."
            )
    else:
        # Enabling TTL on a table where it is already on is an error on AWS: hence the check.
        client.update_time_to_live(
            TableName=store.table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute},
        )
        ttl_enabled_now = True

    table = client.describe_table(TableName=store.table_name)["Table"]
    return TableSetup(
        table_name=store.table_name,
        created=created,
        ttl_enabled_now=ttl_enabled_now,
        ttl_attribute=ttl_attribute,
        billing_mode=table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
        indexes=[index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])],
    )
