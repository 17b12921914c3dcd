"""A raw e-mail (RFC 5322 / MIME, as a mail server or provider hands it over) read into what a
ticket needs: sender, subject, Message-ID and threading headers, the text, the attachments, and
whether it is noise (an auto-reply or a bounce) that must never become a ticket.

Pure: no database, no storage. The standard library's parser (`email.policy.default`) decodes
encoded-word headers (`=?utf-8?q?…?=`), RFC 2231 file names, quoted-printable and base64, and
each text part's charset. What it cannot read is an `InvalidEmail` (422) naming the problem.
"""

from __future__ import annotations

import email
import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from email import errors as email_errors
from email import policy
from email.message import EmailMessage
from email.utils import parseaddr

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation, ValidationError
from django.core.validators import validate_email
from django.utils.text import get_valid_filename

from helpdesk.api.exceptions import InvalidEmail
from helpdesk.reading import html_to_text

# A multipart without (the start of) its boundary has no parts to read: the message is broken
# (truncated, or written by a broken client), not something to guess at.
MALFORMED = (
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.MultipartInvariantViolationDefect,
)
# `<id@host>` tokens in Message-ID, In-Reply-To and References.
_MSG_ID = re.compile(r"<[^<>\s]{1,250}>")
# A References header lists the whole thread; its newest ids are the ones that can match.
MAX_REFERENCES = 100
_SPACES = re.compile(r"\s+")

AUTO_PRECEDENCE = {"bulk", "auto_reply", "junk"}
AUTO_REPLY_HEADERS = ("X-Autoreply", "X-Autorespond")
BOUNCE_SENDERS = {"mailer-daemon", "postmaster"}
# "Message-ID: <…>" as a header line in a bounce's copy of the message we sent.
_COPIED_ID = re.compile(r"^\s*Message-ID:\s*(<[^<>\s]{1,250}>)", re.IGNORECASE | re.MULTILINE)
# A plain bounce's subject that only warns: delivery is still being retried.
_DELAY = re.compile(r"\b(delay(ed)?|warning|not yet delivered|still (being )?retried)\b", re.I)


@dataclass(frozen=True)
class Ignored:
    """Why a message is noise: `reason` is a code clients branch on, `detail` says which
    header or sender decided it."""

    reason: str
    detail: str


@dataclass(frozen=True)
class Part:
    """An attachment (or inline image) as it came: decoded bytes."""

    name: str
    content_type: str
    data: bytes
    inline: bool = False
    content_id: str = ""


@dataclass(frozen=True)
class DeliveryReport:
    """What a bounce says about a message we sent (RFC 3464; tickets/delivery.py acts on it):
    that message's Message-ID, whether delivery failed for good (not `delayed`, `relayed`,
    `delivered`), the recipients it failed for (original and final; empty when the report does
    not say) and why."""

    message_id: str
    failed: bool
    recipients: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    sender: str = ""  # the From address, lower-cased
    sender_name: str = ""
    subject: str = ""
    text: str = ""  # the body: the text/plain part, else the HTML part as text
    html_only: bool = False
    attachments: list[Part] = field(default_factory=list)
    ignored: Ignored | None = None
    report: DeliveryReport | None = None  # a bounce naming the message it returns

    @property
    def thread_ids(self) -> list[str]:
        """The ids this message answers, the most direct first: In-Reply-To, then References
        from the newest back."""
        ordered = [*self.in_reply_to, *reversed(self.references)]
        return list(dict.fromkeys(ordered))


def email_parse(raw: bytes) -> ParsedEmail:
    """Read `raw`; raises InvalidEmail (422) for what cannot be a customer's e-mail."""
    if not raw.strip():
        raise InvalidEmail("The message is empty.", fields={"body": ["Send the raw message."]})
    try:
        message = email.message_from_bytes(raw, policy=policy.default)
        return _read(message, raw)
    except InvalidEmail:
        raise
    except (LookupError, UnicodeError, ValueError, TypeError, IndexError, AttributeError) as exc:
        # The parser is lenient, but a header too broken for its header classes raises one of
        # these when read: the message is malformed, never a 500.
        raise InvalidEmail(
            "The message could not be read.", fields={"message": [_describe(exc)]}
        ) from None


