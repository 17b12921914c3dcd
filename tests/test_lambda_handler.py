"""The Lambda, driven offline: Zappa's real `LambdaHandler`, with the settings Zappa generates
for the `dev` stage of zappa_settings.json, behind our entry point `helpdesk.lambda_tasks.
lambda_handler` (the stage's `lambda_handler`), in front of the real Django app on the test
database. Synthetic events have the shapes AWS sends: HTTP API v2, REST v1, S3 notifications
(routed by bucket ARN, keys URL-encoded), EventBridge schedules (routed by rule name), and the
`manage` events of `zappa manage`. DynamoDB and S3 are the session's moto server; Bedrock is
botocore's Stubber.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from unittest import mock
from urllib.parse import quote_plus

import boto3
import pytest
from botocore.stub import ANY, Stubber
from django.core import signals
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import close_old_connections
from django.utils import timezone

from customers.interactions import InteractionRecord, Kind, get_interaction_store
from customers.models import InteractionOutbox
from customers.outbox import interaction_record
from helpdesk import aws, lambda_tasks
from knowledge.backends import base
from knowledge.backends.bedrock import BedrockBackend
from knowledge.models import Article, SyncJob
from tests.dynamodb_server import use_fake_aws
from tests.factories import TicketFactory
from tests.knowledge.test_bedrock_backend import (
    DS_ID,
    KB_ID,
    TICKET,
    ingestion_job,
    knowledge_base,
    result,
    retrieve_params,
)
from tests.titan_stub import Titan, stubbed_client
from tickets.models import IdempotencyRecord, Ticket

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
STAGE = "dev"
HOST = "a1b2c3d4e5.execute-api.eu-west-2.amazonaws.com"
CONTEXT = SimpleNamespace(
    function_name="helpdesk-dev",
    aws_request_id="req-1",
    get_remaining_time_in_millis=lambda: 30_000,
)


# --- the handler, as Lambda builds it ---------------------------------------------------------


@pytest.fixture(scope="session")
def zappa_stage(tmp_path_factory):
    """Zappa's CLI loaded with the dev stage (offline: no credentials), and the directory on
    sys.path holding the `zappa_settings.py` it generates (what `zappa package` puts in the
    zip)."""
    from zappa.cli import ZappaCLI

    cli = ZappaCLI()
    cli.api_stage = STAGE
    cli.load_credentials = False
    folder = tmp_path_factory.mktemp("zappa")
    # As in the staged copy `make package` builds from: Zappa's CLI walks the working directory
    # looking for WebSocket handlers.
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        cli.load_settings(str(ROOT / "zappa_settings.json"))
    (folder / "zappa_settings.py").write_text(cli.get_zappa_settings_string())
    sys.path.insert(0, str(folder))
    yield cli
    sys.path.remove(str(folder))
    sys.modules.pop("zappa_settings", None)


@pytest.fixture(scope="session")
def lambda_environment(zappa_stage) -> dict[str, str]:
    """Build the LambdaHandler singleton once, the way the first invocation does, and return
    the environment it set. The test process's environment and log level are restored
    afterwards: Django's settings here are the test ones, adjusted per test below."""
    from zappa.handler import LambdaHandler

    root_level = logging.getLogger().level
    with mock.patch.dict(os.environ, {}):
        LambdaHandler()
        environment = dict(os.environ)
    logging.getLogger().setLevel(root_level)
    return environment


