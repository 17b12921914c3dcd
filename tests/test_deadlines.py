"""A dependency that accepts connections and never answers never holds a request (issue 10).

Every "hang" here is real: a TCP server started in the test (tests/hanging_server.py) accepts
the connection and never answers, and the real boto3/PynamoDB clients talk to it. The one
bound on elapsed time in these tests, HANG_BOUND_S, is deliberately generous: it only tells
"answered around the deadline" from the old behaviour (30 s and more per request), not a fast
machine from a slow one. README "Reliability and security" has the measured figures.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time

import pytest
from pynamodb.exceptions import PutError

from customers.dynamodb import DynamoDBInteractionStore, response_code
from customers.interactions import (
    InteractionRecord,
    InteractionStoreUnavailable,
    _store_for,
    get_interaction_store,
)
from customers.models import Interaction, InteractionOutbox
from customers.outbox import outbox_deliver
from helpdesk import deadline
from helpdesk.deadline import DeadlineExceeded, call_within
from helpdesk.redact import redact
from knowledge.backends import base
from tests.hanging_server import HangingServer
from tickets.models import Suggestion, Ticket

pytestmark = pytest.mark.django_db

# Catches a hang of the old kind (3 tries x 10 s); not a latency assertion.
HANG_BOUND_S = 10.0

PAYLOAD = {
    "customer": {"email": "ana@example.com", "name": "Ana"},
    "subject": "Refund for damaged blender",
    "body": "My order arrived broken, how do I get my money back?",
    "channel": "email",
}


@pytest.fixture
def hanging():
    with HangingServer() as server:
        yield server


@pytest.fixture
def fake_aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def hanging_bedrock(hanging, fake_aws, settings):
    """KB_BACKEND=bedrock with BEDROCK_ENDPOINT_URL on a server that never answers."""
    settings.KB_BACKEND = "bedrock"
    settings.BEDROCK_KB_ID = "KB12345678"
    settings.BEDROCK_DATA_SOURCE_ID = "DS12345678"
    settings.BEDROCK_ENDPOINT_URL = hanging.url
    settings.KB_RETRIEVAL_DEADLINE_SECONDS = 1.0
    settings.HEALTH_CHECK_TIMEOUT_SECONDS = 1.0
    base._backend_for.cache_clear()
    # Built before the clock starts: making the boto3 clients (once per process in a server)
    # loads service models, seconds of CPU on a busy test machine, and is no call to Bedrock.
    base.get_backend()
    yield hanging
    base._backend_for.cache_clear()


def no_endpoint_in(text: str, server: HangingServer) -> bool:
    return not any(part in text for part in (server.url, f":{server.port}", "127.0.0.1", "http"))


# --- KB retrieval: one total deadline ---------------------------------------------------------


def test_hanging_bedrock_ticket_is_stored_and_answered_degraded_at_the_deadline(
    api, hanging_bedrock
):
    started = time.perf_counter()
    response = api.post("/tickets", PAYLOAD, format="json")
    elapsed = time.perf_counter() - started

    assert response.status_code == 201
    body = response.json()
    assert body["degraded"] == ["knowledge_base"]
    assert body["suggestions"] == []
    assert elapsed < HANG_BOUND_S
    assert hanging_bedrock.accepted >= 1  # the Retrieve call really went out and hung
    ticket = Ticket.objects.get()
    assert (ticket.id, ticket.subject) == (body["ticket"]["id"], PAYLOAD["subject"])
    assert not Suggestion.objects.exists()
    logged = Interaction.objects.filter(ticket_id=ticket.id, kind="ticket_created")
    assert logged.count() == 1


def test_hanging_bedrock_search_is_a_503_without_the_endpoint(api, hanging_bedrock):
    started = time.perf_counter()
    response = api.get("/kb/search", {"q": "refund"})
    elapsed = time.perf_counter() - started

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "kb_unavailable"
    assert "did not answer within 1 s" in error["message"]
    assert no_endpoint_in(response.content.decode(), hanging_bedrock)
    assert elapsed < HANG_BOUND_S


def test_health_reports_a_hanging_bedrock_within_its_timeout(outsider, hanging_bedrock):
    started = time.perf_counter()
    response = outsider.get("/health")
    elapsed = time.perf_counter() - started

    assert response.status_code == 200  # the database is up: degraded, not down
    body = response.json()
    assert body["status"] == "degraded"
    kb = body["checks"]["knowledge_base"]
    assert kb["name"] == "bedrock" and kb["status"] in {"down", "degraded"}
    assert no_endpoint_in(response.content.decode(), hanging_bedrock)
    assert elapsed < HANG_BOUND_S


def test_a_retrieval_over_the_deadline_is_cut_whatever_the_backend(api, settings, monkeypatch):
    """The deadline holds for the local backend too: a search that does not finish (here one
    blocked on an event, standing for a stuck encoder) is given up on and the ticket kept."""
    from knowledge.backends.local import LocalBackend

    settings.KB_RETRIEVAL_DEADLINE_SECONDS = 0.5
    release = threading.Event()
    real = LocalBackend.retrieval

    def stuck(self, query, **kwargs):
        search = real(self, query, **kwargs)
        return lambda: (release.wait(30), search())[1]

    monkeypatch.setattr(LocalBackend, "retrieval", stuck)
    try:
        response = api.post("/tickets", PAYLOAD, format="json")
    finally:
        release.set()

    assert response.status_code == 201
    assert response.json()["degraded"] == ["knowledge_base"]
    ticket = Ticket.objects.get()
    assert Interaction.objects.filter(ticket_id=ticket.id, kind="ticket_created").count() == 1


def test_bedrock_clients_are_sized_from_the_deadline(fake_aws, settings):
    from helpdesk import aws

    settings.KB_RETRIEVAL_DEADLINE_SECONDS = 1.5
    settings.HEALTH_CHECK_TIMEOUT_SECONDS = 0.5
    runtime = aws.bedrock_agent_runtime_client().meta.config
    health = aws.bedrock_agent_client(timeout=settings.HEALTH_CHECK_TIMEOUT_SECONDS).meta.config

    assert (runtime.connect_timeout, runtime.read_timeout) == (1.5, 1.5)
    assert runtime.retries["total_max_attempts"] == 1  # no 3 x 10 s underneath
    assert (health.connect_timeout, health.read_timeout) == (0.5, 0.5)


def test_bedrock_does_not_retry_past_its_budget(fake_aws, settings):
    """A try that timed out used the budget up: no second try (the old code made three)."""
    from botocore.exceptions import ReadTimeoutError

    from helpdesk.api.exceptions import KnowledgeBackendUnavailable
    from knowledge.backends.bedrock import BedrockBackend

    backend = BedrockBackend(object(), object(), kb_id="KB1", deadline_seconds=0.05)
    calls = []

    def times_out():
        calls.append(1)
        time.sleep(0.06)  # a try as long as the whole budget
        raise ReadTimeoutError(endpoint_url="http://10.1.2.3:8080/retrieve")

    with pytest.raises(KnowledgeBackendUnavailable) as raised:
        backend._call("Retrieve", times_out, budget=0.05)

    assert len(calls) == 1
    assert "10.1.2.3" not in raised.value.message and "<endpoint>" in raised.value.message


# --- the worker pool --------------------------------------------------------------------------


def test_the_pool_refuses_at_once_when_every_worker_is_stuck():
    release = threading.Event()
    stuck = []
    try:
        for _ in range(deadline.POOL_SIZE):
            with pytest.raises(DeadlineExceeded, match="did not answer within"):
                call_within(lambda: release.wait(30), seconds=0.01, what="stuck call")
            stuck.append(1)
        assert deadline.busy_workers() == deadline.POOL_SIZE

        with pytest.raises(DeadlineExceeded, match="no worker free"):
            call_within(lambda: "never run", seconds=5, what="KB retrieval")
    finally:
        release.set()
    for _ in range(100):  # the abandoned calls end; their workers come back
        if deadline.busy_workers() == 0:
            break
        time.sleep(0.05)
    assert deadline.busy_workers() == 0
    assert call_within(lambda: "answer", seconds=5, what="call") == "answer"


def test_the_pool_passes_results_and_exceptions_through():
    assert call_within(lambda: 42, seconds=5, what="call") == 42
    with pytest.raises(ZeroDivisionError):
        call_within(lambda: 1 / 0, seconds=5, what="call")


# --- redaction --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        'Read timeout on endpoint URL: "http://127.0.0.1:34133/knowledgebases/KB1/retrieve"',
        "Could not connect to the endpoint URL: "
        '"https://bedrock-agent-runtime.eu-west-2.amazonaws.com/knowledgebases/KB1/retrieve"',
        "HTTPConnectionPool(host='10.0.3.4', port=8000): Read timed out. (read timeout=1)",
        "connection to server at db.internal.example (10.0.0.5), port 5432 failed",
        "could not connect to localhost:4566",
    ],
)
def test_error_text_never_carries_an_endpoint(text):
    redacted = redact(text)

    for secret in ("127.0.0.1", "34133", "amazonaws", "10.0.3.4", "db.internal", "localhost"):
        assert secret not in redacted
    assert "<endpoint>" in redacted


def test_redaction_keeps_s3_locations_and_plain_words():
    text = "Cannot read s3://helpdesk-kb/kb/a.md: AccessDenied: Access Denied"
    assert redact(text) == text


# --- the interaction store (DynamoDB) hanging -------------------------------------------------


@pytest.fixture
def hanging_dynamodb(hanging, fake_aws, settings):
    settings.INTERACTION_STORE = "dynamodb"
    settings.DYNAMODB_ENDPOINT_URL = hanging.url
    settings.DYNAMODB_TABLE = "helpdesk-hanging"
    settings.DYNAMODB_TIMEOUT_SECONDS = 0.5
    settings.HEALTH_CHECK_TIMEOUT_SECONDS = 1.0
    _store_for.cache_clear()
    # One call before the clock starts, to build the client (see hanging_bedrock); it times out.
    with contextlib.suppress(InteractionStoreUnavailable):
        get_interaction_store().for_customer(1)
    yield hanging
    _store_for.cache_clear()


def test_a_timeout_is_an_outage_not_an_attribute_error(hanging_dynamodb):
    """PynamoDB's `cause_response_code` raises AttributeError for transport errors (their
    `response` is None); the store must still say "unavailable" so callers degrade."""
    store = DynamoDBInteractionStore()
    record = InteractionRecord(customer_id=1, kind="note", summary="hello")

    with pytest.raises(PutError) as raw:  # what PynamoDB itself raises here
        store._to_item(record).save()
    with pytest.raises(AttributeError):
        raw.value.cause_response_code  # noqa: B018 - the property is what fails
    assert response_code(raw.value) is None

    with pytest.raises(InteractionStoreUnavailable) as raised:
        store.append(record)
    assert "the configured endpoint" in raised.value.message
    assert no_endpoint_in(raised.value.message, hanging_dynamodb)
    with pytest.raises(InteractionStoreUnavailable):
        store.for_customer(1)


def test_hanging_interaction_store_keeps_the_ticket_and_its_interaction(
    api, outsider, hanging_dynamodb
):
    started = time.perf_counter()
    response = api.post("/tickets", PAYLOAD, format="json")
    elapsed = time.perf_counter() - started

    assert response.status_code == 201
    body = response.json()
    assert body["degraded"] == ["interactions"]
    assert len(body["suggestions"]) == 5
    assert elapsed < HANG_BOUND_S
    ticket = Ticket.objects.get()
    assert Suggestion.objects.filter(ticket=ticket).count() == 5
    waiting = InteractionOutbox.objects.get()  # kept for the drain, nothing lost
    assert waiting.payload["ticket_id"] == ticket.id
    assert waiting.payload["kind"] == "ticket_created"
    # The read of the customer's history just timed out: no second wait for a delivery.
    assert (waiting.attempts, waiting.last_error) == (0, "")
    assert outbox_deliver().failed == 1  # what the drain meets while the store still hangs
    waiting.refresh_from_db()
    assert waiting.attempts == 1 and no_endpoint_in(waiting.last_error, hanging_dynamodb)

    started = time.perf_counter()
    health = outsider.get("/health")
    elapsed = time.perf_counter() - started

    assert health.status_code == 200
    store = health.json()["checks"]["interaction_store"]
    assert store["name"] == "dynamodb" and store["status"] in {"down", "degraded"}
    assert store["outbox_depth"] == 1
    assert no_endpoint_in(json.dumps(store), hanging_dynamodb)
    assert elapsed < HANG_BOUND_S
