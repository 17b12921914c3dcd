"""GET /tickets/{id}/similar and the ticket embeddings behind it: stored at ingest from
retrieval's own query vector, backfilled by a command. Real encoder, real database."""

import numpy as np
import pytest
from django.core.management import call_command

from knowledge.backends.local import shared_encoder
from tests.factories import CustomerFactory, TicketFactory
from tests.helpers import assert_error
from tickets.models import Ticket
from triage import similar, vectors
from triage.models import TicketEmbedding

pytestmark = pytest.mark.django_db


def create(api, email, subject, body):
    response = api.post(
        "/tickets",
        {"customer": {"email": email}, "subject": subject, "body": body},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()["ticket"]["id"]


def similar_of(api, ticket_id, **params):
    response = api.get(f"/tickets/{ticket_id}/similar", params)
    assert response.status_code == 200, response.content
    return response.json()


REFUND = ("Refund not received", "I returned my blender two weeks ago and still have no refund.")
REFUND_AGAIN = ("Where is my refund?", "I sent the blender back weeks ago but got no refund yet.")
REFUND_OTHER = ("Refund missing", "My returned blender was received but the refund never came.")
PASSWORD = ("Cannot log in", "I forgot my password and the reset e-mail never arrives.")


def test_ingest_stores_the_vector_retrieval_computed(api):
    ticket_id = create(api, "ana@example.com", *REFUND)

    stored = TicketEmbedding.objects.get(ticket_id=ticket_id)
    assert len(bytes(stored.vector)) == vectors.VECTOR_BYTES
    ticket = Ticket.objects.get(pk=ticket_id)
    # The same vector as retrieval's query key for this ticket, still in the encoder's cache.
    cached = vectors.cached_vector(shared_encoder(), ticket.subject, ticket.body_clean)
    assert cached is not None
    assert bytes(stored.vector) == vectors.to_bytes(cached)
    kept = vectors.unit(vectors.from_bytes([stored.vector]))[0]
    assert float(kept @ vectors.unit(cached)) > 0.999


def test_same_customer_is_a_probable_duplicate_others_a_possible_incident(api):
    first = create(api, "ana@example.com", *REFUND)
    again = create(api, "ana@example.com", *REFUND_AGAIN)
    other = create(api, "bob@example.com", *REFUND_OTHER)
    unrelated = create(api, "carl@example.com", *PASSWORD)

    body = similar_of(api, first, threshold=0.5)

    assert body["ticket_id"] == first
    assert body["threshold"] == 0.5
    by_id = {row["id"]: row for row in body["results"]}
    assert first not in by_id  # never itself
    assert unrelated not in by_id
    assert by_id[again]["relation"] == "probable_duplicate"
    assert by_id[again]["customer_email"] == "ana@example.com"
    assert by_id[other]["relation"] == "possible_incident"
    assert by_id[other]["number"] == f"HD-{other:06d}"
    similarities = [row["similarity"] for row in body["results"]]
    assert similarities == sorted(similarities, reverse=True)
    assert all(0.5 <= s <= 1 for s in similarities)
    # The unrelated ticket is far below: the default threshold is well above its cosine.
    a = vectors.unit(vectors.from_bytes([TicketEmbedding.objects.get(pk=first).vector]))[0]
    b = vectors.unit(vectors.from_bytes([TicketEmbedding.objects.get(pk=unrelated).vector]))[0]
    assert float(a @ b) < 0.5


def test_default_threshold_and_limit(api, settings):
    first = create(api, "ana@example.com", *REFUND)
    again = create(api, "ana@example.com", *REFUND_AGAIN)
    other = create(api, "bob@example.com", *REFUND_OTHER)

    settings.SIMILAR_TICKETS_THRESHOLD = 0.99
    body = similar_of(api, first)
    assert body["threshold"] == 0.99 and body["limit"] == 10
    assert body["results"] == []

    settings.SIMILAR_TICKETS_THRESHOLD = 0.3
    assert {r["id"] for r in similar_of(api, first)["results"]} == {again, other}
    one = similar_of(api, first, limit=1)["results"]
    assert len(one) == 1 and one[0]["id"] in {again, other}
    assert one[0]["similarity"] == max(r["similarity"] for r in similar_of(api, first)["results"])


def test_closed_tickets_are_not_similar_even_after_the_matrix_was_built(api, agent):
    first = create(api, "ana@example.com", *REFUND)
    again = create(api, "ana@example.com", *REFUND_AGAIN)
    other = create(api, "bob@example.com", *REFUND_OTHER)
    assert {r["id"] for r in similar_of(api, first, threshold=0.3)["results"]} == {again, other}

    response = api.patch(f"/tickets/{other}", {"status": "closed"}, format="json")
    assert response.status_code == 200
    assert {r["id"] for r in similar_of(api, first, threshold=0.3)["results"]} == {again}
    # A closed ticket can still be asked about: its open look-alikes are answered.
    assert {r["id"] for r in similar_of(api, other, threshold=0.3)["results"]} == {first, again}


def test_a_new_ticket_is_seen_by_a_matrix_built_before_it(api):
    first = create(api, "ana@example.com", *REFUND)
    assert similar_of(api, first, threshold=0.3)["results"] == []
    later = create(api, "bob@example.com", *REFUND_OTHER)
    assert [r["id"] for r in similar_of(api, first, threshold=0.3)["results"]] == [later]


def test_a_ticket_without_an_embedding_gets_one_when_asked(api):
    customer = CustomerFactory()
    old = TicketFactory(customer=customer, subject=REFUND[0], body=REFUND[1], body_clean=REFUND[1])
    assert not TicketEmbedding.objects.filter(pk=old.pk).exists()
    newer = create(api, customer.email, *REFUND_AGAIN)

    results = similar_of(api, old.pk, threshold=0.3)["results"]

    assert [(r["id"], r["relation"]) for r in results] == [(newer, "probable_duplicate")]
    assert TicketEmbedding.objects.filter(pk=old.pk).exists()


def test_backfill_embeds_tickets_that_have_none_as_ingest_would(api, capsys):
    old = [
        TicketFactory(subject=s, body=b, body_clean=b) for s, b in (REFUND, REFUND_OTHER, PASSWORD)
    ]
    kept = create(api, "ana@example.com", *REFUND_AGAIN)
    before = bytes(TicketEmbedding.objects.get(pk=kept).vector)

    call_command("similar_backfill", "--batch-size", "2")

    assert "done: 3 tickets embedded" in capsys.readouterr().out
    assert bytes(TicketEmbedding.objects.get(pk=kept).vector) == before  # untouched
    encoder = shared_encoder()
    for ticket in old:
        stored = bytes(TicketEmbedding.objects.get(pk=ticket.pk).vector)
        assert stored == vectors.to_bytes(
            vectors.encode_vector(encoder, ticket.subject, ticket.body_clean)
        )
    call_command("similar_backfill")  # nothing left: idempotent
    assert "done: 0 tickets embedded" in capsys.readouterr().out
    ids = {r["id"] for r in similar_of(api, old[0].pk, threshold=0.5)["results"]}
    assert ids == {old[1].pk, kept}


def test_backfill_rejects_a_bad_batch_size():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="batch-size"):
        call_command("similar_backfill", "--batch-size", "0")


