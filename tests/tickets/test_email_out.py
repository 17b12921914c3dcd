"""Agent replies out as e-mail: threading headers, subject token, text + HTML parts (Django's
locmem backend), and the outbox against a real SMTP server (aiosmtpd) that is down, then up."""

import email
import random
import re
import socket
from email import policy

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from tests.factories import TicketFactory
from tickets.mail import email_outbox_deliver, new_message_id
from tickets.models import EmailOutbox, Message

pytestmark = pytest.mark.django_db

GMAIL_ID = "<CAJx9v+Q7_k2@mail.gmail.com>"
EARLIER_ID = "<earlier.1@brightside.example>"


def reply(client, ticket, body, **extra):
    response = client.post(
        f"/tickets/{ticket.id}/messages", {"kind": "reply", "body": body, **extra}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def emailed_ticket(**kwargs):
    """A ticket whose first message came in by e-mail, as a reply in an existing thread."""
    ticket = TicketFactory(
        customer__email="ana@example.com", subject="Re: Cracked jar", first_message=False, **kwargs
    )
    Message.objects.create(
        ticket=ticket,
        role="customer",
        body="My blender jar arrived cracked.",
        channel="email",
        sender_address="ana@example.com",
        email_message_id=GMAIL_ID,
        email_references=EARLIER_ID,
        created_at=ticket.created_at,
    )
    return ticket


# --- composing (locmem) -----------------------------------------------------------------------


def test_a_reply_is_one_threaded_email_with_text_and_html(api, django_capture_on_commit_callbacks):
    ticket = emailed_ticket()

    with django_capture_on_commit_callbacks(execute=True):
        answer = reply(api, ticket, "Hi Ana,\nsorry about that <jar>.\n\nA new one ships today.")

    (sent,) = mail.outbox
    message = Message.objects.get(pk=answer["message"]["id"])
    headers = sent.message()
    assert (
        headers["Message-ID"] == message.email_message_id == answer["message"]["email_message_id"]
    )
    assert message.email_message_id.endswith("@localhost>")  # HELPDESK_EMAIL_DOMAIN
    assert headers["In-Reply-To"] == GMAIL_ID
    assert headers["References"] == f"{EARLIER_ID} {GMAIL_ID}"
    assert sent.subject == f"Re: [HD-{ticket.id:06d}] Cracked jar"
    assert sent.to == ["ana@example.com"]
    assert sent.from_email == "Support <support@localhost>"
    assert "sorry about that <jar>." in sent.body
    assert f"Ticket HD-{ticket.id:06d}" in sent.body
    ((html, mimetype),) = sent.alternatives
    assert mimetype == "text/html"
    assert "sorry about that &lt;jar&gt;." in html and "<jar>" not in html
    assert "<p>A new one ships today.</p>" in html
    assert message.sent_at is not None
    assert answer["message"]["email_status"] == "queued"  # answered before the commit's send
    listed = api.get(f"/tickets/{ticket.id}/messages").json()["results"]
    assert listed[-1]["email_status"] == "sent"


def test_a_thread_begun_through_the_api_threads_on_our_previous_reply(
    api, django_capture_on_commit_callbacks
):
    ticket = TicketFactory(customer__email="tom@example.com")  # no Message-ID anywhere

    with django_capture_on_commit_callbacks(execute=True):
        first = reply(api, ticket, "Which model do you have?")
    with django_capture_on_commit_callbacks(execute=True):
        reply(api, ticket, "Also, is the seal in place?")

    one, two = mail.outbox
    assert one.message()["In-Reply-To"] is None
    first_id = first["message"]["email_message_id"]
    assert two.message()["In-Reply-To"] == first_id
    assert two.message()["References"] == first_id
    assert one.message()["Message-ID"] != two.message()["Message-ID"]


def test_a_row_claimed_by_another_sender_is_not_sent_twice(api):
    ticket = emailed_ticket()
    answer = reply(api, ticket, "On its way.")  # committed only at the test's end: not sent
    EmailOutbox.objects.update(claimed_until=timezone.now() + timezone.timedelta(minutes=5))

    result = email_outbox_deliver()

    assert (result.sent, result.failed) == (0, 0)
    assert mail.outbox == []
    assert EmailOutbox.objects.get().message_id == answer["message"]["id"]


# --- a real SMTP server, down then up ---------------------------------------------------------


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()  # nothing listens there yet: the mail server is down
    settings.EMAIL_TIMEOUT = 5
    return settings


def test_an_smtp_outage_delays_the_reply_which_is_sent_once_when_it_ends(
    api, outsider, smtp_settings, django_capture_on_commit_callbacks
):
    ticket = emailed_ticket()

    with django_capture_on_commit_callbacks(execute=True):
        answer = reply(api, ticket, "Hi Ana,\na new jar ships today.")

    # Down: the reply is accepted and kept, with the failure and a backoff recorded.
    row = EmailOutbox.objects.get(message_id=answer["message"]["id"])
    assert row.attempts == 1
    assert "Connection refused" in row.last_error or "ConnectionRefused" in row.last_error
    assert row.next_attempt_at > timezone.now()
    assert Message.objects.get(pk=row.message_id).sent_at is None
    health = outsider.get("/health").json()["checks"]["email"]
    assert (health["status"], health["outbox_depth"], health["failing"]) == ("degraded", 1, 1)
    assert health["name"] == "smtp.EmailBackend"

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_settings.EMAIL_PORT)
    controller.start()
    try:
        call_command("email_drain_outbox")  # up, but the backoff has not run out: nothing yet
        assert inbox.messages == []
        EmailOutbox.objects.update(next_attempt_at=timezone.now())  # the backoff runs out

        call_command("email_drain_outbox")
        call_command("email_drain_outbox")  # a second drain finds nothing to send
    finally:
        controller.stop()

    (received,) = inbox.messages
    assert received["Message-ID"] == answer["message"]["email_message_id"]
    assert received["In-Reply-To"] == GMAIL_ID
    assert received["To"] == "ana@example.com"
    assert f"[HD-{ticket.id:06d}]" in received["Subject"]
    text = received.get_body(("plain",)).get_content().replace("\r\n", "\n")  # CRLF on the wire
    assert text.startswith("Hi Ana,\na new jar ships today.")
    assert "a new jar ships today." in received.get_body(("html",)).get_content()
    assert not EmailOutbox.objects.exists()
    assert Message.objects.get(pk=answer["message"]["id"]).sent_at is not None
    health = outsider.get("/health").json()["checks"]["email"]
    assert (health["status"], health["outbox_depth"]) == ("ok", 0)


