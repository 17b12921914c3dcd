"""The ticket page's problem and incident tickets: linking another customer's similar ticket as
an incident, the incidents card, a reply that also goes to every incident's customer, unlinking."""

import pytest
from django.contrib.messages import get_messages
from django.core import mail

from tests.helpers import post_ticket
from tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db

DOWN = "I cannot log in to my account since this morning, the page just says error 502."


def page(ticket_id: int) -> str:
    return f"/admin/tickets/ticket/{ticket_id}/change/"


def notes(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def outage(api):
    return [
        post_ticket(api, "Cannot log in", DOWN, email=f"{name}@example.com")["ticket"]
        for name in ("ana", "ben", "chloe")
    ]


def test_another_customers_similar_ticket_is_linked_as_an_incident_from_the_page(
    agent_client, outage
):
    problem, ben, chloe = outage
    text = agent_client.get(page(problem["id"])).content.decode()
    similar = text[text.index('id="similar"') : text.index('id="customer"')]
    assert similar.count('name="_action" value="link_incident"') == 2

    response = agent_client.post(
        page(problem["id"]), {"_action": "link_incident", "incident": ben["id"]}
    )

    assert notes(response) == [f"{ben['number']} is now an incident of this ticket."]
    assert Ticket.objects.get(pk=ben["id"]).problem_id == problem["id"]
    text = agent_client.get(page(problem["id"])).content.decode()
    incidents = text[text.index('id="incidents"') : text.index('id="suggestions"')]
    assert "Incidents (1 open)" in incidents and "ben@example.com" in incidents
    assert 'id="reply-incidents"' in text and "the 1 open incident " in text
    # The incident's page says whose incident it is, and offers no further link from there.
    there = agent_client.get(page(ben["id"])).content.decode()
    assert 'id="problem"' in there and problem["number"] in there
    assert 'value="link_incident"' not in there


def test_a_reply_from_the_page_also_reaches_the_incidents_customers(
    agent_client, outage, django_capture_on_commit_callbacks
):
    problem, ben, chloe = outage
    for incident in (ben, chloe):
        agent_client.post(
            page(problem["id"]), {"_action": "link_incident", "incident": incident["id"]}
        )

    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(
            page(problem["id"]),
            {
                "_action": "reply",
                "reply-body": "It was our login service; it works again.",
                "reply-status": "resolved",
                "reply-incidents": "on",
            },
        )

    said = notes(response)[-1]  # after the links' own messages
    assert said.endswith("Also sent to the customers of 2 incident(s).")
    assert sorted(m.to[0] for m in mail.outbox) == [
        "ana@example.com",
        "ben@example.com",
        "chloe@example.com",
    ]
    assert set(Ticket.objects.values_list("status", flat=True)) == {"resolved"}


def test_a_reply_without_the_box_ticked_stays_on_the_problem(
    agent_client, outage, django_capture_on_commit_callbacks
):
    problem, ben, _ = outage
    agent_client.post(page(problem["id"]), {"_action": "link_incident", "incident": ben["id"]})
    with django_capture_on_commit_callbacks(execute=True):
        agent_client.post(page(problem["id"]), {"_action": "reply", "reply-body": "On it."})
    assert [m.to[0] for m in mail.outbox] == ["ana@example.com"]
    assert not Message.objects.filter(ticket_id=ben["id"], role="agent").exists()


def test_an_incident_is_unlinked_from_its_page(agent_client, outage):
    problem, ben, _ = outage
    agent_client.post(page(problem["id"]), {"_action": "link_incident", "incident": ben["id"]})

    response = agent_client.post(page(ben["id"]), {"_action": "unlink_problem"})

    assert notes(response)[-1] == f"This ticket is no longer an incident of {problem['number']}."
    assert Ticket.objects.get(pk=ben["id"]).problem_id is None


def test_a_problem_cannot_become_an_incident_from_the_page(agent_client, outage):
    problem, ben, chloe = outage
    agent_client.post(page(problem["id"]), {"_action": "link_incident", "incident": ben["id"]})

    response = agent_client.post(
        page(chloe["id"]), {"_action": "link_incident", "incident": problem["id"]}
    )

    assert "a problem is not an incident" in notes(response)[-1]
    assert Ticket.objects.get(pk=problem["id"]).problem_id is None


def controls(ticket: dict, **changes) -> dict:
    """The ticket page's controls form as the browser posts it (every field, as shown)."""
    return {
        "_action": "update",
        "controls-status": ticket["status"],
        "controls-priority": ticket["priority"],
        "controls-assignee": "",
        "controls-category": "",
        "controls-problem": "",
        **{f"controls-{name}": value for name, value in changes.items()},
    }


def test_any_ticket_is_linked_to_a_problem_by_its_number_in_the_controls(agent_client, api):
    problem = post_ticket(api, "Cannot log in", DOWN, email="ana@example.com")["ticket"]
    worded = post_ticket(  # not similar enough to be offered: linked by number
        api, "App broken", "The app shows a blank screen after the update.", email="eve@x.org"
    )["ticket"]

    response = agent_client.post(
        page(worded["id"]), controls(worded, problem=f"hd-{problem['id']}")
    )

    assert response.status_code == 302
    assert Ticket.objects.get(pk=worded["id"]).problem_id == problem["id"]
    text = agent_client.get(page(worded["id"])).content.decode()
    assert f'name="controls-problem" value="{problem["number"]}"' in text
    # Cleared: unlinked.
    agent_client.post(page(worded["id"]), controls(worded, problem=""))
    assert Ticket.objects.get(pk=worded["id"]).problem_id is None


def test_a_problem_field_that_is_not_a_ticket_number_is_a_form_error(agent_client, api):
    ticket = post_ticket(api, "Cannot log in", DOWN, email="ana@example.com")["ticket"]

    response = agent_client.post(page(ticket["id"]), controls(ticket, problem="the login one"))

    assert response.status_code == 200  # the page again, with the error
    assert "A ticket number, such as HD-000123." in response.content.decode()
    assert Ticket.objects.get(pk=ticket["id"]).problem_id is None


def test_the_ticket_page_says_how_many_incident_replies_are_queued(api, agent_client, settings):
    """Past INCIDENT_REPLIES_INLINE the rest wait for the drain (tests/tickets/
    test_incident_replies.py), and the agent is told so."""
    settings.INCIDENT_REPLIES_INLINE = 2
    tickets = [
        post_ticket(api, "Cannot log in", "The login page says error 502.", email=f"{n}@x.org")
        for n in ("ana", "ben", "chloe", "dan", "eve", "finn")
    ]
    problem, *incidents = [t["ticket"] for t in tickets]
    Ticket.objects.filter(pk__in=[i["id"] for i in incidents]).update(problem_id=problem["id"])
    fixed = "Our login service failed this morning. It is fixed now."

    response = agent_client.post(
        f"/admin/tickets/ticket/{problem['id']}/change/",
        {"_action": "reply", "reply-body": fixed, "reply-status": "", "reply-incidents": "on"},
        follow=True,
    )

    notes = [str(m) for m in response.context["messages"]]
    assert any(
        "Also sent to the customers of 2 incident(s). 3 more are queued" in n for n in notes
    ), notes


def test_the_problem_page_shows_replies_still_queued_and_those_refused(api, agent_client, settings):
    from tickets import services

    settings.INCIDENT_REPLIES_INLINE = 0
    tickets = [
        post_ticket(api, "Cannot log in", "The login page says error 502.", email=f"{n}@x.org")
        for n in ("ana", "ben", "chloe", "dan")
    ]
    problem, *incidents = [t["ticket"] for t in tickets]
    Ticket.objects.filter(pk__in=[i["id"] for i in incidents]).update(problem_id=problem["id"])
    services.problem_reply(
        problem=Ticket.objects.get(pk=problem["id"]), body="Fixed.", actor="agent:test"
    )
    closed = incidents[0]
    Ticket.objects.filter(pk=closed["id"]).update(status="closed", resolved_at="2026-12-07T00:00Z")
    services.incident_replies_drain(limit=1)  # the closed one: refused

    text = agent_client.get(f"/admin/tickets/ticket/{problem['id']}/change/").content.decode()

    card = text[text.index('id="incidents"') : text.index('id="suggestions"')]
    assert "2 replies to incidents queued: the scheduled drain posts and e-mails them." in card
    assert f'data-refused="{closed["number"]}"' in card and "is closed" in card
    plain = agent_client.get(f"/admin/tickets/ticket/{incidents[1]['id']}/change/")
    assert "incident-replies-waiting" not in plain.content.decode()
