"""KB_SOURCE=s3://…: full and event-driven syncs against a real S3-protocol server (moto)."""

import json
from urllib.parse import quote_plus

import boto3
import pytest
from django.utils import timezone

from knowledge.backends.base import get_backend
from knowledge.models import Article, SyncJob
from knowledge.services import kb_sync_s3_event, kb_sync_start
from knowledge.sources import s3 as s3_source

pytestmark = pytest.mark.django_db

BUCKET = "helpdesk-kb"


@pytest.fixture
def s3(dynamodb_server, settings):
    """A fresh bucket on the session's moto server, configured as the KB source."""
    client = boto3.session.Session().client(
        "s3", region_name="eu-west-2", endpoint_url=dynamodb_server.url
    )
    client.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    settings.S3_ENDPOINT_URL = dynamodb_server.url
    settings.KB_SOURCE = f"s3://{BUCKET}/kb/"
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def put(client, key: str, text: str) -> None:
    client.put_object(Bucket=BUCKET, Key=key, Body=text.encode())


def event(name: str, key: str, bucket: str = BUCKET) -> dict:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "eu-west-2",
                "eventName": name,
                "s3": {
                    "configurationId": "kb-sync",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": quote_plus(key), "size": 10},
                },
            }
        ]
    }


def sync() -> SyncJob:
    return kb_sync_start(trigger=SyncJob.Trigger.COMMAND)


def titles(query: str) -> list[str]:
    return [p.title for p in get_backend().retrieve(query, k=5)]


def test_full_sync_lists_every_page_and_reads_sidecars(s3, monkeypatch, settings):
    settings.KB_PUBLIC_BASE_URL = ""  # the object's own URI (make run's .env sets a base URL)
    monkeypatch.setattr(s3_source, "LIST_PAGE_SIZE", 2)
    for n in range(5):
        put(s3, f"kb/article-{n}.md", f"# Article {n}\n\nTopic number{n} explained.\n")
    put(s3, "kb/article-0.md.metadata.json", json.dumps({"metadataAttributes": {"product": "x"}}))
    put(s3, "outside/ignored.md", "# Ignored\n\nNot under the prefix.\n")

    job = sync()

    assert (job.status, job.scanned, job.added, job.failed) == ("succeeded", 5, 5, 0)
    assert Article.objects.get(source_key="article-0.md").metadata == {"product": "x"}
    assert Article.objects.get(source_key="article-3.md").uri == f"s3://{BUCKET}/kb/article-3.md"
    assert titles("number4")[0] == "Article 4"


def test_unchanged_objects_are_not_downloaded_again(s3, monkeypatch):
    put(s3, "kb/a.md", "# A\n\nAlpha.\n")
    put(s3, "kb/b.md", "# B\n\nBeta.\n")
    sync()

    from helpdesk.aws import s3_client

    def no_download(**kwargs):
        raise AssertionError(f"downloaded {kwargs['Key']}")

    monkeypatch.setattr(s3_client(), "get_object", no_download)
    job = sync()

    assert (job.scanned, job.unchanged) == (2, 2)


def test_missing_bucket_fails_the_job_and_keeps_the_index(s3, settings):
    put(s3, "kb/a.md", "# Shipping\n\nParcels travel fast.\n")
    sync()
    settings.KB_SOURCE = "s3://no-such-bucket/kb/"

    job = sync()

    assert job.status == SyncJob.Status.FAILED
    assert "NoSuchBucket" in job.message
    assert Article.objects.count() == 1
    assert titles("parcels") == ["Shipping"]


def test_put_event_syncs_only_that_object_with_its_url_encoded_key(s3):
    put(s3, "kb/a.md", "# A\n\nAlpha.\n")
    sync()
    put(s3, "kb/Return policy (EU).md", "# Returns in the EU\n\nFourteen-day withdrawal.\n")
    put(s3, "kb/not-announced.md", "# Later\n\nNot in the event.\n")

    job = kb_sync_s3_event(event("ObjectCreated:Put", "kb/Return policy (EU).md"))

    assert job.trigger == SyncJob.Trigger.S3_EVENT
    assert (job.status, job.scanned, job.added) == ("succeeded", 1, 1)
    assert set(Article.objects.values_list("source_key", flat=True)) == {
        "a.md",
        "Return policy (EU).md",
    }
    assert titles("withdrawal")[0] == "Returns in the EU"


