"""Problem and incident tickets: PATCH /tickets/{id} `problem_id` (services.ticket_link_problem),
a problem resolved resolves its open incidents, and a reply on a problem with `incidents` reaches
every incident's customer (services.problem_reply)."""

import pytest
from django.core import mail
from django.utils import timezone

from customers.models import Interaction
from tests.factories import TicketFactory
from tests.helpers import assert_error, post_ticket
from tests.openapi import assert_conforms
from tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db

DOWN = "I cannot log in to my account since this morning, the page just says error 502."


def link(api, ticket_id: int, problem_id: int | None, *, status: int = 200):
    response = api.patch(f"/tickets/{ticket_id}", {"problem_id": problem_id}, format="json")
    assert response.status_code == status, response.content
    if status == 200:
        assert_conforms(response, "PATCH", "/tickets/{id}")
    return response


@pytest.fixture
def outage(api):
    """Three customers write about the same outage; the first ticket becomes the problem."""
    tickets = [
        post_ticket(api, "Cannot log in", DOWN, email=f"{name}@example.com")["ticket"]
        for name in ("ana", "ben", "chloe")
    ]
    problem, *incidents = tickets
    for incident in incidents:
        link(api, incident["id"], problem["id"])
    return problem, incidents


def test_tickets_are_linked_to_a_problem_and_listed_by_it(api, outage):
    problem, incidents = outage

    listed = api.get("/tickets", {"problem": problem["id"]}).json()["results"]

    assert sorted(t["id"] for t in listed) == sorted(i["id"] for i in incidents)
    shown = api.get(f"/tickets/{incidents[0]['id']}").json()
    assert shown["problem_id"] == problem["id"]
    assert shown["problem_number"] == problem["number"]
    assert api.get(f"/tickets/{problem['id']}").json()["problem_id"] is None
    logged = Interaction.objects.get(ticket_id=incidents[0]["id"], kind="incident_linked")
    assert logged.summary == f"{incidents[0]['number']} linked to problem {problem['number']}"


def test_a_reply_on_the_problem_reaches_every_incidents_customer_on_their_own_ticket(
    api, outage, django_capture_on_commit_callbacks
):
    problem, incidents = outage
    body = "Our login service failed this morning. It is fixed now: please try again."

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/tickets/{problem['id']}/messages",
            {"kind": "reply", "body": body, "status": "resolved", "incidents": True},
            format="json",
        )

    assert response.status_code == 201, response.content
    assert_conforms(response, "POST", "/tickets/{id}/messages")
    answer = response.json()
    assert sorted(answer["incidents"]) == sorted(i["id"] for i in incidents)
    assert answer["incidents_failed"] == []
    assert answer["ticket"]["status"] == "resolved"
    # One e-mail per customer, each on its own ticket's thread.
    assert sorted(m.to[0] for m in mail.outbox) == [
        "ana@example.com",
        "ben@example.com",
        "chloe@example.com",
    ]
    for incident in incidents:
        ticket = Ticket.objects.get(pk=incident["id"])
        assert ticket.status == "resolved"
        reply = Message.objects.get(ticket=ticket, role="agent")
        assert reply.body == body and reply.email_message_id
        sent = next(m for m in mail.outbox if m.to[0] == ticket.customer.email)
        assert f"[{ticket.number}]" in sent.subject


def test_resolving_the_problem_resolves_its_open_incidents_and_no_others(api, outage):
    problem, incidents = outage
    pending = Ticket.objects.get(pk=incidents[1]["id"])
    pending.status = "pending"
    pending.save()
    bystander = post_ticket(api, "Cannot log in", DOWN, email="dan@example.com")["ticket"]

    response = api.patch(f"/tickets/{problem['id']}", {"status": "resolved"}, format="json")

    assert response.status_code == 200
    statuses = dict(Ticket.objects.values_list("id", "status"))
    assert statuses[incidents[0]["id"]] == statuses[incidents[1]["id"]] == "resolved"
    assert statuses[bystander["id"]] == "new"
    changed = Interaction.objects.filter(ticket_id=incidents[1]["id"], kind="status_changed")
    assert [i.data for i in changed] == [{"from": "pending", "to": "resolved"}]


