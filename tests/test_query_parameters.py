"""A query parameter a request does not take is a 400 naming it, not ignored: `GET
/tickets?customer_id=5` (the filter is `customer`) answered every customer's tickets. What any
query string may carry passes: DRF's `format` and cache busters (`_=…`)."""

import pytest

from tests.factories import CustomerFactory, OrderFactory, TicketFactory
from tests.helpers import assert_error
from tests.openapi import openapi_schema

pytestmark = pytest.mark.django_db


def test_a_misnamed_filter_is_a_400_naming_it_and_the_filters_there_are(api):
    mine = TicketFactory()
    TicketFactory()

    response = api.get(f"/tickets?customer_id={mine.customer_id}")

    error = assert_error(response, 400, code="validation_error", fields=["customer_id"])
    message = error["fields"]["customer_id"][0]
    assert "customer" in message and "status" in message and "page" in message


def test_the_filter_by_its_name_with_a_cache_buster_and_format_filters(api):
    mine = TicketFactory()
    TicketFactory()

    response = api.get(f"/tickets?customer={mine.customer_id}&_=1733580000&format=json")

    assert response.status_code == 200, response.content
    assert [ticket["id"] for ticket in response.json()["results"]] == [mine.id]


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/customers?emial=ada@example.com", "emial"),
        ("/orders?statuss=paid", "statuss"),
        ("/tickets?page=1&page_size=5&sort=created_at", "sort"),
        ("/kb/search?q=refund&kk=3", "kk"),
        ("/triage/metrics?day=30", "day"),
    ],
)
def test_unknown_parameters_of_other_requests_are_named(api, url, name):
    CustomerFactory()

    response = api.get(url)

    assert_error(response, 400, code="validation_error", fields=[name])


def test_a_conversation_takes_its_pages_only(api):
    ticket = TicketFactory()

    assert api.get(f"/tickets/{ticket.id}/messages?page=1&_=1").status_code == 200
    assert_error(api.get(f"/tickets/{ticket.id}/messages?pagee=2"), 400, fields=["pagee"])
    assert_error(api.get(f"/tickets/{ticket.id}/similar?treshold=0.9"), 400, fields=["treshold"])


@pytest.mark.parametrize("path", ["/tickets", "/customers", "/orders", "/tickets/{id}/messages"])
def test_every_documented_list_parameter_is_taken(api, path):
    """The schema's query parameters and the lists' agree: none it documents is refused."""
    ticket = TicketFactory()
    OrderFactory(customer=ticket.customer)
    parameters = [
        parameter["name"]
        for parameter in openapi_schema()["paths"][path]["get"].get("parameters", [])
        if parameter["in"] == "query"
    ]
    assert "page" in parameters

    for name in parameters:
        response = api.get(path.replace("{id}", str(ticket.id)), {name: "1"})
        unknown = response.status_code == 400 and "Not a parameter" in str(response.json())
        assert not unknown, (name, response.content)