@pytest.fixture
def stubs(monkeypatch, settings):
    """Bedrock clients wrapped in Stubber, as the backend the app gets for KB_BACKEND=bedrock,
    and Titan's (bedrock-runtime) for similar tickets' embeddings."""
    use_fake_aws(monkeypatch)
    session = boto3.session.Session()
    runtime = session.client("bedrock-agent-runtime", region_name="eu-west-2")
    agent = session.client("bedrock-agent", region_name="eu-west-2")
    titan_client, titan_stub = stubbed_client()
    monkeypatch.setattr(aws, "bedrock_runtime_client", lambda: titan_client)
    with Stubber(runtime) as runtime_stub, Stubber(agent) as agent_stub, titan_stub:
        backend = BedrockBackend(runtime, agent, kb_id=KB_ID, data_source_id=DS_ID, max_attempts=1)
        real = base._backend_for
        monkeypatch.setattr(
            base, "_backend_for", lambda name: backend if name == "bedrock" else real(name)
        )
        yield SimpleNamespace(
            runtime=runtime_stub, agent=agent_stub, titan=Titan(titan_stub, settings)
        )
        runtime_stub.assert_no_pending_responses()
        agent_stub.assert_no_pending_responses()
        titan_stub.assert_no_pending_responses()


@pytest.fixture
def lambda_settings(lambda_environment, dynamodb_table, dynamodb_server, stubs, settings):
    """Django settings as the Lambda's environment makes them (KB_BACKEND, INTERACTION_STORE,
    ALLOWED_HOSTS, KB_SOURCE), with the AWS services replaced by moto and the stubs."""
    settings.ALLOWED_HOSTS = lambda_environment["ALLOWED_HOSTS"].split(",")
    settings.KB_BACKEND = lambda_environment["KB_BACKEND"]
    settings.SIMILAR_ENCODER = "bedrock"  # what KB_BACKEND=bedrock makes it by default
    settings.INTERACTION_STORE = lambda_environment["INTERACTION_STORE"]
    settings.KB_SOURCE = lambda_environment["KB_SOURCE"]
    settings.S3_ENDPOINT_URL = dynamodb_server.url
    return settings


@pytest.fixture
def invoke(lambda_environment, monkeypatch):
    """Call the function's entry point with an event, as Lambda does. Like Django's test
    client, keep the request signals from closing the test's connection (it holds the test's
    transaction); the event tasks' own connection clean-up is skipped for the same reason."""
    monkeypatch.setattr(lambda_tasks, "close_old_connections", lambda: None)
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield lambda event: lambda_tasks.lambda_handler(event, CONTEXT)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


# --- events -----------------------------------------------------------------------------------


def http_v2(method, path, *, body=None, query="", headers=None, stage=STAGE) -> dict:
    """An API Gateway HTTP API (payload 2.0) event; Zappa's HTTP API stage is named after the
    Zappa stage, so the raw path starts with it."""
    raw_path = f"/{stage}{path}" if stage else path
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": {"host": HOST, "user-agent": "crm/1.0", **(headers or {})},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": HOST.split(".")[0],
            "domainName": HOST,
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "crm/1.0",
            },
            "requestId": "abc",
            "routeKey": "$default",
            "stage": stage or "$default",
            "timeEpoch": 1_760_000_000_000,
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = base64.b64encode(json.dumps(body).encode()).decode()
        event["isBase64Encoded"] = True
        event["headers"]["content-type"] = "application/json"
    return event


def rest_v1(method, path, *, query=None, headers=None) -> dict:
    """An API Gateway REST API (payload 1.0) event: the path comes without the stage."""
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {"Host": HOST, **(headers or {})},
        "multiValueHeaders": {"Host": [HOST], **{k: [v] for k, v in (headers or {}).items()}},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "requestContext": {"stage": STAGE, "httpMethod": method, "identity": {}},
        "body": None,
        "isBase64Encoded": False,
    }


