"""The ticket page's similar open tickets, and merging a duplicate from it (services.ticket_merge,
as POST /tickets/{id}/merge)."""

import pytest
from django.contrib.messages import get_messages

from tests.helpers import post_ticket
from tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db

JAR = "My blender jar arrived cracked and it leaks everywhere. How do I get a replacement jar?"


def page(ticket_id: int) -> str:
    return f"/admin/tickets/ticket/{ticket_id}/change/"


def notes(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def tickets(api):
    """Lena wrote twice about her jar; Omar has the same problem."""
    first = post_ticket(api, "Cracked jar", JAR, email="lena@example.com")["ticket"]
    again = post_ticket(
        api, "Jar broken", f"{JAR} Please hurry.", email="lena@example.com", priority="high"
    )["ticket"]
    omar = post_ticket(api, "Cracked jar", JAR, email="omar@example.com")["ticket"]
    return first, again, omar


def test_the_page_lists_similar_open_tickets_with_a_merge_button_for_the_customers_own(
    agent_client, tickets
):
    first, again, omar = tickets

    text = agent_client.get(page(first["id"])).content.decode()

    similar = text[text.index('id="similar"') : text.index('id="customer"')]
    assert again["number"] in similar and "same customer: probable duplicate" in similar
    assert omar["number"] in similar and "omar@example.com: possible incident" in similar
    # Only the customer's own duplicate can be merged (another customer's is an incident).
    assert similar.count('name="_action" value="merge"') == 1
    assert f'name="duplicate" value="{again["id"]}"' in similar
    assert f'name="duplicate" value="{omar["id"]}"' not in similar


def test_merging_a_duplicate_from_the_page_closes_it_and_brings_its_story_here(
    agent_client, tickets, support_agent
):
    first, again, _ = tickets

    response = agent_client.post(page(first["id"]), {"_action": "merge", "duplicate": again["id"]})

    assert response.status_code == 302
    assert notes(response) == [
        f"{again['number']} “Jar broken” was merged into this ticket and closed; its customer's "
        "messages are in the note below."
    ]
    duplicate = Ticket.objects.get(pk=again["id"])
    assert duplicate.status == "closed" and duplicate.merged_into_id == first["id"]
    kept = Ticket.objects.get(pk=first["id"])
    assert kept.priority == "high"
    note = Message.objects.get(ticket=kept, kind="note")
    assert note.channel == "workspace" and note.author_user == support_agent
    assert "Please hurry." in note.body

    here = agent_client.get(page(first["id"])).content.decode()
    assert 'id="merged-here"' in here and again["number"] in here
    assert f'name="duplicate" value="{again["id"]}"' not in here  # closed: no longer similar
    there = agent_client.get(page(again["id"])).content.decode()
    assert 'id="merged-into"' in there and first["number"] in there
    assert 'id="similar"' not in there  # a closed ticket lists no similar tickets
    assert "Merge into this ticket" not in there


def test_another_customers_ticket_posted_to_the_page_is_refused_with_the_reason(
    agent_client, tickets
):
    first, _, omar = tickets

    response = agent_client.post(page(first["id"]), {"_action": "merge", "duplicate": omar["id"]})

    assert response.status_code == 302
    (message,) = notes(response)
    assert "another customer's ticket" in message
    assert Ticket.objects.get(pk=omar["id"]).merged_into_id is None
    assert not Message.objects.filter(kind="note").exists()


def test_a_duplicate_that_does_not_exist_is_refused(agent_client, tickets):
    first, _, _ = tickets
    response = agent_client.post(page(first["id"]), {"_action": "merge", "duplicate": 999999})
    assert response.status_code == 302
    assert notes(response) == ["No ticket HD-999999 to merge."]


def test_the_customers_other_open_tickets_can_be_merged_even_when_not_similar(agent_client, api):
    first = post_ticket(api, "Cracked jar", JAR, email="lena@example.com")["ticket"]
    other = post_ticket(
        api, "Invoice", "Please send me the invoice for order 1042.", email="lena@example.com"
    )["ticket"]

    text = agent_client.get(page(first["id"])).content.decode()

    customer = text[text.index('id="customer"') :]
    assert f'name="duplicate" value="{other["id"]}"' in customer
    similar = text[text.index('id="similar"') : text.index('id="customer"')]
    assert other["number"] not in similar


def test_staff_who_may_not_change_tickets_cannot_merge(tickets, agent):
    from django.test import Client

    first, again, _ = tickets
    client = Client()
    client.force_login(agent)  # staff, no group, no permissions
    response = client.post(page(first["id"]), {"_action": "merge", "duplicate": again["id"]})
    assert response.status_code == 403
    assert Ticket.objects.get(pk=again["id"]).merged_into_id is None
