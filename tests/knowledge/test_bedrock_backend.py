"""The bedrock backend, against botocore's Stubber on real clients (never real AWS).

The Stubber checks every request against the real service model and `expected_params`, so
these tests prove what we send to Bedrock (query, numberOfResults, search type, filter, ids,
client token) as well as how we read its answers.
"""

import re
from datetime import UTC, datetime
from io import StringIO

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import ANY, Stubber
from django.core.management import call_command

from helpdesk.api.exceptions import KnowledgeBackendUnavailable
from knowledge import services
from knowledge.backends import base, bedrock
from knowledge.backends.bedrock import BedrockBackend, client_token, collapse
from knowledge.filters import validate_filter
from knowledge.models import KnowledgeState, SyncJob
from tickets.models import Suggestion, Ticket

KB_ID = "KB12345678"
DS_ID = "DS12345678"
JOB_ID = "IJ12345678"
STARTED = datetime(2025, 1, 2, 10, 0, tzinfo=UTC)
FINISHED = datetime(2025, 1, 2, 10, 5, tzinfo=UTC)
TICKET = {
    "customer": {"email": "ana@example.com", "name": "Ana"},
    "subject": "Refund for damaged blender",
    "body": "My order arrived broken, how do I get my money back?",
}


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-2",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The backoff delays asked for, instead of sleeping them."""
    delays: list[float] = []
    monkeypatch.setattr(bedrock, "_sleep", delays.append)
    return delays


def stubbed(service: str):
    """A real client for `service` behind a Stubber; every queued response must be used."""
    client = boto3.session.Session().client(service, region_name="eu-west-2")
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


@pytest.fixture
def runtime():
    yield from stubbed("bedrock-agent-runtime")


@pytest.fixture
def agent():
    yield from stubbed("bedrock-agent")


@pytest.fixture
def backend(runtime, agent, sleeps) -> BedrockBackend:
    return BedrockBackend(
        runtime.client, agent.client, kb_id=KB_ID, data_source_id=DS_ID, max_attempts=3
    )


@pytest.fixture
def bedrock_configured(backend, settings, monkeypatch) -> BedrockBackend:
    """KB_BACKEND=bedrock, with the stubbed backend as the one the app gets."""
    settings.KB_BACKEND = "bedrock"
    real = base._backend_for
    monkeypatch.setattr(
        base, "_backend_for", lambda name: backend if name == "bedrock" else real(name)
    )
    return backend


# --- Bedrock payloads -------------------------------------------------------------------------


def retrieve_params(query, *, number_of_results, search_type="HYBRID", filter=None):
    search = {"numberOfResults": number_of_results, "overrideSearchType": search_type}
    if filter is not None:
        search["filter"] = filter
    return {
        "knowledgeBaseId": KB_ID,
        "retrievalQuery": {"text": query},
        "retrievalConfiguration": {"vectorSearchConfiguration": search},
    }


def result(uri, text, score, *, chunk_id=None, **attributes):
    metadata = {"x-amz-bedrock-kb-source-uri": uri, **attributes}
    if chunk_id:
        metadata["x-amz-bedrock-kb-chunk-id"] = chunk_id
    return {
        "content": {"text": text, "type": "TEXT"},
        "location": {"type": "S3", "s3Location": {"uri": uri}},
        "metadata": metadata,
        "score": score,
    }


def ingestion_job(status, *, job_id=JOB_ID, statistics=None, failure_reasons=None):
    job = {
        "knowledgeBaseId": KB_ID,
        "dataSourceId": DS_ID,
        "ingestionJobId": job_id,
        "status": status,
        "startedAt": STARTED,
        "updatedAt": FINISHED,
    }
    if statistics is not None:
        job["statistics"] = statistics
    if failure_reasons is not None:
        job["failureReasons"] = failure_reasons
    return job


def throttled(stub, method, params, times):
    for _ in range(times):
        stub.add_client_error(
            method,
            service_error_code="ThrottlingException",
            service_message="Rate exceeded",
            http_status_code=429,
            expected_params=params,
        )


def running_job(**fields) -> SyncJob:
    now = datetime.now(UTC)
    return SyncJob.objects.create(
        backend="bedrock",
        source="s3://kb-bucket/docs",
        trigger=SyncJob.Trigger.API,
        status=SyncJob.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        **fields,
    )