def s3_record(name, key, *, bucket="helpdesk-kb-dev", configuration_id="helpdesk-dev") -> dict:
    """One record as S3 sends it: the key URL-encoded (spaces as '+'); the notification id is
    the one Zappa gives it (the function's name)."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "eu-west-2",
        "eventTime": "2026-01-02T10:00:00.000Z",
        "eventName": name,
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key), "size": 42, "sequencer": "0055AED6DCD90281E5"},
        },
    }


def scheduled(function: str) -> dict:
    """An EventBridge schedule event for the rule Zappa creates for `function`."""
    from zappa.core import Zappa

    rule = Zappa(load_credentials=False).get_scheduled_event_name(
        {"function": function}, function, "helpdesk-dev"
    )
    return {
        "version": "0",
        "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-01-02T10:05:00Z",
        "region": "eu-west-2",
        "resources": [f"arn:aws:events:eu-west-2:123456789012:rule/{rule}"],
        "detail": {},
    }


def s3_jobs():
    return SyncJob.objects.filter(trigger=SyncJob.Trigger.S3_EVENT)


def body(response: dict) -> dict:
    text = response["body"]
    if response.get("isBase64Encoded"):
        text = base64.b64decode(text).decode()
    return json.loads(text)


@pytest.fixture
def kb_bucket(lambda_settings, dynamodb_server):
    """The dev stage's KB bucket on the moto server."""
    bucket = lambda_settings.KB_SOURCE.removeprefix("s3://").split("/", 1)[0]
    client = boto3.session.Session().client(
        "s3", region_name="eu-west-2", endpoint_url=dynamodb_server.url
    )
    client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    yield SimpleNamespace(client=client, name=bucket)
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)


# --- HTTP -------------------------------------------------------------------------------------


def test_http_api_v2_post_tickets_creates_the_ticket(invoke, lambda_settings, stubs, api_key):
    stubs.runtime.add_response(
        "retrieve",
        {"retrievalResults": [result("s3://helpdesk-kb-dev/kb/refunds.md", "Refunds.", 0.9)]},
        retrieve_params(
            f"{TICKET['subject']}\n{TICKET['body']}",
            number_of_results=3 * lambda_settings.KB_SUGGESTIONS,
        ),
    )
    stubs.titan.embeds(TICKET["subject"], TICKET["body"])  # beside the search, for similar

    response = invoke(
        http_v2(
            "POST", "/tickets", body=TICKET, headers={"authorization": f"Api-Key {api_key.raw}"}
        )
    )

    assert response["statusCode"] == 201, response
    answer = body(response)
    assert answer["ticket"]["subject"] == TICKET["subject"]
    assert [s["source"] for s in answer["suggestions"]] == ["s3://helpdesk-kb-dev/kb/refunds.md"]
    assert response["headers"]["Content-Type"] == "application/json"
    ticket = Ticket.objects.get()
    assert ticket.customer.email == TICKET["customer"]["email"]
    # INTERACTION_STORE=dynamodb: delivered to the table right after the ticket's commit.
    history = get_interaction_store().for_ticket(ticket.id).items
    assert [r.kind for r in history] == ["ticket_created"]
    assert not InteractionOutbox.objects.exists()
    assert ticket.embedding.model == "bedrock:amazon.titan-embed-text-v2:0:1024"


def test_http_api_v2_similar_tickets_from_titan_embeddings(invoke, lambda_settings, stubs, api_key):
    """The Lambda has no local encoder: a customer's second ticket is found as a probable
    duplicate of the first from Titan's embeddings, one InvokeModel per ticket on arrival."""
    auth = {"authorization": f"Api-Key {api_key.raw}"}
    again = {**TICKET, "subject": f"Re: {TICKET['subject']}", "body": f"{TICKET['body']} Again."}
    ids = []
    for ticket in (TICKET, again):
        stubs.runtime.add_response("retrieve", {"retrievalResults": []}, None)
        stubs.titan.embeds(ticket["subject"], ticket["body"], check=False)
        response = invoke(http_v2("POST", "/tickets", body=ticket, headers=auth))
        assert response["statusCode"] == 201, response
        ids.append(body(response)["ticket"]["id"])

    response = invoke(http_v2("GET", f"/tickets/{ids[0]}/similar", headers=auth))

    assert response["statusCode"] == 200, response
    (found,) = body(response)["results"]
    assert found["id"] == ids[1] and found["relation"] == "probable_duplicate"
    assert found["similarity"] >= lambda_settings.SIMILAR_TICKETS_THRESHOLD


