"""CompiledInsertChain: a new ticket's rows (ticket, first message, suggestions, embedding) as
one statement on Postgres, the same rows as one INSERT per model."""

import copy
import json

import pytest
import time_machine
from django.db import DataError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from knowledge.backends.base import Passage
from tests.factories import CustomerFactory
from tests.helpers import post_ticket
from tickets import services
from tickets.models import Message, Suggestion, Ticket
from tickets.serializers import suggestion_json, ticket_json
from triage.models import TicketEmbedding

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="one statement on Postgres; SQLite inserts each"
)
TABLES = ("tickets_ticket", "tickets_message", "tickets_suggestion", "triage_ticketembedding")


def new_rows(customer, *, suggestions, embedding):
    ticket = Ticket(
        customer=customer,
        subject="Kettle ☕ leaks",
        body="It leaks.\n\n-- \nAna",
        body_clean="It leaks.",
        metadata={"a": [1, None, "é"]},
        triage={"status": "abstained", "confidence": None},
        language="en",
        sentiment_score=-0.25,
    )
    message = Message(
        ticket=ticket,
        role=Message.Role.CUSTOMER,
        body=ticket.body,
        body_clean=ticket.body_clean,
        author=f"customer:{customer.email}",
        sender_address=customer.email,
    )
    made = [
        Suggestion(
            ticket=ticket,
            message=message,
            rank=rank,
            score=1 / (rank + 2),
            passage_ref=f"chunk-{rank}",
            title=f'Title "{rank}" \\ é',
            snippet="snip",
            source="https://kb.example/a",
            backend="local",
        )
        for rank in range(1, suggestions + 1)
    ]
    stored = [TicketEmbedding(ticket=ticket, vector=bytes(range(128)) * 3)] if embedding else []
    return {"ticket": [ticket], "message": [message], "suggestions": made, "embedding": stored}


def rows_of(ticket_id):
    """Every row written for the ticket, field by field, keys replaced by their role."""
    ticket = Ticket.objects.get(pk=ticket_id)
    [message] = Message.objects.filter(ticket_id=ticket_id)

    def plain(obj, *keys):
        fields = obj._meta.concrete_fields
        return {f.attname: getattr(obj, f.attname) for f in fields if f.attname not in keys}

    return {
        "ticket": plain(ticket, "id"),
        "message": plain(message, "id", "ticket_id") | {"ticket": message.ticket_id == ticket_id},
        "suggestions": [
            plain(s, "id", "ticket_id", "message_id")
            | {"links": (s.ticket_id == ticket_id, s.message_id == message.pk)}
            for s in Suggestion.objects.filter(ticket_id=ticket_id).order_by("rank")
        ],
        "embedding": [
            plain(e, "ticket_id") | {"vector": bytes(e.vector)}
            for e in TicketEmbedding.objects.filter(ticket_id=ticket_id)
        ],
    }


@postgres_only
@pytest.mark.parametrize("embedding", [True, False], ids=["embedding", "no-embedding"])
@pytest.mark.parametrize("suggestions", [0, 1, 5])
def test_one_statement_writes_what_one_insert_per_model_writes(suggestions, embedding):
    customer = CustomerFactory()
    with time_machine.travel("2026-12-06 03:04:05.678901+00:00", tick=False):
        separate = new_rows(customer, suggestions=suggestions, embedding=embedding)
        services._insert_new_ticket._insert_each([*separate.values()])
        at_once = new_rows(customer, suggestions=suggestions, embedding=embedding)
        with CaptureQueriesContext(connection) as queries:
            services._insert_new_ticket.insert(**at_once)

    assert len(queries.captured_queries) == 1
    [ticket] = at_once["ticket"]
    assert ticket.pk != separate["ticket"][0].pk
    assert rows_of(ticket.pk) == rows_of(separate["ticket"][0].pk)
    assert (
        rows_of(ticket.pk)["ticket"]["created_at"].isoformat() == "2026-12-06T03:04:05.678901+00:00"
    )
    assert len(rows_of(ticket.pk)["suggestions"]) == suggestions
    # The objects are as the separate INSERTs leave them: keys, links, the first message's time.
    [message] = at_once["message"]
    assert message.pk and message.ticket_id == ticket.pk and message.ticket is ticket
    assert message.created_at == ticket.created_at
    made = at_once["suggestions"]
    assert [s.pk for s in made] == list(
        Suggestion.objects.filter(ticket=ticket).order_by("rank").values_list("pk", flat=True)
    )
    assert all(s.ticket_id == ticket.pk and s.message_id == message.pk for s in made)
    assert all(not obj._state.adding for rows in at_once.values() for obj in rows)
    assert [e.ticket_id for e in at_once["embedding"]] == ([ticket.pk] if embedding else [])
    # What the answer is built from is what was stored.
    assert ticket_json(ticket) == ticket_json(Ticket.objects.get(pk=ticket.pk))
    assert [suggestion_json(s) for s in made] == [
        suggestion_json(s) for s in Suggestion.objects.filter(ticket=ticket).order_by("rank")
    ]


