"""A ticket's customer, looked up by e-mail, and their recent interactions (the `database`
store) are one statement on Postgres, and answer what the look-up and the store answer."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.interactions import InteractionRecord, get_interaction_store
from customers.models import Customer
from customers.selectors import customer_by_email, customer_by_email_with_interactions
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def history(customer, count: int, *, expired: int = 0) -> None:
    store = get_interaction_store()
    now = timezone.now()
    for n in range(count + expired):
        # Expired ones: older than the retention, so the store leaves them out.
        age = timedelta(days=10_000) if n < expired else timedelta(minutes=count - n)
        store.append(
            InteractionRecord(
                customer_id=customer.id,
                kind="note",
                summary=f"note {n}",
                data={"n": n},
                occurred_at=now - age,
            )
        )


@pytest.mark.parametrize("count,expired", [(0, 0), (1, 0), (12, 3)])
def test_answers_what_the_look_up_and_the_store_answer(count, expired):
    customer = CustomerFactory(email="known@example.com", name="", phone="+4930123")
    history(customer, count, expired=expired)
    CustomerFactory(email="other@example.com")  # someone else's history stays out
    history(Customer.objects.get(email="other@example.com"), 2)

    found, recent = customer_by_email_with_interactions("known@example.com", limit=10)

    expected = customer_by_email("known@example.com")
    assert [(f.name, getattr(found, f.attname)) for f in Customer._meta.concrete_fields] == [
        (f.name, getattr(expected, f.attname)) for f in Customer._meta.concrete_fields
    ]
    assert recent == get_interaction_store().for_customer(customer.id, limit=10).items
    assert len(recent) == min(count, 10)


def test_an_unknown_address_has_no_customer_and_no_history():
    assert customer_by_email_with_interactions("nobody@example.com", limit=10) == (None, [])


def test_one_statement_on_postgres():
    history(CustomerFactory(email="known@example.com"), 3)

    with CaptureQueriesContext(connection) as queries:
        customer_by_email_with_interactions("known@example.com", limit=10)

    assert len(queries) == (1 if connection.vendor == "postgresql" else 2)


def test_a_ticket_from_a_known_address_shows_its_history_read_with_the_customer(api):
    customer = CustomerFactory(email="known@example.com", name="")
    history(customer, 12, expired=1)
    earlier = get_interaction_store().for_customer(customer.id, limit=10).items

    payload = {
        "customer": {"email": "Known@Example.com", "name": "Kim Known"},
        "subject": "Where is my parcel?",
        "body": "It was due on Monday.",
    }
    with CaptureQueriesContext(connection) as queries:
        response = api.post("/tickets", payload, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["degraded"] == []
    assert body["customer"]["profile"]["id"] == customer.id
    assert body["customer"]["profile"]["name"] == "Kim Known"  # a missing name is filled in
    shown = [i["id"] for i in body["customer"]["recent_interactions"]]
    assert shown[1:] == [r.id for r in earlier[:9]]
    assert body["customer"]["recent_interactions"][0]["kind"] == "ticket_created"
    reads = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT")
        and ('"customers_customer"' in q["sql"] or '"customers_interaction"' in q["sql"])
    ]
    if connection.vendor == "postgresql":
        (read,) = reads  # the look-up and the history together
        assert '"customers_interaction"' in read and '"customers_customer"' in read
    else:
        assert len(reads) == 2


def test_a_ticket_from_a_new_address_creates_the_customer(api):
    payload = {
        "customer": {"email": "new@example.com", "name": "Nia New", "locale": "de"},
        "subject": "Hello",
        "body": "My first question.",
    }
    response = api.post("/tickets", payload, format="json")

    assert response.status_code == 201
    customer = Customer.objects.get(email="new@example.com")
    assert (customer.name, customer.locale) == ("Nia New", "de")
    (shown,) = response.json()["customer"]["recent_interactions"]
    assert shown["kind"] == "ticket_created"