# --- retrieve ---------------------------------------------------------------------------------


def test_retrieve_asks_for_3k_hybrid_results_and_keeps_the_best_passage_per_document(
    backend, runtime
):
    refunds = "s3://kb-bucket/docs/refunds.md"
    damaged = "s3://kb-bucket/docs/damaged%20items.md"
    runtime.add_response(
        "retrieve",
        {
            "retrievalResults": [
                result(
                    refunds,
                    "  Refunds reach your card\n within 5 days. ",
                    0.91,
                    chunk_id="c-1",
                    title="Refunds",
                    product="blender",
                ),
                result(
                    refunds,
                    "Refunds for gift cards...",
                    0.88,
                    chunk_id="c-2",
                    title="Refunds",
                    product="blender",
                ),
                result(damaged, "Report a broken item within 30 days.", 0.74),
                result("s3://kb-bucket/docs/shipping.md", "Shipping times.", 0.40),
            ]
        },
        retrieve_params("broken blender refund", number_of_results=6),
    )

    passages = backend.retrieve("broken blender refund", k=2)

    assert [p.source for p in passages] == [refunds, damaged]
    best, second = passages
    assert best.title == "Refunds"  # the document's title attribute
    assert best.snippet == "Refunds reach your card within 5 days."
    assert best.score == 0.91
    assert best.passage_ref == "c-1"
    assert best.metadata == {"title": "Refunds", "product": "blender"}
    assert best.article_id is None
    assert second.title == "damaged items.md"  # no title: the file name from the URI
    assert second.passage_ref == f"{damaged}#2"  # no chunk id: uri#position


def test_retrieve_sends_our_validated_filter_as_bedrocks_retrieval_filter(backend, runtime):
    ours = validate_filter({"product": "blender", "region": ["uk", "ie"]})
    runtime.add_response(
        "retrieve",
        {"retrievalResults": []},
        retrieve_params(
            "blender",
            number_of_results=15,
            filter={
                "andAll": [
                    {"equals": {"key": "product", "value": "blender"}},
                    {"in": {"key": "region", "value": ["uk", "ie"]}},
                ]
            },
        ),
    )

    assert backend.retrieve("blender", k=5, filters=ours) == []


def test_retrieve_caps_candidates_at_100_and_honours_semantic_search(runtime, agent):
    backend = BedrockBackend(
        runtime.client, agent.client, kb_id=KB_ID, data_source_id=DS_ID, search_type="semantic"
    )
    runtime.add_response(
        "retrieve",
        {"retrievalResults": []},
        retrieve_params("blender", number_of_results=100, search_type="SEMANTIC"),
    )

    backend.retrieve("blender", k=50)


def test_retrieve_does_not_call_bedrock_for_a_blank_query(backend):
    assert backend.retrieve("   ", k=5) == []  # the Stubber fails on any unexpected call


def test_retrieve_retries_throttling_with_growing_backoff_then_answers(backend, runtime, sleeps):
    params = retrieve_params("refund", number_of_results=3)
    throttled(runtime, "retrieve", params, times=2)
    runtime.add_response(
        "retrieve", {"retrievalResults": [result("s3://b/refunds.md", "Refunds.", 0.5)]}, params
    )

    passages = backend.retrieve("refund", k=1)

    assert [p.title for p in passages] == ["refunds.md"]
    assert len(sleeps) == 2
    assert sleeps[0] > 0
    assert sleeps[1] > sleeps[0]


def test_retrieve_retries_server_errors_too(backend, runtime, sleeps):
    params = retrieve_params("refund", number_of_results=3)
    runtime.add_client_error(
        "retrieve",
        service_error_code="InternalServerException",
        service_message="oops",
        http_status_code=500,
        expected_params=params,
    )
    runtime.add_response("retrieve", {"retrievalResults": []}, params)

    assert backend.retrieve("refund", k=1) == []
    assert len(sleeps) == 1


