"""A ticket's order: read from the customer's words when none is given, set by an agent.

Customers write "Where is order BH-4821702?", leave the shop's letters out, or forward the
shipping confirmation; an e-mail never has an `order_id` field. Only the customer's own orders
are ever matched.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.mentions import candidate_keys, orders_mentioned, orders_named
from customers.models import Interaction
from tests.factories import CustomerFactory, OrderFactory, TicketFactory
from tests.helpers import assert_error
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


# --- the words ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("Where is order #1042?", ["1042"]),
        ("BH-4821702 arrived broken. Thanks", ["BH4821702"]),
        ("bh 4821702", ["4821702"]),  # the letters apart: the digits name it (below)
        ("Order 2026/1042 from the invoice", ["20261042"]),
        ("see https://shop.example/orders/1042/track", ["SHOPEXAMPLEORDERS1042TRACK", "1042"]),
        ("I ordered 2 kettles 20 days ago", []),  # fewer than 3 digits: no number
        # A short plain number is an order number only when introduced as one.
        ("my order 1042 please", ["1042"]),
        ("Bestellung Nr. 1042", ["1042"]),
        ("pedido nº 1042, commande n° 1043", ["1042", "1043"]),
        ("order number: #1042", ["1042"]),
        ("Please send it to 1042 Main Street", []),  # a street number
        ("It is 1042.", []),
        ("Call me on 0176 4821702", ["4821702"]),  # long enough: read in the request itself
        # Amounts and dates are not order numbers, whatever their digits.
        ("I paid 279.00 (1,299.99 in all) on 2026-12-07, or 07.12.2026, or 12/7/26", []),
        ("BH-4821702 and again BH-4821702", ["BH4821702"]),  # each once
    ],
)
def test_the_words_that_could_be_order_numbers(text, keys):
    assert candidate_keys(text) == keys


def test_reading_a_long_text_is_linear():
    """A body at the size limit is read in one pass: no rescan from every position (a run of
    letters without a digit was quadratic: 66 s for 64 KiB; 200 KiB would take minutes)."""
    assert candidate_keys("a" * 200_000) == []
    assert candidate_keys("x1 " * 70_000) == []  # words with one digit: not numbers
    assert candidate_keys(f"{'a' * 100} order #1042 {'b' * 70}7") == ["1042"]


ORDERS = [(1, "BH-4821702"), (2, "BH-4821703"), (3, "#1042"), (4, "A-20001"), (5, "B-20001")]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("bh-4821702", [1]),  # letter case and separators aside
        ("order 4821703 please", [2]),  # the shop's letters left out
        ("#1042", [3]),
        ("1042", []),  # a short plain number that nothing introduces as an order
        ("4821703 and BH-4821702", [2, 1]),  # first named first
        ("20001", []),  # the digits of two orders: names neither
        ("482", []),  # fewer than 4 digits without the letters: too easily an accident
        ("BH-9999999", []),  # not one of this customer's orders
    ],
)
def test_which_of_the_customers_orders_the_words_name(text, named):
    assert [order_id for order_id, _ in orders_named(candidate_keys(text), ORDERS)] == named


def test_the_cleaned_words_come_before_the_raw_body_and_the_rest_is_read_only_when_needed():
    reads = []

    def more():
        reads.append(1)
        return [(9, "BH-1000009")]

    # The cleaned words name a known order: the raw body's other order is not looked for.
    assert orders_mentioned(["BH-4821702", "BH-1000009"], ORDERS, more) == [(1, "BH-4821702")]
    # A number none of the known orders is: the rest are read, once.
    assert orders_mentioned(["BH-1000009 and 12345"], ORDERS, more) == [(9, "BH-1000009")]
    assert reads == [1]
    # No word that could be a number: nothing read.
    assert orders_mentioned(["Where is my parcel?"], ORDERS, more) == []
    assert reads == [1]


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("Tel. 0176 4821702", []),  # a phone number in a signature
        ("Hauptstraße 12\n1040 Wien", []),  # a postcode
        ("Your order #1042 has shipped", ["1042"]),  # a forwarded confirmation
        ("Order BH-4821702 is on its way", ["BH4821702"]),
    ],
)
def test_outside_the_request_a_plain_number_must_be_introduced_as_an_order(text, keys):
    assert candidate_keys(text, strict=True) == keys


def test_outside_the_request_the_number_must_be_written_whole():
    orders = [(1, "BH-4821702")]
    # In a signature, "4821702" (a phone number's end) does not name BH-4821702.
    raw = "Where is it?\n\nDana\nOrder line: 4821702"
    assert orders_mentioned(["Where is it?", raw], orders) == []
    assert orders_mentioned(["Where is it?", f"{raw}\n> Order BH-4821702 shipped"], orders) == [
        (1, "BH-4821702")
    ]


# --- POST /tickets ------------------------------------------------------------------------------


def _ticket(api, customer, subject, body, **fields):
    response = api.post(
        "/tickets",
        {"customer": {"email": customer.email}, "subject": subject, "body": body, **fields},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def dana():
    customer = CustomerFactory(email="dana@example.net", name="Dana Whitfield")
    now = timezone.now()
    orders = [
        OrderFactory(customer=customer, number=f"BH-48217{n:02d}", placed_at=now - timedelta(n))
        for n in range(8)  # BH-4821700 the newest … BH-4821707 the oldest
    ]
    return customer, orders


def test_a_ticket_naming_one_of_the_customers_orders_is_linked_to_it(api, dana):
    customer, orders = dana
    body = _ticket(api, customer, "Where is my parcel?", "Order BH-4821702 has not arrived.")

    assert body["ticket"]["order_id"] == orders[2].id
    assert body["ticket"]["order_source"] == "text"
    assert body["triage"]["orders_mentioned"] == ["BH-4821702"]
    ticket = Ticket.objects.get(pk=body["ticket"]["id"])
    assert (ticket.order_id, ticket.order_source) == (orders[2].id, "text")
    assert api.get(f"/tickets/{ticket.id}").json()["order_source"] == "text"


def test_the_number_without_the_shops_letters_and_an_older_order_are_found(api, dana):
    customer, orders = dana
    # BH-4821707 is older than the five newest orders the customer's picture reads.
    body = _ticket(api, customer, "Refund", "I returned order 4821707 two weeks ago.")

    assert body["ticket"]["order_id"] == orders[7].id
    assert body["triage"]["orders_mentioned"] == ["BH-4821707"]


def test_another_customers_order_is_never_linked_nor_named(api, dana):
    _, orders = dana
    stranger = CustomerFactory(email="someone@example.org")
    body = _ticket(api, stranger, "Order BH-4821702", "Where is order BH-4821702?")

    assert body["ticket"]["order_id"] is None
    assert body["ticket"]["order_source"] == ""
    assert body["triage"]["orders_mentioned"] == []


def test_two_orders_named_are_left_for_an_agent(api, dana):
    customer, orders = dana
    body = _ticket(
        api, customer, "Two parcels", "BH-4821703 came, but BH-4821701 is still missing."
    )

    assert body["ticket"]["order_id"] is None
    assert body["triage"]["orders_mentioned"] == ["BH-4821703", "BH-4821701"]


def test_street_numbers_and_postcodes_do_not_name_a_shops_short_order_numbers(api):
    """A shop numbering its orders #1001, #1002, … and a customer in Vienna."""
    anna = CustomerFactory(email="anna@example.at")
    OrderFactory(customer=anna, number="#1040")
    ordered = OrderFactory(customer=anna, number="#1042")
    body = _ticket(
        api,
        anna,
        "Leaking kettle",
        "My kettle leaks. Please send the replacement to 1042 Main Street.\n\n"
        "Best,\nAnna Huber\nHauptstraße 12\n1040 Wien\nTel. 0664 1234567",
    )
    assert body["ticket"]["order_id"] is None
    assert body["triage"]["orders_mentioned"] == []

    body = _ticket(api, anna, "Leaking kettle", "It came with order #1042 last week.")
    assert body["ticket"]["order_id"] == ordered.id