def test_delete_event_removes_the_article_at_once(s3):
    put(s3, "kb/a.md", "# Alpha article\n\nAlpha.\n")
    put(s3, "kb/b.md", "# Beta article\n\nBeta.\n")
    sync()
    s3.delete_object(Bucket=BUCKET, Key="kb/b.md")

    job = kb_sync_s3_event(event("ObjectRemoved:Delete", "kb/b.md"))

    assert job.deleted == 1
    assert list(Article.objects.values_list("source_key", flat=True)) == ["a.md"]
    assert "Beta article" not in titles("beta")


def test_put_event_for_an_object_that_is_gone_is_a_delete(s3):
    put(s3, "kb/a.md", "# A\n\nAlpha.\n")
    sync()
    s3.delete_object(Bucket=BUCKET, Key="kb/a.md")

    job = kb_sync_s3_event(event("ObjectCreated:Put", "kb/a.md"))

    assert job.deleted == 1
    assert not Article.objects.exists()


def test_events_for_other_buckets_or_malformed_records_are_ignored(s3):
    assert kb_sync_s3_event(event("ObjectCreated:Put", "kb/a.md", bucket="other")) is None
    assert kb_sync_s3_event({"Records": [{"eventSource": "aws:sqs"}]}) is None
    assert kb_sync_s3_event({"Records": "nonsense"}) is None
    assert kb_sync_s3_event({}) is None
    assert not SyncJob.objects.filter(trigger=SyncJob.Trigger.S3_EVENT).exists()


# --- S3 failing mid-sync ----------------------------------------------------------------------


def test_s3_going_away_mid_sync_fails_the_job_and_deletes_nothing(dynamodb_server, settings):
    """A real S3 server of the test's own, stopped after the listing: the sync stops at the
    first read that fails, the job is `failed` with a clear error, and every article indexed
    before keeps serving (the listing saw them all, so nothing looks deleted)."""
    import socket

    from moto.server import ThreadedMotoServer

    from helpdesk.aws import _client

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # moto keeps its state per process: this server shares the session server's buckets, so
    # the bucket is one of this test's own, removed through the session server afterwards.
    bucket = "helpdesk-kb-mid-sync"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        url = f"http://127.0.0.1:{port}"
        client = boto3.session.Session().client("s3", region_name="eu-west-2", endpoint_url=url)
        client.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
        )
        settings.S3_ENDPOINT_URL = url
        settings.KB_SOURCE = f"s3://{bucket}/kb/"
        client.put_object(Bucket=bucket, Key="kb/a.md", Body=b"# Alpha\n\nAlpha article.\n")
        client.put_object(Bucket=bucket, Key="kb/b.md", Body=b"# Beta\n\nBeta, version one.\n")
        assert sync().added == 2
        client.put_object(Bucket=bucket, Key="kb/b.md", Body=b"# Beta\n\nBeta, version two.\n")
        client.put_object(Bucket=bucket, Key="kb/c.md", Body=b"# Gamma\n\nGamma article.\n")
        _client.cache_clear()  # no pooled connection to the server outlives it

        def stop_after_listing(job, key):
            if key == "a.md":
                server.stop()

        job = kb_sync_start(trigger=SyncJob.Trigger.COMMAND, progress=stop_after_listing)
    finally:
        server.stop()
        _client.cache_clear()
        cleanup = boto3.session.Session().client(
            "s3", region_name="eu-west-2", endpoint_url=dynamodb_server.url
        )
        for key in ("kb/a.md", "kb/b.md", "kb/c.md"):
            cleanup.delete_object(Bucket=bucket, Key=key)
        cleanup.delete_bucket(Bucket=bucket)

    assert job.status == SyncJob.Status.FAILED
    assert job.message.startswith(f"S3 stopped answering while reading s3://{bucket}/kb/b.md")
    assert "nothing was deleted" in job.message
    assert str(port) not in job.message and "127.0.0.1" not in job.message
    assert (job.deleted, job.added, job.updated) == (0, 0, 0)
    assert set(Article.objects.values_list("source_key", flat=True)) == {"a.md", "b.md"}
    assert "version one" in Article.objects.get(source_key="b.md").chunks.get().text
    assert titles("alpha")[0] == "Alpha"
    assert not SyncJob.objects.filter(status=SyncJob.Status.RUNNING).exists()


