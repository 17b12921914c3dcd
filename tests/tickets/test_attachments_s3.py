"""Attachments on S3 (STORAGE_BACKEND=s3, django-storages) against a real S3-protocol server: the
session's moto server, as the KB's S3 source tests use it."""

import boto3
import pytest

from tests import mailshapes
from tests.openapi import assert_conforms
from tickets.models import Attachment

BUCKET = "helpdesk-attachments"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8


@pytest.fixture
def bucket(dynamodb_server, settings):
    """A fresh bucket, and Django's default storage pointed at it as production configures it."""
    client = boto3.session.Session().client(
        "s3", region_name="eu-west-2", endpoint_url=dynamodb_server.url
    )
    client.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage"},
    }
    settings.AWS_STORAGE_BUCKET_NAME = BUCKET
    settings.AWS_S3_ENDPOINT_URL = dynamodb_server.url
    settings.AWS_LOCATION = "attachments"
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def test_an_e_mail_attachment_lands_in_the_bucket_with_its_bytes(
    inbound, bucket, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    raw = mailshapes.gmail(attachments=[("receipt.pdf", "application/pdf", PDF)])

    response = inbound.generic("POST", "/inbound/email", raw, content_type="message/rfc822")

    assert response.status_code == 201, response.content
    (answer,) = assert_conforms(response, "POST", "/inbound/email")["attachments"]
    assert (answer["name"], answer["size"], answer["stored"]) == ("receipt.pdf", len(PDF), True)
    row = Attachment.objects.get()
    ticket_id = row.message.ticket_id
    assert row.file.name.startswith("inbound/")
    assert row.file.name.endswith(f"/{ticket_id}/receipt.pdf")
    (stored,) = bucket.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert stored["Key"] == f"attachments/{row.file.name}"
    assert bucket.get_object(Bucket=BUCKET, Key=stored["Key"])["Body"].read() == PDF
    with row.file.open("rb") as through_django:
        assert through_django.read() == PDF
    assert not (tmp_path / "media").exists()  # nothing on the local disk