def test_an_order_given_with_the_ticket_wins_over_the_words(api, dana):
    customer, orders = dana
    body = _ticket(
        api, customer, "About BH-4821703", "Not BH-4821703 after all.", order_number="BH-4821700"
    )

    assert body["ticket"]["order_id"] == orders[0].id
    assert body["ticket"]["order_source"] == "given"
    assert body["triage"]["orders_mentioned"] == []


def test_an_intake_key_gets_the_link_without_seeing_the_orders(intake_api, dana):
    customer, orders = dana
    body = _ticket(intake_api, customer, "Broken", "My order #BH-4821701 arrived broken.")

    assert body["ticket"]["order_id"] == orders[1].id
    assert "customer" not in body


def test_words_naming_a_recent_order_cost_no_statement(api, dana):
    customer, _ = dana
    _ticket(api, customer, "Warm-up", "Hello")  # compiled reads, prepared: as in service
    with CaptureQueriesContext(connection) as plain:
        _ticket(api, customer, "Where is my parcel?", "It has not come.")
    with CaptureQueriesContext(connection) as named:
        _ticket(api, customer, "Where is my parcel?", "Order BH-4821702 has not come.")

    assert len(named) == len(plain), [q["sql"][:80] for q in named.captured_queries]


def test_a_forwarded_confirmation_names_the_order(inbound, dana):
    customer, orders = dana
    raw = (
        b"From: Dana Whitfield <dana@example.net>\r\n"
        b"To: support@example.com\r\n"
        b"Subject: Fwd: Your order has shipped\r\n"
        b"Message-ID: <fwd-1@example.net>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Hi, see below. It says shipped but the tracking link shows nothing for a week.\r\n\r\n"
        b"Dana\r\n\r\n"
        b"---------- Forwarded message ---------\r\n"
        b"From: Example Shop <orders@example.com>\r\n"
        b"Date: Fri, Nov 20, 2026 at 9:14 AM\r\n"
        b"Subject: Your order BH-4821704 has shipped\r\n\r\n"
        b"Good news! Your order BH-4821704 is on its way.\r\n"
    )
    response = inbound.generic("POST", "/inbound/email", raw, content_type="message/rfc822")

    assert response.status_code == 201, response.content
    body = response.json()
    assert "BH-4821704" not in body["ticket"]["body_clean"]  # the forward is not the request
    assert body["ticket"]["order_id"] == orders[4].id
    assert body["ticket"]["order_source"] == "text"
    assert body["triage"]["orders_mentioned"] == ["BH-4821704"]


