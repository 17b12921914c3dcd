"""Triage's word view without numpy or an encoder (triage.lexical): what a Bedrock deployment
and the Lambda serve. Real models (trained through TriageClassifier.fit), the real database, a
real Bedrock client behind botocore's Stubber, and a Python process in which numpy cannot be
imported."""

import io
import json
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.stub import ANY, Stubber

from knowledge.backends import base
from knowledge.backends.bedrock import BedrockBackend
from tests.helpers import (
    post_follow_up,
    post_ticket,
    prediction_rows,
    predictions_without_numpy,
    run_as_lambda,
)
from tests.knowledge.test_bedrock_backend import DS_ID, KB_ID, result, retrieve_params
from tests.triage.test_classifier import corpus, embed
from tickets.models import Ticket
from triage import arrival, classifier
from triage.classifier import TriageClassifier
from triage.learn import log_softmax
from triage.lexical import LexicalClassifier, read_arrays
from triage.models import TriageModel
from triage.services import forget_current

ROOT = Path(__file__).resolve().parents[2]
PROBES = [
    "my parcel never arrived and tracking is stuck",
    "refund for the returned blender please",
    "cannot log in, password reset mail missing",
    "Where is my refund? I sent the kettle back weeks ago.",
    "Hello",
    "🙂🙂",
    "",
    "completely unrelated words about gardening tomatoes",
]


@pytest.fixture(scope="module")
def model() -> TriageClassifier:
    texts, labels = corpus(20, seed=0)
    return TriageClassifier.fit(texts, labels, embed(texts))


@pytest.fixture(scope="module")
def oos_model() -> TriageClassifier:
    texts, labels = corpus(20, seed=1)
    labels = ["oos" if label == labels[-1] else label for label in labels]
    return TriageClassifier.fit(texts, labels, embed(texts), oos_label="oos")