def test_http_api_v2_triages_with_a_model_of_titans_vectors(
    invoke, lambda_settings, stubs, api_key
):
    """`manage.py triage_train` with the Lambda's settings (SIMILAR_ENCODER=bedrock) trains on
    Titan's vectors of the labelled tickets; a new ticket through the handler is then read by
    the whole model from the vector Titan gives it on arrival, and its category applied."""
    from tests.triage.conftest import EXAMPLES
    from tests.triage.test_embedded import expect_training
    from triage.models import Category

    for name, rows in EXAMPLES.items():
        category = Category.objects.create(name=name)
        for subject, text in rows:
            TicketFactory(subject=subject, body=text, category=category, category_source="agent")
    assert expect_training(stubs.titan) == 18
    call_command("triage_train", stdout=io.StringIO())
    lambda_settings.TRIAGE_APPLY_THRESHOLD = 0.3
    ticket = {**TICKET, "subject": "Refund missing", "body": "My refund for the kettle is late."}
    stubs.runtime.add_response("retrieve", {"retrievalResults": []}, None)
    stubs.titan.embeds(ticket["subject"], ticket["body"])
    auth = {"authorization": f"Api-Key {api_key.raw}"}

    response = invoke(http_v2("POST", "/tickets", body=ticket, headers=auth))

    assert response["statusCode"] == 201, response
    triage = body(response)["triage"]
    assert triage["method"] == "full" and triage["status"] == "applied", triage
    assert triage["category"] == "Refunds"


def test_http_api_v2_without_an_api_key_is_a_401_and_writes_nothing(invoke, lambda_settings):
    response = invoke(http_v2("POST", "/tickets", body=TICKET))

    assert response["statusCode"] == 401
    assert body(response)["error"]["code"] == "not_authenticated"
    assert not Ticket.objects.exists()


def test_http_api_v2_passes_the_raw_query_string(invoke, lambda_settings, api_key):
    auth = {"authorization": f"Api-Key {api_key.raw}"}

    response = invoke(http_v2("GET", "/tickets", query="status=closed&page_size=5", headers=auth))

    assert response["statusCode"] == 200, response
    assert body(response)["results"] == []