def _read(message: EmailMessage, raw: bytes) -> ParsedEmail:
    if not message.keys():
        raise InvalidEmail(
            "Not an e-mail: no header lines.",
            fields={"message": ["An RFC 5322 message starts with header lines (From:, …)."]},
        )
    for part in message.walk():
        broken = [d for d in part.defects if isinstance(d, MALFORMED)]
        if broken:
            raise InvalidEmail(
                "Malformed MIME: a multipart part without its boundary.",
                fields={"message": [type(d).__name__ for d in broken]},
            )

    sender, sender_name = _from(message)
    message_id = _message_id(message, raw)
    ignored = noise(message, sender)
    if ignored is not None:
        report = delivery_report(message, bounce=ignored.reason == "bounce")
        if report is not None and ignored.reason != "bounce":
            # Exchange and Gmail mark their delivery reports Auto-Submitted too.
            ignored = Ignored("bounce", "a delivery status notification")
        return ParsedEmail(message_id=message_id, sender=sender, ignored=ignored, report=report)
    if not sender:
        raise InvalidEmail(
            "The message has no sender address.",
            fields={"From": ["A From header with an address is required."]},
        )

    body = message.get_body(preferencelist=("plain", "html"))
    text, html_only = "", False
    body_parts: list[EmailMessage] = []
    if body is not None:
        body_parts.append(body)
        text = _text_of(body)
        if body.get_content_subtype() == "html":
            text, html_only = html_to_text(text), True
        elif body.get_content_subtype() == "plain":
            # Apple Mail splits the text around an inline image into several text/plain parts.
            for extra in _loose_text_parts(message, body):
                body_parts.append(extra)
                text = f"{text.rstrip()}\n\n{_text_of(extra).strip()}"
    return ParsedEmail(
        message_id=message_id,
        in_reply_to=_ids(message, "In-Reply-To"),
        references=_ids(message, "References")[-MAX_REFERENCES:],
        sender=sender,
        sender_name=sender_name,
        subject=_clean(_SPACES.sub(" ", _header(message, "Subject")).strip()),
        text=_clean(text.strip()),
        html_only=html_only,
        attachments=_attachments(message, body_parts),
    )


def noise(message: EmailMessage, sender: str) -> Ignored | None:
    """Auto-replies, bounces and our own mail: accepted, never a ticket, never answered (RFC
    3834's Auto-Submitted; the de-facto Precedence and X-Autoreply headers; DSNs, RFC 3464)."""
    auto = _header(message, "Auto-Submitted").strip().lower()
    if auto and auto != "no":
        return Ignored("auto_submitted", f"Auto-Submitted: {auto}"[:200])
    precedence = _header(message, "Precedence").strip().lower()
    if precedence in AUTO_PRECEDENCE:
        return Ignored("auto_reply", f"Precedence: {precedence}")
    for name in AUTO_REPLY_HEADERS:
        if name in message:
            return Ignored("auto_reply", f"{name} header")
    if message.get_content_type() == "multipart/report":
        return Ignored("bounce", "a delivery or read report (multipart/report)")
    if _header(message, "Return-Path").strip() == "<>":
        return Ignored("bounce", "an empty Return-Path (a delivery status notification)")
    local = sender.partition("@")[0]
    if local in BOUNCE_SENDERS:
        return Ignored("bounce", f"sent by {local}")
    if sender and sender == own_address():
        return Ignored("own_address", "sent from the helpdesk's own address")
    if "X-Helpdesk-Ticket" in message:
        return Ignored("own_message", "an e-mail this helpdesk sent (X-Helpdesk-Ticket)")
    return None


def delivery_report(message: EmailMessage, *, bounce: bool) -> DeliveryReport | None:
    """The message a bounce returns, and what happened to it: from the delivery-status part of
    a DSN (RFC 3464: Postfix, Exchange, Gmail, Amazon SES) with the returned message or its
    headers beside it; for a `bounce` (a mailer-daemon's, or with an empty Return-Path) without
    one, from a copy of the message's headers in its text (qmail's "Below this line is a copy
    of the message"). None when it names none: an out-of-office reply that quotes our mail is
    no report of anything."""
    original, copied, recipients, failed, reasons, reported = "", "", [], False, [], False
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            reported = True
            for block in part.get_payload():
                action = _header(block, "Action").strip().lower()
                if action != "failed":
                    continue
                failed = True
                # Both: a forwarding mailbox bounces with our customer's address as the
                # Original-Recipient and the one it forwards to as the Final-Recipient.
                for name in ("Original-Recipient", "Final-Recipient"):
                    address = _header(block, name).partition(";")[2].strip().strip("<>").lower()
                    if address:
                        recipients.append(_clean(address))
                diagnostic = _header(block, "Diagnostic-Code").partition(";")[2]
                status = _header(block, "Status").strip()
                reasons.append(_SPACES.sub(" ", diagnostic).strip() or f"status {status}")
        elif not original and content_type in ("message/rfc822", "text/rfc822-headers"):
            original = _returned_id(part)
        elif not copied and content_type == "text/plain" and not _is_attachment(part):
            found = _COPIED_ID.search(_report_text(part))
            copied = _clean(found.group(1)) if found else ""
    original = original or copied
    if not original or not (reported or bounce):
        return None
    if not reported:  # a plain-text bounce: only its subject says what it is
        subject = _SPACES.sub(" ", _header(message, "Subject")).strip()
        failed = not _DELAY.search(subject)
        reasons = [_clean(subject) or "returned by a mail server"]
    reason = "; ".join(dict.fromkeys(_clean(r) for r in reasons))
    return DeliveryReport(original, failed, tuple(dict.fromkeys(recipients)), reason)


def _returned_id(part: EmailMessage) -> str:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload(0)
        headers = _header(inner, "Message-ID") if isinstance(inner, EmailMessage) else ""
        found = _MSG_ID.search(headers)
    else:
        found = _COPIED_ID.search(_report_text(part))
        found = _MSG_ID.search(found.group(1)) if found else None
    return _clean(found.group(0)) if found else ""


