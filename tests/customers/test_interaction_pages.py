"""GET /tickets/{id}/history and GET /customers/{id}/interactions: the whole log, a page at a
time, newest first, against both interaction stores (the `dynamodb` runs talk to the suite's
DynamoDB-protocol server). /context and POST /tickets show only the newest."""

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.interactions import InteractionRecord, Kind, _store_for, get_interaction_store
from tests.factories import CustomerFactory, TicketFactory
from tests.helpers import assert_error
from tests.openapi import assert_conforms

pytestmark = pytest.mark.django_db


def logged(store, ticket, count: int, *, kind=Kind.TICKET_CHANGED) -> list[InteractionRecord]:
    """`count` records of `ticket`, oldest first, a minute apart; stored."""
    now = timezone.now()
    records = [
        InteractionRecord(
            customer_id=ticket.customer_id,
            ticket_id=ticket.pk,
            kind=kind,
            summary=f"{ticket.number}: change {n}",
            occurred_at=now - timedelta(minutes=count - n),
        )
        for n in range(count)
    ]
    for record in records:
        store.append(record)
    return records


def pages(api, path: str, **params) -> list[dict]:
    """Every page of `path`, following `next_before`."""
    answers = []
    while True:
        response = api.get(path, params)
        assert response.status_code == 200, response.content
        answers.append(response.json())
        if answers[-1]["next_before"] is None:
            return answers
        params = {**params, "before": answers[-1]["next_before"]}


def test_a_tickets_whole_history_comes_page_by_page_newest_first(api, store):
    ticket = TicketFactory()
    other = TicketFactory(customer=ticket.customer)
    records = logged(store, ticket, 45)
    logged(store, other, 3)

    answers = pages(api, f"/tickets/{ticket.pk}/history")

    assert [len(page["results"]) for page in answers] == [20, 20, 5]
    ids = [row["id"] for page in answers for row in page["results"]]
    assert ids == [record.id for record in reversed(records)]  # each once, newest first
    first = answers[0]["results"][0]
    assert (first["kind"], first["summary"]) == ("ticket_changed", f"{ticket.number}: change 44")
    # /context shows the newest 20: the first page.
    context = api.get(f"/tickets/{ticket.pk}/context").json()
    assert [row["id"] for row in context["history"]] == ids[:20]

    assert [
        len(page["results"]) for page in pages(api, f"/tickets/{ticket.pk}/history", limit=100)
    ] == [45]
    assert len(pages(api, f"/tickets/{ticket.pk}/history", limit=1)) == 45


def test_a_customers_whole_log_spans_their_tickets(api, store):
    ticket = TicketFactory()
    second = TicketFactory(customer=ticket.customer)
    records = logged(store, ticket, 7) + logged(store, second, 6)
    logged(store, TicketFactory(), 2)  # another customer's

    answers = pages(api, f"/customers/{ticket.customer_id}/interactions", limit=5)

    ids = [row["id"] for page in answers for row in page["results"]]
    assert sorted(ids, reverse=True) == ids
    assert set(ids) == {record.id for record in records}
    assert len(ids) == 13


def test_the_answers_conform_to_the_schema(api):
    ticket = TicketFactory()
    logged(get_interaction_store(), ticket, 3)

    history = api.get(f"/tickets/{ticket.pk}/history", {"limit": 2})
    assert_conforms(history, "GET", "/tickets/{id}/history")
    assert history.json()["next_before"] == history.json()["results"][-1]["id"]
    interactions = api.get(f"/customers/{ticket.customer_id}/interactions")
    assert_conforms(interactions, "GET", "/customers/{id}/interactions")
    assert interactions.json()["next_before"] is None
    # A cursor in lower case reads the same page.
    cursor = history.json()["next_before"]
    lower = api.get(f"/tickets/{ticket.pk}/history", {"before": cursor.lower()}).json()
    upper = api.get(f"/tickets/{ticket.pk}/history", {"before": cursor}).json()
    assert lower == upper and len(upper["results"]) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "all"}, "limit"),
        ({"before": "yesterday"}, "before"),
        ({"before": "01ARZ3NDEKTSV4RRFFQ69G5FAVX"}, "before"),  # 27 characters
        ({"before": "81ARZ3NDEKTSV4RRFFQ69G5FAV"}, "before"),  # past the largest ULID
        ({"befor": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, "befor"),  # not a parameter it takes
    ],
)
def test_bad_paging_is_a_400_naming_the_parameter(api, params, field):
    ticket = TicketFactory()
    for path in (f"/tickets/{ticket.pk}/history", f"/customers/{ticket.customer_id}/interactions"):
        assert_error(api.get(path, params), 400, fields=[field])


def test_unknown_ticket_or_customer_is_a_404(api):
    assert_error(api.get("/tickets/999999/history"), 404, code="not_found")
    assert_error(api.get("/customers/999999/interactions"), 404, code="not_found")


def test_an_intake_key_reads_no_history(intake_api):
    ticket = TicketFactory()
    assert intake_api.get(f"/tickets/{ticket.pk}/history").status_code == 403
    assert intake_api.get(f"/customers/{ticket.customer_id}/interactions").status_code == 403


def test_a_store_that_cannot_be_read_is_a_503(api, dynamodb_settings):
    """The interaction store down (its table gone): a clear 503, never a 500."""
    dynamodb_settings.INTERACTION_STORE = "dynamodb"
    _store_for.cache_clear()
    customer = CustomerFactory()
    ticket = TicketFactory(customer=customer)

    for path in (f"/tickets/{ticket.pk}/history", f"/customers/{customer.pk}/interactions"):
        assert_error(api.get(path), 503, code="interaction_store_unavailable")