def test_http_api_v2_get_health(invoke, lambda_settings, stubs):
    stubs.agent.add_response(
        "get_knowledge_base", knowledge_base("ACTIVE"), {"knowledgeBaseId": KB_ID}
    )

    response = invoke(http_v2("GET", "/health"))

    assert response["statusCode"] == 200, response
    checks = body(response)["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["interaction_store"]["name"] == "dynamodb"
    assert checks["knowledge_base"]["name"] == "bedrock"
    assert checks["knowledge_base"]["status"] == "ok"


def test_http_api_v2_on_a_custom_domain_has_no_stage_in_the_path(invoke, lambda_settings, stubs):
    stubs.agent.add_response(
        "get_knowledge_base", knowledge_base("ACTIVE"), {"knowledgeBaseId": KB_ID}
    )
    event = http_v2("GET", "/health", stage=None)
    event["requestContext"]["stage"] = STAGE  # API mappings strip the stage, keep the name

    assert invoke(event)["statusCode"] == 200


def test_http_api_v2_unknown_path_is_a_json_404(invoke, lambda_settings):
    response = invoke(http_v2("GET", "/nowhere"))

    assert response["statusCode"] == 404
    assert body(response)["error"]["code"] == "not_found"


def test_rest_api_v1_event_is_served(invoke, lambda_settings, api_key):
    event = rest_v1(
        "GET",
        "/tickets",
        query={"status": "new"},
        headers={"Authorization": f"Api-Key {api_key.raw}"},
    )

    response = invoke(event)

    assert response["statusCode"] == 200, response
    assert body(response)["results"] == []


# --- S3 events --------------------------------------------------------------------------------


def test_s3_put_starts_a_bedrock_ingestion_job(invoke, lambda_settings, stubs):
    stubs.agent.add_response(
        "start_ingestion_job",
        {"ingestionJob": ingestion_job("STARTING")},
        {
            "knowledgeBaseId": KB_ID,
            "dataSourceId": DS_ID,
            "clientToken": ANY,
            "description": ANY,
        },
    )

    outcome = invoke({"Records": [s3_record("ObjectCreated:Put", "kb/refunds & returns.md")]})

    job = s3_jobs().get()
    assert outcome == {"status": "running", "sync_job": job.id, "message": job.message}
    assert (job.backend, job.external_id) == ("bedrock", "IJ12345678")


@pytest.fixture
def local_kb(lambda_settings, kb_bucket):
    """KB_BACKEND=local over the same bucket: S3 events then sync the named objects here."""
    lambda_settings.KB_BACKEND = "local"
    return kb_bucket


def test_s3_put_and_delete_sync_just_that_object(invoke, local_kb):
    key = "kb/returns policy.md"  # arrives as kb/returns+policy.md
    local_kb.client.put_object(
        Bucket=local_kb.name, Key=key, Body=b"# Returns policy\n\nReturn within 30 days.\n"
    )

    created = invoke({"Records": [s3_record("ObjectCreated:Put", key)]})

    article = Article.objects.get(source_key="returns policy.md")
    assert article.title == "Returns policy"
    assert (created["status"], created["sync_job"]) == ("succeeded", s3_jobs().get().id)

    local_kb.client.delete_object(Bucket=local_kb.name, Key=key)
    removed = invoke({"Records": [s3_record("ObjectRemoved:Delete", key)]})

    assert removed["status"] == "succeeded"
    assert not Article.objects.filter(source_key="returns policy.md").exists()


def test_s3_put_for_an_object_that_no_longer_exists_is_a_delete(invoke, local_kb):
    key = "kb/short-lived.md"
    local_kb.client.put_object(Bucket=local_kb.name, Key=key, Body=b"# Short\n\nGone soon.\n")
    invoke({"Records": [s3_record("ObjectCreated:Put", key)]})
    assert Article.objects.filter(source_key="short-lived.md").exists()
    local_kb.client.delete_object(Bucket=local_kb.name, Key=key)

    # The put's notification arrives after the object was deleted again.
    outcome = invoke({"Records": [s3_record("ObjectCreated:Put", key)]})

    assert outcome["status"] == "succeeded"
    assert s3_jobs().latest("id").deleted == 1
    assert not Article.objects.filter(source_key="short-lived.md").exists()


def test_s3_event_for_another_bucket_is_ignored(invoke, lambda_settings, caplog):
    event = {"Records": [s3_record("ObjectCreated:Put", "kb/x.md", bucket="someone-elses")]}

    with caplog.at_level(logging.INFO):
        assert invoke(event) is None

    assert "Cannot find a function to process the triggered event" in caplog.text
    assert not s3_jobs().exists()


def test_s3_event_outside_the_kb_prefix_is_ignored(invoke, lambda_settings, caplog):
    outcome = invoke({"Records": [s3_record("ObjectCreated:Put", "exports/report.csv")]})

    assert outcome == {"status": "ignored"}
    assert "outside s3://helpdesk-kb-dev/kb/" in caplog.text
    assert not s3_jobs().exists()


def test_s3_record_without_an_object_key_is_logged_and_ignored(invoke, lambda_settings, caplog):
    record = s3_record("ObjectCreated:Put", "kb/x.md")
    del record["s3"]["object"]

    assert invoke({"Records": [record]}) == {"status": "ignored"}
    assert "not an S3 object event" in caplog.text
    assert not s3_jobs().exists()


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({"Records": [{"eventSource": "aws:s3", "s3": {}}]}, id="no-configurationId"),
        pytest.param({"Records": []}, id="no-records"),
        pytest.param({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]}, id="sqs-record"),
        pytest.param({"Records": "nope"}, id="records-not-a-list"),
        pytest.param({"hello": "world"}, id="unknown-source"),
        pytest.param({"detail-type": "Scheduled Event"}, id="schedule-without-resources"),
        pytest.param({}, id="empty"),
        pytest.param([1, 2], id="not-an-object"),
        pytest.param("ping", id="a-string"),
    ],
)
def test_malformed_events_are_logged_and_ignored(invoke, lambda_settings, caplog, event):
    assert invoke(event) is None

    assert "Ignoring an event this function does not handle" in caplog.text
    assert not s3_jobs().exists()


