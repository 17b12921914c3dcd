"""Similar tickets with Bedrock's Titan embeddings (SIMILAR_ENCODER=bedrock, the Lambda's way):
embedded beside the KB search on arrival, stored as int8 components and sign bits, searched by
Hamming distance (one statement on Postgres) then cosine. Bedrock is botocore's Stubber on a
real bedrock-runtime client (every request checked against the service model); the database
is the suite's (Postgres in CI)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models.functions import Now

from tests.factories import CustomerFactory, TicketFactory
from tests.helpers import assert_error, post_ticket
from tests.titan_stub import titan_vector
from tickets.models import Ticket
from triage import similar_bedrock
from triage.models import TicketEmbedding
from triage.similar_base import LOCAL_MODEL, EmbeddingUnavailable

pytestmark = pytest.mark.django_db

MODEL = "amazon.titan-embed-text-v2:0"
REFUND = ("Refund not received", "I returned my blender two weeks ago and still have no refund.")
REFUND_AGAIN = ("Where is my refund?", "I returned the blender weeks ago and still no refund.")
REFUND_OTHER = ("Refund missing", "My returned blender arrived but the refund is still missing.")
PASSWORD = ("Cannot log in", "I forgot my password and the reset e-mail never arrives.")


def similar_of(api, ticket_id, **params):
    response = api.get(f"/tickets/{ticket_id}/similar", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_new_ticket_is_embedded_by_titan_and_stored_with_its_sign_bits(api, titan):
    titan.embeds(*REFUND)

    body = post_ticket(api, *REFUND, email="ana@example.com")

    stored = TicketEmbedding.objects.get(ticket_id=body["ticket"]["id"])
    assert stored.model == f"bedrock:{MODEL}:1024"
    vector = titan_vector(f"{REFUND[0]}\n{REFUND[1]}")
    assert (bytes(stored.vector), bytes(stored.bits)) == similar_bedrock.pack(vector)
    assert len(bytes(stored.vector)) == 1024 and len(bytes(stored.bits)) == 128
    assert similar_bedrock.Query.of(stored.vector, stored.bits).cosine(stored.vector) == (
        pytest.approx(1.0, abs=1e-6)
    )
    assert body["degraded"] == []


def test_same_customer_is_a_probable_duplicate_others_a_possible_incident(api, titan):
    ids = {}
    for email, text in [
        ("ana@example.com", REFUND),
        ("ana@example.com", REFUND_AGAIN),
        ("bob@example.com", REFUND_OTHER),
        ("carl@example.com", PASSWORD),
    ]:
        titan.embeds(*text)
        ids[text] = post_ticket(api, *text, email=email)["ticket"]["id"]

    body = similar_of(api, ids[REFUND], threshold=0.3)

    by_id = {r["id"]: r for r in body["results"]}
    assert set(by_id) == {ids[REFUND_AGAIN], ids[REFUND_OTHER]}
    assert by_id[ids[REFUND_AGAIN]]["relation"] == "probable_duplicate"
    assert by_id[ids[REFUND_OTHER]]["relation"] == "possible_incident"
    similarities = [r["similarity"] for r in body["results"]]
    assert similarities == sorted(similarities, reverse=True)
    # The answered similarity is the cosine of the two stored vectors (int8 of Titan's).
    expected = sum(
        a * b
        for a, b in zip(
            titan_vector(f"{REFUND[0]}\n{REFUND[1]}"),
            titan_vector(f"{REFUND_AGAIN[0]}\n{REFUND_AGAIN[1]}"),
            strict=True,
        )
    )
    assert by_id[ids[REFUND_AGAIN]]["similarity"] == pytest.approx(expected, abs=0.01)
    # Above every pair's similarity: none. The ticket itself never appears.
    assert similar_of(api, ids[REFUND], threshold=0.99)["results"] == []


def test_resolved_tickets_and_other_encoders_embeddings_are_never_answered(api, titan):
    first = TicketFactory(subject=REFUND[0], body_clean=REFUND[1])
    twin = TicketFactory(subject=REFUND[0], body_clean=REFUND[1])
    closed = TicketFactory(subject=REFUND[0], body_clean=REFUND[1])
    Ticket.objects.filter(pk=closed.pk).update(status=Ticket.Status.CLOSED, resolved_at=Now())
    local = TicketFactory(subject=REFUND[0], body_clean=REFUND[1])
    vector = titan_vector(f"{REFUND[0]}\n{REFUND[1]}")
    for ticket in (first, twin, closed):
        similar_bedrock.store(ticket_id=ticket.pk, vector=vector)
    # A vector of the local encoder (another model): never compared with Titan's.
    TicketEmbedding.objects.create(ticket=local, vector=bytes(384), model=LOCAL_MODEL)

    body = similar_of(api, first.pk)

    assert [r["id"] for r in body["results"]] == [twin.pk]
    assert body["results"][0]["similarity"] == pytest.approx(1.0, abs=1e-4)


def test_titan_failing_on_arrival_costs_the_ticket_nothing_and_the_first_ask_embeds_it(api, titan):
    titan.fails(*REFUND)
    body = post_ticket(api, *REFUND, email="ana@example.com")
    ticket_id = body["ticket"]["id"]
    assert body["degraded"] == [] and len(body["suggestions"]) > 0
    assert not TicketEmbedding.objects.filter(ticket_id=ticket_id).exists()

    titan.embeds(*REFUND)  # the first ask embeds it (and keeps it)
    assert similar_of(api, ticket_id)["results"] == []
    assert TicketEmbedding.objects.get(ticket_id=ticket_id).model == f"bedrock:{MODEL}:1024"
    assert similar_of(api, ticket_id)["results"] == []  # no second InvokeModel


def test_titan_down_when_asked_is_a_503_in_json(api, titan):
    ticket = TicketFactory(subject=REFUND[0], body_clean=REFUND[1])
    titan.fails(*REFUND, code="ServiceUnavailableException")

    response = api.get(f"/tickets/{ticket.pk}/similar")

    assert_error(response, 503, code="similar_unavailable")
    assert "ServiceUnavailableException" in response.json()["error"]["message"]
    assert not TicketEmbedding.objects.filter(ticket_id=ticket.pk).exists()


@pytest.mark.parametrize(
    "answer",
    [
        {"embedding": [0.1] * 512},  # not the configured size
        {"embedding": ["x"] * 1024},
        {"inputTextTokenCount": 3},
        [],
    ],
)
def test_an_answer_that_is_not_a_vector_is_refused(titan, answer):
    titan.embeds(*REFUND, answer=answer)

    with pytest.raises(EmbeddingUnavailable, match="not a 1024-vector"):
        similar_bedrock.embed(f"{REFUND[0]}\n{REFUND[1]}")


def test_another_size_is_another_model(api, titan, settings):
    old = TicketFactory(subject=REFUND[0], body_clean=REFUND[1])
    similar_bedrock.store(ticket_id=old.pk, vector=titan_vector(f"{REFUND[0]}\n{REFUND[1]}"))
    settings.SIMILAR_BEDROCK_DIMENSIONS = 256
    new = TicketFactory(subject=REFUND[0], body_clean=REFUND[1])
    titan.embeds(*REFUND)

    assert similar_of(api, new.pk)["results"] == []  # the 1024-vector is not compared
    assert TicketEmbedding.objects.get(ticket_id=new.pk).model == f"bedrock:{MODEL}:256"


def test_backfill_embeds_what_has_no_titan_embedding_and_is_idempotent(titan, capsys):
    customer = CustomerFactory()
    texts = [REFUND, REFUND_AGAIN, PASSWORD]
    tickets = [TicketFactory(customer=customer, subject=s, body_clean=b) for s, b in texts]
    # One has the local encoder's: replaced by Titan's.
    TicketEmbedding.objects.create(ticket=tickets[1], vector=bytes(384), model=LOCAL_MODEL)
    for text in texts:
        titan.embeds(*text)

    call_command("similar_backfill", "--batch-size", "2")

    assert "done: 3 tickets embedded (bedrock)" in capsys.readouterr().out
    models = set(TicketEmbedding.objects.values_list("model", flat=True))
    assert models == {f"bedrock:{MODEL}:1024"}
    call_command("similar_backfill")
    assert "done: 0 tickets embedded" in capsys.readouterr().out


def test_backfill_stops_at_a_failure_and_a_rerun_carries_on(titan):
    first = TicketFactory(subject=REFUND[0], body_clean=REFUND[1])
    second = TicketFactory(subject=PASSWORD[0], body_clean=PASSWORD[1])
    titan.embeds(*REFUND)
    titan.fails(*PASSWORD)

    with pytest.raises(CommandError, match="ThrottlingException"):
        call_command("similar_backfill")

    assert TicketEmbedding.objects.filter(ticket_id=first.pk).exists()
    titan.embeds(*PASSWORD)
    call_command("similar_backfill")
    assert TicketEmbedding.objects.filter(ticket_id=second.pk).exists()


def test_hamming_order_is_the_same_in_sql_and_in_python(titan):
    """On Postgres the first pass is one statement (bit_count over the generated column);
    elsewhere it runs here. Both give the same nearest tickets in the same order."""
    if connection.vendor != "postgresql":
        pytest.skip("the SQL pass is Postgres's")
    texts = [REFUND, REFUND_AGAIN, REFUND_OTHER, PASSWORD] * 5
    tickets = [TicketFactory(subject=s, body_clean=f"{b} ({i})") for i, (s, b) in enumerate(texts)]
    for ticket in tickets:
        similar_bedrock.store(
            ticket_id=ticket.pk, vector=titan_vector(f"{ticket.subject} {ticket.body_clean}")
        )
    Ticket.objects.filter(pk=tickets[3].pk).update(status=Ticket.Status.CLOSED, resolved_at=Now())
    query = similar_bedrock.ticket_query(tickets[0])

    for k in (1, 5, 50):
        sql = similar_bedrock._nearest_sql(tickets[0].pk, query.bits, k)
        python = similar_bedrock._nearest_python(tickets[0].pk, query.bits, k)
        assert sql == python
        assert tickets[0].pk not in sql and tickets[3].pk not in sql
    assert len(similar_bedrock._nearest_sql(tickets[0].pk, query.bits, 50)) == 18