def test_retrieve_gives_up_after_the_attempt_limit(backend, runtime, sleeps):
    throttled(runtime, "retrieve", retrieve_params("refund", number_of_results=3), times=3)

    with pytest.raises(KnowledgeBackendUnavailable) as raised:
        backend.retrieve("refund", k=1)

    assert "ThrottlingException" in raised.value.message
    assert "after 3 attempts" in raised.value.message
    assert len(sleeps) == 2  # none after the last attempt


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ValidationException", 400),
        ("AccessDeniedException", 403),
        ("ResourceNotFoundException", 404),
    ],
)
def test_retrieve_fails_at_once_on_errors_a_retry_cannot_fix(
    backend, runtime, sleeps, code, status
):
    runtime.add_client_error(
        "retrieve",
        service_error_code=code,
        service_message="no good",
        http_status_code=status,
        expected_params=retrieve_params("refund", number_of_results=3),
    )

    with pytest.raises(KnowledgeBackendUnavailable) as raised:
        backend.retrieve("refund", k=1)

    assert raised.value.message == f"Bedrock Retrieve failed: {code}: no good"
    assert sleeps == []


def test_connection_errors_are_retried(backend, sleeps):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise EndpointConnectionError(endpoint_url="https://bedrock-agent-runtime")
        return "answer"

    assert backend._call("Retrieve", flaky) == "answer"
    assert len(sleeps) == 1


def test_retrieve_without_a_knowledge_base_id_is_unavailable(runtime, agent):
    backend = BedrockBackend(runtime.client, agent.client, kb_id="", data_source_id=DS_ID)

    with pytest.raises(KnowledgeBackendUnavailable, match="BEDROCK_KB_ID is not set"):
        backend.retrieve("refund")


def test_an_unknown_search_type_is_a_configuration_error(runtime, agent):
    with pytest.raises(ValueError, match="BEDROCK_SEARCH_TYPE"):
        BedrockBackend(runtime.client, agent.client, kb_id=KB_ID, search_type="KEYWORD")


def test_clients_and_ids_come_from_settings_when_not_given(settings):
    settings.BEDROCK_KB_ID = KB_ID
    settings.BEDROCK_DATA_SOURCE_ID = DS_ID
    settings.BEDROCK_SEARCH_TYPE = "SEMANTIC"

    backend = base._backend_for.__wrapped__("bedrock")  # uncached: the settings of this test

    assert isinstance(backend, BedrockBackend)
    assert backend.runtime.meta.service_model.service_name == "bedrock-agent-runtime"
    assert backend.agent.meta.service_model.service_name == "bedrock-agent"
    assert backend.runtime.meta.region_name == settings.AWS_REGION
    assert (backend.kb_id, backend.data_source_id) == (KB_ID, DS_ID)
    assert backend.search_type == "SEMANTIC"


# --- POST /tickets with the bedrock backend ---------------------------------------------------


@pytest.mark.django_db
def test_ticket_stores_bedrock_suggestions(api, bedrock_configured, runtime, settings):
    runtime.add_response(
        "retrieve",
        {
            "retrievalResults": [
                result(
                    "s3://kb/refunds.md",
                    "Refunds take 5 days.",
                    0.9,
                    chunk_id="c-9",
                    title="Refunds",
                ),
            ]
        },
        retrieve_params(
            f"{TICKET['subject']}\n{TICKET['body']}",
            number_of_results=3 * settings.KB_SUGGESTIONS,
        ),
    )

    response = api.post("/tickets", TICKET, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["degraded"] == []
    assert [(s["title"], s["source"]) for s in body["suggestions"]] == [
        ("Refunds", "s3://kb/refunds.md")
    ]
    suggestion = Suggestion.objects.get()
    assert (suggestion.backend, suggestion.passage_ref) == ("bedrock", "c-9")


@pytest.mark.django_db
def test_ticket_is_answered_degraded_when_bedrock_stays_throttled(
    api, bedrock_configured, runtime, settings, sleeps
):
    params = retrieve_params(
        f"{TICKET['subject']}\n{TICKET['body']}", number_of_results=3 * settings.KB_SUGGESTIONS
    )
    throttled(runtime, "retrieve", params, times=3)

    response = api.post("/tickets", TICKET, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["degraded"] == ["knowledge_base"]
    assert body["suggestions"] == []
    assert Ticket.objects.get().subject == TICKET["subject"]
    assert not Suggestion.objects.exists()
    assert len(sleeps) == 2


# --- sync: StartIngestionJob ------------------------------------------------------------------


def test_client_token_is_stable_per_job_and_fits_bedrocks_constraints(db):
    job, other = running_job(), running_job()

    token = client_token(job, KB_ID, DS_ID)

    assert token == client_token(SyncJob.objects.get(pk=job.pk), KB_ID, DS_ID)
    assert token != client_token(other, KB_ID, DS_ID)
    assert 33 <= len(token) <= 256
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,256}", token)


@pytest.mark.django_db
def test_sync_starts_an_ingestion_job_and_stays_running(backend, agent):
    job = running_job()
    agent.add_response(
        "start_ingestion_job",
        {"ingestionJob": ingestion_job("STARTING")},
        {
            "knowledgeBaseId": KB_ID,
            "dataSourceId": DS_ID,
            "clientToken": client_token(job, KB_ID, DS_ID),
            "description": f"helpdesk sync {job.id} (api)",
        },
    )

    returned = backend.sync(job)

    job.refresh_from_db()
    assert returned.pk == job.pk
    assert job.status == SyncJob.Status.RUNNING
    assert job.external_id == JOB_ID
    assert JOB_ID in job.message
    assert job.finished_at is None


@pytest.mark.django_db
def test_post_kb_sync_with_bedrock_answers_202_with_the_ingestion_job(
    admin_api, bedrock_configured, agent
):
    agent.add_response(
        "start_ingestion_job",
        {"ingestionJob": ingestion_job("STARTING")},
        {"knowledgeBaseId": KB_ID, "dataSourceId": DS_ID, "clientToken": ANY, "description": ANY},
    )

    response = admin_api.post("/kb/sync")

    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["backend"], body["status"], body["external_id"]) == ("bedrock", "running", JOB_ID)
    assert SyncJob.objects.get(pk=body["id"]).external_id == JOB_ID


