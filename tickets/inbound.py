"""E-mail in: one service, `email_receive`, that every inbound path calls (POST /inbound/email
with a raw message; provider webhooks and the Lambda's S3 event hand it the same bytes).

1. Read the message (tickets/email_in.py): a message that cannot be read is a 422, nothing
   written. Noise (auto-replies, bounces, our own mail) is accepted and ignored: no ticket, no
   reply, so two auto-responders never talk to each other through us. A bounce of one of our
   replies tells its ticket that the customer did not get it (tickets/delivery.py).
2. The same Message-ID twice is one message: the second delivery answers the first's ticket and
   message (`duplicate`). A database constraint holds it under concurrent deliveries too.
3. Threading: In-Reply-To / References naming a stored Message-ID (ours or the customer's)
   first, then the `[HD-000123]` token in the subject (only from that ticket's customer: the
   token is guessable, a Message-ID is not), else a new ticket for the sender (the customer
   upserted by address, the name from the From header). A ticket merged into another
   (`merged_into`) hands its replies to that one.
4. An answer on a ticket is a customer follow-up (tickets/services.py `message_create`: it
   reopens a pending or resolved ticket and re-ranks the suggestions); an answer on a closed
   ticket starts a new ticket linked to it (`follow_up_of`), as Zendesk does.
5. Attachments are stored through Django's storage API in the message's transaction; a file over
   INBOUND_MAX_ATTACHMENT_BYTES is recorded without its content. If the transaction fails, the
   files it stored are deleted: nothing is half-written.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError

from helpdesk.api.exceptions import InvalidEmail
from helpdesk.reading.quotes import strip_quote
from helpdesk.reading.text import join_lines, normalise_lines
from tickets import selectors
from tickets.delivery import email_failed
from tickets.email_in import DeliveryReport, Ignored, ParsedEmail, Part, email_parse
from tickets.mail import message_ids_of, provider_keys
from tickets.models import Attachment, Message, Suggestion, Ticket
from tickets.serializers import suggestion_json
from tickets.services import message_create, ticket_create

logger = logging.getLogger(__name__)

# `[HD-000123]` as our replies' subjects carry it (tickets/mail.py `reply_subject`).
SUBJECT_TOKEN = re.compile(r"\[HD-(\d{1,18})\]")
NO_SUBJECT = "(no subject)"


@dataclass
class EmailReceived:
    """What happened to an inbound message. `status_code`: 201 stored, 200 a duplicate
    delivery, 202 ignored (noise)."""

    status_code: int
    ticket: Ticket | None = None
    message: Message | None = None
    created: bool = False  # a new ticket
    duplicate: bool = False
    ignored: Ignored | None = None
    follow_up_of: Ticket | None = None
    suggestions: list[dict] = field(default_factory=list)
    suggestions_note: str = ""  # why the round is what it is (another language than the KB's)
    # Triage's answer, as POST /tickets (a new ticket) or POST /tickets/{id}/messages (a
    # customer's follow-up) give it; None for a duplicate delivery or noise.
    triage: dict | None = None
    degraded: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def email_receive(*, raw: bytes, actor: str) -> EmailReceived:
    """Thread one raw RFC 822 message onto its ticket, or open a new one (module docstring)."""
    parsed = email_parse(raw)
    if parsed.ignored is not None:
        if parsed.report is not None:
            returned = _returned(parsed.report, actor)
            if returned is not None:
                return returned
        logger.info("Inbound e-mail ignored (%s): %s", parsed.ignored.reason, parsed.ignored.detail)
        return EmailReceived(202, ignored=parsed.ignored)

    earlier = _stored(parsed.message_id)
    if earlier is not None:
        return _duplicate(earlier)

    notes: list[str] = []
    body = _body(parsed, notes)
    target = _thread(parsed)
    fields = {
        "email_message_id": parsed.message_id,
        "email_in_reply_to": " ".join(parsed.in_reply_to)[:255],
        "email_references": " ".join(parsed.references),
        "sender_address": parsed.sender,
    }
    stored_files: list[str] = []
    attachments: list[Attachment] = []
    first: list[Message] = []

    def on_message(message: Message) -> None:
        first.append(message)
        attachments.extend(_store_attachments(message, parsed.attachments, stored_files, notes))

    try:
        if target is not None and target.status != Ticket.Status.CLOSED:
            posted = message_create(
                ticket=target,
                kind=Message.Kind.REPLY,
                role=Message.Role.CUSTOMER,
                body=body,
                actor=actor,
                channel=Ticket.Channel.EMAIL,
                message_fields=fields,
                on_message=on_message,
            )
            ticket = selectors.ticket_get(ticket_id=target.id)
            return EmailReceived(
                201,
                ticket=ticket,
                message=posted.message,
                suggestions=[_suggestion(s) for s in posted.suggestions],
                suggestions_note=posted.suggestions_note,
                triage=posted.triage,
                degraded=posted.degraded,
                attachments=attachments,
                notes=notes,
            )
        follow_up_of = target  # None, or a closed ticket this message answers
        created = ticket_create(
            payload={
                "customer": {"email": parsed.sender, "name": parsed.sender_name},
                "subject": parsed.subject[:255] or NO_SUBJECT,
                "body": body,
                "channel": Ticket.Channel.EMAIL,
                "metadata": {"follow_up_of": follow_up_of.number} if follow_up_of else {},
            },
            actor=actor,
            follow_up_of=follow_up_of,
            message_fields=fields,
            on_message=on_message,
        )
    except IntegrityError:
        _delete(stored_files)
        earlier = _stored(parsed.message_id)
        if earlier is not None:  # a concurrent delivery of the same message won
            return _duplicate(earlier)
        raise
    except BaseException:
        _delete(stored_files)
        raise
    ticket = selectors.ticket_get(ticket_id=created.body["ticket"]["id"])
    return EmailReceived(
        201,
        ticket=ticket,
        message=first[0],
        created=True,
        follow_up_of=follow_up_of,
        suggestions=created.body["suggestions"],
        suggestions_note=created.body["triage"]["suggestions_note"],
        triage=created.body["triage"],
        degraded=created.body["degraded"],
        attachments=attachments,
        notes=notes,
    )


def email_receive_s3_event(event: dict) -> dict:
    """SES's "store in S3" receipt action: each ObjectCreated record under INBOUND_S3_PREFIX is
    one raw message, read from the bucket and received as POST /inbound/email would. Keys come
    URL-encoded. A message that cannot be read is logged and left in the bucket."""
    from helpdesk.aws import error_code, s3_client

    prefix = settings.INBOUND_S3_PREFIX
    client = None
    messages = []
    for record in event.get("Records", []):
        s3 = record.get("s3", {})
        bucket = s3.get("bucket", {}).get("name", "")
        key = unquote_plus(s3.get("object", {}).get("key", ""))
        outcome: dict = {"key": key}
        messages.append(outcome)
        if not str(record.get("eventName", "")).startswith("ObjectCreated") or not key:
            outcome["status"] = "skipped"
            continue
        if not key.startswith(prefix):
            logger.info("Skipping s3://%s/%s: outside the inbound prefix %s", bucket, key, prefix)
            outcome["status"] = "skipped"
            continue
        client = client or s3_client()
        try:
            head = client.head_object(Bucket=bucket, Key=key)
            if head["ContentLength"] > settings.INBOUND_MAX_REQUEST_BYTES:
                logger.warning("s3://%s/%s is over INBOUND_MAX_REQUEST_BYTES", bucket, key)
                outcome["status"] = "too_large"
                continue
            raw = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                outcome["status"] = "missing"  # deleted before its notification arrived
                continue
            raise
        try:
            received = email_receive(raw=raw, actor="ses:s3")
        except InvalidEmail as exc:
            logger.warning("s3://%s/%s is not a readable e-mail: %s", bucket, key, exc.message)
            outcome.update(status="invalid", error=exc.message)
            continue
        outcome.update(
            status=(
                "ignored" if received.ignored else "duplicate" if received.duplicate else "stored"
            ),
            ticket=received.ticket.id if received.ticket else None,
            message=received.message.id if received.message else None,
        )
        if received.ignored:
            outcome["reason"] = received.ignored.reason
    return {"status": "ok", "messages": messages}


def _returned(report: DeliveryReport, actor: str) -> EmailReceived | None:
    """A bounce of one of our replies: the ticket is told (tickets/delivery.py). None when the
    report names no reply of ours, or another recipient than that reply's customer."""
    reply = (
        Message.objects.filter(message_ids_of([report.message_id]))
        .filter(role=Message.Role.AGENT, kind=Message.Kind.REPLY)
        .select_related("ticket__customer")
        .first()
    )
    if reply is None:
        return None
    ticket = reply.ticket
    if report.recipients and ticket.customer.email.lower() not in report.recipients:
        logger.warning(
            "A delivery report for %s's reply names other recipients: %s",
            ticket.number,
            ", ".join(report.recipients),
        )
        return None
    if report.failed:
        reply = email_failed(message_id=reply.pk, reason=report.reason, how="bounced", actor=actor)
        detail = f"a delivery failure report: {ticket.number}'s reply was not delivered"
    else:
        detail = f"a delivery report for {ticket.number}'s reply (delayed, not failed)"
    logger.info("Inbound e-mail: %s", detail)
    return EmailReceived(
        202,
        ticket=selectors.ticket_get(ticket_id=ticket.pk),
        message=reply,
        ignored=Ignored("bounce", detail),
    )


