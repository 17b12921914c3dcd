"""Raw e-mails shaped the way Gmail, Outlook and Apple Mail write them, built with the standard
library's `email` package: multipart/alternative (text + HTML), quoted-printable bodies, base64
attachments, `=?utf-8?…?=` subjects and names, and each client's way of quoting ("On … wrote:",
"-----Original Message-----", Apple's "> On … at …, … wrote:").

Used by tests/tickets/test_email_in.py and bench/ (the `inbound-1` scenario)."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

DATE = datetime(2026, 12, 4, 10, 2, tzinfo=UTC)
TO = "Support <support@localhost>"


def _base(
    *, sender: str, subject: str, message_id: str | None, domain: str, in_reply_to: str = ""
) -> EmailMessage:
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = TO
    message["Subject"] = subject
    message["Date"] = format_datetime(DATE)
    message["Message-ID"] = message_id or make_msgid(domain=domain)
    message["MIME-Version"] = "1.0"
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    return message


def gmail(
    *,
    sender: str = "Jürgen Müller <jurgen@example.com>",
    subject: str = "Blender arrived broken — refund?",
    text: str = "Hi,\n\nmy blender arrived with a cracked jar. How do I get my money back?\n\n"
    "Thanks,\nJürgen",
    quote: str = "",
    in_reply_to: str = "",
    message_id: str | None = None,
    attachments: list[tuple[str, str, bytes]] = (),
) -> bytes:
    """Gmail: multipart/alternative (text/plain + text/html, UTF-8, quoted-printable), inside
    multipart/mixed with base64 attachments; a reply quotes "On …, … wrote:" and `> ` lines."""
    message = _base(
        sender=sender,
        subject=subject,
        message_id=message_id,
        domain="mail.gmail.com",
        in_reply_to=in_reply_to,
    )
    body = text
    html = '<div dir="ltr">' + "<br>".join(text.split("\n")) + "</div>"
    if quote:
        quoted = "\n".join(f"> {line}" if line else ">" for line in quote.split("\n"))
        body += f"\n\nOn Fri, 4 Dec 2026 at 10:02, Support <support@localhost> wrote:\n\n{quoted}\n"
        html += (
            '<br><div class="gmail_quote"><div class="gmail_attr">On Fri, 4 Dec 2026 at 10:02,'
            " Support &lt;support@localhost&gt; wrote:<br></div>"
            f'<blockquote class="gmail_quote">{"<br>".join(quote.split(chr(10)))}</blockquote>'
            "</div>"
        )
    message.set_content(body, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    for name, content_type, data in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


def outlook(
    *,
    sender: str = "Priya Raman <priya@example.org>",
    subject: str = "Payment declined at checkout",
    text: str = "Hello,\r\n\r\nMy card keeps getting declined when I try to pay. "
    "The bank says everything is fine.\r\n\r\nKind regards,\r\nPriya",
    quote: str = "",
    quote_subject: str = "",
    in_reply_to: str = "",
    message_id: str | None = None,
) -> bytes:
    """Outlook: multipart/alternative, text/plain `us-ascii`/UTF-8 quoted-printable and a Word
    HTML part; a reply quotes below "-----Original Message-----" and a From/Sent/To/Subject
    block; Thread-Index header; often no In-Reply-To when the thread began elsewhere."""
    message = _base(
        sender=sender,
        subject=subject,
        message_id=message_id,
        domain="AM0PR01MB1234.eurprd01.prod.outlook.com",
        in_reply_to=in_reply_to,
    )
    message["Thread-Index"] = "AQHZ1a2b3c4d5e6f7g8h9i0j=="
    message["X-MS-Has-Attach"] = ""
    body = text
    if quote:
        body += (
            "\r\n\r\n-----Original Message-----\r\nFrom: Support <support@localhost>\r\n"
            "Sent: Friday, December 4, 2026 10:02 AM\r\nTo: Priya Raman <priya@example.org>\r\n"
            f"Subject: {quote_subject}\r\n\r\n{quote}\r\n"
        )
    message.set_content(body, cte="quoted-printable")
    html = (
        '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head><meta http-equiv='
        '"Content-Type" content="text/html; charset=utf-8"></head><body lang="EN-GB">'
        '<div class="WordSection1">'
        + "".join(f'<p class="MsoNormal">{line}<o:p></o:p></p>' for line in body.split("\r\n"))
        + "</div></body></html>"
    )
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    return message.as_bytes()


def apple_mail(
    *,
    sender: str = "Tom Okafor <tom@example.net>",
    subject: str = "Coffee machine descaling",
    text: str = "How often should I descale the coffee machine? The light keeps blinking.",
    quote: str = "",
    in_reply_to: str = "",
    message_id: str | None = None,
    inline_image: bytes | None = None,
) -> bytes:
    """Apple Mail: multipart/alternative whose HTML side is multipart/related with an inline
    image (Content-Disposition: inline, Content-ID); a reply quotes "> On 4 Dec 2026, at 10:02,
    … wrote:"; "Sent from my iPhone"."""
    message = _base(
        sender=sender,
        subject=subject,
        message_id=message_id,
        domain="icloud.com",
        in_reply_to=in_reply_to,
    )
    body = f"{text}\n\nSent from my iPhone"
    if quote:
        quoted = "\n".join(f"> {line}" for line in quote.split("\n"))
        body += f"\n\n> On 4 Dec 2026, at 10:02, Support <support@localhost> wrote:\n> \n{quoted}\n"
    message.set_content(body, cte="quoted-printable")
    html = f"<html><body><div>{text}</div>"
    if inline_image is not None:
        html += '<div><img src="cid:photo-1@icloud.com" alt="photo"></div>'
    html += "<div>Sent from my iPhone</div></body></html>"
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    if inline_image is not None:
        html_part = message.get_payload()[1]
        html_part.add_related(
            inline_image,
            maintype="image",
            subtype="png",
            cid="<photo-1@icloud.com>",
            disposition="inline",
            filename="IMG_0001.png",
        )
    return message.as_bytes()


