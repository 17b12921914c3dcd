"""A reply that did not reach the customer, told to the agent instead of lost in a mail log.

Two ways to find out, one outcome:
1. When it is sent: the mail server refuses the customer's address for good (SMTP 5xx on every
   recipient; an e-mail service's "rejected"/"invalid" recipient status). The outbox stops
   retrying that row (retrying cannot help) and goes on with the next: one bad address never
   holds up other customers' replies. A temporary refusal (4xx) or an outage is retried as
   before.
2. Later: a delivery status notification (RFC 3464) comes back to our address, from the
   customer's mail server or the sending service (Amazon SES forwards bounces to the sender),
   naming our Message-ID (tickets/email_in.py `delivery_report`).

Then the message's e-mail status is `failed` with the server's reason (`email_error`), the
ticket's history has an `email_failed` record, and a ticket that was left waiting on the
customer (`pending`) or resolved with that reply goes back to `open`, into the queue: the
customer is not waiting for anything, they never got it. Recorded once per message, however
many reports say so.

Once the address is corrected (or the mailbox had only been full), `reply_resend` sends the same
reply again, to the customer's address as it is now (`email_resent`).
"""

from __future__ import annotations

import smtplib

from anymail.exceptions import AnymailRecipientsRefused
from django.db import transaction
from django.utils import timezone

from customers.interactions import Kind
from helpdesk.api.exceptions import Conflict
from tickets import changes, mail, services
from tickets.models import EmailOutbox, Message, Ticket

ACTOR = "system:email"
MAX_REASON = 1000
# A reply whose customer did not get it is no longer waiting on them, nor done.
REOPEN = (Ticket.Status.PENDING, Ticket.Status.RESOLVED)


def refusal_of(exc: Exception) -> str | None:
    """The mail server's words when `exc` refuses the message's recipients for good; None for
    anything that may pass on a retry (an outage, a timeout, a temporary 4xx refusal)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        answers = list(exc.recipients.values())
        if answers and all(code >= 500 for code, _ in answers):
            return "; ".join(f"{code} {_text(reply)}" for code, reply in answers)
        return None
    if isinstance(exc, AnymailRecipientsRefused):
        return str(exc).splitlines()[0] if str(exc) else "the e-mail service refused the address"
    return None


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def email_failed(*, message_id: int, reason: str, how: str, actor: str = ACTOR) -> Message:
    """Record that agent reply `message_id` did not reach its customer (`how`: `refused` when
    sent, `bounced` when a report came back), once. Returns the message."""
    reason = " ".join(reason.split())[:MAX_REASON] or "no reason given"
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("ticket__customer")
            .get(pk=message_id)
        )
        if message.email_failed_at is not None:
            return message  # already told: a second report, or the same one delivered twice
        message.email_failed_at = timezone.now()
        message.email_error = reason
        message.save(update_fields=["email_failed_at", "email_error"])
        EmailOutbox.objects.filter(message_id=message_id).delete()
        ticket = message.ticket
        to = ticket.customer.email
        changes.log_ticket_event(
            ticket,
            kind=Kind.EMAIL_FAILED,
            summary=f"{ticket.number}: the reply to {to} was not delivered ({how}): {reason}",
            actor=actor,
            data={"message_id": message.pk, "to": to, "how": how, "reason": reason},
        )
        if ticket.status in REOPEN:
            services.ticket_update(ticket=ticket, actor=actor, status=Ticket.Status.OPEN)
    return message


def reply_resend(*, message: Message, actor: str) -> Message:
    """Send a reply that was not delivered again, as it was written, to the customer's address
    as it is now, through the outbox (right after the commit, retried like any reply). Only a
    failed reply: anything else is a Conflict (409)."""
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("ticket__customer")
            .get(pk=message.pk)
        )
        if message.email_failed_at is None:
            raise Conflict(
                "Only a reply that was not delivered can be sent again.",
                fields={"message_id": [f"Its e-mail is {_email_status(message)}."]},
            )
        failed = message.email_error
        message.email_failed_at, message.email_error = None, ""
        message.sent_at, message.email_provider_id = None, ""
        message.save(
            update_fields=["email_failed_at", "email_error", "sent_at", "email_provider_id"]
        )
        mail.queue_reply(message)
        ticket = message.ticket
        to = ticket.customer.email
        changes.log_ticket_event(
            ticket,
            kind=Kind.EMAIL_RESENT,
            summary=f"{ticket.number}: the reply sent again, to {to} (not delivered before: "
            f"{failed})",
            actor=actor,
            data={"message_id": message.pk, "to": to, "previous_error": failed},
        )
    return message


def _email_status(message: Message) -> str:
    if message.role != Message.Role.AGENT or message.kind != Message.Kind.REPLY:
        return "not one: it is no agent reply"
    return "sent" if message.sent_at else "still waiting in the outbox"
