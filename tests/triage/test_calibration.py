"""Confidence is honest on a small label set (seed_demo: 5 categories × 6 examples): checked
leave-one-out, as bench/triage_calibration.py does, and on an ambiguous ticket through POST
/tickets. Real encoder, real model."""

from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command

from knowledge.backends.local import shared_encoder
from triage.classifier import TriageClassifier, _shrink, category_text
from triage.demo import CATEGORIES, labelled_texts


def demo_examples():
    texts, labels = labelled_texts()
    encoder = shared_encoder()
    return texts, labels, np.stack([encoder.encode_queries([t, t])[0] for t in texts])


def test_leave_one_out_confidence_is_not_far_above_accuracy():
    texts, labels, embeddings = demo_examples()
    confidence, correct = [], []
    for i in range(len(texts)):
        keep = [j for j in range(len(texts)) if j != i]
        model = TriageClassifier.fit(
            [texts[j] for j in keep], [labels[j] for j in keep], embeddings[keep]
        )
        assert model.report["weight_scale"] <= 1
        [prediction] = model.predict(embeddings[[i]], [texts[i]])
        confidence.append(prediction.alternatives[0][1])
        correct.append(prediction.alternatives[0][0] == labels[i])
    # Before the prior: mean confidence 0.79 for an accuracy of 0.63 (TRIAGE.md).
    assert np.mean(confidence) - np.mean(correct) < 0.1


def test_the_prior_weighs_nothing_on_a_larger_set():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16))
    y = np.repeat(np.arange(4), 150)
    embeddings = centres[y] + rng.normal(scale=1.5, size=(len(y), 16))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    texts = [f"ticket {label} number {i}" for i, label in enumerate(y)]
    model = TriageClassifier.fit(texts, [f"c{label}" for label in y], embeddings)
    assert model.report["weight_scale"] > 0.8


def test_the_scale_does_not_depend_on_how_far_the_fitted_weights_ran():
    """On separable rows the fitted weights grow with every iteration; the prior's scale must
    bring any multiple of them to the same scores (it had a floor of 0.02, which weights in
    the thousands went through)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, size=30)
    views = rng.normal(size=(3, 30, 5))
    views[2][np.arange(30), y] += 3  # `near` separates the rows
    finite = np.ones((30, 5), dtype=bool)
    theta = np.array([0.5, 0.2, 2.0])
    scale = _shrink(views, finite, y, theta, 1 / 30)
    assert 0 < scale < 1
    for far in (10.0, 1e3, 1e5):
        assert _shrink(views, finite, y, theta * far, 1 / 30) * far == pytest.approx(scale, 1e-4)


def test_a_separable_small_set_still_applies_its_categories():
    """seed_demo's 30 examples plus 10 tickets the model itself labelled, near-copies of
    examples (a repeat, a sign-off added): the out-of-fold rows are separable, and the
    unregularised fit ran away (weights in the thousands; a scale floor of 0.02 left them
    (36, 71, 140, 292)), every probability saturated at 1, the abstain threshold came out at
    1.000001 and no ticket was ever applied (found on a fresh `make run`, TRIAGE.md)."""
    texts, labels, embeddings = demo_examples()
    repeats = [(19, ""), (3, " Cheers, Tom"), (15, ""), (18, " Cheers, Tom"), (22, " asap")]
    repeats += [(27, " Please help"), (12, " Thanks"), (13, " asap"), (14, " Please help")]
    repeats += [(28, " asap")]
    encoder = shared_encoder()
    more = [texts[i] + tail for i, tail in repeats]
    texts, labels = texts + more, labels + [labels[i] for i, _ in repeats]
    embeddings = np.concatenate([embeddings, [encoder.encode_queries([t, t])[0] for t in more]])
    names = {
        name: encoder.encode_queries([category_text(name, description)] * 2)[0]
        for name, (description, _, _) in CATEGORIES.items()
    }
    model = TriageClassifier.fit(texts, labels, embeddings, name_vectors=names)
    assert model.threshold < 0.95
    predictions = model.predict(embeddings, texts)
    applied = [p.label for p in predictions if p.label is not None]
    assert len(applied) >= 0.8 * len(texts)
    new = "Parcel missing\nThe parcel was due last week and it never came."
    [prediction] = model.predict(encoder.encode_queries([new, new])[:1], [new])
    assert prediction.label == "Delivery & tracking"


@pytest.mark.django_db
def test_an_ambiguous_demo_ticket_is_suggested_not_applied(api, settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())
    settings.TRIAGE_APPLY_THRESHOLD = 0.8  # the default
    response = api.post(
        "/tickets",
        {
            "customer": {"email": "tom@example.com"},
            "subject": "Damaged delivery",
            "body": "my order arrived broken and the box was crushed. How do I get a refund? "
            "Cheers, Tom",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    triage = response.json()["triage"]
    assert triage["status"] in {"suggested", "out_of_scope"} and triage["applied"] is False
    assert triage["confidence"] < 0.8