# --- the S3-event path takes the one-running-sync claim ---------------------------------------


def test_an_s3_event_while_a_sync_runs_joins_it_as_the_api_does(s3, settings, admin_api):
    put(s3, "kb/a.md", "# A\n\nAlpha.\n")
    running = SyncJob.objects.create(
        backend="local",
        source=settings.KB_SOURCE,
        trigger=SyncJob.Trigger.API,
        status=SyncJob.Status.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )

    from_event = kb_sync_s3_event(event("ObjectCreated:Put", "kb/a.md"))
    from_api = admin_api.post("/kb/sync")

    assert from_event.pk == running.pk and from_event.status == SyncJob.Status.RUNNING
    assert from_api.status_code == 202 and from_api.json()["id"] == running.pk
    running.refresh_from_db()
    assert running.rerun_requested is True
    assert SyncJob.objects.filter(status=SyncJob.Status.RUNNING).count() == 1
    assert not SyncJob.objects.filter(trigger=SyncJob.Trigger.S3_EVENT).exists()
    assert not Article.objects.filter(source_key="a.md").exists()  # the follow-up's job


def test_a_sync_asked_for_during_an_s3_event_sync_gets_it_and_a_follow_up(s3, admin_api):
    put(s3, "kb/a.md", "# A\n\nAlpha.\n")
    sync()
    put(s3, "kb/b.md", "# Beta\n\nBeta arrives.\n")
    put(s3, "kb/c.md", "# Gamma\n\nGamma arrives while the event's sync runs.\n")
    joined = []

    def request_during_sync(job, key):
        if not joined:
            joined.append(admin_api.post("/kb/sync"))
            joined.append(kb_sync_s3_event(event("ObjectCreated:Put", "kb/c.md")))

    job = kb_sync_s3_event(event("ObjectCreated:Put", "kb/b.md"), progress=request_during_sync)

    api_answer, second_event = joined
    assert api_answer.status_code == 202
    assert api_answer.json()["id"] == job.id and api_answer.json()["status"] == "running"
    assert api_answer.json()["rerun_requested"] is True
    assert second_event.pk == job.pk
    assert (job.trigger, job.status, job.added) == ("s3-event", "succeeded", 1)
    follow_up = job.follow_up
    assert follow_up is not None and follow_up.status == SyncJob.Status.SUCCEEDED
    assert (follow_up.added, follow_up.unchanged) == (1, 2)  # c.md; a.md and b.md as they were
    assert set(Article.objects.values_list("source_key", flat=True)) == {"a.md", "b.md", "c.md"}
    assert not SyncJob.objects.filter(status=SyncJob.Status.RUNNING).exists()


def test_an_s3_event_sync_that_crashes_releases_the_claim(s3, monkeypatch):
    put(s3, "kb/a.md", "# A\n\nAlpha.\n")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(s3_source, "head_document", broken)

    job = kb_sync_s3_event(event("ObjectCreated:Put", "kb/a.md"))

    assert job.status == SyncJob.Status.FAILED and "disk full" in job.message
    assert not SyncJob.objects.filter(status=SyncJob.Status.RUNNING).exists()
    assert sync().status == SyncJob.Status.SUCCEEDED  # the next sync is not blocked
