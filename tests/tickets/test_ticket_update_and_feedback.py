"""GET/PATCH /tickets/{id}, the ticket list's filters, /context and /feedback."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Interaction
from tests.factories import CustomerFactory, OrderFactory, SuggestionFactory, TicketFactory
from tests.helpers import assert_error
from tickets.models import Feedback, Ticket

pytestmark = pytest.mark.django_db

CUSTOMER_360_KEYS = {"profile", "recent_orders", "recent_interactions", "open_tickets", "lifetime"}


def closed_ticket(**kwargs):
    return TicketFactory(status=Ticket.Status.CLOSED, resolved_at=timezone.now(), **kwargs)


def ids(response):
    return {row["id"] for row in response.json()["results"]}


# --- read -------------------------------------------------------------------------------------


def test_get_ticket_returns_its_json(api):
    ticket = TicketFactory(subject="Kettle leaks", priority=Ticket.Priority.HIGH)

    response = api.get(f"/tickets/{ticket.id}")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == ticket.id
    assert body["number"] == f"HD-{ticket.id:06d}"
    assert (body["subject"], body["priority"], body["status"]) == ("Kettle leaks", "high", "new")
    assert body["first_response_at"] is None
    assert body["resolved_at"] is None


def test_get_missing_ticket_is_a_json_404(api):
    response = api.get("/tickets/999999")

    assert_error(response, 404, code="not_found")


def test_get_ticket_with_an_id_beyond_bigint_is_a_json_404(api):
    response = api.get(f"/tickets/{10**30}")

    assert_error(response, 404, code="not_found")


def test_context_returns_the_same_customer_shape_as_ticket_creation(api):
    created = api.post(
        "/tickets",
        {
            "customer": {"email": "grace@example.com", "name": "Grace"},
            "subject": "Refund for damaged blender",
            "body": "My order arrived broken, how do I get my money back?",
        },
        format="json",
    ).json()
    ticket_id = created["ticket"]["id"]
    OrderFactory(customer_id=created["ticket"]["customer_id"])

    response = api.get(f"/tickets/{ticket_id}/context")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) >= {"ticket", "customer", "suggestions", "history"}
    assert set(body["customer"]) == set(created["customer"]) == CUSTOMER_360_KEYS
    assert body["customer"]["profile"] == created["customer"]["profile"]
    assert set(body["customer"]["lifetime"]) == set(created["customer"]["lifetime"])
    assert body["customer"]["lifetime"]["orders"] == 1
    assert body["customer"]["recent_orders"][0]["total"] == "129.00"
    assert body["suggestions"] == created["suggestions"]
    assert [h["kind"] for h in body["history"]] == ["ticket_created"]


def test_context_of_missing_ticket_is_a_json_404(api):
    assert_error(api.get("/tickets/424242/context"), 404, code="not_found")


# --- list and filters -------------------------------------------------------------------------


def test_list_is_paginated_newest_first(api):
    older, newer = TicketFactory(), TicketFactory()

    response = api.get("/tickets")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [newer.id, older.id]


def test_list_filters_by_status(api):
    new = TicketFactory()
    pending = TicketFactory(status=Ticket.Status.PENDING)
    closed = closed_ticket()

    assert ids(api.get("/tickets", {"status": "pending"})) == {pending.id}
    assert ids(api.get("/tickets?status=new&status=closed")) == {new.id, closed.id}


def test_list_filters_by_priority(api):
    TicketFactory(priority=Ticket.Priority.LOW)
    urgent = TicketFactory(priority=Ticket.Priority.URGENT)

    assert ids(api.get("/tickets", {"priority": "urgent"})) == {urgent.id}


def test_list_filters_by_customer(api):
    customer = CustomerFactory()
    mine = TicketFactory(customer=customer)
    TicketFactory()

    assert ids(api.get("/tickets", {"customer": customer.id})) == {mine.id}
    assert ids(api.get("/tickets", {"customer_email": customer.email.upper()})) == {mine.id}


def test_list_filters_by_creation_date(api):
    old, recent = TicketFactory(), TicketFactory()
    Ticket.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    cutoff = (timezone.now() - timedelta(days=7)).isoformat()

    assert ids(api.get("/tickets", {"created_after": cutoff})) == {recent.id}
    assert ids(api.get("/tickets", {"created_before": cutoff})) == {old.id}


def test_list_searches_subject_body_and_customer(api):
    kettle = TicketFactory(subject="Kettle leaks", body="Water everywhere")
    TicketFactory(subject="Blender noise", body="It rattles")
    vip = TicketFactory(customer=CustomerFactory(email="vip@bigcorp.example"))

    assert ids(api.get("/tickets", {"search": "kettle"})) == {kettle.id}
    assert ids(api.get("/tickets", {"search": "everywhere"})) == {kettle.id}
    assert ids(api.get("/tickets", {"search": "bigcorp"})) == {vip.id}


@pytest.mark.parametrize(
    "params",
    [
        {"status": "bogus"},
        {"priority": "meh"},
        {"customer": "abc"},
        {"created_after": "last tuesday"},
        {"created_before": "2024-13-45"},
    ],
)
def test_list_with_invalid_filter_is_a_400(api, params):
    response = api.get("/tickets", params)

    assert_error(response, 400, fields=list(params))


def test_list_page_out_of_range_is_a_json_404(api):
    TicketFactory()

    assert_error(api.get("/tickets", {"page": 99}), 404, code="not_found")


# --- PATCH ------------------------------------------------------------------------------------


def test_first_status_change_sets_first_response_and_logs_the_change(api):
    ticket = TicketFactory()

    response = api.patch(f"/tickets/{ticket.id}", {"status": "open"}, format="json")

    assert response.status_code == 200, response.content
    ticket.refresh_from_db()
    assert ticket.status == "open"
    assert ticket.first_response_at is not None
    assert ticket.resolved_at is None
    assert response.json()["status"] == "open"
    assert response.json()["first_response_at"] is not None
    change = Interaction.objects.get(ticket_id=ticket.id)
    assert change.kind == "status_changed"
    assert change.data == {"from": "new", "to": "open"}
    assert change.customer_id == ticket.customer_id
    assert change.actor.startswith("api-key:")


def test_resolving_sets_resolved_at_and_reopening_clears_it(api):
    ticket = TicketFactory(status=Ticket.Status.OPEN)

    resolved = api.patch(f"/tickets/{ticket.id}", {"status": "resolved"}, format="json")
    ticket.refresh_from_db()
    resolved_at = ticket.resolved_at
    reopened = api.patch(f"/tickets/{ticket.id}", {"status": "open"}, format="json")

    assert resolved.status_code == reopened.status_code == 200
    assert resolved_at is not None
    assert resolved.json()["resolved_at"] is not None
    ticket.refresh_from_db()
    assert ticket.status == "open"
    assert ticket.resolved_at is None
    assert ticket.first_response_at is None  # it never was new → open here
    assert list(
        Interaction.objects.filter(ticket_id=ticket.id)
        .order_by("id")
        .values_list("data", flat=True)
    ) == [{"from": "open", "to": "resolved"}, {"from": "resolved", "to": "open"}]


def test_closing_a_new_ticket_sets_both_timestamps(staff):
    ticket = TicketFactory()

    response = staff.patch(f"/tickets/{ticket.id}", {"status": "closed"}, format="json")

    assert response.status_code == 200, response.content
    ticket.refresh_from_db()
    assert ticket.status == "closed"
    assert ticket.first_response_at is not None
    assert ticket.resolved_at is not None
    assert Interaction.objects.get(ticket_id=ticket.id).actor == "user:agent"


@pytest.mark.parametrize("target", ["open", "new", "pending", "resolved"])
def test_closed_ticket_cannot_change_status(api, target):
    ticket = closed_ticket()

    response = api.patch(f"/tickets/{ticket.id}", {"status": target}, format="json")

    assert_error(response, 409, code="invalid_transition", fields=["status"])
    ticket.refresh_from_db()
    assert ticket.status == "closed"
    assert not Interaction.objects.exists()


def test_open_ticket_cannot_go_back_to_new(api):
    ticket = TicketFactory(status=Ticket.Status.OPEN)

    response = api.patch(f"/tickets/{ticket.id}", {"status": "new"}, format="json")

    assert_error(response, 409, code="invalid_transition")
    ticket.refresh_from_db()
    assert ticket.status == "open"


def test_rejected_transition_does_not_apply_other_changes(api, agent):
    ticket = closed_ticket(priority=Ticket.Priority.LOW)

    response = api.patch(
        f"/tickets/{ticket.id}",
        {"status": "open", "priority": "urgent", "assignee": agent.username},
        format="json",
    )

    assert_error(response, 409)
    ticket.refresh_from_db()
    assert (ticket.priority, ticket.assignee_id) == ("low", None)


def test_patch_priority_and_assignee_without_status_change(api, agent):
    ticket = TicketFactory()

    response = api.patch(
        f"/tickets/{ticket.id}", {"priority": "urgent", "assignee": "agent"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert (response.json()["priority"], response.json()["assignee"]) == ("urgent", "agent")
    ticket.refresh_from_db()
    assert (ticket.priority, ticket.assignee_id, ticket.status) == ("urgent", agent.id, "new")
    # One record of both changes (tickets.changes); the status did not change.
    [logged] = Interaction.objects.all()
    assert logged.kind == "ticket_changed"
    assert set(logged.data["changes"]) == {"priority", "assignee"}

    with CaptureQueriesContext(connection) as queries:
        reprioritised = api.patch(f"/tickets/{ticket.id}", {"priority": "low"}, format="json")

    assert reprioritised.json()["assignee"] == "agent"
    user_table = get_user_model()._meta.db_table
    assert not [q for q in queries if f'FROM "{user_table}"' in q["sql"]], (
        "the kept assignee is read with the ticket, not by a query of its own"
    )

    unassigned = api.patch(f"/tickets/{ticket.id}", {"assignee": None}, format="json")

    assert unassigned.json()["assignee"] is None
    ticket.refresh_from_db()
    assert ticket.assignee_id is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"status": "archived"}, "status"),
        ({"priority": "whenever"}, "priority"),
        ({"assignee": "nobody"}, "assignee"),
        ({"assignee": "shopper"}, "assignee"),  # exists, but is not staff
    ],
)
def test_patch_with_invalid_values_is_a_400(api, customer_user_client, payload, field):
    ticket = TicketFactory()

    response = api.patch(f"/tickets/{ticket.id}", payload, format="json")

    assert_error(response, 400, code="validation_error", fields=[field])
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.assignee_id) == ("new", "normal", None)


@pytest.mark.parametrize("text", ["[]", '"open"', "{", "not json"])
def test_patch_with_a_body_that_is_not_an_object_is_a_400(api, text):
    ticket = TicketFactory()

    response = api.patch(f"/tickets/{ticket.id}", data=text, content_type="application/json")

    assert_error(response, 400)


def test_patch_missing_ticket_is_a_json_404(api):
    assert_error(api.patch("/tickets/999999", {"status": "open"}, format="json"), 404)


def test_patch_with_wrong_content_type_is_a_415(api):
    ticket = TicketFactory()

    response = api.patch(f"/tickets/{ticket.id}", data="status=open", content_type="text/plain")

    assert_error(response, 415)
    ticket.refresh_from_db()
    assert ticket.status == "new"


# --- feedback ---------------------------------------------------------------------------------


def test_feedback_is_stored_and_logged(api):
    suggestion = SuggestionFactory()
    ticket = suggestion.ticket

    response = api.post(
        f"/tickets/{ticket.id}/feedback",
        {"suggestion_id": suggestion.id, "helpful": True, "comment": "Spot on 👍"},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    feedback = Feedback.objects.get()
    assert body["id"] == feedback.id
    assert (body["ticket_id"], body["suggestion_id"]) == (ticket.id, suggestion.id)
    assert (body["helpful"], body["resolved"], body["ticket_status"]) == (True, False, "new")
    assert (feedback.helpful, feedback.resolved, feedback.comment) == (True, False, "Spot on 👍")
    assert feedback.submitted_by.startswith("api-key:")
    assert feedback.user is None
    logged = Interaction.objects.get(ticket_id=ticket.id)
    assert logged.kind == "feedback"
    assert logged.data == {"suggestion_id": suggestion.id, "helpful": True, "resolved": False}
    ticket.refresh_from_db()
    assert ticket.status == "new"


def test_feedback_with_resolved_resolves_the_ticket(staff, agent):
    suggestion = SuggestionFactory()
    ticket = suggestion.ticket

    response = staff.post(
        f"/tickets/{ticket.id}/feedback",
        {"suggestion_id": suggestion.id, "helpful": True, "resolved": True},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["ticket_status"] == "resolved"
    ticket.refresh_from_db()
    assert ticket.status == "resolved"
    assert ticket.resolved_at is not None
    feedback = Feedback.objects.get()
    assert feedback.resolved is True
    assert feedback.user == agent
    assert set(Interaction.objects.values_list("kind", flat=True)) == {
        "feedback",
        "status_changed",
    }


def test_feedback_on_a_ticket_created_by_the_api_points_at_a_real_suggestion(api):
    created = api.post(
        "/tickets",
        {
            "customer": {"email": "ada@example.com"},
            "subject": "Refund for damaged blender",
            "body": "My order arrived broken, how do I get my money back?",
        },
        format="json",
    ).json()
    first = created["suggestions"][0]

    response = api.post(
        f"/tickets/{created['ticket']['id']}/feedback",
        {"suggestion_id": first["id"], "helpful": False},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert Feedback.objects.get().suggestion_id == first["id"]


def test_feedback_for_a_suggestion_of_another_ticket_is_a_400(api):
    ticket = TicketFactory()
    SuggestionFactory(ticket=ticket)
    elsewhere = SuggestionFactory()

    response = api.post(
        f"/tickets/{ticket.id}/feedback",
        {"suggestion_id": elsewhere.id, "helpful": True, "resolved": True},
        format="json",
    )

    assert_error(response, 400, code="validation_error", fields=["suggestion_id"])
    assert not Feedback.objects.exists()
    assert not Interaction.objects.exists()
    ticket.refresh_from_db()
    assert ticket.status == "new"


def test_feedback_on_a_missing_ticket_is_a_404(api):
    suggestion = SuggestionFactory()

    response = api.post(
        "/tickets/999999/feedback",
        {"suggestion_id": suggestion.id, "helpful": True},
        format="json",
    )

    assert_error(response, 404, code="not_found")
    assert not Feedback.objects.exists()
    assert not Interaction.objects.exists()


SUGGESTION = object()  # stands for the id of the ticket's own suggestion


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, ["suggestion_id", "helpful"]),
        ({"helpful": True}, ["suggestion_id"]),
        ({"suggestion_id": SUGGESTION}, ["helpful"]),
        ({"suggestion_id": "x", "helpful": True}, ["suggestion_id"]),
        ({"suggestion_id": 10**30, "helpful": True}, ["suggestion_id"]),
        ({"suggestion_id": SUGGESTION, "helpful": "maybe"}, ["helpful"]),
        ({"suggestion_id": SUGGESTION, "helpful": True, "comment": "c" * 5001}, ["comment"]),
        ({"suggestion_id": SUGGESTION, "helpful": True, "comment": "a\x00b"}, ["comment"]),
    ],
)
def test_feedback_with_invalid_input_is_a_400(api, payload, fields):
    suggestion = SuggestionFactory()
    payload = {k: suggestion.id if v is SUGGESTION else v for k, v in payload.items()}

    response = api.post(f"/tickets/{suggestion.ticket_id}/feedback", payload, format="json")

    assert_error(response, 400, code="validation_error", fields=fields)
    assert not Feedback.objects.exists()
    assert not Interaction.objects.exists()


def test_feedback_with_a_lone_surrogate_in_the_comment_is_a_400(api):
    suggestion = SuggestionFactory()

    response = api.post(
        f"/tickets/{suggestion.ticket_id}/feedback",
        data=f'{{"suggestion_id": {suggestion.id}, "helpful": true, "comment": "\\udc00"}}',
        content_type="application/json",
    )

    assert_error(response, 400, fields=["comment"])
    assert not Feedback.objects.exists()


def test_feedback_endpoint_only_accepts_post(api):
    suggestion = SuggestionFactory()

    response = api.get(f"/tickets/{suggestion.ticket_id}/feedback")

    assert_error(response, 405, code="method_not_allowed")
    assert "GET" not in response["Allow"]
    assert "POST" in response["Allow"]


def test_context_endpoint_is_read_only(api):
    ticket = TicketFactory()

    response = api.patch(f"/tickets/{ticket.id}/context", {"status": "open"}, format="json")

    assert_error(response, 405, code="method_not_allowed")
    assert "PATCH" not in response["Allow"]
    ticket.refresh_from_db()
    assert ticket.status == "new"


def test_a_second_answer_on_a_suggestion_updates_the_first(api):
    """A second click (or a change of mind) from the same caller is one row, updated."""
    suggestion = SuggestionFactory()
    url = f"/tickets/{suggestion.ticket_id}/feedback"

    first = api.post(url, {"suggestion_id": suggestion.id, "helpful": True}, format="json")
    second = api.post(
        url,
        {"suggestion_id": suggestion.id, "helpful": False, "comment": "Wrong model"},
        format="json",
    )

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    feedback = Feedback.objects.get()
    assert (feedback.helpful, feedback.comment) == (False, "Wrong model")
    logged = Interaction.objects.filter(ticket_id=suggestion.ticket_id, kind="feedback")
    assert [i.data["helpful"] for i in logged.order_by("id")] == [True, False]


def test_answers_from_two_callers_are_two_rows(api, staff):
    suggestion = SuggestionFactory()
    url = f"/tickets/{suggestion.ticket_id}/feedback"
    for client in (api, staff):
        response = client.post(
            url, {"suggestion_id": suggestion.id, "helpful": True}, format="json"
        )
        assert response.status_code == 201, response.content
    assert Feedback.objects.count() == 2
