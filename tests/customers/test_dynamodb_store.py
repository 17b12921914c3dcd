"""What only the `dynamodb` store does: item-size limits, throttling, a missing table, an
unreachable server. Real server (moto, tests/dynamodb_server.py); throttling is injected with
botocore's Stubber on the store's own client, since no local server throttles."""

import socket
from datetime import UTC, timedelta

import pytest
from botocore.stub import Stubber
from django.utils import timezone
from pynamodb.exceptions import PynamoDBException

from customers.dynamodb import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    ITEM_MAX_BYTES,
    MAX_ATTEMPTS,
    DynamoDBInteractionStore,
    _item_bytes,
)
from customers.interactions import (
    InteractionRecord,
    InteractionStoreUnavailable,
    Kind,
    _store_for,
    get_interaction_store,
)
from customers.models import InteractionOutbox

THROTTLED = "ProvisionedThroughputExceededException"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def store(dynamodb_table, sleeps) -> DynamoDBInteractionStore:
    return DynamoDBInteractionStore(sleep=sleeps.append)


def _record(**fields) -> InteractionRecord:
    fields.setdefault("customer_id", 1)
    fields.setdefault("kind", Kind.NOTE)
    return InteractionRecord(**fields)


def _client(store: DynamoDBInteractionStore):
    """The botocore client PynamoDB uses for this store's table."""
    return store.model._get_connection().connection.client


def test_settings_choose_the_dynamodb_store(dynamodb_table, settings):
    settings.INTERACTION_STORE = "dynamodb"
    _store_for.cache_clear()

    store = get_interaction_store()

    assert isinstance(store, DynamoDBInteractionStore)
    assert store.table_name == dynamodb_table
    assert store.endpoint_url == settings.DYNAMODB_ENDPOINT_URL
    assert store.region == settings.AWS_REGION


def test_items_carry_ttl_in_epoch_seconds(store, settings):
    record = _record(ticket_id=3)
    store.append(record)

    item = store.model.get(record.customer_id, record.id)

    expected = record.occurred_at + timedelta(days=settings.INTERACTION_RETENTION_DAYS)
    assert abs((item.expires_at - expected).total_seconds()) < 1
    assert item.serialize()["expires_at"] == {"N": str(int(expected.timestamp()))}


def test_record_without_ticket_stays_out_of_the_ticket_index(store):
    store.append(_record(summary="no ticket"))
    store.append(_record(ticket_id=5, summary="ticket 5"))

    indexed = list(store.model.by_ticket.scan())

    assert [item.summary for item in indexed] == ["ticket 5"]


def test_oversized_data_is_replaced_by_a_marker_and_a_preview(store):
    data = {"body": "é" * 100_000 + "x" * 400_000}
    record = _record(ticket_id=8, data=data, summary="big e-mail")

    store.append(record)

    (stored,) = store.for_ticket(8).items
    assert stored.data["_truncated"] is True
    assert stored.data["original_bytes"] > 400 * 1024
    assert stored.data["preview"].startswith('{"body": "\\u00e9')
    assert stored.summary == "big e-mail"
    assert _item_bytes(store.model.get(1, record.id)) <= ITEM_MAX_BYTES


def test_data_just_under_the_limit_is_kept_whole(store):
    data = {"body": "x" * (ITEM_MAX_BYTES - 1000)}
    record = _record(data=data)

    store.append(record)

    (stored,) = store.for_customer(1).items
    assert stored.data == data


def test_long_summary_and_actor_are_clipped_with_a_marker(store):
    record = _record(summary="s" * 2000, actor="a" * 500)

    store.append(record)

    (stored,) = store.for_customer(1).items
    assert len(stored.summary) == 500
    assert stored.summary.endswith("… [truncated]")
    assert len(stored.actor) == 200


def test_throttled_write_is_retried_with_backoff_then_succeeds(store, sleeps):
    with Stubber(_client(store)) as stubber:
        stubber.add_client_error("put_item", THROTTLED, http_status_code=400)
        stubber.add_client_error("put_item", "ThrottlingException", http_status_code=400)
        stubber.add_response("put_item", {})

        store.append(_record())

        stubber.assert_no_pending_responses()
    assert len(sleeps) == 2
    assert BACKOFF_BASE_SECONDS / 2 <= sleeps[0] <= BACKOFF_BASE_SECONDS
    assert BACKOFF_BASE_SECONDS <= sleeps[1] <= 2 * BACKOFF_BASE_SECONDS


def test_write_throttled_past_the_retries_raises_store_unavailable(store, sleeps):
    with Stubber(_client(store)) as stubber:
        for _ in range(MAX_ATTEMPTS):
            stubber.add_client_error("put_item", THROTTLED, http_status_code=400)

        with pytest.raises(InteractionStoreUnavailable, match="throttled") as caught:
            store.append(_record())

        stubber.assert_no_pending_responses()
    assert len(sleeps) == MAX_ATTEMPTS - 1
    assert all(0 < delay <= BACKOFF_CAP_SECONDS for delay in sleeps)
    assert caught.value.code == "interaction_store_unavailable"
    assert isinstance(caught.value.__cause__, PynamoDBException)
    assert caught.value.__cause__.cause_response_code == THROTTLED


