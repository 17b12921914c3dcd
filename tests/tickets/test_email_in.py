"""E-mail in: POST /inbound/email with raw messages shaped as Gmail, Outlook and Apple Mail
write them (tests/mailshapes.py), through the real parser, services, KB and storage."""

from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone

from customers.models import Customer
from helpdesk.models import ApiKey
from tests import mailshapes
from tests.factories import TicketFactory
from tests.openapi import assert_conforms
from tickets.models import Attachment, Message, Suggestion, Ticket

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def deliver(client, raw: bytes, *, status: int | None = None, **extra):
    response = client.generic(
        "POST", "/inbound/email", raw, content_type=extra.pop("content_type", "message/rfc822")
    )
    if status is not None:
        assert response.status_code == status, response.content
    if response["Content-Type"].startswith("application/json") and response.status_code < 300:
        assert_conforms(response, "POST", "/inbound/email")
    return response


def files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def nothing_written(media: Path) -> None:
    assert not Ticket.objects.exists()
    assert not Message.objects.exists()
    assert not Attachment.objects.exists()
    assert not Customer.objects.exists()
    assert files(media) == []


# --- a new e-mail ------------------------------------------------------------------------------


def test_a_gmail_message_opens_a_ticket_with_suggestions_and_its_attachment(inbound, media):
    raw = mailshapes.gmail(
        message_id="<CAJx9v+Q7_k2@mail.gmail.com>",
        attachments=[("receipt.pdf", "application/pdf", PDF)],
    )

    answer = deliver(inbound, raw, status=201).json()

    assert answer["created"] is True and answer["duplicate"] is False and not answer["ignored"]
    ticket = Ticket.objects.get()
    assert answer["ticket"]["id"] == ticket.id
    assert ticket.subject == "Blender arrived broken — refund?"  # =?utf-8?b?…?= decoded
    assert ticket.channel == "email" and ticket.status == "new"
    assert ticket.customer.email == "jurgen@example.com"
    assert ticket.customer.name == "Jürgen Müller"  # the From header's encoded-word name
    assert "cracked jar" in ticket.body and "Jürgen" in ticket.body  # quoted-printable decoded
    assert ticket.body_clean == "my blender arrived with a cracked jar. How do I get my money back?"
    message = Message.objects.get()
    assert answer["message"]["id"] == message.id
    assert message.email_message_id == "<CAJx9v+Q7_k2@mail.gmail.com>"
    assert message.sender_address == "jurgen@example.com" and message.role == "customer"
    titles = [s["title"] for s in answer["suggestions"]]
    assert titles and Suggestion.objects.filter(ticket=ticket).count() == len(titles)
    assert any("refund" in t.lower() or "damaged" in t.lower() for t in titles[:3]), titles
    (attachment,) = answer["attachments"]
    assert attachment["name"] == "receipt.pdf" and attachment["content_type"] == "application/pdf"
    assert attachment["size"] == len(PDF) and attachment["stored"] and not attachment["inline"]
    row = Attachment.objects.get()
    assert row.message == message
    with row.file.open("rb") as stored:
        assert stored.read() == PDF  # base64 decoded, through Django's storage
    assert Path(row.file.path).is_relative_to(media)
    assert mail.outbox == []  # nothing is sent to the customer on arrival


def test_html_only_mail_is_read_as_text(inbound):
    answer = deliver(inbound, mailshapes.html_only(), status=201).json()

    body = answer["ticket"]["body"]
    assert "<" not in body and "Where is my order?" in body
    assert "The tracking page shows nothing since Monday." in body


def test_latin1_body_and_encoded_subject_decode(inbound):
    raw = (
        b"From: =?iso-8859-1?q?Ren=E9e?= <renee@example.fr>\r\n"
        b"To: support@localhost\r\nSubject: =?iso-8859-1?q?Probl=E8me_de_livraison?=\r\n"
        b"Message-ID: <latin1@example.fr>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: base64\r\n"
        b"\r\n" + __import__("base64").encodebytes("Mon colis n'est pas arrivé.".encode("latin-1"))
    )

    answer = deliver(inbound, raw, status=201).json()

    assert answer["ticket"]["subject"] == "Problème de livraison"
    assert answer["ticket"]["body"] == "Mon colis n'est pas arrivé."
    assert Customer.objects.get().name == "Renée"


