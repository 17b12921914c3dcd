"""Agent replies out as e-mail: composing them, and the outbox that sends them exactly once.

A reply is stored with its own Message-ID and an `EmailOutbox` row in the reply's transaction.
Right after the commit the row is sent through Django's e-mail API (`EMAIL_BACKEND`: the
console in development, SMTP, or Amazon SES through django-anymail in production). What fails
(SMTP refused, SES throttled or down) stays in the outbox and is retried after 5 s, 10 s, 20 s, …
(at most an hour) by `manage.py email_drain_outbox` or the scheduled Lambda task
(`helpdesk.lambda_tasks.send_email_outbox`): an outage delays a reply, never loses it. An
address the mail server refuses for good is not retried: the ticket says the reply was not
delivered, and why (tickets/delivery.py).

Never twice: a sender first claims the row (`claimed_until`, an UPDATE that only one sender can
win), sends, then marks the message sent and deletes the row in one transaction. Two drains, or a
drain racing the after-commit send, never both send it. The one gap is a process that dies after
the mail server accepted the message and before that transaction: the claim expires and the mail
is sent again, with the same Message-ID, which mail clients show as one message.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.html import escape, linebreaks

from knowledge.query import clean_subject
from tickets import delivery
from tickets.models import EmailOutbox, Message, Ticket
from tickets.satisfaction import survey_links

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 5
BACKOFF_MAX_SECONDS = 3600
# A sender holds a row this long; a sender that died releases it when this runs out.
CLAIM_SECONDS = 300


def new_message_id() -> str:
    """`<…@domain>`: our own Message-ID for a message we send (RFC 5322 §3.6.4). From the OS's
    randomness, not `email.utils.make_msgid`'s: that draws on the `random` module, which a
    library may seed (hypothesis does, per example), and two replies in the same 10 ms then got
    the same id, which the unique constraint refused (a 500)."""
    stamp = time.time_ns() // 1_000_000
    return f"<{stamp}.{secrets.token_hex(12)}@{settings.HELPDESK_EMAIL_DOMAIN}>"


def reply_subject(ticket: Ticket) -> str:
    """`Re: [HD-000123] Blender leaks`: the token threads the customer's answer back here even
    when their client drops the In-Reply-To header."""
    return f"Re: [{ticket.number}] {clean_subject(ticket.subject) or ticket.number}"


def thread_headers(ticket: Ticket, *, before: Message | None = None) -> tuple[str, str]:
    """(In-Reply-To, References) for a new message on `ticket`: the customer's last message
    with a Message-ID (else the thread's last one with any, so a thread that began through the
    API still groups in the customer's mail client)."""
    messages = Message.objects.filter(ticket=ticket).exclude(email_message_id="")
    if before is not None and before.pk:
        messages = messages.exclude(pk=before.pk)
    fields = ("email_message_id", "email_references")
    parent = (
        messages.filter(role=Message.Role.CUSTOMER).order_by("-created_at", "-id").values(*fields)
    ).first() or messages.order_by("-created_at", "-id").values(*fields).first()
    if parent is None:
        return "", ""
    references = " ".join([*parent["email_references"].split(), parent["email_message_id"]])
    return parent["email_message_id"], references


def compose(message: Message) -> EmailMultiAlternatives:
    """The e-mail for an agent reply: plain text and a simple HTML part, threaded."""
    ticket = message.ticket
    headers = {"Message-ID": message.email_message_id, "X-Helpdesk-Ticket": ticket.number}
    if message.email_in_reply_to:
        headers["In-Reply-To"] = message.email_in_reply_to
    if message.email_references:
        headers["References"] = message.email_references
    footer = f"Ticket {ticket.number}. Reply to this e-mail to add to the conversation."
    # The reply that resolves the ticket asks how it went (tickets/satisfaction.py).
    links = survey_links(ticket) if ticket.status == Ticket.Status.RESOLVED else {}
    survey = f"How did we do? Good: {links['good']}  Bad: {links['bad']}\n" if links else ""
    email = EmailMultiAlternatives(
        subject=reply_subject(ticket),
        body=f"{message.body}\n\n-- \n{footer}\n{survey}",
        from_email=settings.HELPDESK_FROM_EMAIL,
        to=[ticket.customer.email],
        reply_to=[settings.HELPDESK_FROM_EMAIL],
        headers=headers,
    )
    survey_html = (
        '<p style="font-size: small">How did we do? '
        f'<a href="{escape(links["good"])}">Good, I\'m satisfied</a> · '
        f'<a href="{escape(links["bad"])}">Bad, I\'m unsatisfied</a></p>'
        if links
        else ""
    )
    email.attach_alternative(
        '<div style="font-family: sans-serif">'
        f"{linebreaks(escape(message.body))}"
        f'<p style="color: #666; font-size: small">{escape(footer)}</p>{survey_html}</div>',
        "text/html",
    )
    return email


def queue_reply(message: Message) -> EmailOutbox:
    """In the reply's transaction: the outbox row, sent right after the commit."""
    row = EmailOutbox.objects.create(message=message)
    transaction.on_commit(lambda: email_outbox_deliver(message_ids=[message.pk]))
    return row


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0  # not sent now, retried later
    refused: int = 0  # refused for good: not retried, the ticket says so (tickets.delivery)
    remaining: int = 0  # set by email_outbox_drain only


def _claimable(now) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def email_outbox_deliver(*, message_ids: list[int] | None = None, limit: int = 100) -> SendResult:
    """Send due outbox rows (or just those of `message_ids`), oldest first.

    Stops at the first failure (the mail service is most likely down) and backs that row off.
    Never raises: what is not sent stays in the outbox.
    """
    result = SendResult()
    now = timezone.now()
    rows = EmailOutbox.objects.filter(_claimable(now)).order_by("id")
    if message_ids is not None:
        rows = rows.filter(message_id__in=message_ids)
    else:
        rows = rows.filter(next_attempt_at__lte=now)
    connection = None
    try:
        for row_id, message_id in list(rows.values_list("id", "message_id")[:limit]):
            now = timezone.now()
            won = (
                EmailOutbox.objects.filter(pk=row_id)
                .filter(_claimable(now))
                .update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
            )
            if not won:
                continue  # another sender has it
            try:
                message = Message.objects.select_related("ticket__customer").get(pk=message_id)
                email = compose(message)
                if connection is None:
                    connection = get_connection()
                    connection.open()
                sent = connection.send_messages([email])
                if not sent:
                    raise RuntimeError("the e-mail backend did not accept the message")
            except Exception as exc:
                refusal = delivery.refusal_of(exc)
                if refusal is not None:
                    # This address will never take it: the agent is told, the next row goes.
                    delivery.email_failed(message_id=message_id, reason=refusal, how="refused")
                    result.refused += 1
                    continue
                _back_off(row_id, exc)  # any other failure: keep the row, back off
                result.failed += 1
                break
            with transaction.atomic():
                Message.objects.filter(pk=message_id).update(
                    sent_at=timezone.now(), email_provider_id=provider_id(email)
                )
                EmailOutbox.objects.filter(pk=row_id).delete()
            result.sent += 1
    except Exception:
        logger.exception("E-mail outbox delivery failed; the rows wait for the next drain")
    finally:
        if connection is not None:
            try:
                connection.close()
            except Exception:
                logger.warning("Closing the e-mail connection failed", exc_info=True)
    return result


def provider_id(email: EmailMultiAlternatives) -> str:
    """The e-mail service's id for a message it accepted (django-anymail backends), without
    angle brackets; "" for SMTP and the console, which keep our Message-ID."""
    status = getattr(email, "anymail_status", None)
    found = getattr(status, "message_id", None)
    return found.strip().strip("<>")[:255] if isinstance(found, str) else ""


def provider_keys(message_id: str) -> set[str]:
    """What an e-mail service's id can be in a Message-ID it wrote: the whole id, or its local
    part (Amazon SES: `<its id@….amazonses.com>`)."""
    bare = message_id.strip("<>")
    return {bare, bare.partition("@")[0]} - {""}


def message_ids_of(ids: list[str]) -> Q:
    """Our messages that `ids` (Message-IDs as a reply or a bounce names them) can mean: ours
    as we wrote them, or as the e-mail service rewrote them."""
    provider = set().union(*(provider_keys(i) for i in ids))
    return Q(email_message_id__in=ids) | Q(email_provider_id__in=provider)


def _back_off(row_id: int, exc: Exception) -> None:
    row = EmailOutbox.objects.get(pk=row_id)
    delay = min(BACKOFF_BASE_SECONDS * 2**row.attempts, BACKOFF_MAX_SECONDS)
    EmailOutbox.objects.filter(pk=row_id).update(
        attempts=F("attempts") + 1,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        claimed_until=None,
        last_error=f"{exc.__class__.__name__}: {exc}"[:2000],
    )
    logger.warning("E-mail for message %s not sent (retry in %s s): %s", row.message_id, delay, exc)


def email_outbox_depth() -> dict[str, int]:
    """Rows waiting, and how many of them have failed at least once (for /health)."""
    rows = EmailOutbox.objects.all()
    return {"depth": rows.count(), "failing": rows.filter(attempts__gt=0).count()}


def email_outbox_drain(*, batch: int = 100, max_batches: int = 100) -> SendResult:
    """Send everything due, batch by batch, until done or a send fails."""
    total = SendResult()
    for _ in range(max_batches):
        result = email_outbox_deliver(limit=batch)
        total.sent += result.sent
        total.failed += result.failed
        total.refused += result.refused
        if result.failed or result.sent + result.refused < batch:
            break
    total.remaining = EmailOutbox.objects.count()
    return total
