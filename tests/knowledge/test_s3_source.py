"""KB_SOURCE=s3://…: full and event-driven syncs against a real S3-protocol server (moto)."""

import json
from urllib.parse import quote_plus

import boto3
import pytest

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


def test_full_sync_lists_every_page_and_reads_sidecars(s3, monkeypatch):
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