@postgres_only
def test_a_failing_part_leaves_nothing_of_the_others():
    rows = new_rows(CustomerFactory(), suggestions=5, embedding=True)
    rows["suggestions"][3].rank = 2  # (ticket, round, rank) is unique

    with pytest.raises(IntegrityError, match="suggestion_round_rank_unique"), transaction.atomic():
        services._insert_new_ticket.insert(**rows)

    for model in (Ticket, Message, Suggestion, TicketEmbedding):
        assert not model.objects.exists()


def test_a_link_to_a_step_without_its_one_row_is_refused():
    customer = CustomerFactory()
    rows = new_rows(customer, suggestions=2, embedding=False)
    with pytest.raises(ValueError, match="suggestions links to message"):
        services._insert_new_ticket.insert(**{**rows, "message": []})
    assert not Ticket.objects.exists()


def fixed_passages(monkeypatch, passages):
    monkeypatch.setattr(services, "_retrieval_start", lambda *a: services._Passages.ready(passages))


def passage(n, **changes):
    return Passage(
        **{
            "title": f"Article {n}",
            "snippet": f"Snippet {n}",
            "score": 1 / n,
            "source": f"https://kb.example/{n}",
            "passage_ref": f"chunk-{n}",
            **changes,
        }
    )


def create(on_message=None):
    return services.ticket_create(
        payload={
            "customer": {"email": "ana@example.com"},
            "subject": "Kettle leaks",
            "body": "It leaks from the base.",
        },
        actor="test",
        on_message=on_message,
    )


@postgres_only
def test_post_tickets_writes_the_ticket_s_rows_in_one_statement(api):
    post_ticket(api, "Where is my parcel?", "It has not arrived yet.")  # warm: the KB loaded
    with CaptureQueriesContext(connection) as queries:
        answer = post_ticket(api, "Where is my parcel?", "It has not arrived yet, please check.")

    inserts = [
        q["sql"] for q in queries.captured_queries if any(f'INTO "{t}"' in q["sql"] for t in TABLES)
    ]
    assert len(inserts) == 1, inserts
    assert inserts[0].startswith("WITH ") and all(f'INTO "{t}"' in inserts[0] for t in TABLES)
    ticket = Ticket.objects.get(pk=answer["ticket"]["id"])
    assert TicketEmbedding.objects.filter(ticket=ticket).exists()
    assert answer["ticket"] == ticket_json(ticket)
    assert [s["id"] for s in answer["suggestions"]] == list(
        ticket.suggestions.order_by("rank").values_list("id", flat=True)
    )
    assert len(answer["suggestions"]) == 5


def stored_embedding(stored: bytes | None):
    """A stand-in for triage.similar_base.embedding_start whose ticket embedding is `stored`."""

    class Pending:
        vector = None  # Titan's vector, which triage would read: none here

        def resolve(self):
            pass

        def embedding(self, ticket):
            return None if stored is None else TicketEmbedding(ticket=ticket, vector=stored)

    return lambda subject, body_clean: Pending()


