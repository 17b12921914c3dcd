"""CompiledRead: SQL compiled once per process, rows identical to the queryset's."""

import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError
from django.db.models import Count, Sum
from django.utils import timezone

from customers.models import Order
from helpdesk.api.compiled import CompiledRead
from tests.factories import CustomerFactory, OrderFactory, TicketFactory
from tickets import selectors
from tickets.serializers import ticket_json

pytestmark = pytest.mark.django_db


def orders_of(customer_id, limit=10):
    return (
        Order.objects.filter(customer_id=customer_id)
        .order_by("-placed_at")
        .values("id", "number", "total", "placed_at", "line_items")[:limit]
    )


def test_rows_are_what_the_queryset_returns():
    customer = CustomerFactory()
    for n in range(3):
        OrderFactory(
            customer=customer,
            total=Decimal("10.05") * (n + 1),
            line_items=[{"sku": f"S-{n}", "name": "Mug ☕", "quantity": n}],
        )
    OrderFactory()  # someone else's
    read = CompiledRead(orders_of, int)

    first = read.rows(customer.id)

    assert first == list(orders_of(customer.id))
    assert isinstance(first[0]["total"], Decimal)
    assert first[0]["placed_at"].tzinfo is not None
    assert first[0]["line_items"][0]["name"] == "Mug ☕"
    assert read.rows(customer.id) == first  # from the compiled SQL this time


def test_sql_is_compiled_once_per_shape(monkeypatch):
    customer = CustomerFactory()
    OrderFactory.create_batch(3, customer=customer)
    read = CompiledRead(orders_of, int)
    builds = []
    monkeypatch.setattr(read, "_build", lambda *a: builds.append(a) or orders_of(*a))

    other = CustomerFactory()
    assert len(read.rows(customer.id, shape=(2,))) == 2
    assert read.rows(other.id, shape=(2,)) == []
    assert len(read.rows(customer.id, shape=(2,))) == 2
    assert len(read.rows(customer.id, shape=(5,))) == 3

    assert [shape for *_, shape in builds] == [2, 5]


def test_datetime_and_aggregate_arguments():
    customer = CustomerFactory()
    now = timezone.now()
    OrderFactory(customer=customer, placed_at=now - timedelta(days=2), total=Decimal("1.50"))
    OrderFactory(customer=customer, placed_at=now - timedelta(days=9), total=Decimal("7.00"))

    def placed_since(customer_id, since):
        return (
            Order.objects.filter(customer_id=customer_id, placed_at__gte=since)
            .values("currency")
            .annotate(n=Count("id"), total=Sum("total"))
            .order_by("currency")
        )

    read = CompiledRead(placed_since, int, type(now))

    assert read.rows(customer.id, now - timedelta(days=5)) == [
        {"currency": "USD", "n": 1, "total": Decimal("1.50")}
    ]
    assert read.rows(customer.id, now - timedelta(days=30))[0]["n"] == 2


def test_an_argument_that_does_not_reach_the_sql_as_a_parameter_is_refused():
    # e.g. one used for the SQL's text, which the cached SQL would silently keep
    read = CompiledRead(lambda customer_id: Order.objects.filter(customer_id=1).values("id"), int)

    with pytest.raises(ValueError, match="as a parameter"):
        read.rows(3)


def test_ticket_get_loads_customer_and_assignee_in_one_query(agent, django_assert_num_queries):
    ticket = TicketFactory(assignee=agent, metadata={"source": "chat", "n": [1, 2]})
    expected = ticket_json(selectors.ticket_list().get(pk=ticket.pk))

    with django_assert_num_queries(1):
        loaded = selectors.ticket_get(ticket_id=ticket.pk)
        body = ticket_json(loaded)
        customer = loaded.customer.email

    assert body == expected
    assert customer == ticket.customer.email
    assert loaded.assignee.email == agent.email  # a deferred field, read on demand


def test_ticket_get_of_unknown_or_out_of_range_ids_is_none():
    assert selectors.ticket_get(ticket_id=987654) is None
    assert selectors.ticket_get(ticket_id=10**30) is None
    assert selectors.ticket_get(ticket_id=0) is None


# --- CompiledInsert ---------------------------------------------------------------------------