def html_only(
    *, sender: str = "web@example.com", subject: str = "Order tracking", html: str = ""
) -> bytes:
    message = _base(sender=sender, subject=subject, message_id=None, domain="example.com")
    message.set_content(
        html
        or "<html><body><p>Where is my <b>order</b>?</p><p>The tracking page shows nothing "
        "since Monday.</p></body></html>",
        subtype="html",
        cte="base64",
    )
    return message.as_bytes()


def auto_reply(headers: dict[str, str], *, sender: str = "Ana <ana@example.com>") -> bytes:
    message = _base(
        sender=sender, subject="Out of office: Re: [HD-000001]", message_id=None, domain="x.com"
    )
    for name, value in headers.items():
        message[name] = value
    message.set_content("I am out of the office until Monday.")
    return message.as_bytes()


def bounce() -> bytes:
    """A delivery status notification (RFC 3464), as Postfix writes one."""
    message = _base(
        sender="Mail Delivery System <MAILER-DAEMON@mx.example.com>",
        subject="Undelivered Mail Returned to Sender",
        message_id=None,
        domain="mx.example.com",
    )
    message.set_content("I'm sorry to have to inform you that your message could not be delivered.")
    message.add_attachment(
        "Reporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; x@example.com\n"
        "Action: failed\nStatus: 5.1.1\n",
        subtype="plain",
        disposition="inline",
    )
    message.set_type("multipart/report")
    message.set_param("report-type", "delivery-status")
    return message.as_bytes()