@pytest.mark.django_db
def test_sync_joins_the_running_ingestion_job_on_conflict(backend, agent):
    job = running_job()
    agent.add_client_error(
        "start_ingestion_job",
        service_error_code="ConflictException",
        service_message="An ingestion job is already running",
        http_status_code=409,
        expected_params={
            "knowledgeBaseId": KB_ID,
            "dataSourceId": DS_ID,
            "clientToken": client_token(job, KB_ID, DS_ID),
            "description": ANY,
        },
    )
    summary = ingestion_job(
        "IN_PROGRESS",
        job_id="RUNNING123",
        statistics={
            "numberOfDocumentsScanned": 40,
        },
    )
    agent.add_response(
        "list_ingestion_jobs",
        {"ingestionJobSummaries": [summary]},
        {
            "knowledgeBaseId": KB_ID,
            "dataSourceId": DS_ID,
            "filters": [
                {"attribute": "STATUS", "operator": "EQ", "values": ["STARTING", "IN_PROGRESS"]}
            ],
            "sortBy": {"attribute": "STARTED_AT", "order": "DESCENDING"},
            "maxResults": 1,
        },
    )

    backend.sync(job)

    job.refresh_from_db()
    assert job.status == SyncJob.Status.RUNNING
    assert job.external_id == "RUNNING123"
    assert job.scanned == 40
    assert "Joined the running Bedrock ingestion job RUNNING123" in job.message


@pytest.mark.django_db
def test_sync_fails_when_the_conflicting_job_is_gone(backend, agent):
    job = running_job()
    agent.add_client_error(
        "start_ingestion_job", service_error_code="ConflictException", http_status_code=409
    )
    agent.add_response("list_ingestion_jobs", {"ingestionJobSummaries": []})

    backend.sync(job)

    job.refresh_from_db()
    assert job.status == SyncJob.Status.FAILED
    assert "try again" in job.message
    assert job.finished_at is not None


@pytest.mark.django_db
def test_sync_fails_the_job_with_the_reason_when_access_is_denied(backend, agent, sleeps):
    job = running_job()
    agent.add_client_error(
        "start_ingestion_job",
        service_error_code="AccessDeniedException",
        service_message="not authorized to perform bedrock:StartIngestionJob",
        http_status_code=403,
    )

    backend.sync(job)

    job.refresh_from_db()
    assert job.status == SyncJob.Status.FAILED
    assert "AccessDeniedException" in job.message
    assert "bedrock:StartIngestionJob" in job.message
    assert sleeps == []


# --- GET /kb/sync/{id}: GetIngestionJob --------------------------------------------------------


def get_params(job_id=JOB_ID):
    return {"knowledgeBaseId": KB_ID, "dataSourceId": DS_ID, "ingestionJobId": job_id}


