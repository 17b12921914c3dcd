"""The customer page: the profile, then orders, open tickets, the timeline and lifetime figures,
read-only and bounded; "View site" leads to the API docs."""

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.interactions import InteractionRecord, get_interaction_store
from customers.models import Interaction
from tests.factories import CustomerFactory, OrderFactory, TicketFactory

pytestmark = pytest.mark.django_db


def test_the_customer_page_shows_orders_tickets_and_timeline(agent_client):
    customer = CustomerFactory(email="ana@example.com", name="Ana Souza")
    order = OrderFactory(customer=customer)
    ticket = TicketFactory(customer=customer, subject="Cracked jar")
    get_interaction_store().append(
        InteractionRecord(customer_id=customer.id, kind="order_placed", summary="Placed BH-1")
    )

    response = agent_client.get(f"/admin/customers/customer/{customer.pk}/change/")

    assert response.status_code == 200
    text = response.content.decode()
    assert order.number in text and "129.00 USD" in text
    assert ticket.number in text and "Cracked jar" in text
    assert "Placed BH-1" in text
    assert 'name="total"' not in text and 'name="email"' not in text  # read-only for agents


def test_the_customer_page_costs_the_same_queries_for_a_long_history(agent_client):
    customer = CustomerFactory()
    OrderFactory(customer=customer)
    url = f"/admin/customers/customer/{customer.pk}/change/"
    with CaptureQueriesContext(connection) as short:
        agent_client.get(url)
    for _ in range(20):
        OrderFactory(customer=customer)
        TicketFactory(customer=customer)
    with CaptureQueriesContext(connection) as long:
        agent_client.get(url)
    assert len(long) == len(short)


def test_view_site_leads_to_the_api_docs(agent_client):
    response = agent_client.get("/admin/")
    assert 'href="/docs"' in response.content.decode()
    assert agent_client.get("/docs").status_code == 200


def test_the_timeline_pages_back_to_the_customers_first_event(agent_client):
    customer = CustomerFactory()
    store = get_interaction_store()
    for n in range(45):
        store.append(
            InteractionRecord(customer_id=customer.id, kind="note", summary=f"event {n:02d}")
        )
    url = f"/admin/customers/customer/{customer.pk}/change/"

    def timeline_of(response) -> str:
        text = response.content.decode()
        start = text.index('id="timeline"')
        return text[start : text.index("</div>", start)]

    seen, next_url = [], url
    while next_url and len(seen) <= 45:
        timeline = timeline_of(agent_client.get(next_url))
        seen += [int(n) for n in re.findall(r"event (\d\d)", timeline)]
        older = re.search(r'href="\?timeline_before=([0-9A-Z]+)#timeline"', timeline)
        next_url = f"{url}?timeline_before={older.group(1)}" if older else ""
    assert seen == list(reversed(range(45)))
    assert "Newest events" in timeline

    newest = timeline_of(agent_client.get(url, {"timeline_before": "not-a-cursor"}))
    assert "event 44" in newest and "Newest events" not in newest


def test_an_address_an_administrator_corrects_is_on_the_timeline(superuser_client):
    customer = CustomerFactory(email="ana@old.example", name="Ana")
    page = f"/admin/customers/customer/{customer.pk}/change/"
    form = {
        "email": "ana@new.example",
        "name": "Ana",
        "phone": "",
        "tier": customer.tier,
        "locale": customer.locale,
        "metadata": "{}",
        "external_id": "",
    }

    response = superuser_client.post(page, form)

    assert response.status_code == 302, response.content.decode()[:2000]
    customer.refresh_from_db()
    assert customer.email == "ana@new.example"
    (logged,) = Interaction.objects.filter(customer=customer, kind="customer_updated")
    assert logged.summary == "profile: email ana@old.example → ana@new.example"
    assert logged.actor == "user:root"
    assert "profile: email ana@old.example → ana@new.example" in (
        superuser_client.get(page).content.decode()
    )


def test_an_order_status_an_administrator_changes_is_on_the_timeline(superuser_client):
    order = OrderFactory(number="BH-4821702", status="shipped")
    placed = timezone.localtime(order.placed_at)
    form = {
        "customer": order.customer_id,
        "number": order.number,
        "status": "delivered",
        "total": "129.00",
        "currency": "USD",
        "placed_at_0": placed.strftime("%Y-%m-%d"),
        "placed_at_1": placed.strftime("%H:%M:%S"),
        "line_items": json.dumps(order.line_items),
    }

    response = superuser_client.post(f"/admin/customers/order/{order.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    order.refresh_from_db()
    assert order.status == "delivered"
    (logged,) = Interaction.objects.filter(customer=order.customer, kind="order_status_changed")
    assert (logged.summary, logged.actor) == ("BH-4821702: shipped → delivered", "user:root")