# --- the conversation, both ways ---------------------------------------------------------------


def test_reply_out_then_the_customers_answer_threads_back_reopened_and_re_ranked(
    inbound, api, django_capture_on_commit_callbacks
):
    first = deliver(inbound, mailshapes.gmail(message_id="<first@mail.gmail.com>"), status=201)
    ticket_id = first.json()["ticket"]["id"]

    # The agent answers (and waits for the customer): one e-mail, threaded on the customer's.
    with django_capture_on_commit_callbacks(execute=True):
        reply = api.post(
            f"/tickets/{ticket_id}/messages",
            {
                "kind": "reply",
                "body": "Sorry! Could you send a photo of the jar?",
                "status": "pending",
            },
            format="json",
        )
    assert reply.status_code == 201, reply.content
    (sent,) = mail.outbox
    ours = sent.message()["Message-ID"]
    assert sent.message()["In-Reply-To"] == "<first@mail.gmail.com>"
    assert sent.subject == f"Re: [HD-{ticket_id:06d}] Blender arrived broken — refund?"
    assert Ticket.objects.get().status == "pending"

    # The customer answers that e-mail from Gmail, quoting it.
    answer = deliver(
        inbound,
        mailshapes.gmail(
            subject=f"Re: {sent.subject}",
            text="Here it is. Also, the lid is missing from the box.",
            quote="Sorry! Could you send a photo of the jar?",
            in_reply_to=ours,
            attachments=[("jar.jpg", "image/jpeg", b"\xff\xd8\xff" + b"\x00" * 500)],
        ),
        status=201,
    ).json()

    assert answer["created"] is False and answer["ticket"]["id"] == ticket_id
    ticket = Ticket.objects.get()
    assert ticket.status == "open"  # reopened from pending
    message = Message.objects.filter(role="customer").last()
    assert message.email_in_reply_to == ours
    assert message.body_clean == "Here it is. Also, the lid is missing from the box."
    assert "wrote:" in message.body  # kept as received
    assert [s["round"] for s in answer["suggestions"]] == [2] * len(answer["suggestions"])
    assert answer["suggestions"]
    assert Suggestion.objects.filter(ticket=ticket, round=1, superseded_at__isnull=False).exists()
    assert [a["name"] for a in answer["attachments"]] == ["jar.jpg"]
    assert len(mail.outbox) == 1  # nothing sent back to the customer's message
    # Triage as POST /tickets/{id}/messages answers a customer's follow-up; a new ticket's
    # as POST /tickets does.
    assert answer["triage"]["language"] == "en" and answer["triage"]["sentiment"] is not None
    assert first.json()["triage"]["status"] == "no_model"


def test_outlook_answer_without_threading_headers_follows_the_subject_token(inbound):
    ticket = TicketFactory(
        customer__email="priya@example.org", status="resolved", resolved_at=timezone.now()
    )

    answer = deliver(
        inbound,
        mailshapes.outlook(
            subject=f"RE: [HD-{ticket.id:06d}] Payment declined",
            text="Hi,\r\n\r\nStill declined today with a different card.\r\n\r\nRegards,\r\nPriya",
            quote="Please try again with another card.",
            quote_subject=f"[HD-{ticket.id:06d}] Payment declined",
        ),
        status=201,
    ).json()

    assert answer["ticket"]["id"] == ticket.id and answer["created"] is False
    assert answer["ticket"]["status"] == "open"
    message = Message.objects.get(pk=answer["message"]["id"])
    assert message.body_clean == "Still declined today with a different card."
    assert "-----Original Message-----" in message.body


def test_a_subject_token_from_someone_else_opens_a_new_ticket(inbound):
    ticket = TicketFactory(customer__email="priya@example.org")

    answer = deliver(
        inbound,
        mailshapes.outlook(sender="mallory@example.com", subject=f"RE: [HD-{ticket.id:06d}] hi"),
        status=201,
    ).json()

    assert answer["created"] is True and answer["ticket"]["id"] != ticket.id
    assert Message.objects.filter(ticket=ticket).count() == 1