@pytest.mark.django_db
def test_polling_a_complete_ingestion_job_reports_success_and_counts(
    admin_api, bedrock_configured, agent
):
    job = running_job(external_id=JOB_ID)
    generation = KnowledgeState.objects.filter(pk=1).values_list("generation", flat=True).first()
    agent.add_response(
        "get_ingestion_job",
        {
            "ingestionJob": ingestion_job(
                "COMPLETE",
                statistics={
                    "numberOfDocumentsScanned": 12,
                    "numberOfNewDocumentsIndexed": 3,
                    "numberOfModifiedDocumentsIndexed": 2,
                    "numberOfDocumentsDeleted": 1,
                    "numberOfDocumentsFailed": 1,
                },
            )
        },
        get_params(),
    )

    response = admin_api.get(f"/kb/sync/{job.id}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["counts"] == {
        "scanned": 12,
        "added": 3,
        "updated": 2,
        "deleted": 1,
        "unchanged": 0,
        "failed": 1,
    }
    assert body["finished_at"] is not None
    job.refresh_from_db()
    assert job.status == SyncJob.Status.SUCCEEDED
    assert job.finished_at == FINISHED
    assert KnowledgeState.objects.get(pk=1).generation == (generation or 0) + 1


@pytest.mark.django_db
def test_polling_a_failed_ingestion_job_reports_the_failure_reasons(
    admin_api, bedrock_configured, agent
):
    job = running_job(external_id=JOB_ID)
    agent.add_response(
        "get_ingestion_job",
        {
            "ingestionJob": ingestion_job(
                "FAILED", failure_reasons=["S3 bucket kb-bucket not found"]
            )
        },
        get_params(),
    )

    body = admin_api.get(f"/kb/sync/{job.id}").json()

    assert body["status"] == "failed"
    assert "S3 bucket kb-bucket not found" in body["message"]
    assert body["errors"] == [{"key": JOB_ID, "reason": "S3 bucket kb-bucket not found"}]
    assert SyncJob.objects.get(pk=job.pk).status == SyncJob.Status.FAILED


@pytest.mark.django_db
def test_polling_an_ingestion_in_progress_updates_counts_and_heartbeat(
    admin_api, bedrock_configured, agent
):
    job = running_job(external_id=JOB_ID)
    before = job.heartbeat_at
    agent.add_response(
        "get_ingestion_job",
        {"ingestionJob": ingestion_job("IN_PROGRESS", statistics={"numberOfDocumentsScanned": 7})},
        get_params(),
    )

    body = admin_api.get(f"/kb/sync/{job.id}").json()

    assert body["status"] == "running"
    assert body["counts"]["scanned"] == 7
    job.refresh_from_db()
    assert job.heartbeat_at > before
    assert job.finished_at is None


@pytest.mark.django_db
def test_polling_answers_with_the_stored_job_when_bedrock_is_down(
    admin_api, bedrock_configured, agent, sleeps
):
    job = running_job(external_id=JOB_ID, scanned=4)
    throttled(agent, "get_ingestion_job", get_params(), times=3)

    response = admin_api.get(f"/kb/sync/{job.id}")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["counts"]["scanned"]) == ("running", 4)


@pytest.mark.django_db
def test_finished_bedrock_jobs_are_not_polled_again(admin_api, bedrock_configured):
    job = running_job(external_id=JOB_ID)
    SyncJob.objects.filter(pk=job.pk).update(status=SyncJob.Status.SUCCEEDED)

    # The agent Stubber has no responses queued: a call would fail the test.
    assert admin_api.get(f"/kb/sync/{job.id}").json()["status"] == "succeeded"


# --- check ------------------------------------------------------------------------------------


def knowledge_base(status):
    return {
        "knowledgeBase": {
            "knowledgeBaseId": KB_ID,
            "name": "helpdesk",
            "knowledgeBaseArn": f"arn:aws:bedrock:eu-west-2:123456789012:knowledge-base/{KB_ID}",
            "roleArn": "arn:aws:iam::123456789012:role/kb",
            "knowledgeBaseConfiguration": {"type": "VECTOR"},
            "status": status,
            "createdAt": STARTED,
            "updatedAt": STARTED,
        }
    }


