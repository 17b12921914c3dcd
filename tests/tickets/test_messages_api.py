"""GET/POST /tickets/{id}/messages: agent replies, internal notes and customer follow-ups, with
their effects on the ticket, the interaction log, the outbox and the suggestions."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from customers.models import Interaction
from helpdesk.api.exceptions import KnowledgeBackendUnavailable
from knowledge.backends.local import LocalBackend
from tests.factories import TicketFactory
from tests.helpers import assert_error
from tickets.models import EmailOutbox, Feedback, Message, Suggestion, Ticket

pytestmark = pytest.mark.django_db

BLENDER = {
    "customer": {"email": "ana@example.com", "name": "Ana Souza"},
    "subject": "Problem with my order",
    "body": (
        "Hello team,\nmy blender arrived yesterday with a cracked jar.\n"
        "Best regards,\nAna Souza\nSent from my iPhone"
    ),
    "channel": "email",
}


def create_ticket(api, payload=BLENDER) -> dict:
    response = api.post("/tickets", payload, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def post(client, ticket_id, **payload):
    return client.post(f"/tickets/{ticket_id}/messages", payload, format="json")


def kinds_logged(ticket_id):
    return list(
        Interaction.objects.filter(ticket_id=ticket_id)
        .order_by("id")
        .values_list("kind", flat=True)
    )


# --- reading ----------------------------------------------------------------------------------


def test_messages_are_listed_oldest_first_and_paginated(api):
    ticket = TicketFactory(body="First.")
    at = ticket.created_at
    # Stored out of order: the list orders by time, not by id.
    Message.objects.create(
        ticket=ticket, role="customer", body="Message 2.", created_at=at + timedelta(seconds=2)
    )
    Message.objects.create(
        ticket=ticket, role="agent", body="Message 1.", created_at=at + timedelta(seconds=1)
    )

    first = api.get(f"/tickets/{ticket.id}/messages?page_size=2")
    second = api.get(f"/tickets/{ticket.id}/messages?page_size=2&page=2")

    assert first.status_code == second.status_code == 200
    assert first.json()["count"] == 3
    assert [m["body"] for m in first.json()["results"]] == ["First.", "Message 1."]
    assert [m["body"] for m in second.json()["results"]] == ["Message 2."]
    assert first.json()["results"][0]["role"] == "customer"
    assert first.json()["results"][1]["email_status"] is None  # stored, never e-mailed


def test_messages_of_a_missing_ticket_are_a_json_404(api):
    assert_error(api.get("/tickets/999999/messages"), 404, code="not_found")
    assert_error(post(api, 999999, kind="note", body="x"), 404, code="not_found")


def test_messages_need_credentials(outsider):
    ticket = TicketFactory()

    assert_error(outsider.get(f"/tickets/{ticket.id}/messages"), 401)
    assert_error(post(outsider, ticket.id, kind="note", body="x"), 401)
    assert Message.objects.filter(ticket=ticket).count() == 1


# --- agent replies ----------------------------------------------------------------------------


def test_an_agent_reply_opens_the_ticket_sets_first_response_and_is_emailed(
    staff, agent, django_capture_on_commit_callbacks
):
    ticket = TicketFactory(customer__email="ana@example.com", subject="Cracked jar")

    with django_capture_on_commit_callbacks(execute=True):
        response = post(staff, ticket.id, kind="reply", body="Hi Ana,\nA new jar is on its way.")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["message"]["role"] == "agent"
    assert body["message"]["kind"] == "reply"
    assert body["message"]["author"] == "user:agent"
    assert body["ticket"]["status"] == "open"
    assert body["ticket"]["first_response_at"] is not None
    assert body["suggestions"] == [] and body["degraded"] == []
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN
    assert ticket.first_response_at is not None
    message = Message.objects.get(pk=body["message"]["id"])
    assert message.author_user == agent
    assert message.email_message_id.startswith("<") and message.email_message_id.endswith(">")
    assert message.sent_at is not None  # sent right after the commit
    assert not EmailOutbox.objects.exists()
    (email,) = mail.outbox
    assert email.to == ["ana@example.com"]
    assert f"[{ticket.number}]" in email.subject
    assert "A new jar is on its way." in email.body
    assert kinds_logged(ticket.id) == ["status_changed", "email_out"]
    logged = Interaction.objects.get(ticket_id=ticket.id, kind="email_out")
    assert logged.data["message_id"] == message.id
    assert logged.data["email_message_id"] == message.email_message_id


def test_an_agent_reply_may_name_the_status_through_the_usual_transitions(api, api_key):
    ticket = TicketFactory()

    response = post(api, ticket.id, kind="reply", body="Could you send a photo?", status="pending")

    assert response.status_code == 201, response.content
    assert response.json()["ticket"]["status"] == "pending"
    ticket.refresh_from_db()
    assert (ticket.status, ticket.first_response_at is not None) == ("pending", True)
    message = Message.objects.get(pk=response.json()["message"]["id"])
    assert message.author == "api-key:crm-integration"
    assert message.author_api_key == api_key
    assert EmailOutbox.objects.filter(message=message).count() == 1  # waits for the commit


def test_a_reply_with_a_forbidden_transition_is_a_409_and_writes_nothing(api):
    ticket = TicketFactory(status=Ticket.Status.RESOLVED, resolved_at=timezone.now())

    response = post(api, ticket.id, kind="reply", body="Reopening as new.", status="new")

    assert_error(response, 409, code="invalid_transition", fields=["status"])
    assert Message.objects.filter(ticket=ticket).count() == 1
    assert not EmailOutbox.objects.exists()
    assert kinds_logged(ticket.id) == []
    ticket.refresh_from_db()
    assert ticket.status == "resolved" and ticket.first_response_at is None


def test_a_closed_ticket_takes_notes_but_no_replies(api):
    ticket = TicketFactory(status=Ticket.Status.CLOSED, resolved_at=timezone.now())

    reply = post(api, ticket.id, kind="reply", body="One more thing.")
    follow_up = post(api, ticket.id, kind="reply", role="customer", body="It broke again.")
    note = post(api, ticket.id, kind="note", body="Customer called about this one.")

    assert_error(reply, 409, code="invalid_transition")
    assert_error(follow_up, 409, code="invalid_transition")
    assert note.status_code == 201, note.content
    assert list(Message.objects.filter(ticket=ticket).values_list("kind", flat=True)) == [
        "reply",
        "note",
    ]
    assert not EmailOutbox.objects.exists()


# --- notes ------------------------------------------------------------------------------------


def test_a_note_is_logged_and_never_sent(api, django_capture_on_commit_callbacks):
    ticket = TicketFactory()

    with django_capture_on_commit_callbacks(execute=True):
        response = post(api, ticket.id, kind="note", body="Refund approved by Sam; wait for QA.")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["message"]["kind"], body["message"]["email_status"]) == ("note", None)
    assert body["message"]["email_message_id"] == ""
    assert body["ticket"]["status"] == "new"
    assert body["ticket"]["first_response_at"] is None
    assert mail.outbox == []
    assert not EmailOutbox.objects.exists()
    assert kinds_logged(ticket.id) == ["note"]


def test_a_note_may_set_the_status(staff):
    ticket = TicketFactory(status=Ticket.Status.OPEN)

    response = post(staff, ticket.id, kind="note", body="Waiting on the courier.", status="pending")

    assert response.status_code == 201, response.content
    ticket.refresh_from_db()
    assert ticket.status == "pending"
    assert kinds_logged(ticket.id) == ["status_changed", "note"]


# --- customer follow-ups ----------------------------------------------------------------------


def test_a_customer_follow_up_reopens_and_supersedes_the_suggestions(api):
    created = create_ticket(api)
    ticket_id = created["ticket"]["id"]
    first_round = {s["id"] for s in created["suggestions"]}
    assert created["suggestions"][0]["title"] == "Damaged or Broken Item on Arrival"
    assert post(api, ticket_id, kind="reply", body="Sorry! Send us a photo please.").status_code
    Ticket.objects.filter(pk=ticket_id).update(status="resolved", resolved_at=timezone.now())

    response = post(
        api,
        ticket_id,
        kind="reply",
        role="customer",
        body=(
            "Thanks. I would rather have my money back than a new jar. How long does the "
            "refund take to reach my card?\n\nOn Tue, 1 Dec 2026 at 10:02, Support "
            "<support@localhost> wrote:\n> Sorry! Send us a photo please."
        ),
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["ticket"]["status"] == "open"
    assert body["ticket"]["resolved_at"] is None
    message = body["message"]
    assert (message["role"], message["sender_address"]) == ("customer", "ana@example.com")
    assert "wrote:" not in message["body_clean"] and "money back" in message["body_clean"]
    new_round = body["suggestions"]
    assert new_round[0]["title"].startswith("Refunds")
    assert [s["rank"] for s in new_round] == list(range(1, len(new_round) + 1))
    assert {s["round"] for s in new_round} == {2}
    assert not first_round & {s["id"] for s in new_round}
    # The earlier round is kept, marked superseded; the context shows the current one.
    earlier = Suggestion.objects.filter(id__in=first_round)
    assert earlier.count() == len(first_round)
    assert all(s.superseded_at is not None for s in earlier)
    assert set(
        Suggestion.objects.filter(round=2, ticket_id=ticket_id).values_list("message_id", flat=True)
    ) == {message["id"]}
    context = api.get(f"/tickets/{ticket_id}/context").json()
    assert [s["id"] for s in context["suggestions"]] == [s["id"] for s in new_round]
    assert [m["role"] for m in context["conversation"]] == ["customer", "agent", "customer"]
    assert kinds_logged(ticket_id)[-2:] == ["status_changed", "email_in"]
    # Feedback on either round still points at real rows.
    for suggestion_id in (min(first_round), new_round[0]["id"]):
        feedback = api.post(
            f"/tickets/{ticket_id}/feedback",
            {"suggestion_id": suggestion_id, "helpful": True},
            format="json",
        )
        assert feedback.status_code == 201, feedback.content
    assert Feedback.objects.filter(ticket_id=ticket_id).count() == 2


def test_a_follow_up_is_read_with_the_thread(api):
    """ "Still nothing on my card after ten days" means a late refund only in this thread."""
    created = create_ticket(
        api,
        {
            "customer": {"email": "tom@example.com"},
            "subject": "Refund",
            "body": "I sent the kettle back two weeks ago. When do I get my money back?",
        },
    )
    ticket_id = created["ticket"]["id"]
    post(api, ticket_id, kind="reply", body="We received it and issued the refund on Monday.")

    response = post(
        api,
        ticket_id,
        kind="reply",
        role="customer",
        body="Still nothing on my card after ten days.",
    )

    assert response.status_code == 201, response.content
    assert response.json()["suggestions"][0]["title"].startswith("Refunds")


def test_a_follow_up_during_a_kb_outage_keeps_the_current_suggestions(api, monkeypatch):
    created = create_ticket(api)
    ticket_id = created["ticket"]["id"]

    def unavailable(self, query, *, k=5, filters=None):
        raise KnowledgeBackendUnavailable("index unavailable")

    monkeypatch.setattr(LocalBackend, "retrieval", unavailable)
    response = post(api, ticket_id, kind="reply", role="customer", body="Any news on this?")

    assert response.status_code == 201, response.content
    assert response.json()["degraded"] == ["knowledge_base"]
    assert response.json()["suggestions"] == []
    assert Message.objects.filter(ticket_id=ticket_id).count() == 2
    current = Suggestion.objects.filter(ticket_id=ticket_id, superseded_at__isnull=True)
    assert {s.id for s in current} == {s["id"] for s in created["suggestions"]}


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"body": "Hello"}, ["kind"]),
        ({"kind": "reply"}, ["body"]),
        ({"kind": "reply", "body": "   "}, ["body"]),
        ({"kind": "memo", "body": "Hello"}, ["kind"]),
        ({"kind": "reply", "body": "Hello", "role": "system"}, ["role"]),
        ({"kind": "note", "body": "Hello", "role": "customer"}, ["kind"]),
        ({"kind": "reply", "body": "Hello", "role": "customer", "status": "closed"}, ["status"]),
        ({"kind": "reply", "body": "Hello", "status": "archived"}, ["status"]),
        ({"kind": "reply", "body": "Hello\u0000"}, ["body"]),
        ({"kind": "reply", "body": ["a", "list"]}, ["body"]),
    ],
)
def test_invalid_messages_are_400_and_write_nothing(api, payload, fields):
    ticket = TicketFactory()

    response = post(api, ticket.id, **payload)

    assert_error(response, 400, code="validation_error", fields=fields)
    assert Message.objects.filter(ticket=ticket).count() == 1
    assert kinds_logged(ticket.id) == []


def test_a_message_over_the_body_limit_is_413(api, settings):
    settings.TICKET_BODY_MAX_BYTES = 1000
    ticket = TicketFactory()

    response = post(api, ticket.id, kind="reply", body="é" * 501)

    assert_error(response, 413, code="payload_too_large", fields=["body"])
    assert Message.objects.filter(ticket=ticket).count() == 1


def test_a_message_that_is_not_json_is_a_parse_error(api):
    ticket = TicketFactory()

    response = api.post(
        f"/tickets/{ticket.id}/messages", "{kind: reply", content_type="application/json"
    )

    assert_error(response, 400, code="parse_error")
