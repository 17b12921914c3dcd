"""Merging a duplicate: POST /tickets/{id}/merge (services.ticket_merge), its refusals, and what
follows it (replies to the duplicate's e-mails, posting on it, the customer's history)."""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from customers.models import Interaction
from tests import mailshapes
from tests.factories import CustomerFactory, OrderFactory, TicketFactory
from tests.helpers import assert_error, post_ticket
from tests.openapi import assert_conforms
from tickets.models import Message, Suggestion, Ticket

pytestmark = pytest.mark.django_db


def merge(api, ticket_id: int, into: int, *, status: int = 200):
    response = api.post(f"/tickets/{ticket_id}/merge", {"into": into}, format="json")
    assert response.status_code == status, response.content
    if status == 200:
        assert_conforms(response, "POST", "/tickets/{id}/merge")
    return response


def test_a_customer_who_wrote_twice_is_merged_into_one_ticket(api):
    first = post_ticket(
        api,
        "Refund for my kettle",
        "I returned the kettle last Monday and have not been refunded yet. Cheers, Tom",
        email="tom@example.com",
    )["ticket"]
    second = post_ticket(
        api,
        "Where is my money??",
        "Hi, I sent the kettle back a week ago and still no refund. This is ridiculous!",
        email="tom@example.com",
        priority="high",
    )["ticket"]
    api.post(
        f"/tickets/{second['id']}/messages",
        {"kind": "reply", "role": "customer", "body": "Order 1042, by the way."},
        format="json",
    )

    answer = merge(api, second["id"], first["id"]).json()

    assert answer["merged"] is True
    duplicate, into = answer["ticket"], answer["into"]
    assert duplicate["status"] == "closed" and duplicate["resolved_at"]
    assert duplicate["merged_into"] == first["id"]
    assert duplicate["merged_into_number"] == first["number"]
    assert into["id"] == first["id"] and into["merged_into"] is None
    assert into["priority"] == "high"  # the higher of the two
    # The ticket it joined reads the whole story in one note: the duplicate's customer messages,
    # oldest first, as a person reads them.
    note = Message.objects.filter(ticket_id=first["id"], kind="note").get()
    assert note.role == "system"
    assert f"{second['number']} “Where is my money??” was merged into this ticket" in note.body
    assert note.body.index("still no refund") < note.body.index("Order 1042, by the way.")
    assert "Hi," not in note.body  # cleaned, as body_clean
    (left,) = Message.objects.filter(ticket_id=second["id"], kind="note")
    assert left.body.startswith(f"Merged into {first['number']} “Refund for my kettle”")
    # Nothing moved or deleted: the duplicate keeps its conversation and suggestions.
    assert Message.objects.filter(ticket_id=second["id"], role="customer").count() == 2
    assert Suggestion.objects.filter(ticket_id=second["id"]).exists()
    # The customer's history says so; the close is logged as any status change.
    logged = Interaction.objects.filter(ticket_id=second["id"]).values_list("kind", "data")
    kinds = [kind for kind, _ in logged]
    assert "ticket_merged" in kinds and "status_changed" in kinds
    data = next(d for kind, d in logged if kind == "ticket_merged")
    assert data == {"merged": second["id"], "into": first["id"], "customer_messages": 2}
    # The ticket it joined says so in its own history too.
    joined = Interaction.objects.get(ticket_id=first["id"], kind="ticket_merged")
    assert joined.summary == f"{second['number']} merged into {first['number']}"
    # Reading either ticket shows the link; the list finds what was merged into one.
    assert api.get(f"/tickets/{second['id']}").json()["merged_into"] == first["id"]
    listed = api.get("/tickets", {"merged_into": first["id"], "status": "closed"}).json()
    assert [t["id"] for t in listed["results"]] == [second["id"]]


def test_merging_again_into_the_same_ticket_answers_the_first_merge(api):
    customer = CustomerFactory()
    kept, duplicate = TicketFactory(customer=customer), TicketFactory(customer=customer)
    merge(api, duplicate.id, kept.id)

    again = merge(api, duplicate.id, kept.id).json()

    assert again["merged"] is False and again["ticket"]["merged_into"] == kept.id
    assert Message.objects.filter(kind="note").count() == 2  # not four
    assert Interaction.objects.filter(kind="ticket_merged").count() == 2  # one per ticket