@pytest.mark.parametrize(
    "params, field",
    [
        ({"threshold": "high"}, "threshold"),
        ({"threshold": "1.5"}, "threshold"),
        ({"threshold": "-0.1"}, "threshold"),
        ({"threshold": "nan"}, "threshold"),
        ({"threshold": "inf"}, "threshold"),
        ({"limit": "0"}, "limit"),
        ({"limit": "51"}, "limit"),
        ({"limit": "ten"}, "limit"),
    ],
)
def test_bad_params_are_a_validation_error(api, params, field):
    ticket = TicketFactory()
    response = api.get(f"/tickets/{ticket.pk}/similar", params)
    assert_error(response, 400, code="validation_error", fields=[field])


def test_unknown_ticket_is_a_404(api):
    assert_error(api.get("/tickets/999999/similar"), 404, code="not_found")


def test_intake_keys_may_not_ask(intake_api):
    ticket = TicketFactory()
    assert_error(intake_api.get(f"/tickets/{ticket.pk}/similar"), 403)


def test_the_matrix_drops_closed_and_deleted_tickets_and_grows():
    matrix = similar.OpenTicketMatrix()
    rng = np.random.default_rng(0)
    blobs = [vectors.to_bytes(rng.standard_normal(384)) for _ in range(3000)]
    matrix.add(list(range(1, 3001)), blobs)
    matrix.add([5], [blobs[0]])  # already there: not twice
    assert matrix.size == 3000
    query = vectors.unit(vectors.from_bytes([blobs[41]]))[0]
    scores = matrix.scores(query)
    assert int(np.argmax(scores)) == 41 and scores[41] == pytest.approx(1.0, abs=1e-5)
    matrix.drop([42])
    assert matrix.scores(query)[41] == 0.0 and 42 not in matrix.position


def test_ingest_on_another_kb_backend_stores_nothing_and_never_fails(settings):
    from triage.similar_base import embedding_start

    settings.KB_BACKEND = "bedrock"  # no local encoder ran
    settings.SIMILAR_ENCODER = "local"  # and similar tickets were told to use it anyway
    ticket = TicketFactory(subject=REFUND[0], body=REFUND[1], body_clean=REFUND[1])
    pending = embedding_start(ticket.subject, ticket.body_clean)
    pending.resolve()
    assert pending.embedding(ticket) is None
    assert not TicketEmbedding.objects.filter(pk=ticket.pk).exists()


def test_with_an_empty_kb_new_tickets_still_find_each_other(api):
    """No article yet (a new helpdesk): the search has nothing to score, but the ticket's
    vector is still made once, so its embedding is stored at ingest like any other's."""
    from knowledge.models import Article, KnowledgeState

    Article.objects.all().delete()
    KnowledgeState.bump()
    down = ("Cannot log in", "I cannot log in since this morning, the page says error 502.")

    problem = create(api, "ana@example.com", *down)
    other = create(api, "ben@example.com", *down)

    assert set(TicketEmbedding.objects.values_list("ticket_id", flat=True)) == {problem, other}
    found = similar_of(api, other)["results"]
    assert [(row["id"], row["relation"]) for row in found] == [(problem, "possible_incident")]
