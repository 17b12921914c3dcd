"""A reply that did not reach the customer is told to the agent (tickets/delivery.py): refused
for good by a real SMTP server (aiosmtpd) when sent, or bounced later (delivery status
notifications as Postfix, Gmail and qmail write them, through POST /inbound/email). The
message's e-mail status is `failed` with the server's words, the history says so once, and a
ticket left waiting on the customer goes back to the queue."""

import smtplib

import pytest
from aiosmtpd.controller import Controller
from anymail.exceptions import AnymailRecipientsRefused
from django.core import mail
from django.core.management import call_command

from customers.models import Interaction
from tests import mailshapes
from tests.factories import TicketFactory
from tests.openapi import assert_conforms
from tests.tickets.test_email_in import deliver
from tests.tickets.test_email_out import Inbox, emailed_ticket, free_port, reply
from tickets.delivery import refusal_of
from tickets.models import EmailOutbox, Message, Ticket

pytestmark = pytest.mark.django_db

UNKNOWN = "550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown"


class RefusingInbox(Inbox):
    """A mail server that refuses some addresses at RCPT TO, as Postfix does an unknown user
    (5xx) or a greylisted sender (4xx)."""

    def __init__(self, refusals: dict[str, str]):
        super().__init__()
        self.refusals = refusals

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refusals:
            return self.refusals[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def smtp_server(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()
    settings.EMAIL_TIMEOUT = 5
    inbox = RefusingInbox(
        {
            "gone@example.com": UNKNOWN,
            "busy@example.com": "450 4.2.0 <busy@example.com>: Recipient address rejected: "
            "Greylisted, try again later",
        }
    )
    controller = Controller(inbox, hostname="127.0.0.1", port=settings.EMAIL_PORT)
    controller.start()
    yield inbox
    controller.stop()


def failures(ticket) -> list[Interaction]:
    return list(Interaction.objects.filter(ticket_id=ticket.pk, kind="email_failed"))


def messages_of(client, ticket) -> list[dict]:
    response = client.get(f"/tickets/{ticket.id}/messages")
    assert_conforms(response, "GET", "/tickets/{id}/messages")
    return response.json()["results"]


# --- refused when sent ------------------------------------------------------------------------


def test_an_address_refused_for_good_is_not_retried_and_the_ticket_goes_back_to_the_queue(
    api, smtp_server, django_capture_on_commit_callbacks
):
    ticket = TicketFactory(customer__email="gone@example.com", subject="Where is my order?")

    with django_capture_on_commit_callbacks(execute=True):
        answer = reply(api, ticket, "It ships tomorrow.", status="pending")

    assert smtp_server.messages == []
    assert not EmailOutbox.objects.exists()  # never retried
    message = Message.objects.get(pk=answer["message"]["id"])
    assert message.email_failed_at is not None and message.sent_at is None
    assert message.email_error == UNKNOWN
    listed = messages_of(api, ticket)[-1]
    assert (listed["email_status"], listed["email_error"]) == ("failed", UNKNOWN)
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN  # the customer is not waiting for anything
    (failed,) = failures(ticket)
    assert failed.data == {
        "message_id": message.pk,
        "to": "gone@example.com",
        "how": "refused",
        "reason": UNKNOWN,
    }
    assert failed.summary.startswith(f"{ticket.number}: the reply to gone@example.com was not")
    status = Interaction.objects.filter(ticket_id=ticket.pk, kind="status_changed").latest("id")
    assert (status.data, status.actor) == ({"from": "pending", "to": "open"}, "system:email")


def test_a_refused_address_does_not_hold_up_the_replies_behind_it(api, smtp_server, capsys):
    gone = TicketFactory(customer__email="gone@example.com")
    ana = emailed_ticket()
    refused = reply(api, gone, "First in the outbox.")  # not committed: both wait in the outbox
    sent = reply(api, ana, "Second in the outbox.")

    call_command("email_drain_outbox")

    assert "Sent 1, failed 0, 0 waiting in the e-mail outbox. 1 refused for good" in (
        capsys.readouterr().out
    )
    (received,) = smtp_server.messages
    assert received["Message-ID"] == sent["message"]["email_message_id"]
    assert Message.objects.get(pk=refused["message"]["id"]).email_failed_at is not None
    assert Message.objects.get(pk=sent["message"]["id"]).email_failed_at is None
    assert not EmailOutbox.objects.exists()


def test_a_temporary_refusal_is_retried_not_reported(api, smtp_server):
    ticket = TicketFactory(customer__email="busy@example.com")
    answer = reply(api, ticket, "On its way.", status="pending")

    call_command("email_drain_outbox")

    row = EmailOutbox.objects.get(message_id=answer["message"]["id"])
    assert row.attempts == 1 and "(450, b'4.2.0" in row.last_error
    assert Message.objects.get(pk=row.message_id).email_failed_at is None
    assert failures(ticket) == []
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PENDING


def test_what_counts_as_refused_for_good():
    assert refusal_of(smtplib.SMTPRecipientsRefused({"a@x.com": (550, b"5.1.1 no such user")}))
    # Some recipients only deferred: another try may deliver it.
    assert (
        refusal_of(
            smtplib.SMTPRecipientsRefused(
                {"a@x.com": (550, b"5.1.1 unknown"), "b@x.com": (451, b"4.3.0 try later")}
            )
        )
        is None
    )
    assert refusal_of(AnymailRecipientsRefused()) == (
        "All message recipients were rejected or invalid"
    )
    assert refusal_of(ConnectionRefusedError(111, "Connection refused")) is None
    assert refusal_of(smtplib.SMTPSenderRefused(550, b"sender rejected", "support@x")) is None


# --- bounced later ----------------------------------------------------------------------------


@pytest.fixture
def sent_reply(api, django_capture_on_commit_callbacks):
    """Ana's ticket, answered and left pending: the reply has left (locmem)."""
    ticket = emailed_ticket()
    with django_capture_on_commit_callbacks(execute=True):
        answer = reply(api, ticket, "Hi Ana,\na new jar ships today.", status="pending")
    assert len(mail.outbox) == 1
    return ticket, answer["message"]


def test_a_bounce_tells_the_ticket_its_reply_was_not_delivered(api, inbound, sent_reply):
    ticket, sent = sent_reply

    answer = deliver(inbound, mailshapes.postfix_dsn(sent["email_message_id"]), status=202).json()

    assert answer["ignored"] == {
        "reason": "bounce",
        "detail": f"a delivery failure report: {ticket.number}'s reply was not delivered",
    }
    assert answer["ticket"]["id"] == ticket.id and answer["ticket"]["status"] == "open"
    assert answer["message"]["id"] == sent["id"]
    assert answer["message"]["email_status"] == "failed"
    reason = (
        "550 5.1.1 <ana@example.com>: Recipient address rejected: User unknown in local "
        "recipient table"
    )
    assert answer["message"]["email_error"] == reason
    assert answer["message"]["sent_at"] is not None  # it left; it did not arrive
    (failed,) = failures(ticket)
    assert (failed.data["how"], failed.data["reason"], failed.actor) == (
        "bounced",
        reason,
        "api-key:mail-relay",
    )
    assert len(mail.outbox) == 1  # a bounce is never answered
    assert Ticket.objects.count() == 1 and Message.objects.count() == 2

    # The same failure reported again (SES forwards the bounce, the MTA sends its own): once.
    again = mailshapes.postfix_dsn(sent["email_message_id"], bounce_id="<other.2@mx.example.net>")
    deliver(inbound, again, status=202)
    assert len(failures(ticket)) == 1
    assert messages_of(api, ticket)[-1]["email_status"] == "failed"


def test_a_bounce_from_the_mailbox_the_customers_address_forwards_to_counts(inbound, sent_reply):
    ticket, sent = sent_reply
    forwarded = mailshapes.postfix_dsn(
        sent["email_message_id"], final_recipient="ana.old@mail.example.net"
    )

    answer = deliver(inbound, forwarded, status=202).json()

    assert answer["message"]["email_status"] == "failed"
    assert len(failures(ticket)) == 1


@pytest.mark.parametrize("shape", ["gmail", "qmail"])
def test_gmail_and_plain_bounces_are_read_too(inbound, sent_reply, shape):
    ticket, sent = sent_reply
    if shape == "gmail":
        returned = mailshapes.gmail(
            sender="Support <support@localhost>", message_id=sent["email_message_id"]
        )
        raw, reason = mailshapes.gmail_dsn(returned), "550-5.1.1 The email account"
    else:
        raw, reason = mailshapes.qmail_bounce(sent["email_message_id"]), "failure notice"

    answer = deliver(inbound, raw, status=202).json()

    assert answer["message"]["email_status"] == "failed"
    assert answer["message"]["email_error"].startswith(reason)
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.OPEN


def test_a_resolved_ticket_is_reopened_and_a_closed_one_only_told(api, inbound, sent_reply):
    ticket, sent = sent_reply
    api.patch(f"/tickets/{ticket.id}", {"status": "closed"}, format="json")

    deliver(inbound, mailshapes.postfix_dsn(sent["email_message_id"]), status=202)

    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.CLOSED
    assert len(failures(ticket)) == 1

    other = TicketFactory(customer__email="ben@example.com")
    answer = reply(api, other, "Refunded.", status="resolved")
    deliver(
        inbound,
        mailshapes.postfix_dsn(answer["message"]["email_message_id"], recipient="ben@example.com"),
        status=202,
    )
    other.refresh_from_db()
    assert (other.status, other.resolved_at) == (Ticket.Status.OPEN, None)


def test_what_a_bounce_does_not_change(api, inbound, sent_reply):
    ticket, sent = sent_reply
    ours = sent["email_message_id"]
    # Only delayed: the mail server is still trying.
    delayed = mailshapes.postfix_dsn(
        ours, action="delayed", status="4.4.1", diagnostic="smtp; 451 4.4.1 try again later"
    )
    answer = deliver(inbound, delayed, status=202).json()
    assert answer["ignored"]["detail"].endswith("(delayed, not failed)")
    assert answer["message"]["email_status"] == "sent"
    # About another recipient than the reply's customer.
    other = mailshapes.postfix_dsn(ours, recipient="mallory@example.net")
    assert deliver(inbound, other, status=202).json()["ticket"] is None
    # A message we never sent, and a report that names none.
    assert (
        deliver(inbound, mailshapes.postfix_dsn("<not.ours@x>"), status=202).json()["ticket"]
        is None
    )
    assert deliver(inbound, mailshapes.bounce(), status=202).json()["ticket"] is None
    # An out-of-office reply quoting the headers of our mail is no delivery report.
    quoting = mailshapes.auto_reply({"Auto-Submitted": "auto-replied"})
    quoting = quoting.replace(
        b"I am out of the office until Monday.",
        f"I am out of the office.\n\n> Message-ID: {ours}\n> Hi Ana,".encode(),
    )
    assert deliver(inbound, quoting, status=202).json()["ignored"]["reason"] == "auto_submitted"

    assert failures(ticket) == []
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.PENDING
    assert messages_of(api, ticket)[-1]["email_status"] == "sent"


# --- Amazon SES rewrites the Message-ID (the session's moto server) ----------------------------


def test_through_ses_a_reply_and_a_bounce_naming_its_message_id_find_the_ticket(
    api, inbound, settings, dynamodb_server, django_capture_on_commit_callbacks
):
    import boto3

    boto3.client(
        "ses", region_name="eu-west-2", endpoint_url=dynamodb_server.url
    ).verify_email_identity(EmailAddress="support@localhost")
    settings.EMAIL_BACKEND = "anymail.backends.amazon_ses.EmailBackend"
    settings.ANYMAIL = {
        "AMAZON_SES_CLIENT_PARAMS": {
            "region_name": "eu-west-2",
            "endpoint_url": dynamodb_server.url,
        }
    }
    ticket = emailed_ticket()
    with django_capture_on_commit_callbacks(execute=True):
        answer = reply(api, ticket, "Hi Ana,\na new jar ships today.", status="pending")
    sent = Message.objects.get(pk=answer["message"]["id"])
    assert sent.sent_at is not None and sent.email_provider_id  # SES's MessageId
    # SES sent it with its own Message-ID, which is what the customer's client answers.
    rewritten = f"<{sent.email_provider_id}@eu-west-2.amazonses.com>"

    # The subject lost its [HD-…] token: the header alone threads it.
    answered = mailshapes.gmail(
        sender="Ana <ana@example.com>",
        subject="Re: your jar",
        in_reply_to=rewritten,
        text="Thanks! Which courier?",
    )
    threaded = deliver(inbound, answered, status=201).json()
    assert (threaded["created"], threaded["ticket"]["id"]) == (False, ticket.id)

    other = TicketFactory(customer__email="ben@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        answer = reply(api, other, "Refunded.", status="pending")
    sent = Message.objects.get(pk=answer["message"]["id"])
    # SES forwards the bounce to the sender, naming the message as it sent it.
    returned = f"<{sent.email_provider_id}@email.amazonses.com>"
    bounce = mailshapes.postfix_dsn(returned, recipient="ben@example.com")
    told = deliver(inbound, bounce, status=202).json()
    assert (told["ticket"]["id"], told["message"]["email_status"]) == (other.id, "failed")


# --- sent again --------------------------------------------------------------------------------


def test_a_reply_that_bounced_is_sent_again_to_the_corrected_address(
    api, inbound, sent_reply, django_capture_on_commit_callbacks
):
    ticket, sent = sent_reply
    deliver(inbound, mailshapes.postfix_dsn(sent["email_message_id"]), status=202)
    # The address was mistyped: an integration corrects it.
    api.patch(f"/customers/{ticket.customer_id}", {"email": "ana.souza@example.com"}, format="json")

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/tickets/{ticket.id}/messages/{sent['id']}/resend")

    assert response.status_code == 202, response.content
    assert_conforms(response, "POST", "/tickets/{id}/messages/{message_id}/resend")
    # Answered before the test's commit sends it (a request's own commit comes first).
    assert response.json()["message"]["email_status"] == "queued"
    assert response.json()["message"]["email_error"] == ""
    assert messages_of(api, ticket)[-1]["email_status"] == "sent"
    again = mail.outbox[-1]
    assert again.to == ["ana.souza@example.com"]
    assert again.extra_headers["Message-ID"] == sent["email_message_id"]  # the same reply
    (resent,) = Interaction.objects.filter(ticket_id=ticket.pk, kind="email_resent")
    assert resent.data["to"] == "ana.souza@example.com"
    assert resent.data["previous_error"].startswith("550 5.1.1")
    assert "the reply sent again, to ana.souza@example.com" in resent.summary
    # Delivered this time: sending it again once more is refused, and so is a non-reply.
    refused = api.post(f"/tickets/{ticket.id}/messages/{sent['id']}/resend")
    assert refused.status_code == 409
    assert refused.json()["error"]["fields"] == {"message_id": ["Its e-mail is sent."]}
    first = Message.objects.filter(ticket=ticket, role="customer").first()
    assert api.post(f"/tickets/{ticket.id}/messages/{first.pk}/resend").status_code == 409
    other = TicketFactory()
    assert api.post(f"/tickets/{other.id}/messages/{sent['id']}/resend").status_code == 404
    assert len(Interaction.objects.filter(kind="email_resent")) == 1