@pytest.mark.parametrize("embedding", [True, False], ids=["embedding", "no-embedding"])
@pytest.mark.parametrize("count", [0, 1, 5])
def test_the_first_message_reaches_on_message_saved_with_the_ticket_s_rows(
    monkeypatch, count, embedding
):
    fixed_passages(monkeypatch, [passage(n) for n in range(1, count + 1)])
    vector = bytes(range(128)) * 3
    monkeypatch.setattr(
        services, "embedding_start", stored_embedding(vector if embedding else None)
    )
    seen = []

    def on_message(message):
        seen.append(
            (
                message.pk,
                Message.objects.filter(pk=message.pk, ticket_id=message.ticket_id).exists(),
                Suggestion.objects.filter(message_id=message.pk).count(),
            )
        )

    created = create(on_message)

    ticket_id = created.body["ticket"]["id"]
    message = Message.objects.get(ticket_id=ticket_id)
    assert seen == [(message.pk, True, count)]
    assert [s["id"] for s in created.body["suggestions"]] == list(
        Suggestion.objects.filter(ticket_id=ticket_id, message=message)
        .order_by("rank")
        .values_list("id", flat=True)
    )
    assert message.created_at == Ticket.objects.get(pk=ticket_id).created_at
    stored = TicketEmbedding.objects.filter(ticket_id=ticket_id).values_list("vector", flat=True)
    assert [bytes(v) for v in stored] == ([vector] if embedding else [])


@postgres_only
def test_a_failure_inside_the_one_statement_writes_no_ticket(monkeypatch):
    fixed_passages(monkeypatch, [passage(1), passage(2, passage_ref="x" * 513)])  # varchar(512)
    monkeypatch.setattr(services, "embedding_start", stored_embedding(bytes(384)))

    with pytest.raises(DataError):
        create()

    assert not Ticket.objects.exists()
    assert not Message.objects.exists()
    assert not Suggestion.objects.exists()
    assert not TicketEmbedding.objects.exists()


def without_keys(answer):
    """The answer with the new ticket's, suggestions' and interaction's keys taken out."""
    answer = copy.deepcopy(answer)
    ticket, number = answer["ticket"]["id"], answer["ticket"]["number"]
    rank_of = {s["id"]: s["rank"] for s in answer["suggestions"]}
    answer["ticket"]["id"] = answer["ticket"]["number"] = None
    for suggestion in answer["suggestions"]:
        suggestion["id"] = None
    for item in answer["customer"]["recent_interactions"]:
        if item["ticket_id"] == ticket:
            item["id"] = item["ticket_id"] = None
            item["summary"] = item["summary"].replace(number, "HD-?")
            item["data"]["suggestions"] = [rank_of[s] for s in item["data"]["suggestions"]]
    for item in answer["customer"]["open_tickets"]:
        if item["id"] == ticket:
            item["id"] = item["number"] = None
    return answer


def test_the_answer_is_what_one_insert_per_model_answered(api, monkeypatch):
    chain = services._insert_new_ticket
    customer = CustomerFactory(email="ana@example.com")
    post_ticket(api, "Where is my parcel?", "Ordered last week.")  # history, warm KB

    with time_machine.travel("2026-12-06 03:04:05.678901+00:00", tick=False):
        with transaction.atomic():
            with monkeypatch.context() as patched:
                patched.setattr(
                    chain, "insert", lambda **rows: chain._insert_each([*rows.values()])
                )
                separate = post_ticket(api, "Where is my parcel?", "It has not arrived yet.")
            transaction.set_rollback(True)
        at_once = post_ticket(api, "Where is my parcel?", "It has not arrived yet.")

    assert separate["customer"]["profile"]["id"] == customer.pk
    assert len(at_once["suggestions"]) == 5
    assert json.dumps(without_keys(at_once)) == json.dumps(without_keys(separate))
