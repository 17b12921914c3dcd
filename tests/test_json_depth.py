"""Deeply nested JSON is a 400 `parse_error` on every JSON write endpoint, never a
RecursionError 500, and nothing is written; the limit is API_MAX_JSON_DEPTH.
(`POST /kb/sync` takes no body: it never parses one.)"""

import json

import pytest

from customers.models import Customer, Order
from helpdesk.api.parsers import json_loads
from tests.factories import CustomerFactory, OrderFactory, TicketFactory
from tests.helpers import assert_error
from tickets.models import Feedback, Ticket

pytestmark = pytest.mark.django_db

# 20 KB: what took every JSON write endpoint down with a RecursionError.
DEEP = "[" * 10000 + "]" * 10000
DEEP_OBJECT = '{"a":' * 5000 + "1" + "}" * 5000


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def write_endpoints() -> list[tuple[str, str]]:
    ticket = TicketFactory(subject="Kept as it was")
    customer = CustomerFactory(name="Kept Customer")
    order = OrderFactory(customer=customer, number="KEEP-1")
    return [
        ("post", "/tickets"),
        ("patch", f"/tickets/{ticket.id}"),
        ("post", f"/tickets/{ticket.id}/feedback"),
        ("post", "/customers"),
        ("patch", f"/customers/{customer.id}"),
        ("post", "/orders"),
        ("patch", f"/orders/{order.id}"),
    ]


def snapshot() -> tuple:
    return (
        list(Ticket.objects.values_list("id", "subject", "status", "priority")),
        list(Customer.objects.values_list("id", "name", "email")),
        list(Order.objects.values_list("id", "number", "status")),
        Feedback.objects.count(),
    )


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["arrays", "objects"])
def test_deeply_nested_json_is_a_400_parse_error_on_every_write_endpoint(api, body):
    endpoints = write_endpoints()
    before = snapshot()

    for method, path in endpoints:
        response = getattr(api, method)(path, data=body, content_type="application/json")

        error = assert_error(response, 400, code="parse_error")
        assert "API_MAX_JSON_DEPTH" in error["message"], (path, error)

    assert snapshot() == before


def test_nesting_one_past_the_limit_is_refused_and_at_the_limit_parses(api, settings):
    settings.API_MAX_JSON_DEPTH = 8

    too_deep = api.post("/tickets", data=nested(9), content_type="application/json")
    at_limit = api.post("/tickets", data=nested(8), content_type="application/json")

    assert_error(too_deep, 400, code="parse_error")
    # It parses; a list is simply not a ticket (validation, not parsing, rejects it).
    assert_error(at_limit, 400, code="validation_error")
    assert not Ticket.objects.exists()


def test_brackets_inside_strings_are_text_not_nesting(api):
    text = "Pasted log: " + "[{" * 200 + ' "quoted \\" [[[" ' + "}]" * 200

    response = api.post(
        "/tickets",
        {"customer": {"email": "brackets@example.com"}, "subject": "[[[[ {{{{", "body": text},
        format="json",
    )

    assert response.status_code == 201, response.content
    ticket = Ticket.objects.get()
    assert ticket.body == text and ticket.subject == "[[[[ {{{{"


def test_metadata_nested_within_the_limit_is_stored(api):
    metadata = {"a": {"b": {"c": {"d": [1, [2, [3]]]}}}}

    response = api.post(
        "/tickets",
        {
            "customer": {"email": "nested@example.com"},
            "subject": "Nested metadata",
            "body": "Fine.",
            "metadata": metadata,
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    assert Ticket.objects.get().metadata == metadata


def test_deeply_nested_kb_search_filter_is_a_400(api):
    response = api.get("/kb/search", {"q": "refund", "filter": nested(2000)})

    error = assert_error(response, 400, code="validation_error", fields=["filter"])
    assert "API_MAX_JSON_DEPTH" in error["fields"]["filter"][0]


@pytest.mark.parametrize(
    ("text", "deeper_than_3"),
    [
        ("[[[]]]", False),
        ("[[[[]]]]", True),
        ('{"a": {"b": {"c": {}}}}', True),
        ('{"a": [{"b": 1}], "c": [[], []]}', False),
        ('["[[[[[[", "]]]]", {"x": "{{{{{"}]', False),  # brackets in strings are text
        ("[1, [2, [3]], [[4]], [[[5]]]]", True),
        ("[" * 5000 + "]" * 5000, True),  # past the C parser's recursion limit
    ],
)
def test_nesting_is_measured_on_the_value_not_the_brackets(settings, text, deeper_than_3):
    settings.API_MAX_JSON_DEPTH = 3

    if deeper_than_3:
        with pytest.raises(ValueError, match="API_MAX_JSON_DEPTH"):
            json_loads(text)
    else:
        assert json_loads(text) == json.loads(text)
