"""The conversation's storage: a ticket's body is its first message (new tickets, migrated
tickets), and the admin shows the thread read-only."""

import importlib

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model

from tests.factories import SuggestionFactory, TicketFactory
from tickets.models import Message, Suggestion

pytestmark = pytest.mark.django_db

first_messages = importlib.import_module("tickets.migrations.0004_first_messages")


def test_a_new_ticket_stores_its_body_as_the_first_customer_message(api):
    body = "Hi,\nmy kettle leaks from the base when it boils.\nThanks,\nAna"

    response = api.post(
        "/tickets",
        {"customer": {"email": "ana@example.com"}, "subject": "Kettle leaks", "body": body},
        format="json",
    )

    assert response.status_code == 201, response.content
    ticket_id = response.json()["ticket"]["id"]
    (message,) = Message.objects.filter(ticket_id=ticket_id)
    assert (message.role, message.kind, message.body) == ("customer", "reply", body)
    assert message.body_clean == "my kettle leaks from the base when it boils."
    assert message.sender_address == "ana@example.com"
    # Round 1 of suggestions belongs to that message.
    suggestions = Suggestion.objects.filter(ticket_id=ticket_id)
    assert suggestions.count() == len(response.json()["suggestions"]) > 0
    assert set(suggestions.values_list("message_id", "round")) == {(message.id, 1)}


def test_the_data_migration_gives_each_older_ticket_its_first_message():
    old = TicketFactory(first_message=False, body="Where is my order?", body_clean="")
    SuggestionFactory(ticket=old, rank=1)
    SuggestionFactory(ticket=old, rank=2)
    current = TicketFactory()  # already has its first message

    first_messages.add_first_messages(apps, None)
    first_messages.add_first_messages(apps, None)  # a second run adds nothing

    (message,) = Message.objects.filter(ticket=old)
    assert (message.role, message.kind, message.body) == ("customer", "reply", "Where is my order?")
    assert message.body_clean == "Where is my order?"  # never empty: falls back to the body
    assert message.created_at == old.created_at
    assert message.channel == old.channel
    assert message.sender_address == old.customer.email
    assert set(Suggestion.objects.filter(ticket=old).values_list("message_id", flat=True)) == {
        message.id
    }
    assert Message.objects.filter(ticket=current).count() == 1


def test_the_admin_ticket_page_shows_the_conversation_read_only(client):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    ticket = TicketFactory(body="The jar of my blender is cracked.")

    response = client.get(f"/admin/tickets/ticket/{ticket.id}/change/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "The jar of my blender is cracked." in page
    # Read-only: no form field for a message body, no "add another message" row.
    assert 'name="messages-0-body"' not in page
    assert "messages-__prefix__" not in page
