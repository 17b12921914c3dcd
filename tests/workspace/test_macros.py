"""Macros: canned replies whose placeholders are rendered for the ticket, sandboxed to a few
names; inserted into the reply box on the ticket page."""

import pytest
from django.core.exceptions import ValidationError

from tests.factories import TicketFactory
from tickets.macros import macro_problems, macro_render
from tickets.models import Macro

pytestmark = pytest.mark.django_db


def test_a_macro_renders_the_ticket_and_customer(support_agent):
    ticket = TicketFactory(customer__name="Ana Souza", subject="Cracked jar")
    text = macro_render(
        body="Hi {{ customer.first_name }}, about {{ ticket.number }} ({{ ticket.subject }}): "
        "{{customer.name}} <{{ customer.email }}> — {{ agent.username }}",
        ticket=ticket,
        user=support_agent,
    )
    assert text == (
        f"Hi Ana, about {ticket.number} (Cracked jar): Ana Souza <{ticket.customer.email}> — sam"
    )


def test_a_macro_does_not_escape_plain_text(support_agent):
    ticket = TicketFactory(customer__name="O'Brien & <Co>")
    assert macro_render(body="{{ customer.name }}", ticket=ticket, user=support_agent) == (
        "O'Brien & <Co>"
    )


@pytest.mark.parametrize(
    "body",
    [
        "{{ settings.SECRET_KEY }}",
        "{{ customer.delete }}",
        "{{ ticket.customer.email }}",
        "{{ customer.name|upper }}",
        "{% load static %}",
        "{% include 'admin/base.html' %}",
        "{% if customer.name %}x{% endif %}",
        "{% debug %}",
    ],
)
def test_anything_but_a_placeholder_is_refused(body):
    assert macro_problems(body)
    with pytest.raises(ValidationError):
        Macro(name="x", body=body).full_clean()


def test_an_agent_adds_a_macro_and_it_is_offered_on_the_ticket_page(agent_client):
    response = agent_client.post(
        "/admin/tickets/macro/add/",
        {"name": "Ask for a photo", "body": "Hi {{ customer.first_name }}, send a photo."},
    )
    assert response.status_code == 302, response.content[:2000]
    ticket = TicketFactory(customer__name="Ana Souza")

    text = agent_client.get(f"/admin/tickets/ticket/{ticket.pk}/change/").content.decode()

    assert 'data-insert="Hi Ana, send a photo."' in text and ">Ask for a photo</button>" in text


def test_a_bad_macro_is_a_form_error(agent_client):
    response = agent_client.post(
        "/admin/tickets/macro/add/", {"name": "Leak", "body": "{{ settings.SECRET_KEY }}"}
    )
    assert response.status_code == 200
    assert "Unknown placeholder" in response.content.decode()
    assert not Macro.objects.exists()