def test_the_drain_command_reports_what_it_sent(api, capsys):
    ticket = emailed_ticket()
    reply(api, ticket, "On its way.")  # not committed in this test: still in the outbox

    call_command("email_drain_outbox")

    assert "Sent 1, failed 0, 0 waiting in the e-mail outbox." in capsys.readouterr().out
    assert len(mail.outbox) == 1


# --- Amazon SES through django-anymail, down then up (the session's moto server) ---------------


def test_an_ses_outage_delays_the_reply_which_is_sent_once_when_it_ends(
    api, settings, dynamodb_server, django_capture_on_commit_callbacks
):
    import boto3

    ses = boto3.client("ses", region_name="eu-west-2", endpoint_url=dynamodb_server.url)
    ses.verify_email_identity(EmailAddress="support@localhost")
    sent_before = ses.get_send_quota()["SentLast24Hours"]
    settings.EMAIL_BACKEND = "anymail.backends.amazon_ses.EmailBackend"
    client_params = {
        "region_name": "eu-west-2",
        # One try per send: the outbox does the retrying (botocore's own retries would only
        # hold the request).
        "config": {"retries": {"total_max_attempts": 1}, "connect_timeout": 2},
    }
    settings.ANYMAIL = {
        "AMAZON_SES_CLIENT_PARAMS": {
            **client_params,
            "endpoint_url": f"http://127.0.0.1:{free_port()}",
        }
    }
    ticket = emailed_ticket()

    with django_capture_on_commit_callbacks(execute=True):
        answer = reply(api, ticket, "A new jar ships today.")  # SES unreachable

    row = EmailOutbox.objects.get()
    assert row.attempts == 1 and "AnymailAPIError" in row.last_error
    assert ses.get_send_quota()["SentLast24Hours"] == sent_before

    settings.ANYMAIL = {
        "AMAZON_SES_CLIENT_PARAMS": {**client_params, "endpoint_url": dynamodb_server.url}
    }
    EmailOutbox.objects.update(next_attempt_at=timezone.now())  # the backoff runs out
    call_command("email_drain_outbox")
    call_command("email_drain_outbox")

    # One e-mail to one recipient: moto counts its To address twice for a raw send (once from
    # the request's Destination, once from the To header), so a second send would make it 4.
    assert ses.get_send_quota()["SentLast24Hours"] == sent_before + 2
    assert not EmailOutbox.objects.exists()
    assert Message.objects.get(pk=answer["message"]["id"]).sent_at is not None


def test_message_ids_stay_unique_when_a_library_seeds_random():
    """make_msgid draws on `random`; hypothesis seeds it per example, and two replies in the
    same 10 ms got one id (the unique constraint's 500). Ours come from the OS."""
    random.seed(0)
    first = new_message_id()
    random.seed(0)
    assert new_message_id() != first
    assert re.fullmatch(r"<\d+\.[0-9a-f]{24}@localhost>", first)