def test_an_answer_to_a_closed_ticket_opens_a_new_one_linked_to_it(inbound):
    first = deliver(inbound, mailshapes.apple_mail(message_id="<tom-1@icloud.com>"), status=201)
    old = Ticket.objects.get(pk=first.json()["ticket"]["id"])
    old.status, old.resolved_at = "closed", old.created_at
    old.save()

    answer = deliver(
        inbound,
        mailshapes.apple_mail(
            subject="Re: Coffee machine descaling",
            text="It is blinking again after descaling.",
            quote="How often should I descale the coffee machine?",
            in_reply_to="<tom-1@icloud.com>",
        ),
        status=201,
    ).json()

    assert answer["created"] is True and answer["follow_up_of"] == old.id
    assert (answer["ticket"]["follow_up_of"], answer["ticket"]["follow_up_of_number"]) == (
        old.id,
        old.number,
    )
    new = Ticket.objects.get(pk=answer["ticket"]["id"])
    assert new.follow_up_of == old and new.metadata == {"follow_up_of": old.number}
    assert new.customer == old.customer
    assert new.body_clean == "It is blinking again after descaling."
    old.refresh_from_db()
    assert old.status == "closed" and old.messages.count() == 1


def test_a_follow_up_ticket_shows_the_ticket_it_continues(inbound, api):
    old = TicketFactory(status="closed", resolved_at=timezone.now())
    new = TicketFactory(customer=old.customer, follow_up_of=old)

    read = api.get(f"/tickets/{new.id}")
    assert read.status_code == 200
    body = assert_conforms(read, "GET", "/tickets/{id}")
    assert (body["follow_up_of"], body["follow_up_of_number"]) == (old.id, old.number)

    earlier = assert_conforms(api.get(f"/tickets/{old.id}"), "GET", "/tickets/{id}")
    assert (earlier["follow_up_of"], earlier["follow_up_of_number"]) == (None, None)

    listed = {t["id"]: t["follow_up_of"] for t in api.get("/tickets").json()["results"]}
    assert listed == {new.id: old.id, old.id: None}


def test_apple_mail_inline_image_is_stored_inline_not_a_ticket(inbound):
    answer = deliver(inbound, mailshapes.apple_mail(inline_image=b"\x89PNG\r\n" * 10), status=201)

    body = answer.json()
    assert Ticket.objects.count() == 1
    (image,) = body["attachments"]
    assert image["inline"] and image["content_id"] == "photo-1@icloud.com"
    assert image["name"] == "IMG_0001.png" and image["stored"]
    assert body["ticket"]["body_clean"].startswith("How often should I descale")


# --- loops and noise ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, reason",
    [
        (mailshapes.auto_reply({"Auto-Submitted": "auto-replied"}), "auto_submitted"),
        (mailshapes.auto_reply({"Auto-Submitted": "auto-generated"}), "auto_submitted"),
        (mailshapes.auto_reply({"Precedence": "bulk"}), "auto_reply"),
        (mailshapes.auto_reply({"Precedence": "auto_reply"}), "auto_reply"),
        (mailshapes.auto_reply({"Precedence": "junk"}), "auto_reply"),
        (mailshapes.auto_reply({"X-Autoreply": "yes"}), "auto_reply"),
        (mailshapes.auto_reply({"X-Autorespond": "1"}), "auto_reply"),
        (mailshapes.auto_reply({}, sender="postmaster@example.com"), "bounce"),
        (mailshapes.auto_reply({"Return-Path": "<>"}), "bounce"),
        (mailshapes.bounce(), "bounce"),
        (mailshapes.auto_reply({}, sender="Support <SUPPORT@localhost>"), "own_address"),
        (mailshapes.auto_reply({"X-Helpdesk-Ticket": "HD-000001"}), "own_message"),
    ],
)
def test_auto_replies_and_bounces_are_accepted_and_ignored(inbound, media, raw, reason):
    ticket = TicketFactory(customer__email="ana@example.com")
    before = (Ticket.objects.count(), Message.objects.count(), Customer.objects.count())

    answer = deliver(inbound, raw, status=202).json()

    assert answer["ignored"]["reason"] == reason and answer["ignored"]["detail"]
    assert answer["ticket"] is None and answer["message"] is None and not answer["created"]
    assert (Ticket.objects.count(), Message.objects.count(), Customer.objects.count()) == before
    assert Ticket.objects.get() == ticket and mail.outbox == [] and files(media) == []


