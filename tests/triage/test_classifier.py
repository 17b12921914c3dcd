"""The triage classifier on its own (numpy; no database). Embeddings here come from a small
deterministic bag-of-words projection so the tests are fast; triage_eval measures it on the
real MiniLM vectors (TRIAGE.md)."""

import hashlib

import numpy as np
import pytest

from triage.classifier import TrainingError, TriageClassifier, category_text, check_labels
from triage.evaluation import dev_split, scores

TOPICS = {
    "billing": ["refund", "charge", "invoice", "payment", "card", "charged twice", "bill"],
    "delivery": ["parcel", "courier", "delivery", "tracking", "arrive", "shipping", "late"],
    "account": ["password", "login", "email address", "two factor", "locked", "sign in"],
}
FILLERS = ["please help", "hi there", "my", "i need", "urgent", "thanks", "again", "why"]


def embed(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in text.lower().split():
            digest = hashlib.sha1(word.encode()).digest()
            out[i, digest[0] % 64] += 1 if digest[1] % 2 else -1
        norm = np.linalg.norm(out[i])
        out[i] /= norm or 1
    return out


def corpus(n_per_label: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for label, words in TOPICS.items():
        for _ in range(n_per_label):
            picked = rng.choice(words, 2, replace=False).tolist() + rng.choice(FILLERS, 2).tolist()
            rng.shuffle(picked)
            texts.append(" ".join(picked))
            labels.append(label)
    return texts, labels


@pytest.fixture(scope="module")
def model() -> TriageClassifier:
    texts, labels = corpus(20, seed=0)
    return TriageClassifier.fit(texts, labels, embed(texts))


def test_it_predicts_unseen_texts_of_each_category(model):
    texts, labels = corpus(5, seed=1)
    predicted = [p.alternatives[0][0] for p in model.predict(embed(texts), texts)]
    assert np.mean(np.array(predicted) == np.array(labels)) >= 0.9


def test_confidences_are_probabilities_best_first(model):
    [prediction] = model.predict(embed(["refund my card payment"]), ["refund my card payment"])
    values = [c for _, c in prediction.alternatives]
    assert values == sorted(values, reverse=True)
    assert 0 < values[0] <= 1 and sum(values) <= 1.0001
    assert prediction.confidence == values[0]


@pytest.mark.parametrize("text", ["", "   ", "🙂🙂🔥", "?!…"])
def test_empty_or_emoji_only_text_is_out_of_scope(model, text):
    [prediction] = model.predict(embed([text]), [text])
    assert prediction.out_of_scope and prediction.label is None


def test_it_round_trips_through_bytes(model):
    texts, _ = corpus(3, seed=2)
    again = TriageClassifier.from_bytes(model.to_bytes())
    assert again.labels == model.labels and again.threshold == model.threshold
    before = [p.alternatives for p in model.predict(embed(texts), texts)]
    after = [p.alternatives for p in again.predict(embed(texts), texts)]
    assert before == after


def test_category_text_reads_underscores_as_spaces_and_adds_the_description():
    assert category_text("card_arrival") == "card arrival"
    assert category_text("Returns ", " Refunds that have not arrived.") == (
        "Returns Refunds that have not arrived."
    )


def topic_names(labels, *, shift=0):
    """Each label's name vector: the embedding of its topic's words (shift: another label's)."""
    order = sorted(set(labels))
    return {
        label: embed([" ".join(TOPICS[order[(i + shift) % len(order)]])])[0]
        for i, label in enumerate(order)
    }


def test_names_that_tell_the_categories_apart_get_a_weight_and_are_stored():
    texts, labels = corpus(3, seed=0)
    model = TriageClassifier.fit(texts, labels, embed(texts), name_vectors=topic_names(labels))
    assert model.weights[3] > 0 and model.label_vectors.shape == (3, 64)
    again = TriageClassifier.from_bytes(model.to_bytes())
    probe, _ = corpus(3, seed=2)
    assert np.allclose(again.label_vectors, model.label_vectors, atol=1e-3)
    before = [p.label for p in model.predict(embed(probe), probe)]
    assert [p.label for p in again.predict(embed(probe), probe)] == before


def test_misleading_names_leave_the_model_as_trained_without_them():
    texts, labels = corpus(20, seed=0)
    plain = TriageClassifier.fit(texts, labels, embed(texts))
    named = TriageClassifier.fit(
        texts, labels, embed(texts), name_vectors=topic_names(labels, shift=1)
    )
    assert named.weights[3] == 0 and named.label_vectors is None
    assert np.array_equal(named.weights, plain.weights) and named.threshold == plain.threshold


@pytest.mark.parametrize("blob", [b"", b"not a model", b"PK\x03\x04garbage"])
def test_corrupt_bytes_are_refused(blob):
    with pytest.raises(ValueError):
        TriageClassifier.from_bytes(blob)


def test_a_threshold_is_chosen_from_held_back_categories(model):
    assert 0 < model.threshold < 1
    assert model.report["cv_oos_recall"] >= 0.5


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([], "No labelled examples"),
        (["billing"] * 5, "Only one category"),
        (["billing", "delivery", "account"], "single example"),
    ],
)
def test_untrainable_labels_get_a_clear_message(labels, message):
    with pytest.raises(TrainingError, match=message):
        check_labels(labels)


def test_dev_split_is_stratified_and_holds_labels_out():
    rows = [{"text": f"{label} {i}", "label": label} for label in "abcd" for i in range(10)]
    train, dev = dev_split(rows, seed=0, fraction=0.2, held_labels=0.25, oos_label="OOS")
    held = {r["label"] for r in dev} - {r["label"] for r in train} - {"OOS"}
    assert not held
    assert sum(r["label"] == "OOS" for r in dev) == 10
    assert len(train) == 24 and len(dev) == 16
    assert dev_split(rows, seed=0, fraction=0.2) == dev_split(rows, seed=0, fraction=0.2)


def test_scores():
    got = scores(["a", "a", "b", "oos"], ["a", "b", "b", "oos"], "oos")
    assert got["accuracy"] == 0.75 and got["in_scope_accuracy"] == round(2 / 3, 4)
    assert got["oos_recall"] == 1.0


def test_two_categories_are_predicted_not_all_abstained_on():
    """With two categories a fold that holds one back trains on the other alone, which is 1.0
    sure of every text: such folds must not set the abstain threshold (it came out above 1,
    and every ticket was out of scope)."""
    texts, labels = corpus(20, seed=0)
    two = [i for i, label in enumerate(labels) if label != "account"]
    texts, labels = [texts[i] for i in two], [labels[i] for i in two]
    model = TriageClassifier.fit(texts, labels, embed(texts))
    assert model.threshold < 1
    unseen, truth = corpus(5, seed=1)
    keep = [i for i, label in enumerate(truth) if label != "account"]
    unseen, truth = [unseen[i] for i in keep], [truth[i] for i in keep]
    predictions = model.predict(embed(unseen), unseen)
    assert sum(p.label is not None for p in predictions) >= 0.9 * len(unseen)
    assert np.mean([p.label == t for p, t in zip(predictions, truth, strict=True)]) >= 0.9