def test_compiled_insert_stores_what_bulk_create_would():
    from helpdesk.api.compiled import CompiledInsert
    from tickets.models import Suggestion

    ticket = TicketFactory()
    insert = CompiledInsert(Suggestion)
    made = [
        Suggestion(
            ticket=ticket,
            rank=rank,
            score=1.5 / rank,
            title=f"T{rank} ☕",
            snippet="s",
            backend="x",
        )
        for rank in (1, 2, 3)
    ]

    before = timezone.now()
    returned = insert.insert(made)

    assert returned is made
    assert all(s.pk and not s._state.adding for s in made)
    stored = {s.pk: s for s in Suggestion.objects.filter(ticket=ticket)}
    # Primary keys come back in row order, each object with its own row.
    assert [stored[s.pk].rank for s in made] == [1, 2, 3]
    assert [stored[s.pk].title for s in made] == ["T1 ☕", "T2 ☕", "T3 ☕"]
    assert stored[made[1].pk].score == pytest.approx(0.75)
    # auto_now_add is set as the ORM sets it, on the object and in the row.
    assert made[0].created_at >= before
    assert stored[made[0].pk].created_at == made[0].created_at
    assert stored[made[0].pk].round == 1  # a field's Python default, as the ORM writes it
    assert stored[made[0].pk].superseded_at is None


def test_compiled_insert_builds_its_sql_once_per_row_count(django_assert_num_queries):
    from helpdesk.api.compiled import CompiledInsert
    from triage.models import TicketEmbedding

    insert = CompiledInsert(TicketEmbedding)  # primary key = the ticket: nothing returned
    tickets = TicketFactory.create_batch(3)
    with django_assert_num_queries(1):
        insert.insert([TicketEmbedding(ticket=tickets[0], vector=b"\x01\x02")])
    insert.insert([TicketEmbedding(ticket=tickets[1], vector=b"\x03")])
    insert.insert([TicketEmbedding(ticket=tickets[2], vector=b"")])

    assert len(insert._sql) == 1
    assert bytes(TicketEmbedding.objects.get(ticket=tickets[1]).vector) == b"\x03"
    assert insert.insert([]) == []


def test_compiled_insert_ignoring_conflicts_skips_a_repeated_row_and_keeps_the_transaction():
    from django.db import transaction

    from customers.models import Interaction
    from helpdesk.api.compiled import CompiledInsert

    customer = CustomerFactory()
    now = timezone.now()

    def row(summary):
        return Interaction(
            id="01JZZZZZZZZZZZZZZZZZZZZZZZ",
            customer_id=customer.id,
            kind="ticket_created",
            occurred_at=now,
            summary=summary,
            data={"n": 1},
            expires_at=now + timedelta(days=30),
        )

    insert = CompiledInsert(Interaction, ignore_conflicts=True)
    with transaction.atomic():
        insert.insert([row("first")])
        insert.insert([row("again")])  # same id: skipped, no IntegrityError
        # The transaction is still usable (on Postgres a failed statement would abort it).
        assert Interaction.objects.filter(customer_id=customer.id).count() == 1

    stored = Interaction.objects.get()
    assert (stored.summary, stored.data) == ("first", {"n": 1})
    # Without the option a repeated row is the caller's.
    with pytest.raises(IntegrityError), transaction.atomic():
        CompiledInsert(Interaction).insert([row("third")])


def test_compiled_insert_ignoring_conflicts_needs_a_caller_set_key():
    from helpdesk.api.compiled import CompiledInsert
    from tickets.models import Suggestion

    with pytest.raises(ValueError, match="primary key"):
        CompiledInsert(Suggestion, ignore_conflicts=True)


def test_compiled_insert_of_several_rows_is_one_statement_whatever_their_number(
    django_assert_num_queries,
):
    from django.db import connection

    from customers.models import Interaction
    from helpdesk.api.compiled import CompiledInsert
    from tickets.models import Suggestion

    ticket = TicketFactory()
    insert = CompiledInsert(Suggestion)

    def made(ranks):
        return [
            Suggestion(ticket=ticket, rank=rank, score=rank / 7, title="é" * 300, backend="x")
            for rank in ranks
        ]

    with django_assert_num_queries(1) as queries:
        three = insert.insert(made([1, 2, 3]))
    five = insert.insert(made([4, 5, 6, 7, 8]))

    stored = {s.pk: s for s in Suggestion.objects.filter(ticket=ticket)}
    assert [stored[s.pk].rank for s in three + five] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert stored[five[2].pk].score == pytest.approx(6 / 7)
    assert stored[three[0].pk].title == "é" * 300
    if connection.vendor == "postgresql":
        # One JSON parameter, so psycopg caches the statement's conversion (at most 50
        # parameters) and three rows and five share it.
        [query] = queries.captured_queries
        assert "jsonb_array_elements" in query["sql"]
        assert list(insert._sql) == [("postgresql", "json")]
    else:
        assert len(insert._sql) == 2

    # JSON and a skipped conflict through the same form.
    customer = CustomerFactory()
    now = timezone.now()
    rows = [
        Interaction(
            id=f"01JZZZZZZZZZZZZZZZZZZZZZZ{n}",
            customer_id=customer.id,
            kind="ticket_created",
            occurred_at=now,
            summary=f"s{n}",
            data={"n": n, "list": [1, "two"]},
            expires_at=now + timedelta(days=30),
        )
        for n in range(3)
    ]
    CompiledInsert(Interaction, ignore_conflicts=True).insert(rows[:2])
    CompiledInsert(Interaction, ignore_conflicts=True).insert(rows[1:])
    assert sorted(Interaction.objects.values_list("summary", "data")) == [
        ("s0", {"n": 0, "list": [1, "two"]}),
        ("s1", {"n": 1, "list": [1, "two"]}),
        ("s2", {"n": 2, "list": [1, "two"]}),
    ]