def test_check_is_ok_for_an_active_knowledge_base(backend, agent):
    agent.add_response("get_knowledge_base", knowledge_base("ACTIVE"), {"knowledgeBaseId": KB_ID})

    health = backend.check()

    assert health.ok
    assert health.detail == "ok"
    assert health.latency_ms >= 0
    assert health.info["knowledge_base_status"] == "ACTIVE"


def test_check_reports_a_knowledge_base_that_cannot_serve(backend, agent):
    agent.add_response("get_knowledge_base", knowledge_base("FAILED"), {"knowledgeBaseId": KB_ID})

    health = backend.check()

    assert not health.ok
    assert health.detail == "knowledge base is FAILED"


def test_check_reports_the_error_when_bedrock_refuses(backend, agent):
    agent.add_client_error(
        "get_knowledge_base",
        service_error_code="ResourceNotFoundException",
        service_message="Knowledge base KB12345678 not found",
        http_status_code=404,
    )

    health = backend.check()

    assert not health.ok
    assert health.detail == "ResourceNotFoundException: Knowledge base KB12345678 not found"


@pytest.mark.django_db
def test_health_shows_the_bedrock_check(client, bedrock_configured, agent):
    agent.add_response("get_knowledge_base", knowledge_base("ACTIVE"), {"knowledgeBaseId": KB_ID})

    body = client.get("/health").json()

    assert body["checks"]["knowledge_base"]["name"] == "bedrock"
    assert body["checks"]["knowledge_base"]["status"] == "ok"
    assert body["checks"]["knowledge_base"]["knowledge_base_status"] == "ACTIVE"


# --- changes announced while an ingestion job runs: the follow-up -----------------------------

SOURCE = "s3://kb-bucket/docs"


def start_params(description=ANY):
    return {
        "knowledgeBaseId": KB_ID,
        "dataSourceId": DS_ID,
        "clientToken": ANY,
        "description": description,
    }


@pytest.fixture
def bedrock_source(bedrock_configured, settings):
    settings.KB_SOURCE = SOURCE
    return bedrock_configured


@pytest.mark.django_db
def test_a_sync_asked_for_during_an_ingestion_joins_it_and_asks_for_a_follow_up(
    bedrock_source, agent
):
    job = running_job(external_id=JOB_ID)
    agent.add_response(
        "get_ingestion_job", {"ingestionJob": ingestion_job("IN_PROGRESS")}, get_params()
    )

    joined = services.kb_sync_start(trigger=SyncJob.Trigger.S3_EVENT)

    assert joined.pk == job.pk  # no StartIngestionJob: the Stubber would have failed
    job.refresh_from_db()
    assert (job.status, job.rerun_requested, job.follow_up_id) == ("running", True, None)


@pytest.mark.django_db
def test_the_poll_starts_the_follow_up_once_the_ingestion_is_over(bedrock_source, agent):
    job = running_job(external_id=JOB_ID, rerun_requested=True)
    agent.add_response(
        "get_ingestion_job",
        {"ingestionJob": ingestion_job("COMPLETE", statistics={"numberOfNewDocumentsIndexed": 2})},
        get_params(),
    )
    agent.add_response(
        "start_ingestion_job",
        {"ingestionJob": ingestion_job("STARTING", job_id="IJFOLLOWUP1")},
        start_params(),
    )

    polled = services.kb_sync_poll()

    job.refresh_from_db()
    assert [p.pk for p in polled] == [job.pk]
    assert (job.status, job.added, job.rerun_requested) == ("succeeded", 2, False)
    follow_up = job.follow_up
    assert (follow_up.status, follow_up.external_id) == ("running", "IJFOLLOWUP1")
    assert follow_up.trigger == SyncJob.Trigger.API


@pytest.mark.django_db
def test_the_poll_leaves_a_running_ingestion_running(bedrock_source, agent):
    job = running_job(external_id=JOB_ID, rerun_requested=True)
    agent.add_response(
        "get_ingestion_job", {"ingestionJob": ingestion_job("IN_PROGRESS")}, get_params()
    )

    services.kb_sync_poll()

    job.refresh_from_db()
    assert (job.status, job.rerun_requested, job.follow_up_id) == ("running", True, None)