# --- a follow-up --------------------------------------------------------------------------------


def test_the_customers_answer_to_which_order_links_it(api, dana):
    customer, orders = dana
    created = _ticket(api, customer, "Where is my parcel?", "Nothing has come yet.")
    ticket_id = created["ticket"]["id"]
    assert created["ticket"]["order_id"] is None
    api.post(
        f"/tickets/{ticket_id}/messages",
        {"kind": "reply", "body": "Which order is it? Could you tell us the number?"},
        format="json",
    )

    answer = api.post(
        f"/tickets/{ticket_id}/messages",
        {"kind": "reply", "role": "customer", "body": "Sorry! It is 4821703."},
        format="json",
    )

    assert answer.status_code == 201, answer.content
    assert answer.json()["ticket"]["order_id"] == orders[3].id
    assert answer.json()["ticket"]["order_source"] == "text"
    assert answer.json()["triage"]["orders_mentioned"] == ["BH-4821703"]
    [linked] = Interaction.objects.filter(ticket_id=ticket_id, kind="ticket_changed")
    assert linked.data["changes"] == {
        "order": {
            "from": None,
            "to": "BH-4821703",
            "from_id": None,
            "to_id": orders[3].id,
            "by": "words",
        }
    }
    # A later message naming another order does not move it.
    again = api.post(
        f"/tickets/{ticket_id}/messages",
        {"kind": "reply", "role": "customer", "body": "Also BH-4821700 is late."},
        format="json",
    )
    assert again.json()["ticket"]["order_id"] == orders[3].id
    assert again.json()["triage"]["orders_mentioned"] == []


# --- an agent sets it ---------------------------------------------------------------------------


def test_an_agent_sets_confirms_and_unlinks_the_order(api, dana):
    customer, orders = dana
    ticket = TicketFactory(customer=customer, order=orders[2], order_source="text")

    confirmed = api.patch(f"/tickets/{ticket.id}", {"order_id": orders[2].id}, format="json")
    assert (confirmed.json()["order_id"], confirmed.json()["order_source"]) == (
        orders[2].id,
        "agent",
    )

    moved = api.patch(f"/tickets/{ticket.id}", {"order_number": "BH-4821705"}, format="json")
    assert moved.status_code == 200
    assert moved.json()["order_id"] == orders[5].id

    unlinked = api.patch(f"/tickets/{ticket.id}", {"order_id": None}, format="json")
    assert (unlinked.json()["order_id"], unlinked.json()["order_source"]) == (None, "")
    ticket.refresh_from_db()
    assert (ticket.order_id, ticket.order_source) == (None, "")


def test_an_agent_cannot_set_another_customers_order(api, dana):
    customer, orders = dana
    ticket = TicketFactory(customer=customer, order=orders[0], order_source="given")
    elsewhere = OrderFactory(number="ZZ-1")

    response = api.patch(
        f"/tickets/{ticket.id}", {"order_id": elsewhere.id, "priority": "high"}, format="json"
    )
    assert_error(response, 400, code="validation_error", fields={"order_id"})
    both = api.patch(
        f"/tickets/{ticket.id}",
        {"order_id": orders[1].id, "order_number": "BH-4821701"},
        format="json",
    )
    assert_error(both, 400, code="validation_error", fields={"order_number"})
    ticket.refresh_from_db()
    assert (ticket.order_id, ticket.order_source, ticket.priority) == (
        orders[0].id,
        "given",
        "normal",
    )