def test_the_ticket_merged_into_takes_the_duplicates_assignee_only_if_it_has_none(api, agent):
    customer = CustomerFactory()
    kept = TicketFactory(customer=customer, priority="urgent")
    duplicate = TicketFactory(customer=customer, assignee=agent, priority="low")

    into = merge(api, duplicate.id, kept.id).json()["into"]

    assert into["assignee"] == agent.username
    assert into["priority"] == "urgent"  # never lowered


def test_the_ticket_merged_into_takes_the_duplicates_order_only_if_it_has_none(api):
    customer = CustomerFactory()
    named = OrderFactory(customer=customer)
    kept = TicketFactory(customer=customer)
    duplicate = TicketFactory(customer=customer, order=named, order_source="text")

    into = merge(api, duplicate.id, kept.id).json()["into"]
    assert (into["order_id"], into["order_source"]) == (named.id, "text")

    other = OrderFactory(customer=customer)
    second = TicketFactory(customer=customer, order=other, order_source="given")
    into = merge(api, second.id, kept.id).json()["into"]
    assert into["order_id"] == named.id  # kept


def test_a_resolved_ticket_is_reopened_when_an_active_duplicate_joins_it(api):
    customer = CustomerFactory()
    kept = TicketFactory(customer=customer, status="resolved", resolved_at=timezone.now())
    duplicate = TicketFactory(customer=customer, status="new")

    into = merge(api, duplicate.id, kept.id).json()["into"]

    assert into["status"] == "open" and into["resolved_at"] is None


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("itself", 400, "validation_error"),
        ("missing", 400, "validation_error"),
        ("not a number", 400, "validation_error"),
        ("too large", 400, "validation_error"),
        ("another customer", 409, "conflict"),
        ("into a closed ticket", 409, "conflict"),
        ("a closed ticket", 409, "conflict"),
        ("merged elsewhere", 409, "conflict"),
    ],
)
def test_a_merge_that_cannot_be_is_refused_and_changes_nothing(api, case, status, code):
    customer = CustomerFactory()
    ticket = TicketFactory(customer=customer)
    other = TicketFactory(customer=customer)
    into = {
        "itself": ticket.id,
        "missing": other.id + 1000,
        "not a number": "HD-000001",
        "too large": 2**63,
        "another customer": TicketFactory().id,
        "into a closed ticket": TicketFactory(
            customer=customer, status="closed", resolved_at=timezone.now()
        ).id,
        "a closed ticket": other.id,
        "merged elsewhere": other.id,
    }[case]
    if case == "a closed ticket":
        Ticket.objects.filter(pk=ticket.pk).update(status="closed", resolved_at=timezone.now())
    if case == "merged elsewhere":
        elsewhere = TicketFactory(customer=customer)
        merge(api, ticket.id, elsewhere.id)
    before = (Message.objects.count(), Interaction.objects.count())
    row = Ticket.objects.values("status", "priority", "merged_into").get(pk=ticket.pk)

    response = api.post(f"/tickets/{ticket.id}/merge", {"into": into}, format="json")

    error = assert_error(response, status, code=code, fields=["into"])
    assert (Message.objects.count(), Interaction.objects.count()) == before
    assert Ticket.objects.values("status", "priority", "merged_into").get(pk=ticket.pk) == row
    if case == "another customer":
        assert "another customer's ticket" in error["message"]


def test_an_unknown_ticket_is_a_404_and_a_body_without_into_a_400(api):
    ticket = TicketFactory()
    assert_error(api.post("/tickets/999999/merge", {"into": ticket.id}, format="json"), 404)
    assert_error(api.post(f"/tickets/{ticket.id}/merge", {}, format="json"), 400, fields=["into"])


def test_posting_a_reply_on_a_merged_ticket_says_where_to_post(api):
    customer = CustomerFactory()
    kept, duplicate = TicketFactory(customer=customer), TicketFactory(customer=customer)
    merge(api, duplicate.id, kept.id)

    response = api.post(
        f"/tickets/{duplicate.id}/messages", {"kind": "reply", "body": "Hello?"}, format="json"
    )

    error = assert_error(response, 409, code="invalid_transition", fields=["kind"])
    assert f"merged into {kept.number}" in error["message"]
    note = api.post(
        f"/tickets/{duplicate.id}/messages", {"kind": "note", "body": "FYI"}, format="json"
    )
    assert note.status_code == 201  # notes are still taken


