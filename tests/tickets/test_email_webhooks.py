"""Provider webhooks for inbound e-mail through django-anymail: Amazon SES (an SNS notification
of a receipt rule's SNS action, the raw message base64 in it) and Mailgun (a route's forward to
`…/mime`, the raw message in `body-mime`, HMAC-signed). Real anymail views, real signal, the
one inbound service behind them."""

import base64
import hashlib
import hmac
import json

import pytest
from django.db import connection

from tests import mailshapes
from tests.factories import TicketFactory
from tests.test_database_faults import closed_port, postgres_at
from tickets.models import Attachment, Message, Ticket

pytestmark = pytest.mark.django_db

SECRET = "ses-relay:s3cr3t-Pa55"
SIGNING_KEY = "key-0123456789abcdef"


@pytest.fixture(autouse=True)
def webhooks(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "WEBHOOK_SECRET": SECRET,
        "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
    }


def basic(secret: str = SECRET) -> str:
    return "Basic " + base64.b64encode(secret.encode()).decode()


def sns_notification(raw: bytes, *, message_id: str = "sns-1") -> dict:
    """What SNS posts for an SES receipt rule with an SNS action (Base64 encoding)."""
    ses = {
        "notificationType": "Received",
        "mail": {
            "timestamp": "2026-12-04T10:02:00.000Z",
            "source": "jurgen@example.com",
            "messageId": "o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1",
            "destination": ["support@localhost"],
        },
        "receipt": {
            "recipients": ["support@localhost"],
            "spamVerdict": {"status": "PASS"},
            "action": {
                "type": "SNS",
                "topicArn": "arn:aws:sns:eu-west-2:123456789012:helpdesk-inbound",
                "encoding": "BASE64",
            },
        },
        "content": base64.b64encode(raw).decode(),
    }
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": "arn:aws:sns:eu-west-2:123456789012:helpdesk-inbound",
        "Subject": "Amazon SES Email Receipt Notification",
        "Message": json.dumps(ses),
        "Timestamp": "2026-12-04T10:02:01.000Z",
        "SignatureVersion": "1",
        "Signature": "…",
    }


def post_sns(client, payload: dict, *, auth: str | None = None):
    headers = {
        "HTTP_X_AMZ_SNS_MESSAGE_TYPE": payload["Type"],
        "HTTP_X_AMZ_SNS_MESSAGE_ID": payload["MessageId"],
    }
    if auth:
        headers["HTTP_AUTHORIZATION"] = auth
    return client.post(
        "/inbound/ses", json.dumps(payload), content_type="text/plain; charset=UTF-8", **headers
    )


def test_ses_sns_notification_opens_a_ticket_once(client):
    raw = mailshapes.gmail(message_id="<via-sns@mail.gmail.com>")

    first = post_sns(client, sns_notification(raw), auth=basic())
    again = post_sns(client, sns_notification(raw, message_id="sns-2"), auth=basic())

    assert (first.status_code, again.status_code) == (200, 200)
    ticket = Ticket.objects.get()
    assert ticket.customer.email == "jurgen@example.com"
    assert ticket.subject == "Blender arrived broken — refund?"
    message = Message.objects.get()
    assert message.email_message_id == "<via-sns@mail.gmail.com>"
    assert message.author == "customer:jurgen@example.com"
    assert ticket.suggestions.exists()


def test_ses_without_the_secret_is_refused_and_writes_nothing(client):
    raw = mailshapes.gmail()

    anonymous = post_sns(client, sns_notification(raw))
    wrong = post_sns(client, sns_notification(raw), auth=basic("ses-relay:guess"))

    assert anonymous.status_code == 401  # SNS sends credentials only after a 401
    assert anonymous["WWW-Authenticate"].startswith("Basic")
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "bad_request"
    assert not Ticket.objects.exists()


def test_an_auto_reply_or_an_unreadable_message_is_acknowledged_and_writes_nothing(client):
    auto = mailshapes.auto_reply({"Auto-Submitted": "auto-replied"})
    unreadable = b"To: support@localhost\r\nSubject: x\r\n\r\nno sender\r\n"

    for n, raw in enumerate([auto, unreadable]):
        response = post_sns(client, sns_notification(raw, message_id=f"n{n}"), auth=basic())
        assert response.status_code == 200  # a retry would not change anything

    assert not Ticket.objects.exists()


def test_a_malformed_sns_payload_is_a_400(client):
    response = client.post(
        "/inbound/ses",
        "not json",
        content_type="text/plain",
        HTTP_AUTHORIZATION=basic(),
        HTTP_X_AMZ_SNS_MESSAGE_TYPE="Notification",
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def mailgun_form(raw: bytes, *, key: str = SIGNING_KEY) -> dict:
    timestamp, token = "1796409720", "5f7a2c0b8e4d4b1f9a3e6c2d1b0a9f8e7d6c5b4a3f2e1d0c9b"
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256)
    return {
        "timestamp": timestamp,
        "token": token,
        "signature": signature.hexdigest(),
        "recipient": "support@localhost",
        "sender": "priya@example.org",
        "body-mime": raw.decode("ascii"),
    }


def test_mailgun_raw_mime_threads_onto_the_ticket(client):
    ticket = TicketFactory(customer__email="priya@example.org", status="pending")
    raw = mailshapes.outlook(
        subject=f"RE: [HD-{ticket.id:06d}] Payment declined",
        text="Hello,\r\n\r\nIt worked with the other card, thanks!\r\n\r\nKind regards,\r\nPriya",
    )

    response = client.post("/inbound/mailgun/mime", mailgun_form(raw), HTTP_AUTHORIZATION=basic())

    assert response.status_code == 200, response.content
    ticket.refresh_from_db()
    assert ticket.status == "open"
    message = ticket.messages.get(role="customer", email_message_id__startswith="<")
    assert message.body_clean == "It worked with the other card, thanks!"
    assert message.channel == "email"


def test_mailgun_takes_a_message_larger_than_the_json_api_limit(client, settings):
    big = bytes(range(256)) * 2048  # 512 KiB, over API_MAX_REQUEST_BYTES (256 KiB) as base64
    raw = mailshapes.gmail(attachments=[("scan.pdf", "application/pdf", big)])
    assert len(raw) > settings.API_MAX_REQUEST_BYTES

    response = client.post("/inbound/mailgun/mime", mailgun_form(raw), HTTP_AUTHORIZATION=basic())

    assert response.status_code == 200, response.content
    (attachment,) = Attachment.objects.all()
    assert attachment.size == len(big) and attachment.file.read() == big


def test_the_admin_keeps_the_json_api_limit(client, settings):
    response = client.post(
        "/admin/login/", {"username": "x" * (settings.API_MAX_REQUEST_BYTES + 10)}
    )

    assert response.status_code == 413


def test_mailgun_with_a_bad_signature_writes_nothing(client):
    form = mailgun_form(mailshapes.outlook(), key="key-not-ours")

    response = client.post("/inbound/mailgun/mime", form, HTTP_AUTHORIZATION=basic())

    assert response.status_code == 400
    assert not Ticket.objects.exists()


def test_an_unconfigured_webhook_is_a_404(client, settings):
    settings.ANYMAIL = {}

    for path in ("/inbound/ses", "/inbound/mailgun/mime"):
        response = client.post(path, "{}", content_type="application/json")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="points Postgres at a closed port")
def test_a_database_outage_is_a_503_so_the_provider_retries(client):
    raw = mailshapes.gmail()
    with postgres_at(closed_port(), connect_timeout=2):
        response = post_sns(client, sns_notification(raw), auth=basic())

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"
    assert not Ticket.objects.exists()