def test_the_previous_release_still_inserts_tickets_on_the_migrated_database():
    """It does not write `order_source`: the column has a database default (README: roll back
    swaps the code, not the schema)."""
    with connection.cursor() as cursor:
        columns = connection.introspection.get_table_description(cursor, Ticket._meta.db_table)
    (column,) = [c for c in columns if c.name == "order_source"]
    assert column.default in ("''", "''::character varying"), column
    assert not column.null_ok


def test_the_tickets_about_an_order_are_listed_by_its_id_or_number(api, dana):
    customer, orders = dana
    about = _ticket(api, customer, "Broken", "BH-4821702 arrived broken.")["ticket"]
    _ticket(api, customer, "Question", "Do you ship to Norway?")
    given = TicketFactory(customer=customer, order=orders[2], order_source="given")

    def listed(**query):
        response = api.get("/tickets", query)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert listed(order=orders[2].id) == {about["id"], given.id}
    assert listed(order_number="BH-4821702") == {about["id"], given.id}
    assert listed(order_number="BH-0000000") == set()
    assert_error(api.get("/tickets", {"order": "abc"}), 400, code="validation_error")


def test_the_context_shows_the_ticket_order_even_when_it_is_not_recent(api, dana):
    customer, orders = dana
    about = _ticket(api, customer, "Refund", "I returned order BH-4821707 two weeks ago.")
    plain = _ticket(api, customer, "Question", "Do you ship to Norway?")

    with CaptureQueriesContext(connection) as with_order:
        context = api.get(f"/tickets/{about['ticket']['id']}/context").json()
    oldest = orders[7]
    assert context["order"]["id"] == oldest.id
    assert (context["order"]["number"], context["order"]["status"]) == ("BH-4821707", "delivered")
    assert context["order"]["line_items"] == oldest.line_items
    assert oldest.id not in [row["id"] for row in context["customer"]["recent_orders"]]

    with CaptureQueriesContext(connection) as without:
        assert api.get(f"/tickets/{plain['ticket']['id']}/context").json()["order"] is None
    assert len(with_order) == len(without)  # read with the ticket's row


def test_the_create_answer_carries_the_tickets_order_as_the_context_shows_it(api, dana):
    """A bot answering from POST /tickets alone gets the order it is about (status, items),
    named by the words or given, recent or not; null without one."""
    customer, orders = dana
    oldest, recent = orders[7], orders[1]

    named_old = _ticket(api, customer, "Refund", "I returned order BH-4821707 two weeks ago.")
    assert oldest.id not in [row["id"] for row in named_old["customer"]["recent_orders"]]
    context = api.get(f"/tickets/{named_old['ticket']['id']}/context").json()
    assert named_old["order"] == context["order"]
    assert (named_old["order"]["number"], named_old["order"]["line_items"]) == (
        "BH-4821707",
        oldest.line_items,
    )

    named_recent = _ticket(api, customer, "Broken", "BH-4821701 arrived broken.")
    assert named_recent["order"]["id"] == recent.id
    assert named_recent["order"] in named_recent["customer"]["recent_orders"]

    given = _ticket(api, customer, "Question", "Can I add a lid?", order_id=oldest.id)
    assert given["order"] == context["order"]

    assert _ticket(api, customer, "Question", "Do you ship to Norway?")["order"] is None


def test_the_order_of_the_create_answer_costs_a_statement_only_when_older_than_the_picture(
    api, dana
):
    customer, _ = dana
    _ticket(api, customer, "Warm-up", "Hello")
    with CaptureQueriesContext(connection) as recent:
        _ticket(api, customer, "Where is it?", "Order BH-4821702 has not come.")
    with CaptureQueriesContext(connection) as older:
        _ticket(api, customer, "Where is it?", "Order BH-4821707 has not come.")
    with CaptureQueriesContext(connection) as given:
        _ticket(api, customer, "Where is it?", "It has not come.", order_number="BH-4821707")

    sql = [q["sql"] for q in older.captured_queries]
    # The numbers of the customer's older orders, then the row of the one the words name.
    assert len(older) == len(recent) + 2, sql
    # The look-up of the order given (as before): its answer needs no other read.
    assert len(given) == len(recent) + 1, [q["sql"] for q in given.captured_queries]


def test_an_intake_key_is_not_shown_the_order(intake_api, dana):
    customer, _ = dana
    body = _ticket(intake_api, customer, "Broken", "My order #BH-4821707 arrived broken.")

    assert body["ticket"]["order_id"] is not None
    assert "order" not in body