@pytest.mark.django_db
def test_an_ingestion_nobody_asked_for_again_gets_no_follow_up(bedrock_source, agent):
    job = running_job(external_id=JOB_ID)
    agent.add_response("get_ingestion_job", {"ingestionJob": ingestion_job("COMPLETE")})

    services.kb_sync_poll()

    job.refresh_from_db()
    assert (job.status, job.follow_up_id) == ("succeeded", None)
    assert SyncJob.objects.filter(source=SOURCE).count() == 1
    assert services.kb_sync_poll() == []  # nothing left to poll: no AWS call either


@pytest.mark.django_db
def test_an_s3_event_after_an_unpolled_ingestion_finished_starts_a_new_one(bedrock_source, agent):
    """Nobody polled the job, so it still reads `running` here: the event must not join it."""
    job = running_job(external_id=JOB_ID)
    agent.add_response("get_ingestion_job", {"ingestionJob": ingestion_job("COMPLETE")})
    agent.add_response(
        "start_ingestion_job",
        {"ingestionJob": ingestion_job("STARTING", job_id="IJNEW00001")},
        start_params(),
    )

    new = services.kb_sync_start(trigger=SyncJob.Trigger.S3_EVENT)

    job.refresh_from_db()
    assert job.status == SyncJob.Status.SUCCEEDED
    assert new.pk != job.pk and (new.status, new.external_id) == ("running", "IJNEW00001")


@pytest.mark.django_db
def test_a_follow_up_that_cannot_start_is_retried_by_the_next_poll(bedrock_source, agent, sleeps):
    job = running_job(external_id=JOB_ID, rerun_requested=True)
    agent.add_response("get_ingestion_job", {"ingestionJob": ingestion_job("COMPLETE")})
    throttled(agent, "start_ingestion_job", start_params(), times=3)

    services.kb_sync_poll()

    job.refresh_from_db()
    assert job.follow_up.status == SyncJob.Status.FAILED
    assert "Throttling" in job.follow_up.message
    assert job.rerun_requested is True  # still owed

    agent.add_response(
        "start_ingestion_job",
        {"ingestionJob": ingestion_job("STARTING", job_id="IJRETRY001")},
        start_params(),
    )
    services.kb_sync_poll()

    job.refresh_from_db()
    assert (job.rerun_requested, job.follow_up.external_id) == (False, "IJRETRY001")
    assert SyncJob.objects.filter(status=SyncJob.Status.FAILED).count() == 1


@pytest.mark.django_db
def test_get_sync_job_starts_the_due_follow_up(admin_api, bedrock_source, agent):
    job = running_job(external_id=JOB_ID, rerun_requested=True)
    agent.add_response("get_ingestion_job", {"ingestionJob": ingestion_job("COMPLETE")})
    agent.add_response(
        "start_ingestion_job",
        {"ingestionJob": ingestion_job("STARTING", job_id="IJFOLLOWUP1")},
        start_params(),
    )

    body = admin_api.get(f"/kb/sync/{job.id}").json()

    assert body["status"] == "succeeded" and body["rerun_requested"] is False
    follow_up = SyncJob.objects.get(pk=body["follow_up_id"])
    assert (follow_up.status, follow_up.external_id) == ("running", "IJFOLLOWUP1")


@pytest.mark.django_db
def test_kb_sync_poll_command_prints_the_jobs(bedrock_source, agent):
    job = running_job(external_id=JOB_ID)
    agent.add_response("get_ingestion_job", {"ingestionJob": ingestion_job("IN_PROGRESS")})
    out = StringIO()

    call_command("kb_sync", "--poll", stdout=out)

    assert f"Sync {job.id} running" in out.getvalue()
    assert "1 sync job(s) polled." in out.getvalue()


def test_collapse_links_to_the_documents_url_attribute_and_cleans_its_text():
    uri = "s3://kb-bucket/docs/refunds.md"
    results = [
        result(
            uri,
            "your card. **Refunds** reach [your card](https://x.example) within 5 days.",
            0.9,
            url="https://brightside.example/help/refunds",
        ),
        result("s3://kb-bucket/docs/shipping.md", "## Shipping\n\nIt takes 3-5 days.", 0.5),
    ]

    refunds, shipping = collapse(results, k=5)

    assert refunds.source == "https://brightside.example/help/refunds"  # the sidecar's url
    assert refunds.passage_ref == f"{uri}#0"
    assert refunds.snippet == "Refunds reach your card within 5 days."
    assert shipping.source == "s3://kb-bucket/docs/shipping.md"  # no url: where it is
    assert shipping.snippet == "It takes 3-5 days."