def test_throttled_read_is_retried(store, sleeps):
    store.append(_record(summary="kept"))
    with Stubber(_client(store)) as stubber:
        stubber.add_client_error("query", "ThrottlingException", http_status_code=400)
        stubber.add_response(
            "query",
            {
                "Items": [
                    {
                        "customer_id": {"N": "1"},
                        "sk": {"S": "01JC0000000000000000000000"},
                        "kind": {"S": "note"},
                        "summary": {"S": "from the retry"},
                        "occurred_at": {"S": "2026-01-02T03:04:05.000000+0000"},
                        "expires_at": {"N": "4102444800"},
                    }
                ],
                "Count": 1,
                "ScannedCount": 1,
            },
        )

        page = store.for_customer(1)

    assert [r.summary for r in page.items] == ["from the retry"]
    assert len(sleeps) == 1


def test_request_errors_are_not_retried_nor_called_unavailable(store, sleeps):
    with Stubber(_client(store)) as stubber:
        stubber.add_client_error("put_item", "ValidationException", http_status_code=400)

        with pytest.raises(PynamoDBException) as caught:
            store.append(_record())

    assert not isinstance(caught.value, InteractionStoreUnavailable)
    assert caught.value.cause_response_code == "ValidationException"
    assert sleeps == []


def test_missing_table_is_reported_by_check_and_by_writes(dynamodb_settings, sleeps):
    dynamodb_settings.DYNAMODB_TABLE = "no-such-table"
    store = DynamoDBInteractionStore(sleep=sleeps.append)

    health = store.check()

    assert health.ok is False
    assert "'no-such-table' does not exist" in health.detail
    assert "interactions_create_table" in health.detail
    with pytest.raises(InteractionStoreUnavailable, match="does not exist"):
        store.append(_record())
    with pytest.raises(InteractionStoreUnavailable, match="does not exist"):
        store.for_customer(1)
    assert sleeps == []


def test_unreachable_server_is_reported_and_fails_fast(dynamodb_settings, sleeps):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    dynamodb_settings.DYNAMODB_ENDPOINT_URL = dead
    store = DynamoDBInteractionStore(sleep=sleeps.append)

    health = store.check()

    assert health.ok is False
    assert health.detail.startswith("DynamoDB unreachable at the configured endpoint")
    assert "127.0.0.1" not in health.detail and dead not in health.detail
    with pytest.raises(InteractionStoreUnavailable, match="write failed"):
        store.append(_record())
    with pytest.raises(InteractionStoreUnavailable, match="read failed"):
        store.for_ticket(1)
    assert sleeps == []  # connection errors go straight to the caller (and its outbox)


def test_naive_timestamps_are_taken_as_utc(store):
    naive = timezone.now().replace(tzinfo=None, microsecond=0)
    record = _record(occurred_at=naive)

    store.append(record)

    (stored,) = store.for_customer(1).items
    assert stored.occurred_at == timezone.make_aware(naive, UTC)


@pytest.mark.django_db
def test_ticket_ingest_logs_its_interaction_in_dynamodb(api, dynamodb_table, settings):
    settings.INTERACTION_STORE = "dynamodb"
    _store_for.cache_clear()
    payload = {
        "customer": {"email": "ana@example.com", "name": "Ana"},
        "subject": "Refund for damaged blender",
        "body": "My order arrived broken, how do I get my money back?",
        "channel": "email",
    }

    response = api.post("/tickets", payload, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["degraded"] == []
    assert not InteractionOutbox.objects.exists()
    ticket_id = body["ticket"]["id"]
    (logged,) = get_interaction_store().for_ticket(ticket_id).items
    assert logged.kind == Kind.TICKET_CREATED
    assert [i["id"] for i in body["customer"]["recent_interactions"]] == [logged.id]


@pytest.mark.django_db
def test_health_says_the_table_is_missing(outsider, dynamodb_settings):
    dynamodb_settings.INTERACTION_STORE = "dynamodb"
    dynamodb_settings.DYNAMODB_TABLE = "no-such-table"
    # About the message, not the timeout: building the process's first DynamoDB client can
    # take over the default 1 s on a busy test machine.
    dynamodb_settings.HEALTH_CHECK_TIMEOUT_SECONDS = 20
    _store_for.cache_clear()

    response = outsider.get("/health")

    assert response.status_code == 200
    store = response.json()["checks"]["interaction_store"]
    assert store["name"] == "dynamodb"
    assert store["status"] == "degraded", store
    assert "'no-such-table' does not exist" in store["detail"]