def _report_text(part: EmailMessage) -> str:
    try:
        return _text_of(part)
    except InvalidEmail:  # an unknown charset: a bounce is never refused for it
        return ""


def own_address() -> str:
    return parseaddr(settings.HELPDESK_FROM_EMAIL)[1].strip().lower()


def _header(message: EmailMessage, name: str) -> str:
    value = message.get(name)
    return "" if value is None else str(value)


def _from(message: EmailMessage) -> tuple[str, str]:
    header = message.get("From")
    if header is None:
        return "", ""
    for address in getattr(header, "addresses", ()):
        candidate = _clean(f"{address.username}@{address.domain}".strip().lower())
        if address.username and address.domain and _valid_address(candidate):
            return candidate, _clean(address.display_name or "")[:200]
    name, addr = parseaddr(str(header))
    addr = _clean(addr.strip().lower())
    return (addr, _clean(name)[:200]) if _valid_address(addr) else ("", "")


def _valid_address(address: str) -> bool:
    if len(address) > 254:
        return False
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


def _message_id(message: EmailMessage, raw: bytes) -> str:
    """The message's own id, `<…>`. A message without one gets an id from its bytes, so that
    delivering the same bytes twice is still one message."""
    found = _MSG_ID.search(_header(message, "Message-ID"))
    if found:
        return _clean(found.group(0))
    return f"<{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id.invalid>"


def _ids(message: EmailMessage, name: str) -> list[str]:
    return [_clean(i) for i in _MSG_ID.findall(_header(message, name))]


def _text_of(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except LookupError:
        charset = part.get_content_charset() or "?"
        raise InvalidEmail(
            f"Unknown charset {charset!r}: the text cannot be read.",
            fields={"charset": [f"Unknown charset {charset!r}."]},
        ) from None
    return content if isinstance(content, str) else content.decode("utf-8", "replace")


def _leaves(part: EmailMessage, alternative: bool = False):
    """Each leaf part with whether it is one of several renderings (multipart/alternative).
    A forwarded message (message/rfc822) is one leaf: it is kept whole, as a file."""
    if part.get_content_type() == "message/rfc822" or not part.is_multipart():
        yield part, alternative
        return
    # Everything below an alternative is a rendering (Apple Mail: text | related(html, image)).
    inner = alternative or part.get_content_subtype() == "alternative"
    for sub in part.iter_parts():
        yield from _leaves(sub, inner)


def _is_attachment(part: EmailMessage) -> bool:
    return part.get_content_disposition() == "attachment" or bool(part.get_filename())


def _loose_text_parts(message: EmailMessage, body: EmailMessage) -> list[EmailMessage]:
    return [
        part
        for part, alternative in _leaves(message)
        if part is not body
        and not alternative
        and part.get_content_type() == "text/plain"
        and not _is_attachment(part)
    ]


def _attachments(message: EmailMessage, body_parts: list[EmailMessage]) -> list[Part]:
    found = []
    for number, (part, alternative) in enumerate(_leaves(message), start=1):
        if any(part is body for body in body_parts):
            continue
        if alternative and part.get_content_maintype() == "text" and not _is_attachment(part):
            continue  # another rendering of the body (the HTML of a text/plain mail)
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            inner = part.get_payload(0)
            data = inner.as_bytes() if isinstance(inner, EmailMessage) else b""
        else:
            data = part.get_payload(decode=True) or b""
        content_id = _MSG_ID.search(_header(part, "Content-ID"))
        found.append(
            Part(
                name=_file_name(part, number, content_type),
                content_type=content_type[:255],
                data=data,
                inline=part.get_content_disposition() == "inline"
                or (content_id is not None and not _is_attachment(part)),
                content_id=_clean(content_id.group(0)[1:-1]) if content_id else "",
            )
        )
    return found


def _file_name(part: EmailMessage, number: int, content_type: str) -> str:
    name = _clean(part.get_filename() or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()  # never a path
    if content_type == "message/rfc822" and not name:
        name = f"forwarded-{number}.eml"
    if not name:
        name = f"part-{number}{mimetypes.guess_extension(content_type) or '.bin'}"
    stem, dot, extension = name.rpartition(".")
    if len(name) > 200:
        name = f"{stem[:190]}{dot}{extension[:9]}" if dot else name[:200]
    try:
        return get_valid_filename(name)
    except SuspiciousFileOperation:  # nothing usable left (".." and the like)
        return f"part-{number}{mimetypes.guess_extension(content_type) or '.bin'}"


def _clean(text: str) -> str:
    """Text Postgres can store: undecodable bytes (kept by the parser as surrogates) become
    U+FFFD, NULs go."""
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte
        data = text.encode("utf-8", "replace")
    return data.decode("utf-8", "replace").replace("\x00", "")


def _describe(exc: Exception) -> str:
    return f"{exc.__class__.__name__}: {exc}"[:300]
