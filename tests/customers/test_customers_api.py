"""/customers and /orders: list, filter, create, read and PATCH for CRM integrations."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.models import Customer, Interaction, Order
from tests.factories import CustomerFactory, OrderFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def order_payload(customer, **overrides):
    payload = {
        "customer_id": customer.id,
        "number": "BH-1000001",
        "status": "paid",
        "total": "249.90",
        "currency": "gbp",
        "placed_at": "2025-03-01T10:00:00Z",
        "line_items": [
            {"sku": "KT-1", "name": "Kettle", "quantity": 2, "unit_price": "99.95"},
            {"sku": "MG-2", "name": "Mug ☕", "quantity": 1, "unit_price": "50.00"},
        ],
    }
    payload.update(overrides)
    return payload


# --- customers: read and list -----------------------------------------------------------------


def test_list_customers_is_paginated(api):
    CustomerFactory.create_batch(3)

    response = api.get("/customers")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert set(body["results"][0]) >= {"id", "email", "name", "tier", "external_id", "metadata"}


def test_list_customers_filters_by_email_case_insensitively(api):
    ada = CustomerFactory(email="ada@example.com")
    CustomerFactory()

    assert ids(api.get("/customers", {"email": "  ADA@Example.com "})) == {ada.id}


def test_list_customers_filters_by_tier_and_external_id(api):
    premium = CustomerFactory(tier=Customer.Tier.PREMIUM, external_id="crm-7")
    CustomerFactory()

    assert ids(api.get("/customers", {"tier": "premium"})) == {premium.id}
    assert ids(api.get("/customers", {"external_id": "crm-7"})) == {premium.id}


def test_list_customers_searches_name_and_email(api):
    grace = CustomerFactory(name="Grace Hopper", email="grace@navy.example")
    CustomerFactory(name="Alan Turing")

    assert ids(api.get("/customers", {"search": "hopper"})) == {grace.id}
    assert ids(api.get("/customers", {"search": "navy"})) == {grace.id}


def test_list_customers_with_unknown_tier_is_a_400(api):
    assert_error(api.get("/customers", {"tier": "platinum"}), 400, fields=["tier"])


def test_read_customer(staff):
    customer = CustomerFactory(name="Ada", metadata={"crm": "hubspot"})

    response = staff.get(f"/customers/{customer.id}")

    assert response.status_code == 200
    assert response.json()["email"] == customer.email
    assert response.json()["metadata"] == {"crm": "hubspot"}


def test_read_missing_customer_is_a_json_404(api):
    assert_error(api.get("/customers/999999"), 404, code="not_found")


# --- customers: create ------------------------------------------------------------------------


def test_create_customer_normalises_email_and_stores_fields(api):
    response = api.post(
        "/customers",
        {
            "email": "  Ada@Example.COM ",
            "name": "Ada Lovelace ✨",
            "external_id": "crm-1",
            "tier": "premium",
            "locale": "en-GB",
            "metadata": {"source": "crm"},
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    customer = Customer.objects.get()
    assert response.json()["id"] == customer.id
    assert customer.email == "ada@example.com"
    assert (customer.name, customer.external_id, customer.tier) == (
        "Ada Lovelace ✨",
        "crm-1",
        "premium",
    )
    assert customer.metadata == {"source": "crm"}


def test_create_customer_with_blank_external_id_stores_null(api):
    first = api.post("/customers", {"email": "a@example.com", "external_id": ""}, format="json")
    second = api.post("/customers", {"email": "b@example.com", "external_id": ""}, format="json")

    assert first.status_code == second.status_code == 201
    assert first.json()["external_id"] is None
    assert list(Customer.objects.values_list("external_id", flat=True)) == [None, None]


def test_create_customer_with_a_known_email_is_a_409(api):
    CustomerFactory(email="ada@example.com", name="Original")

    response = api.post("/customers", {"email": "ADA@example.com", "name": "Copy"}, format="json")

    assert_error(response, 409, code="conflict")
    assert Customer.objects.get().name == "Original"


def test_create_customer_with_a_known_external_id_is_a_409(api):
    CustomerFactory(external_id="crm-1")

    response = api.post(
        "/customers", {"email": "new@example.com", "external_id": "crm-1"}, format="json"
    )

    assert_error(response, 409, code="conflict")
    assert Customer.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@example.com", "tier": "platinum"}, "tier"),
        ({"email": "a@example.com", "name": "n" * 201}, "name"),
        ({"email": "a@example.com", "name": "A\x00da"}, "name"),
        ({"email": "a@example.com", "locale": ""}, "locale"),
        ({"email": "a@example.com", "metadata": ["a"]}, "metadata"),
        ({"email": "a@example.com", "metadata": {"x": "y" * 17000}}, "metadata"),
    ],
)
def test_create_customer_with_invalid_input_is_a_400(api, payload, field):
    response = api.post("/customers", payload, format="json")

    assert_error(response, 400, code="validation_error", fields=[field])
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    "text",
    [
        '{"email": "a@example.com", "name": "\\ud800"}',
        '{"email": "a@example.com", "metadata": {"k": "\\u0000"}}',
        '{"email": "a@exa\\ud800mple.com"}',
        "[]",
        '"a@example.com"',
        "{not json",
    ],
)
def test_create_customer_with_unstorable_or_malformed_json_is_a_400(api, text):
    response = api.post("/customers", data=text, content_type="application/json")

    assert_error(response, 400)
    assert not Customer.objects.exists()


def test_create_customer_with_form_data_is_a_415(api):
    response = api.post(
        "/customers", data="email=a@example.com", content_type="application/x-www-form-urlencoded"
    )

    assert_error(response, 415, code="unsupported_media_type")
    assert not Customer.objects.exists()


def test_create_customer_needs_credentials(outsider, customer_user_client):
    payload = {"email": "a@example.com"}

    assert_error(outsider.post("/customers", payload, format="json"), 401)
    assert_error(customer_user_client.post("/customers", payload, format="json"), 403)
    assert not Customer.objects.exists()


# --- customers: PATCH -------------------------------------------------------------------------


def test_patch_customer_updates_only_given_fields(api):
    customer = CustomerFactory(name="Ada", tier=Customer.Tier.FREE, phone="123")

    response = api.patch(
        f"/customers/{customer.id}",
        {"email": "ADA.NEW@example.com", "tier": "enterprise"},
        format="json",
    )

    assert response.status_code == 200, response.content
    customer.refresh_from_db()
    assert (customer.email, customer.tier, customer.name, customer.phone) == (
        "ada.new@example.com",
        "enterprise",
        "Ada",
        "123",
    )
    assert response.json()["email"] == "ada.new@example.com"
    # On the customer's timeline: what changed, from what, by which key.
    (logged,) = Interaction.objects.filter(customer=customer, kind="customer_updated")
    old_email = logged.data["changes"]["email"]["from"]
    assert logged.data == {
        "changes": {
            "email": {"from": old_email, "to": "ada.new@example.com"},
            "tier": {"from": "free", "to": "enterprise"},
        }
    }
    assert logged.summary == (
        f"profile: email {old_email} → ada.new@example.com; tier free → enterprise"
    )
    assert logged.actor == "api-key:crm-integration"

    # The same values again change nothing and log nothing; metadata is named by its keys.
    api.patch(f"/customers/{customer.id}", {"tier": "enterprise"}, format="json")
    assert Interaction.objects.filter(kind="customer_updated").count() == 1
    api.patch(f"/customers/{customer.id}", {"metadata": {"crm_id": "C-9"}}, format="json")
    logged = Interaction.objects.filter(kind="customer_updated").latest("id")
    assert (logged.summary, logged.data) == (
        "profile: metadata changed",
        {"changes": {"metadata": {"keys": ["crm_id"]}}},
    )


def test_patch_customer_to_another_customers_email_is_a_409(api):
    CustomerFactory(email="taken@example.com")
    customer = CustomerFactory(email="mine@example.com", name="Mine")

    response = api.patch(
        f"/customers/{customer.id}", {"email": "Taken@example.com", "name": "X"}, format="json"
    )

    assert_error(response, 409, code="conflict")
    customer.refresh_from_db()
    assert (customer.email, customer.name) == ("mine@example.com", "Mine")


@pytest.mark.parametrize(
    "payload", [{"email": "nope"}, {"tier": "gold"}, {"metadata": "x"}, {"name": None}]
)
def test_patch_customer_with_invalid_input_is_a_400(api, payload):
    customer = CustomerFactory(email="mine@example.com", name="Mine", tier="standard")

    response = api.patch(f"/customers/{customer.id}", payload, format="json")

    assert_error(response, 400, code="validation_error", fields=list(payload))
    customer.refresh_from_db()
    assert (customer.email, customer.name, customer.tier) == (
        "mine@example.com",
        "Mine",
        "standard",
    )


def test_patch_customer_with_a_json_array_is_a_400(api):
    customer = CustomerFactory()

    response = api.patch(f"/customers/{customer.id}", data="[]", content_type="application/json")

    assert_error(response, 400, fields=["non_field_errors"])


def test_patch_missing_customer_is_a_json_404(api):
    assert_error(api.patch("/customers/999999", {"name": "x"}, format="json"), 404)


# --- orders -----------------------------------------------------------------------------------


def test_create_order_stores_it_with_line_items(api):
    customer = CustomerFactory()

    response = api.post("/orders", order_payload(customer), format="json")

    assert response.status_code == 201, response.content
    order = Order.objects.get()
    assert response.json()["id"] == order.id
    assert response.json()["customer"] == customer.id
    assert (order.number, order.status, order.total, order.currency) == (
        "BH-1000001",
        "paid",
        Decimal("249.90"),
        "GBP",
    )
    assert order.line_items[0] == {
        "sku": "KT-1",
        "name": "Kettle",
        "quantity": 2,
        "unit_price": "99.95",
    }
    assert order.line_items[1]["name"] == "Mug ☕"


def test_created_order_appears_in_the_customer_context(api):
    customer = CustomerFactory()
    api.post("/orders", order_payload(customer), format="json")
    ticket = api.post(
        "/tickets",
        {"customer_id": customer.id, "order_number": "BH-1000001", "subject": "s", "body": "b"},
        format="json",
    )

    assert ticket.status_code == 201, ticket.content
    context = ticket.json()["customer"]
    assert context["recent_orders"][0]["number"] == "BH-1000001"
    assert context["lifetime"]["spent"] == [{"currency": "GBP", "total": "249.90"}]


def test_create_order_with_a_known_number_is_a_409(api):
    existing = OrderFactory(number="BH-1")

    response = api.post(
        "/orders", order_payload(existing.customer, number="BH-1", total="1.00"), format="json"
    )

    assert_error(response, 409, code="conflict", fields=["number"])
    assert Order.objects.get().total == Decimal("129.00")


def test_create_order_for_unknown_customer_is_a_400(api):
    customer = CustomerFactory()
    payload = order_payload(customer, customer_id=999_999)

    response = api.post("/orders", payload, format="json")

    assert_error(response, 400, code="validation_error", fields=["customer_id"])
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"total": "-1.00"}, "total"),
        ({"total": "NaN"}, "total"),
        ({"total": "Infinity"}, "total"),
        ({"total": "12345678901.00"}, "total"),
        ({"total": "1.001"}, "total"),
        ({"currency": "US"}, "currency"),
        ({"currency": "U$D"}, "currency"),
        ({"status": "teleported"}, "status"),
        ({"placed_at": "yesterday"}, "placed_at"),
        ({"placed_at": None}, "placed_at"),
        ({"number": ""}, "number"),
        ({"number": "BH-\x00"}, "number"),
        ({"customer_id": "one"}, "customer_id"),
        (
            {"line_items": [{"sku": "A", "name": "B", "quantity": 0, "unit_price": "1"}]},
            "line_items",
        ),
        ({"line_items": [{"sku": "A", "name": "B", "quantity": 1}]}, "line_items"),
        ({"line_items": {"sku": "A"}}, "line_items"),
    ],
)
def test_create_order_with_invalid_input_is_a_400(api, overrides, field):
    customer = CustomerFactory()

    response = api.post("/orders", order_payload(customer, **overrides), format="json")

    assert_error(response, 400, code="validation_error", fields=[field])
    assert not Order.objects.exists()


def test_create_order_with_malformed_json_is_a_400(api):
    response = api.post("/orders", data='{"number": ', content_type="application/json")

    assert_error(response, 400, code="parse_error")
    assert not Order.objects.exists()


def test_list_orders_filters_by_customer_status_number_and_date(api):
    customer = CustomerFactory()
    recent = OrderFactory(customer=customer, status=Order.Status.SHIPPED)
    old = OrderFactory(customer=customer, placed_at=timezone.now() - timedelta(days=90))
    other = OrderFactory()

    assert ids(api.get("/orders")) == {recent.id, old.id, other.id}
    assert ids(api.get("/orders", {"customer": customer.id})) == {recent.id, old.id}
    assert ids(api.get("/orders", {"status": "shipped"})) == {recent.id}
    assert ids(api.get("/orders", {"number": other.number})) == {other.id}
    cutoff = (timezone.now() - timedelta(days=30)).isoformat()
    assert ids(api.get("/orders", {"placed_after": cutoff, "customer": customer.id})) == {recent.id}
    assert ids(api.get("/orders", {"placed_before": cutoff})) == {old.id}


@pytest.mark.parametrize(
    "params", [{"customer": "x"}, {"status": "lost"}, {"placed_after": "not a date"}]
)
def test_list_orders_with_invalid_filter_is_a_400(api, params):
    assert_error(api.get("/orders", params), 400, fields=list(params))


def test_read_order(api):
    order = OrderFactory()

    response = api.get(f"/orders/{order.id}")

    assert response.status_code == 200
    assert response.json()["number"] == order.number
    assert response.json()["total"] == "129.00"


def test_patch_order_status(api):
    order = OrderFactory(status=Order.Status.SHIPPED)

    response = api.patch(f"/orders/{order.id}", {"status": "returned"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "returned"
    order.refresh_from_db()
    assert order.status == "returned"


def test_patch_order_names_the_fields_it_does_not_update(api):
    order = OrderFactory(status=Order.Status.SHIPPED)

    response = api.patch(f"/orders/{order.id}", {"total": "0.01", "status": "paid"}, format="json")

    assert_error(response, 400, code="validation_error", fields=["total"])
    assert "it takes status" in response.json()["error"]["fields"]["total"][0]
    order.refresh_from_db()
    assert (order.total, order.status) == (Decimal("129.00"), "shipped")  # nothing applied


def test_create_order_names_a_line_items_unknown_field_by_its_position(api):
    customer = CustomerFactory()
    payload = order_payload(customer)
    payload["line_items"][1]["colour"] = "blue"

    response = api.post("/orders", payload, format="json")

    fields = assert_error(response, 400, code="validation_error")["fields"]
    assert fields == {"line_items": {"1": {"colour": [fields["line_items"]["1"]["colour"][0]]}}}
    assert "sku" in fields["line_items"]["1"]["colour"][0]
    assert not Order.objects.filter(number=payload["number"]).exists()


def test_create_order_names_unknown_and_refused_fields_of_its_line_items_together(api):
    customer = CustomerFactory()
    payload = order_payload(customer)
    payload["line_items"][0]["quantity"] = 0
    payload["line_items"][1]["colour"] = "blue"
    payload["line_items"][1]["unit_price"] = "free"

    response = api.post("/orders", payload, format="json")

    fields = assert_error(response, 400, code="validation_error")["fields"]
    assert {position: sorted(item) for position, item in fields["line_items"].items()} == {
        "0": ["quantity"],
        "1": ["colour", "unit_price"],
    }
    assert not Order.objects.filter(number=payload["number"]).exists()


def test_patch_customer_names_the_fields_it_does_not_update(api):
    customer = CustomerFactory(name="Mine")

    response = api.patch(f"/customers/{customer.id}", {"nmae": "Yours"}, format="json")

    assert_error(response, 400, code="validation_error", fields=["nmae"])
    customer.refresh_from_db()
    assert customer.name == "Mine"


def test_patch_order_with_unknown_status_is_a_400(api):
    order = OrderFactory(status=Order.Status.SHIPPED)

    response = api.patch(f"/orders/{order.id}", {"status": "teleported"}, format="json")

    assert_error(response, 400, code="validation_error", fields=["status"])
    order.refresh_from_db()
    assert order.status == "shipped"


def test_patch_or_read_missing_order_is_a_json_404(api):
    assert_error(api.get("/orders/999999"), 404, code="not_found")
    assert_error(api.patch("/orders/999999", {"status": "paid"}, format="json"), 404)


def test_patch_order_with_text_body_is_a_415(api):
    order = OrderFactory()

    response = api.patch(
        f"/orders/{order.id}", data=json.dumps({"status": "paid"}), content_type="text/plain"
    )

    assert_error(response, 415)
    order.refresh_from_db()
    assert order.status == "delivered"


# --- orders on the customer's timeline ----------------------------------------------------------


def test_an_order_pushed_and_its_status_changes_are_on_the_customers_timeline(api):
    """What an agent reads beside "where is my parcel?": when it was placed, shipped,
    delivered; in the customer 360 of the next ticket too (the bot's answer)."""
    customer = CustomerFactory(email="ben@example.com")
    created = api.post("/orders", order_payload(customer), format="json").json()
    api.patch(f"/orders/{created['id']}", {"status": "shipped"}, format="json")
    api.patch(f"/orders/{created['id']}", {"status": "shipped"}, format="json")  # no change
    api.patch(f"/orders/{created['id']}", {"status": "delivered"}, format="json")

    log = api.get(f"/customers/{customer.id}/interactions").json()["results"]

    assert [(row["kind"], row["summary"]) for row in log] == [
        ("order_status_changed", "BH-1000001: shipped → delivered"),
        ("order_status_changed", "BH-1000001: paid → shipped"),
        ("order_placed", "BH-1000001 placed: 249.90 GBP, paid"),
    ]
    assert log[0]["data"] == {
        "order_id": created["id"],
        "number": "BH-1000001",
        "from": "shipped",
        "to": "delivered",
    }
    assert log[2]["data"]["total"] == "249.90" and log[2]["ticket_id"] is None
    assert all(row["actor"].startswith("api-key:") for row in log)

    ticket = api.post(
        "/tickets",
        {"customer": {"email": "ben@example.com"}, "subject": "Parcel", "body": "Where is it?"},
        format="json",
    ).json()
    recent = [row["summary"] for row in ticket["customer"]["recent_interactions"]]
    assert "BH-1000001: shipped → delivered" in recent


def test_a_refused_order_logs_nothing(api):
    customer = CustomerFactory()
    OrderFactory(customer=customer, number="BH-1000001")

    assert api.post("/orders", order_payload(customer), format="json").status_code == 409
    assert api.get(f"/customers/{customer.id}/interactions").json()["results"] == []