def test_a_failing_task_on_an_async_event_is_logged_not_raised(invoke, lambda_settings, caplog):
    event = scheduled("helpdesk.lambda_tasks.no_such_task")

    assert invoke(event) == {"status": "failed"}
    assert "Dropping a schedule event that failed" in caplog.text


def test_a_task_error_is_reported_in_the_answer_not_raised(invoke, lambda_settings, caplog):
    with mock.patch(
        "knowledge.services.kb_sync_s3_event", side_effect=RuntimeError("database is down")
    ):
        outcome = invoke({"Records": [s3_record("ObjectCreated:Put", "kb/x.md")]})

    assert outcome == {"status": "failed", "error": "RuntimeError"}
    assert "KB sync for an S3 event failed" in caplog.text


# --- schedule and commands --------------------------------------------------------------------


def test_scheduled_event_drains_the_outbox_into_dynamodb(invoke, lambda_settings):
    records = [InteractionRecord(customer_id=7, kind=Kind.NOTE, summary=f"n{n}") for n in (1, 2)]
    interaction_record(records=records, deliver_on_commit=False)  # what a failed delivery leaves
    assert InteractionOutbox.objects.count() == 2

    outcome = invoke(scheduled("helpdesk.lambda_tasks.drain_outbox"))

    assert outcome == {"status": "ok", "delivered": 2, "failed": 0, "remaining": 0}
    history = get_interaction_store().for_customer(7).items
    assert sorted(r.summary for r in history) == ["n1", "n2"]
    assert not InteractionOutbox.objects.exists()


def test_the_schedules_in_zappa_settings_are_the_drain_and_the_kb_poll(zappa_stage):
    events = {e["function"]: e for e in zappa_stage.stage_config["events"]}

    assert events["helpdesk.lambda_tasks.drain_outbox"]["expression"] == "rate(5 minutes)"
    assert events["helpdesk.lambda_tasks.kb_sync_poll"]["expression"] == "rate(5 minutes)"
    assert events["helpdesk.lambda_tasks.prune_idempotency"]["expression"] == "rate(1 hour)"


def test_scheduled_event_prunes_expired_idempotency_keys(invoke, lambda_settings):
    lambda_settings.IDEMPOTENCY_TTL_HOURS = 24
    ticket = TicketFactory()
    for key in ("old", "new"):
        IdempotencyRecord.objects.create(
            client="crm", key=key, request_hash="h", status_code=201, response={}, ticket=ticket
        )
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=25)
    )

    outcome = invoke(scheduled("helpdesk.lambda_tasks.prune_idempotency"))

    assert outcome == {"status": "ok", "deleted": 1}
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_s3_event_during_an_ingestion_is_ingested_by_the_follow_up(invoke, lambda_settings, stubs):
    """An upload while an ingestion job runs joins that job; the scheduled poll starts the
    follow-up ingestion once it is over, so the upload is never left out."""
    stubs.agent.add_response("start_ingestion_job", {"ingestionJob": ingestion_job("STARTING")})
    first = invoke({"Records": [s3_record("ObjectCreated:Put", "kb/a.md")]})
    stubs.agent.add_response("get_ingestion_job", {"ingestionJob": ingestion_job("IN_PROGRESS")})

    joined = invoke({"Records": [s3_record("ObjectCreated:Put", "kb/b.md")]})

    assert joined["sync_job"] == first["sync_job"]
    stubs.agent.add_response("get_ingestion_job", {"ingestionJob": ingestion_job("COMPLETE")})
    follow_up = ingestion_job("STARTING", job_id="IJFOLLOW01")
    stubs.agent.add_response("start_ingestion_job", {"ingestionJob": follow_up})

    outcome = invoke(scheduled("helpdesk.lambda_tasks.kb_sync_poll"))

    job = s3_jobs().get(pk=first["sync_job"])
    assert job.status == "succeeded"
    assert outcome == {
        "status": "ok",
        "jobs": [{"id": job.id, "status": "succeeded"}],
        "follow_ups": [job.follow_up_id],
    }
    assert job.follow_up.external_id == "IJFOLLOW01"