@pytest.fixture(scope="module")
def words_only_model() -> TriageClassifier:
    """Trained as on a set above WORD_VIEW_CHARS_MAX_TEXTS: the full model's word view."""
    texts, labels = corpus(20, seed=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(classifier, "WORD_VIEW_CHARS_MAX_TEXTS", len(texts) - 1)
        return TriageClassifier.fit(texts, labels, embed(texts))


def numpy_word_view(model: TriageClassifier, text: str) -> np.ndarray:
    """The word view's probabilities computed with numpy from the fitted model."""
    if model.lexical["chars"]:
        logp = model.word_model.log_probabilities([text])[0]
        classes = np.arange(len(model.labels))
    else:
        parts = model.parts
        logp = log_softmax(parts.lexicon.transform([text]).dot(parts.lex_w) + parts.lex_b)[0]
        classes = parts.classes
    score = np.full(len(model.labels), -np.inf)
    score[classes] = model.lexical["weight"] * logp
    return np.exp(log_softmax(score[None, :]))[0]


def test_training_fits_the_word_view_its_own_weight_and_threshold(
    model, oos_model, words_only_model
):
    for fitted in (model, oos_model, words_only_model):
        lexical = fitted.report["lexical"]
        assert fitted.lexical["weight"] > 0
        assert 0 <= fitted.lexical["threshold"] <= 1
        assert lexical["threshold"] == round(fitted.lexical["threshold"], 4)
        assert 0 < lexical["cv_in_scope_accuracy"] <= 1
        assert lexical["cv_oos_recall"] >= 0.5  # the operating point, on out-of-fold unknowns
        # Stored and read back with the rest of the model.
        again = TriageClassifier.from_bytes(fitted.to_bytes())
        assert again.lexical == fitted.lexical
        assert (again.word_model is None) == (fitted.word_model is None)
    # A small set: the word view has its own model with character n-grams; a large one reuses
    # the full model's word 1-2-grams and stores nothing more.
    assert model.lexical["chars"] and model.word_model is not None
    assert any(g.startswith("c:") for g in model.word_model.lexicon.vocabulary)
    assert not words_only_model.lexical["chars"] and words_only_model.word_model is None


def test_the_arrays_are_read_as_numpy_wrote_them(model):
    blob = model.to_bytes()
    names = ("meta", "idf", "lex_w", "lex_b", "classes", "example_labels", "weights")
    read = read_arrays(blob, names)
    with np.load(io.BytesIO(blob)) as saved:
        for name in names:
            shape, values = read[name]
            assert shape == saved[name].shape, name
            assert np.array_equal(np.asarray(values).reshape(shape), saved[name]), name


@pytest.mark.parametrize("fixture", ["model", "oos_model", "words_only_model"])
def test_the_word_view_in_plain_python_equals_numpy(fixture, request):
    fitted = request.getfixturevalue(fixture)
    words = LexicalClassifier.from_bytes(fitted.to_bytes())
    texts, _ = corpus(5, seed=7)
    for text in texts + PROBES:
        expected = numpy_word_view(fitted, text)
        assert np.allclose(words.probabilities(text), expected, atol=1e-5), text
        prediction = words.predict(text)
        masked = expected.copy()
        if fitted.oos_label:
            masked[fitted.labels.index(fitted.oos_label)] = -1
        best = int(masked.argmax())
        oos_wins = fitted.oos_label and expected.argmax() == fitted.labels.index(fitted.oos_label)
        confidence = 0.0 if oos_wins else masked[best]
        in_scope = any(c.isalnum() for c in text) and confidence >= fitted.lexical["threshold"]
        assert prediction.label == (fitted.labels[best] if in_scope else None), text
        assert prediction.confidence == pytest.approx(confidence, abs=1e-4)
        assert prediction.alternatives[0][0] == fitted.labels[best]


def test_it_sorts_in_scope_texts_as_the_labels_say(model):
    words = LexicalClassifier.from_bytes(model.to_bytes())
    texts, labels = corpus(10, seed=3)  # new texts of the same topics
    right = sum(
        words.predict(text).alternatives[0][0] == label
        for text, label in zip(texts, labels, strict=True)
    )
    assert right / len(texts) >= 0.8
    assert words.predict("🙂🙂").out_of_scope and words.predict("").out_of_scope


def test_a_model_stored_before_the_word_view_had_a_threshold_is_refused(model):
    model.lexical, kept = None, model.lexical
    try:
        blob = model.to_bytes()
    finally:
        model.lexical = kept
    with pytest.raises(ValueError, match="retrain"):
        LexicalClassifier.from_bytes(blob)
    for bad in (b"", b"not a zip", blob[: len(blob) // 2]):
        with pytest.raises(ValueError):
            LexicalClassifier.from_bytes(bad)


def test_it_runs_where_numpy_cannot_be_imported(model, tmp_path):
    """As on the Lambda: triage.lexical and what it imports need nothing but the standard
    library (the import of numpy is made to fail in the child process)."""
    answers, modules = predictions_without_numpy(
        "triage.lexical.LexicalClassifier",
        model.to_bytes(),
        tmp_path,
        PROBES,
        watched=("numpy", "django"),
    )
    words = LexicalClassifier.from_bytes(model.to_bytes())
    assert answers == prediction_rows([words.predict(t) for t in PROBES])
    assert modules == "[]"


# --- POST /tickets with the Bedrock KB: the word view reads the ticket -----------------------


@pytest.fixture
def bedrock(settings, monkeypatch):
    """KB_BACKEND=bedrock: the app's backend is a real Bedrock client behind a Stubber, which
    answers one Retrieve (validated against the service model) with a refunds passage."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    session = boto3.session.Session()
    runtime = session.client("bedrock-agent-runtime", region_name="eu-west-2")
    agent = session.client("bedrock-agent", region_name="eu-west-2")
    backend = BedrockBackend(runtime, agent, kb_id=KB_ID, data_source_id=DS_ID, max_attempts=1)
    settings.KB_BACKEND = "bedrock"
    real = base._backend_for
    monkeypatch.setattr(base, "_backend_for", lambda n: backend if n == "bedrock" else real(n))
    with Stubber(runtime) as stub:
        stub.add_response(
            "retrieve",
            {"retrievalResults": [result("s3://kb/refunds.md", "Refunds take 5 days.", 0.9)]},
            retrieve_params(ANY, number_of_results=3 * settings.KB_SUGGESTIONS),
        )
        yield stub
        stub.assert_no_pending_responses()


@pytest.mark.django_db
def test_a_bedrock_deployment_triages_with_the_word_view(api, categories, bedrock, settings):
    settings.TRIAGE_APPLY_THRESHOLD = 0.3

    body = post_ticket(
        api, "Refund not here", "I returned the toaster and I am still waiting for my refund."
    )

    triage = body["triage"]
    assert triage["method"] == "lexical", triage
    assert triage["alternatives"][0]["category"] == "Refunds"
    assert triage["status"] == "applied" and triage["category"] == "Refunds"
    assert triage["confidence"] >= 0.3
    assert body["suggestions"][0]["source"] == "s3://kb/refunds.md"
    ticket = Ticket.objects.get(pk=body["ticket"]["id"])
    assert ticket.category == categories["Refunds"] and ticket.category_source == "model"
    assert ticket.triage["applied"] and ticket.triage["label"] == "Refunds"
    assert ticket.triage["method"] == "lexical"  # GET /triage/metrics?method=lexical


@pytest.mark.django_db
def test_on_bedrock_a_follow_up_is_read_by_the_word_view_with_no_encoder(
    api, categories, bedrock, settings, monkeypatch
):
    settings.TRIAGE_APPLY_THRESHOLD = 0.5
    body = post_ticket(api, "Hello", "Hello?")
    assert body["triage"]["status"] != "applied" and body["ticket"]["category"] is None
    bedrock.add_response(
        "retrieve",
        {"retrievalResults": [result("s3://kb/refunds.md", "Refunds take 5 days.", 0.9)]},
        retrieve_params(ANY, number_of_results=3 * settings.KB_SUGGESTIONS),
    )

    def no_encoder(*args, **kwargs):
        raise AssertionError("no encoder runs on Bedrock")

    monkeypatch.setattr(arrival, "query_vector", no_encoder)
    answer = post_follow_up(
        api, body["ticket"]["id"], "I returned the toaster and I am still waiting for my refund."
    )

    triage = answer["triage"]
    assert triage["method"] == "lexical" and triage["status"] == "applied", triage
    assert triage["category"] == "Refunds" and answer["ticket"]["category"] == "Refunds"
    assert answer["suggestions"][0]["source"] == "s3://kb/refunds.md"
    decision = Ticket.objects.get(pk=body["ticket"]["id"]).triage
    assert decision["method"] == "lexical" and decision["read_on"] == "follow_up"


@pytest.mark.django_db
def test_on_bedrock_a_text_without_words_is_out_of_scope(api, categories, bedrock, settings):
    body = post_ticket(api, "🙂", "🙂🙂")
    assert body["triage"]["status"] == "out_of_scope" and body["triage"]["method"] == "lexical"


@pytest.mark.django_db
def test_on_bedrock_a_model_without_a_word_view_is_off_and_health_says_retrain(
    api, categories, bedrock, settings
):
    row = TriageModel.objects.get(current=True)
    model = TriageClassifier.from_bytes(bytes(row.blob))
    model.lexical = None
    TriageModel.objects.filter(pk=row.pk).update(blob=model.to_bytes(), revision="old-format")
    forget_current()

    body = post_ticket(api, "Refund not here", "I am still waiting for my refund.")

    assert body["triage"]["status"] == "off" and "retrain" in body["triage"]["reason"]
    assert Ticket.objects.get(pk=body["ticket"]["id"]).category is None
    health = api.get("/health").json()["checks"]["triage"]
    assert health["status"] == "degraded" and health["method"] == "lexical"
    assert "retrain" in health["detail"]


def test_the_lambda_triages_a_ticket_with_numpy_unimportable(model, tmp_path):
    """Django set up with the Lambda stage's environment (Bedrock, DynamoDB) in a process where
    `import numpy` fails, on a migrated database holding a model trained here: a ticket is read
    by the word view, its category resolved, and GET /health's check says so."""
    blob = tmp_path / "model.npz"
    blob.write_bytes(model.to_bytes())
    script = (
        "from triage.models import Category, TriageModel\n"
        "names = ('account', 'billing', 'delivery')\n"
        "ids = {name: Category.objects.create(name=name).pk for name in names}\n"
        "TriageModel.objects.create(generation=1, current=True, labels=ids,\n"
        f"                           blob=open({str(blob)!r}, 'rb').read())\n"
        "from triage.arrival import _predict, triage_health\n"
        "answer = _predict('I was charged twice, please refund the payment')\n"
        "answer.pop('_category', None)\n"
        "print(json.dumps(answer))\n"
        "print(json.dumps(triage_health()))\n"
        "from triage.reading import read_language\n"
        "print(read_language('Mein Paket ist nicht angekommen, wo ist es?').code)\n"
        "print(sorted(m for m, v in sys.modules.items() if v and m.split('.')[0] == 'numpy'))\n"
    )
    answer, health, language, numpy_modules = run_as_lambda(
        script, tmp_path, TRIAGE_APPLY_THRESHOLD="0.3"
    )
    answer, health = json.loads(answer), json.loads(health)
    assert answer["method"] == "lexical" and answer["model"] == 1
    assert answer["status"] == "applied" and answer["category"] == "billing", answer
    assert health == {"status": "ok", "detail": "ok", "generation": 1, "method": "lexical"}
    assert language == "de"  # lingua is not in the package: its function words tell it
    assert numpy_modules == "[]"