def test_auto_submitted_no_is_a_customer_message(inbound):
    deliver(inbound, mailshapes.auto_reply({"Auto-Submitted": "no"}), status=201)


def test_our_own_reply_delivered_back_is_ignored(inbound, api, django_capture_on_commit_callbacks):
    ticket = TicketFactory(customer__email="ana@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/tickets/{ticket.id}/messages", {"kind": "reply", "body": "Hi"}, format="json")
    (sent,) = mail.outbox
    raw = sent.message().as_bytes().replace(b"X-Helpdesk-Ticket", b"X-Other")
    raw = raw.replace(b"support@localhost", b"helpdesk@elsewhere.example", 1)

    answer = deliver(inbound, raw, status=202).json()

    assert answer["ignored"]["reason"] == "own_message"
    assert Message.objects.filter(ticket=ticket).count() == 2


# --- idempotency -------------------------------------------------------------------------------


def test_the_same_message_delivered_twice_is_one_message(inbound, media):
    raw = mailshapes.gmail(
        message_id="<twice@mail.gmail.com>", attachments=[("r.pdf", "application/pdf", PDF)]
    )
    first = deliver(inbound, raw, status=201).json()

    again = deliver(inbound, raw, status=200).json()

    assert again["duplicate"] is True and again["created"] is False
    assert again["ticket"]["id"] == first["ticket"]["id"]
    assert again["message"]["id"] == first["message"]["id"]
    assert [a["id"] for a in again["attachments"]] == [a["id"] for a in first["attachments"]]
    assert (Ticket.objects.count(), Message.objects.count(), Attachment.objects.count()) == (
        1,
        1,
        1,
    )
    assert len(files(media)) == 1


def test_a_message_without_message_id_is_idempotent_on_its_bytes(inbound):
    raw = mailshapes.html_only().replace(b"Message-ID:", b"X-Old-Message-ID:")

    first = deliver(inbound, raw, status=201).json()
    deliver(inbound, raw, status=200)

    assert first["message"]["email_message_id"].endswith("@no-message-id.invalid>")
    assert Message.objects.count() == 1


# --- size limits -------------------------------------------------------------------------------


def test_an_attachment_over_the_limit_is_recorded_without_its_content(inbound, media, settings):
    settings.INBOUND_MAX_ATTACHMENT_BYTES = 1000
    raw = mailshapes.gmail(
        attachments=[("big.pdf", "application/pdf", PDF), ("small.txt", "text/plain", b"ok")]
    )

    answer = deliver(inbound, raw, status=201).json()

    big, small = answer["attachments"]
    assert (big["name"], big["stored"], big["size"]) == ("big.pdf", False, len(PDF))
    assert "INBOUND_MAX_ATTACHMENT_BYTES" in big["skipped"]
    assert small["stored"] and small["skipped"] == ""
    assert any("big.pdf" in note for note in answer["notes"])
    assert [p.name for p in files(media)] == ["small.txt"]


def test_a_message_over_the_request_limit_is_a_413(inbound, media, settings):
    settings.INBOUND_MAX_REQUEST_BYTES = 5000
    raw = mailshapes.gmail(attachments=[("big.pdf", "application/pdf", PDF * 3)])

    response = deliver(inbound, raw, status=413)

    assert response.json()["error"]["code"] == "payload_too_large"
    nothing_written(media)


def test_a_long_text_is_cut_at_the_body_limit_and_noted(inbound, settings):
    settings.TICKET_BODY_MAX_BYTES = 200
    answer = deliver(inbound, mailshapes.gmail(text="é" * 500), status=201).json()

    assert len(answer["ticket"]["body"].encode()) <= 200
    assert any("TICKET_BODY_MAX_BYTES" in note for note in answer["notes"])


# --- bad input ---------------------------------------------------------------------------------

NO_BOUNDARY = (
    b"From: ana@example.com\r\nSubject: x\r\nMessage-ID: <m@x>\r\n"
    b"Content-Type: multipart/mixed\r\n\r\nno boundary here\r\n"
)
NO_FROM = b"To: support@localhost\r\nSubject: hello\r\nMessage-ID: <n@x>\r\n\r\nHello there\r\n"
BAD_FROM = b"From: not an address\r\nSubject: hello\r\n\r\nHello there\r\n"
UNKNOWN_CHARSET = (
    b"From: ana@example.com\r\nSubject: hi\r\nMessage-ID: <c@x>\r\n"
    b"Content-Type: text/plain; charset=x-klingon\r\n\r\nqapla\xe9\r\n"
)
NOT_AN_EMAIL = b'{"subject": "this is JSON"}'