def _stored(message_id: str) -> Message | None:
    return (
        Message.objects.filter(email_message_id=message_id)
        .select_related("ticket__customer")
        .first()
    )


def _duplicate(message: Message) -> EmailReceived:
    if message.role != Message.Role.CUSTOMER:
        # One of our own replies came back in (a forwarding loop): never a customer message.
        return EmailReceived(
            202, ignored=Ignored("own_message", "the Message-ID of an e-mail this helpdesk sent")
        )
    return EmailReceived(
        200,
        ticket=selectors.ticket_get(ticket_id=message.ticket_id),
        message=message,
        duplicate=True,
        attachments=list(message.attachments.all()),
    )


def _body(parsed: ParsedEmail, notes: list[str]) -> str:
    """The message's text as stored: within TICKET_BODY_MAX_BYTES; never empty."""
    text = parsed.text
    if text and not join_lines(strip_quote(normalise_lines(text))[0]) and not parsed.attachments:
        raise InvalidEmail(
            "The message has only quoted text: there is nothing new in it.",
            fields={"body": ["Only quoted earlier messages; no new text."]},
        )
    if not text and parsed.attachments:
        text = "[" + ", ".join(f"attachment: {p.name}" for p in parsed.attachments) + "]"
    if not text:
        if not parsed.subject:
            raise InvalidEmail(
                "The message has neither text nor a subject.",
                fields={"body": ["Empty."], "Subject": ["Empty."]},
            )
        text = parsed.subject  # a "see the subject" e-mail
    limit = settings.TICKET_BODY_MAX_BYTES
    data = text.encode()
    if len(data) > limit:
        text = data[:limit].decode("utf-8", "ignore")
        notes.append(f"The text was cut at {limit} bytes (TICKET_BODY_MAX_BYTES).")
    return text


