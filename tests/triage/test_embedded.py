"""Triage on Bedrock's Titan vectors (SIMILAR_ENCODER=bedrock, the Lambda's way): trained on
the vectors new tickets get beside their KB search (stored for similar tickets; Titan asked for
the rest and for the category names), read in plain Python (triage.embedded) with the scores
numpy's TriageClassifier gives. Titan is botocore's Stubber on a real bedrock-runtime client
(tests/titan_stub.py); the database is the suite's (Postgres in CI)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.factories import TicketFactory
from tests.helpers import (
    post_follow_up,
    post_ticket,
    prediction_rows,
    predictions_without_numpy,
    run_as_lambda,
)
from tests.triage.conftest import EXAMPLES
from tests.triage.test_classifier import corpus, embed
from tickets.models import Ticket
from triage import arrival, similar_bedrock
from triage.classifier import TriageClassifier, category_text
from triage.embedded import EmbeddedClassifier
from triage.models import Category, TicketEmbedding, TriageModel
from triage.services import training_tickets

ROOT = Path(__file__).resolve().parents[2]
TAG = "bedrock:test-model:64"
PROBES = [
    "my parcel never arrived and tracking is stuck",
    "refund for the returned blender please",
    "cannot log in, password reset mail missing",
    "Hello",
    "",
    "completely unrelated words about gardening tomatoes",
]


def names_of(texts, labels):
    """Name vectors that say something (each category's centroid), so the fit keeps the name
    view and the tests below read it."""
    vectors = embed(texts)
    out = {}
    for label in set(labels):
        centroid = vectors[[i for i, x in enumerate(labels) if x == label]].mean(axis=0)
        out[label] = centroid / np.linalg.norm(centroid)
    return out


@pytest.fixture(scope="module")
def model() -> TriageClassifier:
    texts, labels = corpus(20, seed=0)
    return TriageClassifier.fit(
        texts, labels, embed(texts), name_vectors=names_of(texts, labels), encoder=TAG
    )


@pytest.fixture(scope="module")
def oos_model() -> TriageClassifier:
    texts, labels = corpus(20, seed=1)
    labels = ["oos" if label == labels[-1] else label for label in labels]
    return TriageClassifier.fit(texts, labels, embed(texts), oos_label="oos", encoder=TAG)


@pytest.mark.parametrize("fixture", ["model", "oos_model"])
def test_the_model_read_in_plain_python_scores_as_numpy_does(fixture, request):
    # What numpy serves from the stored blob (its examples and names kept as float16).
    model = TriageClassifier.from_bytes(request.getfixturevalue(fixture).to_bytes())
    plain = EmbeddedClassifier.from_bytes(model.to_bytes())
    assert plain.encoder == TAG and plain.dims == 64 and plain.labels == model.labels
    probes = PROBES + corpus(2, seed=9)[0]
    for text in probes:
        vector = embed([text])[0]
        expected = model.probabilities(vector[None, :], [text])[0]
        got = plain.probabilities([float(x) for x in vector], text)
        assert np.abs(np.array(got) - expected).max() < 1e-5, text
        [want] = model.predict(vector[None, :], [text])
        answer = plain.predict([float(x) for x in vector], text)
        assert (answer.label, answer.alternatives[0][0]) == (want.label, want.alternatives[0][0])
        assert answer.confidence == pytest.approx(want.confidence, abs=2e-4)


def test_every_view_is_in_the_mix(model):
    """The four views (emb, lex, near, name) each carry weight in this model, so the equality
    above covers each one's plain-Python reading."""
    assert all(w > 0 for w in model.weights), model.weights
    assert model.label_vectors is not None


def test_a_remote_encoders_model_reads_near_from_sign_bits(model):
    """A Titan model's `near` compares sign bits (one popcount per example in plain Python):
    examples are kept as signs and stored packed; a local model keeps its cosine near."""
    texts, labels = corpus(20, seed=0)
    local = TriageClassifier.fit(texts, labels, embed(texts))
    assert not local.parts.signs and model.parts.signs
    assert set(np.unique(model.parts.examples)) <= {-1.0, 1.0}
    assert len(model.parts.examples) == len(local.parts.examples)  # NEAR_PER_LABEL each
    stored = TriageClassifier.from_bytes(model.to_bytes())
    assert stored.parts.signs and stored.encoder == TAG
    assert np.array_equal(stored.parts.examples, model.parts.examples)
    vector = embed(["refund for my returned blender"])
    views = model.parts.views(vector, ["refund"], len(model.labels), None)
    signs = np.where(vector > 0, 1.0, -1.0)
    best = (model.parts.examples @ signs.T).max() / vector.shape[1]
    assert views[2].max() == pytest.approx(best)
    assert model.report["encoder"] == TAG and "encoder" not in local.report


def test_a_local_encoders_model_or_a_broken_blob_is_refused(model):
    texts, labels = corpus(5, seed=3)
    local = TriageClassifier.fit(texts, labels, embed(texts))
    with pytest.raises(ValueError, match="local encoder"):
        EmbeddedClassifier.from_bytes(local.to_bytes())
    blob = model.to_bytes()
    for bad in (b"", b"not a zip", blob[: len(blob) // 2]):
        with pytest.raises(ValueError):
            EmbeddedClassifier.from_bytes(bad)
    # A zip of the right arrays whose metadata lacks the labels: refused, not a KeyError.
    with np.load(io.BytesIO(blob)) as saved:
        arrays = {name: saved[name] for name in saved.files}
    meta = json.loads(arrays["meta"].tobytes())
    del meta["labels"]
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    broken = io.BytesIO()
    np.savez(broken, **arrays)
    with pytest.raises(ValueError, match="inconsistent"):
        EmbeddedClassifier.from_bytes(broken.getvalue())
    plain = EmbeddedClassifier.from_bytes(blob)
    with pytest.raises(ValueError, match="a 3-vector"):
        plain.probabilities([0.1, 0.2, 0.3], "refund")


def test_it_runs_where_numpy_cannot_be_imported(model, tmp_path):
    """As on the Lambda: triage.embedded needs nothing but the standard library."""
    vectors = [[float(x) for x in embed([t])[0]] for t in PROBES]
    answers, modules = predictions_without_numpy(
        "triage.embedded.EmbeddedClassifier", model.to_bytes(), tmp_path, PROBES, vectors
    )
    plain = EmbeddedClassifier.from_bytes(model.to_bytes())
    predicted = [plain.predict(v, t) for v, t in zip(vectors, PROBES, strict=True)]
    assert answers == prediction_rows(predicted)
    assert modules == "[]"


# --- manage.py triage_train and POST /tickets with SIMILAR_ENCODER=bedrock -------------------


def label_tickets(api, titan) -> dict[str, Category]:
    """EXAMPLES' categories; each category's first three tickets arrive through POST /tickets
    (Titan embeds them on arrival), the rest are imported without a vector; an agent labels
    them all."""
    made = {name: Category.objects.create(name=name) for name in EXAMPLES}
    for name, rows in EXAMPLES.items():
        for n, (subject, body) in enumerate(rows):
            if n < 3:
                titan.embeds(subject, body)
                ticket_id = post_ticket(api, subject, body)["ticket"]["id"]
                Ticket.objects.filter(pk=ticket_id).update(
                    category=made[name], category_source="agent"
                )
            else:
                TicketFactory(
                    subject=subject, body=body, category=made[name], category_source="agent"
                )
    return made


def without_vector() -> list[tuple[str, str]]:
    """(subject, body) of the labelled tickets with no stored Titan vector, in training order:
    what a training asks Titan for first."""
    _, _, _, rows = training_tickets()
    stored = set(TicketEmbedding.objects.filter(model=similar_bedrock.model_tag()).values_list(
        "ticket_id", flat=True
    ))  # fmt: skip
    return [(subject, body) for pk, subject, body in rows if pk not in stored]


def expect_training(titan) -> int:
    """Queue Titan's answers for a training: the labelled tickets without a stored vector (in
    training order), then the category names. Returns how many tickets it embeds."""
    missing = without_vector()
    for subject, body in missing:
        titan.embeds(subject, body)
    _, _, ids, _ = training_tickets()
    descriptions = dict(Category.objects.values_list("pk", "description"))
    for name, pk in ids.items():
        titan.embeds_text(category_text(name, descriptions[pk]))
    return len(missing)


@pytest.mark.django_db
def test_training_reads_the_stored_titan_vectors_and_embeds_the_rest(
    api, titan, capsys, client, django_user_model
):
    label_tickets(api, titan)
    assert TicketEmbedding.objects.count() == 9
    assert expect_training(titan) == 9

    call_command("triage_train")

    out = capsys.readouterr().out
    assert "18 labelled tickets, 3 categories" in out
    assert "embedded 9 of 9 labelled tickets with Titan" in out
    assert f"trained on {similar_bedrock.model_tag()} vectors" in out
    row = TriageModel.objects.get(current=True)
    assert (
        row.report["encoder"]
        == similar_bedrock.model_tag()
        == "bedrock:" + ("amazon.titan-embed-text-v2:0:1024")
    )
    assert TicketEmbedding.objects.filter(model=similar_bedrock.model_tag()).count() == 18
    plain = EmbeddedClassifier.from_bytes(bytes(row.blob))
    assert plain.dims == 1024 and sorted(plain.labels) == sorted(EXAMPLES)

    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    page = client.get("/admin/triage/triagemodel/")
    assert f"Titan ({similar_bedrock.model_tag()})".encode() in page.content

    # Retraining embeds the category names only: every ticket's vector is stored now.
    assert expect_training(titan) == 0
    call_command("triage_train")
    assert TriageModel.objects.get(current=True).generation == row.generation + 1


@pytest.mark.django_db
def test_titan_failing_during_training_keeps_the_current_model(api, titan):
    label_tickets(api, titan)
    missing = without_vector()
    titan.embeds(*missing[0])
    titan.fails(*missing[1])

    with pytest.raises(CommandError, match=r"ThrottlingException.*8 labelled ticket\(s\) still"):
        call_command("triage_train")

    assert not TriageModel.objects.exists()
    assert TicketEmbedding.objects.count() == 10  # the one embedded before the failure is kept
    # A rerun carries on from there.
    assert expect_training(titan) == 8
    call_command("triage_train")
    assert TriageModel.objects.get(current=True).report["encoder"]


@pytest.fixture
def titan_model(api, titan, settings):
    made = label_tickets(api, titan)
    expect_training(titan)
    call_command("triage_train")
    settings.TRIAGE_APPLY_THRESHOLD = 0.3
    return made


@pytest.mark.django_db
def test_a_new_ticket_is_triaged_with_its_titan_vector(api, titan, titan_model, monkeypatch):
    def no_minilm(*args, **kwargs):
        raise AssertionError("a Titan model does not read the local encoder's vector")

    monkeypatch.setattr(arrival, "query_vector", no_minilm)
    subject, body = "Refund missing", "I returned my mixer and the refund is still not here."
    titan.embeds(subject, body)

    answer = post_ticket(api, subject, body, email="zoe@example.com")

    triage = answer["triage"]
    assert triage["method"] == "full", triage
    assert triage["status"] == "applied" and triage["category"] == "Refunds", triage
    ticket = Ticket.objects.get(pk=answer["ticket"]["id"])
    assert ticket.category == titan_model["Refunds"] and ticket.category_source == "model"
    assert ticket.triage["method"] == "full"
    # What was scored is what the model answers for Titan's vector of the ticket's text.
    row = TriageModel.objects.get(current=True)
    plain = EmbeddedClassifier.from_bytes(bytes(row.blob))
    from tests.titan_stub import titan_vector

    expected = plain.predict(titan_vector(f"{subject}\n{body}"), arrival.ticket_text(subject, body))
    assert triage["confidence"] == expected.confidence
    health = api.get("/health").json()["checks"]["triage"]
    assert health["status"] == "ok" and health["method"] == "full"


@pytest.mark.django_db
def test_without_its_vector_a_ticket_is_read_by_the_word_view(api, titan, titan_model):
    subject, body = "Parcel missing", "My parcel never arrived and the courier is not answering."
    titan.fails(subject, body)

    answer = post_ticket(api, subject, body, email="zoe@example.com")

    triage = answer["triage"]
    assert triage["method"] == "lexical", triage
    assert triage["alternatives"][0]["category"] == "Delivery"
    assert answer["degraded"] == []
    assert not TicketEmbedding.objects.filter(ticket_id=answer["ticket"]["id"]).exists()


@pytest.mark.django_db
def test_a_titan_model_is_not_read_where_tickets_get_no_titan_vector(
    api, titan, titan_model, settings
):
    """Switched back to the local encoder (SIMILAR_ENCODER=local): the Titan model's word view
    reads new tickets until it is retrained; never the local vector against Titan weights."""
    settings.SIMILAR_ENCODER = "local"

    answer = post_ticket(api, "Locked out", "My account is locked and I cannot sign in.")

    assert answer["triage"]["method"] == "lexical", answer["triage"]
    assert answer["triage"]["alternatives"][0]["category"] == "Account"


@pytest.mark.django_db
def test_another_titan_size_is_another_model_read_by_the_word_view(
    api, titan, titan_model, settings
):
    """Trained on 1,024-component vectors; the deployment now asks Titan for 512: the ticket's
    vector is not the model's, so its word view reads it (no error, no mixed sizes)."""
    settings.SIMILAR_BEDROCK_DIMENSIONS = 512
    subject, body = "Locked out", "My account is locked and I cannot sign in."
    titan.embeds(subject, body)

    answer = post_ticket(api, subject, body)

    assert answer["triage"]["method"] == "lexical", answer["triage"]
    assert answer["triage"]["alternatives"][0]["category"] == "Account"
    health = api.get("/health").json()["checks"]["triage"]
    assert health["status"] == "ok" and health["method"] == "lexical"


REFUND_FOLLOW_UP = "I returned the toaster and I am still waiting for my refund."


@pytest.mark.django_db
def test_a_follow_up_story_is_read_with_titans_vector_of_it(api, titan, titan_model):
    """A ticket that arrived as "Hello?" has no category; the customer's follow-up says what it
    is about: Titan is asked for the whole story (subject and every customer message), beside
    the follow-up's KB search, and the whole model reads it."""
    subject, body = "Hello", "Hello?"
    titan.embeds(subject, body)
    created = post_ticket(api, subject, body)
    assert created["ticket"]["category"] is None
    titan.embeds(subject, f"{body}\n\n{REFUND_FOLLOW_UP}")

    answer = post_follow_up(api, created["ticket"]["id"], REFUND_FOLLOW_UP)

    triage = answer["triage"]
    assert triage["method"] == "full" and triage["category"] == "Refunds", triage
    assert answer["ticket"]["category"] == "Refunds"
    decision = Ticket.objects.get(pk=created["ticket"]["id"]).triage
    assert decision["method"] == "full" and decision["read_on"] == "follow_up"


@pytest.mark.django_db
def test_without_titan_a_follow_up_story_is_read_by_the_word_view(api, titan, titan_model):
    subject, body = "Hello", "Hello?"
    titan.embeds(subject, body)
    created = post_ticket(api, subject, body)
    titan.fails(subject, f"{body}\n\n{REFUND_FOLLOW_UP}")

    answer = post_follow_up(api, created["ticket"]["id"], REFUND_FOLLOW_UP)

    triage = answer["triage"]
    assert triage["method"] == "lexical" and triage["category"] == "Refunds", triage


@pytest.mark.django_db
def test_a_follow_up_on_a_categorised_ticket_asks_titan_nothing(api, titan, titan_model):
    """The category is settled: triage does not read the story, so no vector is asked (the
    Stubber fails on any InvokeModel not queued)."""
    subject, body = "Refund missing", "I returned my mixer and the refund is still not here."
    titan.embeds(subject, body)
    created = post_ticket(api, subject, body)
    assert created["ticket"]["category"] == "Refunds"

    answer = post_follow_up(api, created["ticket"]["id"], "Any news on this please?")

    assert answer["triage"]["status"] == "kept", answer["triage"]


def test_the_lambda_reads_a_titan_model_with_numpy_unimportable(tmp_path):
    """Django set up with the Lambda stage's environment (Bedrock, so SIMILAR_ENCODER=bedrock)
    in a process where `import numpy` fails, on a migrated database holding a model trained
    here on Titan-shaped vectors: a ticket with its vector is read by the whole model, one
    without by the word view, and GET /health's check names the whole model."""
    from tests.titan_stub import titan_vector

    tag = "bedrock:amazon.titan-embed-text-v2:0:1024"
    texts, labels = [], []
    for name, rows in EXAMPLES.items():
        for subject, body in rows:
            texts.append(arrival.ticket_text(subject, body))
            labels.append(name)
    vectors = np.array([titan_vector(t) for t in texts], dtype=np.float32)
    model = TriageClassifier.fit(texts, labels, vectors, encoder=tag)
    blob = tmp_path / "model.npz"
    blob.write_bytes(model.to_bytes())
    text = "Refund missing\nI returned my mixer and the refund is still not here."
    script = (
        "from triage.models import Category, TriageModel\n"
        f"ids = {{name: Category.objects.create(name=name).pk for name in {sorted(EXAMPLES)!r}}}\n"
        f"TriageModel.objects.create(generation=1, current=True, labels=ids,\n"
        f"    report={{'encoder': {tag!r}}}, blob=open({str(blob)!r}, 'rb').read())\n"
        "from triage.arrival import _predict, triage_health\n"
        f"vector = json.loads({json.dumps(json.dumps(titan_vector(text)))})\n"
        f"for answer in (_predict({text!r}, 'en', vector), _predict({text!r}, 'en')):\n"
        "    answer.pop('_category', None)\n"
        "    print(json.dumps(answer))\n"
        "print(json.dumps(triage_health()))\n"
        "print(sorted(m for m, v in sys.modules.items() if v and m.split('.')[0] == 'numpy'))\n"
    )  # fmt: skip
    full, words, health, numpy_modules = run_as_lambda(
        script, tmp_path, TRIAGE_APPLY_THRESHOLD="0.3"
    )
    full, words, health = json.loads(full), json.loads(words), json.loads(health)
    assert full["method"] == "full" and full["status"] == "applied", full
    assert full["category"] == "Refunds"
    expected = EmbeddedClassifier.from_bytes(model.to_bytes()).predict(titan_vector(text), text)
    assert full["confidence"] == expected.confidence
    assert words["method"] == "lexical" and words["alternatives"][0]["category"] == "Refunds"
    assert health == {"status": "ok", "detail": "ok", "generation": 1, "method": "full"}
    assert numpy_modules == "[]"


@pytest.mark.django_db
def test_training_vectors_keep_the_signs_a_new_tickets_vector_has(titan):
    """Stored components are int8: one too small for it rounds to 0, but its stored sign bit
    says which side it was on, and the training vector keeps that side (the model's `near`
    compares signs with a new ticket's float vector)."""
    from triage.services import _titan_vectors

    ticket = TicketFactory()
    vector = [1.0, 0.001, -0.001, 0.5, -0.5, 0.2, -0.2, 0.0001]
    components, bits = similar_bedrock.store(ticket_id=ticket.pk, vector=vector)
    assert list(np.frombuffer(components, dtype=np.int8)) == [127, 0, 0, 64, -64, 25, -25, 0]

    [row] = _titan_vectors([(ticket.pk, ticket.subject, ticket.body)])

    assert [bool(x > 0) for x in row] == [x > 0 for x in vector]
    assert float(np.linalg.norm(row)) == pytest.approx(1.0)
    cosine = float(row @ np.array(vector)) / float(np.linalg.norm(vector))
    assert cosine > 0.999


@pytest.mark.django_db
def test_a_corrupt_titan_model_turns_triage_off_and_health_says_so(api, titan, titan_model):
    from triage.services import forget_current

    TriageModel.objects.filter(current=True).update(blob=b"not a model", revision="broken")
    forget_current()
    subject, body = "Refund missing", "I returned my mixer and the refund is still not here."
    titan.embeds(subject, body)

    answer = post_ticket(api, subject, body)

    assert answer["triage"]["status"] == "off", answer["triage"]
    assert answer["ticket"]["category"] is None
    health = api.get("/health").json()["checks"]["triage"]
    assert health["status"] == "degraded" and health["method"] == "full", health
    assert "not a triage model" in health["detail"]


@pytest.mark.django_db
def test_labels_no_model_comes_from_ask_titan_nothing(titan):
    """One category: refused before any vector is asked for (the Stubber fails on any
    InvokeModel not queued), and no model is stored."""
    refunds = Category.objects.create(name="Refunds")
    for subject, body in EXAMPLES["Refunds"]:
        TicketFactory(subject=subject, body=body, category=refunds, category_source="agent")

    with pytest.raises(CommandError, match="Only one category"):
        call_command("triage_train")

    assert not TriageModel.objects.exists()


@pytest.mark.django_db
def test_an_email_with_a_signature_and_a_quoted_reply_is_embedded_as_cleaned(
    api, titan, titan_model
):
    """What Titan embeds (and the whole model reads) is the cleaned message: no greeting,
    sign-off, signature or quoted earlier mail (the Stubber checks the request's text)."""
    from helpdesk.reading import clean_message

    body = (
        "Hi there,\n\nI returned my blender two weeks ago and the refund is still not on my "
        "card.\n\nCheers, Tom\n\nOn Tue, 1 Dec 2026 at 10:02, Support <support@example.com> "
        "wrote:\n> Thanks for your order! It ships today.\n> Best, the team\n--\n"
        "Sent from my iPhone"
    )
    cleaned = clean_message(body)
    assert "iPhone" not in cleaned and "ships today" not in cleaned and "refund" in cleaned
    titan.embeds("Refund", cleaned)

    answer = post_ticket(api, "Refund", body, email="tom@example.com")

    triage = answer["triage"]
    assert triage["method"] == "full" and triage["category"] == "Refunds", triage


@pytest.mark.django_db
def test_an_agents_no_category_decisions_train_the_titan_model_too(api, titan, settings):
    """On the Lambda (Titan's vectors, read in plain Python): the tickets an agent decided no
    category fits are the model's out-of-scope label there as well."""
    from triage.models import NO_CATEGORY

    label_tickets(api, titan)
    for subject, body in [
        ("Hello", "Hello, is anybody there? Thanks"),
        ("Hi", "Hi there, thanks, hello again"),
        ("Thanks", "Thanks a lot, hello to the team"),
        ("Hello again", "Hello hello, thanks for everything"),
    ]:
        TicketFactory(subject=subject, body=body, category=None, category_source="agent")
    expect_training(titan)
    call_command("triage_train")
    settings.TRIAGE_APPLY_THRESHOLD = 0.3

    plain = EmbeddedClassifier.from_bytes(bytes(TriageModel.objects.get(current=True).blob))
    assert plain.oos_label == NO_CATEGORY
    subject, body = "Hello", "We say thanks and hello again"
    titan.embeds(subject, body)
    triage = post_ticket(api, subject, body, email="zoe@example.com")["triage"]
    assert triage["method"] == "full" and triage["status"] == "out_of_scope", triage
    assert NO_CATEGORY not in [a["category"] for a in triage["alternatives"]]
    subject, body = "Refund missing", "I returned my mixer and the refund is still not here."
    titan.embeds(subject, body)
    triage = post_ticket(api, subject, body, email="zoe@example.com")["triage"]
    assert triage["status"] == "applied" and triage["category"] == "Refunds", triage