@pytest.mark.parametrize(
    "raw, field",
    [
        (NO_BOUNDARY, "message"),
        (NO_FROM, "From"),
        (BAD_FROM, "From"),
        (UNKNOWN_CHARSET, "charset"),
        (NOT_AN_EMAIL, "From"),
        (b"\x00\x01\x02garbage", "message"),
        (mailshapes.gmail(text="", quote="Could you send a photo of the jar?"), "body"),
    ],
    ids=["no-boundary", "no-from", "bad-from", "unknown-charset", "json", "binary", "only-quote"],
)
def test_unreadable_messages_are_a_422_and_write_nothing(inbound, media, raw, field):
    response = deliver(inbound, raw, status=422)

    error = response.json()["error"]
    assert error["code"] == "invalid_email" and field in error["fields"], error
    assert_conforms(response, "POST", "/inbound/email")
    nothing_written(media)


def test_an_empty_body_or_another_media_type_is_refused(inbound, media):
    assert deliver(inbound, b"", status=400).json()["error"]["code"] == "validation_error"
    response = deliver(inbound, b'{"a": 1}', status=415, content_type="application/json")
    assert response.json()["error"]["code"] == "unsupported_media_type"
    nothing_written(media)


def test_a_failure_after_the_files_were_stored_leaves_no_file_and_no_row(
    inbound, media, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("the database went away mid-transaction")

    # Fault injection after the attachments were written, inside the ticket's transaction.
    monkeypatch.setattr("tickets.services.interaction_record", broken)
    raw = mailshapes.gmail(attachments=[("r.pdf", "application/pdf", PDF)])

    response = inbound.generic("POST", "/inbound/email", raw, content_type="message/rfc822")

    assert response.status_code == 500  # a bug, logged; the relay retries later

    nothing_written(media)


def test_only_the_inbound_scope_or_admin_may_deliver(api, admin_api, inbound):
    raw = mailshapes.html_only()
    assert deliver(api, raw).status_code == 403
    assert deliver(admin_api, raw).status_code == 201


# --- concurrent deliveries ---------------------------------------------------------------------


def test_the_same_message_delivered_at_once_by_many_relays_is_one_message(
    live_server, transactional_db, settings, tmp_path
):
    """A real server (a thread and a database connection per request): 8 copies of one message
    and 8 copies of a reply to it, each batch sent at the same moment. The unique Message-ID
    constraint decides; the losers answer the winner's ticket and message."""
    import http.client
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlsplit

    settings.MEDIA_ROOT = str(tmp_path / "media")
    _, key = ApiKey.objects.create_key(name="relay", scopes="inbound")
    url = urlsplit(live_server.url)

    def post(raw: bytes) -> tuple[int, dict]:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        try:
            headers = {"Authorization": f"Api-Key {key}", "Content-Type": "message/rfc822"}
            conn.request("POST", "/inbound/email", body=raw, headers=headers)
            response = conn.getresponse()
            return response.status, __import__("json").loads(response.read())
        finally:
            conn.close()

    first = mailshapes.gmail(
        message_id="<burst@mail.gmail.com>", attachments=[("r.pdf", "application/pdf", PDF)]
    )
    reply = mailshapes.gmail(
        message_id="<burst-2@mail.gmail.com>",
        text="Any news?",
        quote="my blender arrived with a cracked jar.",
        in_reply_to="<burst@mail.gmail.com>",
    )
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, [first] * 8))
        replies = list(pool.map(post, [reply] * 8))

    for batch in (answers, replies):
        statuses = sorted(status for status, _ in batch)
        assert statuses == [200] * 7 + [201], [body for _, body in batch]
        assert len({body["message"]["id"] for _, body in batch}) == 1
    assert len({body["ticket"]["id"] for _, body in answers + replies}) == 1
    assert (Ticket.objects.count(), Message.objects.count(), Customer.objects.count()) == (1, 2, 1)
    assert Attachment.objects.count() == 1
    assert len(files(tmp_path / "media")) == 1  # the losers' stored copies were deleted