def test_manage_event_runs_the_command(invoke, lambda_settings, dynamodb_settings):
    from helpdesk.aws import dynamodb_client

    assert invoke({"manage": "interactions_create_table"}) == {}

    table = dynamodb_client().describe_table(TableName=dynamodb_settings.DYNAMODB_TABLE)
    assert table["Table"]["TableStatus"] == "ACTIVE"


def test_manage_event_with_an_unknown_command_raises_for_the_operator(invoke, lambda_settings):
    with pytest.raises(CommandError, match="Unknown command"):
        invoke({"manage": "no_such_command"})


# --- the e-mail outbox (conversations) --------------------------------------------------------


def test_scheduled_event_sends_the_email_outbox(invoke, settings):
    from django.core import mail

    from tickets.models import EmailOutbox, Message

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ticket = TicketFactory(customer__email="ana@example.com")
    message = Message.objects.create(
        ticket=ticket, role="agent", body="On its way.", email_message_id="<r1@example.com>"
    )
    EmailOutbox.objects.create(message=message)  # what a failed send after the commit leaves

    outcome = invoke(scheduled("helpdesk.lambda_tasks.send_email_outbox"))

    assert outcome == {
        "status": "ok",
        "incident_replies": 0,
        "incident_replies_refused": 0,
        "incident_replies_to_retry": 0,
        "sent": 1,
        "failed": 0,
        "refused": 0,
        "remaining": 0,
    }
    (sent,) = mail.outbox
    assert sent.to == ["ana@example.com"] and sent.extra_headers["Message-ID"] == "<r1@example.com>"
    assert not EmailOutbox.objects.exists()


def test_the_per_minute_task_posts_queued_incident_replies_first(invoke, settings):
    """An outage answered with more incidents than INCIDENT_REPLIES_INLINE: the rest are posted
    by this task (tests/tickets/test_incident_replies.py), and their e-mails sent."""
    from django.core import mail

    from tickets import services
    from tickets.models import IncidentReply, Message

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.INCIDENT_REPLIES_INLINE = 1
    problem = TicketFactory(customer__email="ana@example.com")
    incidents = [
        TicketFactory(customer__email=f"{name}@example.com", problem=problem)
        for name in ("ben", "chloe", "dan")
    ]
    replied = services.problem_reply(problem=problem, body="Fixed now.", actor="agent:test")
    assert len(replied.queued) == 2

    outcome = invoke(scheduled("helpdesk.lambda_tasks.send_email_outbox"))

    assert outcome["status"] == "ok" and outcome["incident_replies"] == 2
    assert not IncidentReply.objects.exists()
    assert all(Message.objects.filter(ticket=t, body="Fixed now.").exists() for t in incidents)
    assert {m.to[0] for m in mail.outbox} >= {"chloe@example.com", "dan@example.com"}


def test_the_email_outbox_schedule_and_ses_backend_are_in_zappa_settings(zappa_stage):
    events = {e["function"]: e for e in zappa_stage.stage_config["events"]}
    environment = zappa_stage.stage_config["environment_variables"]

    assert events["helpdesk.lambda_tasks.send_email_outbox"]["expression"] == "rate(1 minute)"
    assert environment["EMAIL_BACKEND"] == "anymail.backends.amazon_ses.EmailBackend"


# --- inbound e-mail: SES "store in S3" → the mail bucket's S3 event ---------------------------