def test_a_reply_to_the_duplicates_e_mail_joins_the_ticket_it_was_merged_into(inbound, api):
    first = inbound.generic(
        "POST",
        "/inbound/email",
        mailshapes.gmail(message_id="<one@mail.gmail.com>"),
        content_type="message/rfc822",
    ).json()["ticket"]
    second = inbound.generic(
        "POST",
        "/inbound/email",
        mailshapes.gmail(
            message_id="<two@mail.gmail.com>",
            subject="Cracked jar again",
            text="Hi,\n\nstill waiting about the cracked jar.\n\nThanks,\nJürgen",
        ),
        content_type="message/rfc822",
    ).json()["ticket"]
    merge(api, second["id"], first["id"])

    # By Message-ID (the customer answers their own second mail) and by the subject token.
    by_id = inbound.generic(
        "POST",
        "/inbound/email",
        mailshapes.gmail(
            subject="Re: Cracked jar again",
            text="Any news?",
            in_reply_to="<two@mail.gmail.com>",
        ),
        content_type="message/rfc822",
    ).json()
    by_token = inbound.generic(
        "POST",
        "/inbound/email",
        mailshapes.gmail(subject=f"Re: [{second['number']}] Cracked jar again", text="Hello?"),
        content_type="message/rfc822",
    ).json()

    for answer in (by_id, by_token):
        assert answer["created"] is False and answer["ticket"]["id"] == first["id"]
    assert Ticket.objects.count() == 2
    assert Message.objects.filter(ticket_id=second["id"], role="customer").count() == 1


def test_a_merged_duplicate_is_no_longer_a_similar_ticket(api):
    body = "My blender jar arrived cracked and leaks everywhere. How do I get a replacement?"
    first = post_ticket(api, "Cracked jar", body, email="lena@example.com")["ticket"]
    second = post_ticket(api, "Cracked jar", body, email="lena@example.com")["ticket"]
    similar = api.get(f"/tickets/{first['id']}/similar").json()
    assert [s["id"] for s in similar["results"]] == [second["id"]]
    assert similar["results"][0]["relation"] == "probable_duplicate"

    merge(api, second["id"], first["id"])

    assert api.get(f"/tickets/{first['id']}/similar").json()["results"] == []


@pytest.mark.django_db(transaction=True)
def test_two_merges_crossing_each_other_do_not_deadlock(api_key):
    """A into B and B into A at once: one wins, the other is refused (B or A is closed by then);
    the rows are locked in id order, so neither waits on the other forever."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks: Postgres (SQLite serialises writers)")
    customer = CustomerFactory()
    a, b = TicketFactory(customer=customer), TicketFactory(customer=customer)
    results: dict[str, int] = {}
    barrier = threading.Barrier(2)

    def run(name, source, target):
        from django.db import connections
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key.raw}")
        try:
            barrier.wait()
            response = client.post(f"/tickets/{source}/merge", {"into": target}, format="json")
            results[name] = response.status_code
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=("a", a.id, b.id)),
        threading.Thread(target=run, args=("b", b.id, a.id)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results.values()) == [200, 409]
    rows = dict(Ticket.objects.values_list("id", "merged_into"))
    assert sorted(v is None for v in rows.values()) == [False, True]


def test_after_a_merge_a_follow_up_is_read_with_the_duplicates_words_too(api, monkeypatch):
    """Retrieval (and a follow-up's triage) read the merged duplicate's customer messages as
    part of the one conversation, in time order."""
    from tickets import services

    first = post_ticket(api, "Help", "Hi, can someone help me please?", email="tom@example.com")
    second = post_ticket(
        api,
        "Kettle",
        "I returned the kettle last Monday and have not been refunded.",
        email="tom@example.com",
    )
    merge(api, second["ticket"]["id"], first["ticket"]["id"])
    read = []
    retrieve = services._retrieve
    monkeypatch.setattr(
        services, "_retrieve", lambda query, *args: read.append(query) or retrieve(query, *args)
    )

    answer = api.post(
        f"/tickets/{first['ticket']['id']}/messages",
        {"kind": "reply", "role": "customer", "body": "Any news?"},
        format="json",
    ).json()

    (query,) = read
    assert [turn.text for turn in query.turns] == [
        "can someone help me please?",  # the greeting is read away
        "I returned the kettle last Monday and have not been refunded.",
        "Any news?",
    ]
    assert answer["suggestions"]  # the round was made from that story