def _thread(parsed: ParsedEmail) -> Ticket | None:
    """The ticket this message answers, or None for a new conversation."""
    ids = parsed.thread_ids
    if ids:
        found = {}
        for ours, provider, ticket_id in Message.objects.filter(message_ids_of(ids)).values_list(
            "email_message_id", "email_provider_id", "ticket_id"
        ):
            found[ours] = ticket_id
            if provider:  # as the e-mail service sent it (SES: `<provider@….amazonses.com>`)
                found[provider] = ticket_id
        for message_id in ids:  # the most direct reference wins
            keys = [message_id, *provider_keys(message_id)]
            ticket_id = next((found[key] for key in keys if key in found), None)
            if ticket_id is not None:
                return _merged_end(Ticket.objects.select_related("customer").get(pk=ticket_id))
    token = SUBJECT_TOKEN.search(parsed.subject)
    if token and int(token.group(1)) < 2**63:
        ticket = Ticket.objects.select_related("customer").filter(pk=int(token.group(1))).first()
        if ticket is not None and ticket.customer.email == parsed.sender:
            return _merged_end(ticket)
    return None


MERGE_HOPS = 20  # a chain of merges longer than this is followed no further


def _merged_end(ticket: Ticket) -> Ticket:
    """The ticket a merged one went into (followed along a chain of merges), else itself: a
    reply to a duplicate's e-mail joins the conversation it was merged into."""
    for _ in range(MERGE_HOPS):
        if ticket.merged_into_id is None:
            break
        ticket = Ticket.objects.select_related("customer").get(pk=ticket.merged_into_id)
    return ticket


def _store_attachments(
    message: Message, parts: list[Part], stored_files: list[str], notes: list[str]
) -> list[Attachment]:
    limit = settings.INBOUND_MAX_ATTACHMENT_BYTES
    rows = []
    for part in parts:
        row = Attachment(
            message=message,
            name=part.name,
            content_type=part.content_type,
            size=len(part.data),
            inline=part.inline,
            content_id=part.content_id[:255],
        )
        if len(part.data) > limit:
            row.skipped = f"over INBOUND_MAX_ATTACHMENT_BYTES ({limit} bytes)"
            notes.append(f"{part.name} ({len(part.data)} bytes) was not stored: {row.skipped}.")
        else:
            row.file.save(part.name, ContentFile(part.data), save=False)
            stored_files.append(row.file.name)
        row.save()
        rows.append(row)
    return rows


def _delete(names: list[str]) -> None:
    storage = Attachment._meta.get_field("file").storage
    for name in names:
        try:
            storage.delete(name)
        except Exception:
            logger.warning("Could not delete the stored attachment %s", name, exc_info=True)


def _suggestion(suggestion: Suggestion) -> dict:
    return suggestion_json(suggestion)
