"""The ticket page's similar open tickets where they come from Bedrock's Titan embeddings
(SIMILAR_ENCODER=bedrock, the Lambda's way; Titan stubbed: tests/titan_stub.py)."""

import pytest

from tests.factories import TicketFactory
from tests.titan_stub import titan_vector
from triage import similar_bedrock

pytestmark = pytest.mark.django_db

REFUND = ("Refund not received", "I returned my blender two weeks ago and still have no refund.")
PASSWORD = ("Cannot log in", "I forgot my password and the reset e-mail never arrives.")


def test_the_ticket_page_lists_similar_tickets_from_titan_and_says_when_it_cannot(
    agent_client, titan
):
    first = TicketFactory(subject=REFUND[0], body_clean=REFUND[1])
    twin = TicketFactory(customer=first.customer, subject=REFUND[0], body_clean=REFUND[1])
    lone = TicketFactory(subject=PASSWORD[0], body_clean=PASSWORD[1])
    for ticket in (first, twin):
        similar_bedrock.store(ticket_id=ticket.pk, vector=titan_vector(f"{REFUND[0]}\n{REFUND[1]}"))
    titan.fails(*PASSWORD)  # the lone ticket has none, and Titan cannot make one now

    text = agent_client.get(f"/admin/tickets/ticket/{first.pk}/change/").content.decode()
    similar = text[text.index('id="similar"') : text.index('id="customer"')]
    assert twin.number in similar and "same customer: probable duplicate" in similar

    text = agent_client.get(f"/admin/tickets/ticket/{lone.pk}/change/").content.decode()
    similar = text[text.index('id="similar"') : text.index('id="customer"')]
    assert "this ticket has no embedding, and none can be made just now" in similar