@pytest.fixture
def mail_bucket(lambda_settings, dynamodb_server, tmp_path):
    """The dev stage's mail bucket (zappa_settings.json) on the moto server, where SES's
    receipt rule stores raw messages under `inbound/`."""
    lambda_settings.MEDIA_ROOT = str(tmp_path / "media")
    client = boto3.session.Session().client(
        "s3", region_name="eu-west-2", endpoint_url=dynamodb_server.url
    )
    client.create_bucket(
        Bucket="helpdesk-mail-dev", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    yield SimpleNamespace(client=client, name="helpdesk-mail-dev")
    for item in client.list_objects_v2(Bucket="helpdesk-mail-dev").get("Contents", []):
        client.delete_object(Bucket="helpdesk-mail-dev", Key=item["Key"])
    client.delete_bucket(Bucket="helpdesk-mail-dev")


def test_an_e_mail_stored_by_ses_in_s3_becomes_a_ticket_once(invoke, mail_bucket, stubs):
    from tests import mailshapes
    from tickets.models import Attachment, Message

    stubs.runtime.add_response(
        "retrieve",
        {"retrievalResults": [result("s3://helpdesk-kb-dev/kb/refunds.md", "Refunds.", 0.9)]},
        None,
    )
    stubs.titan.embeds("", "", check=False)
    key = "inbound/0f1e2d3c4b5a 6978"  # SES names the object after its message id
    raw = mailshapes.gmail(
        message_id="<ses-s3@mail.gmail.com>", attachments=[("r.pdf", "application/pdf", b"%PDF")]
    )
    mail_bucket.client.put_object(Bucket=mail_bucket.name, Key=key, Body=raw)
    event = {
        "Records": [
            s3_record("ObjectCreated:Put", key, bucket=mail_bucket.name),
            s3_record("ObjectCreated:Put", "exports/x.csv", bucket=mail_bucket.name),
        ]
    }

    outcome = invoke(event)

    ticket = Ticket.objects.get()
    assert outcome["status"] == "ok"
    assert outcome["messages"] == [
        {"key": key, "status": "stored", "ticket": ticket.id, "message": ticket.messages.get().id},
        {"key": "exports/x.csv", "status": "skipped"},
    ]
    assert ticket.customer.email == "jurgen@example.com" and ticket.channel == "email"
    assert [s.source for s in ticket.suggestions.all()] == ["s3://helpdesk-kb-dev/kb/refunds.md"]
    assert Attachment.objects.get().name == "r.pdf"
    assert ticket.embedding.bits is not None  # Titan's, asked beside the KB search

    again = invoke({"Records": [s3_record("ObjectCreated:Put", key, bucket=mail_bucket.name)]})

    assert again["messages"][0]["status"] == "duplicate"
    assert (Ticket.objects.count(), Message.objects.count()) == (1, 1)


def test_an_unreadable_or_missing_object_in_the_mail_bucket_writes_nothing(
    invoke, mail_bucket, caplog
):
    mail_bucket.client.put_object(
        Bucket=mail_bucket.name, Key="inbound/broken", Body=b"To: x@example.com\r\n\r\nno sender"
    )
    event = {
        "Records": [
            s3_record("ObjectCreated:Put", "inbound/broken", bucket=mail_bucket.name),
            s3_record("ObjectCreated:Put", "inbound/gone", bucket=mail_bucket.name),
        ]
    }

    outcome = invoke(event)

    assert [m["status"] for m in outcome["messages"]] == ["invalid", "missing"]
    assert "no sender address" in outcome["messages"][0]["error"]
    assert not Ticket.objects.exists()
    assert "not a readable e-mail" in caplog.text


def test_the_mail_bucket_event_is_in_zappa_settings(zappa_stage):
    events = zappa_stage.stage_config["events"]
    (mail,) = [e for e in events if e["function"].endswith("inbound_email_s3_event")]
    assert mail["event_source"] == {
        "arn": "arn:aws:s3:::helpdesk-mail-dev",
        "prefix": "inbound/",
        "events": ["s3:ObjectCreated:*"],
    }