def test_a_reply_without_incidents_stays_on_the_problem(api, outage):
    problem, incidents = outage
    response = api.post(
        f"/tickets/{problem['id']}/messages",
        {"kind": "reply", "body": "Looking into it."},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["incidents"] == []
    assert not Message.objects.filter(ticket_id=incidents[0]["id"], role="agent").exists()


def test_an_incident_closed_meanwhile_is_skipped_and_the_others_still_get_the_reply(
    api, outage, django_capture_on_commit_callbacks
):
    problem, incidents = outage
    gone = Ticket.objects.get(pk=incidents[0]["id"])
    Ticket.objects.filter(pk=gone.pk).update(status="closed", resolved_at=timezone.now())

    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(
            f"/tickets/{problem['id']}/messages",
            {"kind": "reply", "body": "Fixed now.", "incidents": True},
            format="json",
        ).json()

    assert answer["incidents"] == [incidents[1]["id"]]  # a closed incident is not asked
    assert [m.to[0] for m in mail.outbox if "Fixed now." in m.body] == [
        "ana@example.com",
        "chloe@example.com",
    ]


def test_an_incident_is_unlinked_with_null(api, outage):
    problem, incidents = outage
    link(api, incidents[0]["id"], None)
    assert Ticket.objects.get(pk=incidents[0]["id"]).problem_id is None
    assert Interaction.objects.filter(
        ticket_id=incidents[0]["id"], kind="incident_unlinked", data={"problem": problem["id"]}
    ).exists()
    link(api, incidents[0]["id"], None)  # again: nothing to change


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("itself", 400, "validation_error"),
        ("missing", 400, "validation_error"),
        ("too large", 400, "validation_error"),
        ("an incident as the problem", 409, "conflict"),
        ("a problem as an incident", 409, "conflict"),
        ("a closed problem", 409, "conflict"),
        ("a closed incident", 409, "conflict"),
    ],
)
def test_a_link_that_cannot_be_is_refused_and_changes_nothing(api, outage, case, status, code):
    problem, incidents = outage
    fresh = TicketFactory()
    ticket, problem_id = {
        "itself": (fresh.id, fresh.id),
        "missing": (fresh.id, fresh.id + 1000),
        "too large": (fresh.id, 2**63),
        "an incident as the problem": (fresh.id, incidents[0]["id"]),
        "a problem as an incident": (problem["id"], fresh.id),
        "a closed problem": (fresh.id, problem["id"]),
        "a closed incident": (fresh.id, problem["id"]),
    }[case]
    if case == "a closed problem":
        Ticket.objects.filter(pk=problem["id"]).update(status="closed", resolved_at=timezone.now())
    if case == "a closed incident":
        Ticket.objects.filter(pk=fresh.id).update(status="closed", resolved_at=timezone.now())
    before = dict(Ticket.objects.values_list("id", "problem_id"))
    logged = Interaction.objects.count()

    response = api.patch(f"/tickets/{ticket}", {"problem_id": problem_id}, format="json")

    assert_error(response, status, code=code, fields=["problem_id"])
    assert dict(Ticket.objects.values_list("id", "problem_id")) == before
    assert Interaction.objects.count() == logged


def test_incidents_only_go_with_an_agents_reply(api, outage):
    problem, _ = outage
    for body in (
        {"kind": "note", "body": "x", "incidents": True},
        {"kind": "reply", "role": "customer", "body": "x", "incidents": True},
    ):
        response = api.post(f"/tickets/{problem['id']}/messages", body, format="json")
        assert_error(response, 400, code="validation_error", fields=["incidents"])


def test_a_problem_with_incidents_is_not_merged_away(api, outage):
    problem, incidents = outage
    again = post_ticket(api, "Still cannot log in", DOWN, email="ana@example.com")["ticket"]

    response = api.post(f"/tickets/{problem['id']}/merge", {"into": again["id"]}, format="json")

    error = assert_error(response, 409, code="conflict", fields=["into"])
    assert "is the problem of 2 incident(s)" in error["message"]
    # The other way round is a merge like any other: the problem stays.
    merged = api.post(f"/tickets/{again['id']}/merge", {"into": problem["id"]}, format="json")
    assert merged.status_code == 200