def postfix_dsn(
    returned_id: str,
    *,
    recipient: str = "ana@example.com",
    final_recipient: str = "",
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <ana@example.com>: Recipient address\r\n"
    "    rejected: User unknown in local recipient table",
    bounce_id: str = "<20261207100001.4F1@mx.example.net>",
) -> bytes:
    """A delivery status notification (RFC 3464) as Postfix returns one: the notice, the
    delivery-status part, the returned message's headers (text/rfc822-headers). A
    `final_recipient`: the address `recipient` forwards to bounced."""
    lines = [
        "Return-Path: <>",
        "Date: Mon,  7 Dec 2026 10:00:01 +0000 (UTC)",
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)",
        "Subject: Undelivered Mail Returned to Sender",
        "To: support@localhost",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="4F1/mx"',
        f"Message-Id: {bounce_id}",
        "",
        "This is a MIME-encapsulated message.",
        "",
        "--4F1/mx",
        "Content-Description: Notification",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "This is the mail system at host mx.example.net.",
        "",
        "I'm sorry to have to inform you that your message could not",
        "be delivered to one or more recipients. It's attached below.",
        "",
        "--4F1/mx",
        "Content-Description: Delivery report",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.example.net",
        "Arrival-Date: Mon,  7 Dec 2026 10:00:00 +0000 (UTC)",
        "",
        f"Final-Recipient: rfc822; {final_recipient or recipient}",
        f"Original-Recipient: rfc822;{recipient}",
        f"Action: {action}",
        f"Status: {status}",
        "Remote-MTA: dns; mail.example.com",
        f"Diagnostic-Code: {diagnostic}",
        "",
        "--4F1/mx",
        "Content-Description: Undelivered Message Headers",
        "Content-Type: text/rfc822-headers",
        "",
        "From: Support <support@localhost>",
        f"To: {recipient}",
        "Subject: Re: [HD-000001] Cracked jar",
        f"Message-ID: {returned_id}",
        "",
        "--4F1/mx--",
        "",
    ]
    return "\r\n".join(lines).encode()


def gmail_dsn(returned: bytes, *, recipient: str = "ana@example.com") -> bytes:
    """Gmail's (and Amazon SES's) bounce: Auto-Submitted, a text and HTML notice, the
    delivery-status part, and the whole returned message (message/rfc822)."""
    outer = EmailMessage(policy=policy.SMTP)
    outer["From"] = "Mail Delivery Subsystem <mailer-daemon@googlemail.com>"
    outer["To"] = TO
    outer["Subject"] = "Delivery Status Notification (Failure)"
    outer["Date"] = format_datetime(DATE)
    outer["Message-ID"] = make_msgid(domain="mx.google.com")
    outer["Auto-Submitted"] = "auto-replied"
    outer["MIME-Version"] = "1.0"
    outer["Content-Type"] = "multipart/report; report-type=delivery-status"
    notice = EmailMessage(policy=policy.SMTP)
    notice.set_content(
        f"Address not found\n\nYour message wasn't delivered to {recipient} because the address "
        "couldn't be found, or is unable to receive mail."
    )
    notice.add_alternative(f"<p>Your message wasn't delivered to <b>{recipient}</b>.</p>", "html")
    status = EmailMessage(policy=policy.SMTP)
    status["Content-Type"] = "message/delivery-status"
    blocks = [
        {"Reporting-MTA": "dns; googlemail.com"},
        {
            "Final-Recipient": f"rfc822; {recipient}",
            "Action": "failed",
            "Status": "5.1.1",
            "Diagnostic-Code": "smtp; 550-5.1.1 The email account that you tried to reach does "
            "not exist. 550 5.1.1 https://support.google.com/mail/?p=NoSuchUser",
        },
    ]
    status.set_payload([_fields(block) for block in blocks])
    original = EmailMessage(policy=policy.SMTP)
    original["Content-Type"] = "message/rfc822"
    original.set_payload([email.message_from_bytes(returned, policy=policy.SMTP)])
    for part in (notice, status, original):
        outer.attach(part)
    return outer.as_bytes()


def _fields(values: dict[str, str]) -> EmailMessage:
    block = EmailMessage(policy=policy.SMTP)
    for name, value in values.items():
        block[name] = value
    return block


def qmail_bounce(returned_id: str, *, recipient: str = "ana@example.com") -> bytes:
    """An older, plain bounce with no delivery-status part: the reason in words and a copy of
    the message below."""
    message = _base(
        sender="MAILER-DAEMON@mail.example.org",
        subject="failure notice",
        message_id=None,
        domain="mail.example.org",
    )
    message.set_content(
        "Hi. This is the qmail-send program at mail.example.org.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        f"<{recipient}>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
        "--- Below this line is a copy of the message.\n\n"
        "Return-Path: <support@localhost>\n"
        f"From: Support <support@localhost>\nTo: {recipient}\n"
        f"Subject: Re: [HD-000001] Cracked jar\nMessage-ID: {returned_id}\n\n"
        "Hi Ana,\na new jar ships today.\n"
    )
    return message.as_bytes()