def test_compiled_insert_of_several_rows_keeps_every_value_exactly():
    """On Postgres several rows travel as one JSON document: each value must come back as the
    ORM would have stored it (floats to the last bit, non-finite ones, NULL vs JSON null,
    text with quotes, backslashes and non-ASCII, aware datetimes)."""
    from django.db import connection

    from customers.models import Interaction
    from helpdesk.api.compiled import CompiledInsert
    from tickets.models import Suggestion

    ticket = TicketFactory()
    awkward = 'quote " back\\slash \\u0041 tab\t newline\n é ☕ 𝄞'
    scores = [0.1 + 0.2, 1e-300, -0.0, float("inf"), float("-inf")]
    made = [
        Suggestion(ticket=ticket, rank=i + 1, score=score, title=awkward, snippet="", backend="x")
        for i, score in enumerate(scores)
    ]
    CompiledInsert(Suggestion).insert(made)
    stored = {s.pk: s for s in Suggestion.objects.filter(ticket=ticket)}
    assert [stored[s.pk].score for s in made] == scores
    assert all(stored[s.pk].title == awkward for s in made)
    if connection.vendor == "postgresql":  # SQLite stores NaN as NULL, with the ORM too
        nan = Suggestion(ticket=ticket, rank=9, score=float("nan"), title="n", backend="x")
        other = Suggestion(ticket=ticket, rank=10, score=2.5, title="m", backend="x")
        CompiledInsert(Suggestion).insert([nan, other])
        assert math.isnan(Suggestion.objects.get(pk=nan.pk).score)

    customer = CustomerFactory()
    when = timezone.now().replace(microsecond=123456)
    rows = [
        Interaction(
            id=f"01JYYYYYYYYYYYYYYYYYYYYYY{n}",
            customer_id=customer.id,
            kind="note",
            occurred_at=when + timedelta(hours=n),
            summary="",
            data=data,
            expires_at=when + timedelta(days=n),
        )
        for n, data in enumerate([{"a": None, "b": [1.5, "x"]}, "just text", [None], [], 7])
    ]
    CompiledInsert(Interaction).insert(rows)
    stored = {i.id: i for i in Interaction.objects.filter(customer_id=customer.id)}
    assert [stored[r.id].data for r in rows] == [
        {"a": None, "b": [1.5, "x"]},
        "just text",
        [None],
        [],
        7,
    ]
    assert [stored[r.id].occurred_at for r in rows] == [r.occurred_at for r in rows]
    assert [stored[r.id].expires_at for r in rows] == [r.expires_at for r in rows]


def test_compiled_insert_of_rows_without_a_json_form_goes_as_values():
    from django.db import connection

    from helpdesk.api.compiled import CompiledInsert
    from triage.models import TicketEmbedding

    tickets = TicketFactory.create_batch(2)
    insert = CompiledInsert(TicketEmbedding)  # bytes: no JSON form
    insert.insert(
        [
            TicketEmbedding(ticket=tickets[0], vector=b"\x00\xff"),
            TicketEmbedding(ticket=tickets[1], vector=b""),
        ]
    )

    stored = dict(TicketEmbedding.objects.values_list("ticket_id", "vector"))
    assert {k: bytes(v) for k, v in stored.items()} == {
        tickets[0].pk: b"\x00\xff",
        tickets[1].pk: b"",
    }
    assert list(insert._sql) == [(connection.vendor, 2)]
