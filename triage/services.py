"""Writes for triage: training a model from labelled tickets and making it current."""

from __future__ import annotations

import logging
import threading
import time

from django.db import transaction
from django.db.models import Case, Max, When

from triage.arrival import ticket_text
from triage.classifier import TrainingError, TriageClassifier, category_text, check_labels
from triage.models import Category, TriageModel

logger = logging.getLogger(__name__)


def _ticket_text(subject: str, body_clean: str, body: str) -> str:
    """What triage reads of a ticket: its subject and cleaned first message, as retrieval's
    focus view of a one-message ticket (knowledge.query), the text POST /tickets embeds."""
    return ticket_text(subject, body_clean or body)


def training_examples() -> tuple[list[str], list[str], dict[str, int]]:
    """(texts, label names, name → category id) from tickets whose category an agent or a
    rule set, or the model set and nobody corrected; agent labels first, so when a ticket's
    label changes the agent's wins. Inactive categories are left out."""
    from tickets.models import Ticket

    rows = (
        Ticket.objects.filter(category__isnull=False, category__active=True)
        .values_list("subject", "body_clean", "body", "category__name", "category_id")
        # Agent- and rule-set labels first, then what the model set and nobody corrected.
        .order_by(Case(When(category_source="model", then=1), default=0), "pk")
    )
    texts, labels, ids = [], [], {}
    for subject, body_clean, body, name, category_id in rows:
        text = _ticket_text(subject, body_clean, body)
        if text:
            texts.append(text)
            labels.append(name)
            ids[name] = category_id
    return texts, labels, ids


def triage_model_train(*, texts: list[str], labels: list[str], ids: dict[str, int], embed):
    """Train on (texts, labels) and store the model as the current one. Raises TrainingError
    (nothing stored, the current model stays) for labels no model can come from."""
    from triage.reading import language_available, text_languages

    check_labels(labels)  # before the encoder runs: bad labels cost nothing
    model = TriageClassifier.fit(
        texts, labels, embed(texts), name_vectors=_name_vectors(ids, embed)
    )
    # The languages the labels cover: a ticket in another one is never applied (arrival).
    if language_available():
        model.languages = text_languages(texts)
        model.report["languages"] = model.languages
    return triage_model_store(model=model, ids=ids, n_examples=len(texts))


def _name_vectors(ids: dict[str, int], embed) -> dict:
    """Label → the embedding of its category's name and description (the name view). Read at
    training: a category renamed since keeps its old name's vector until the next retrain."""
    if not ids:
        return {}
    descriptions = dict(
        Category.objects.filter(pk__in=ids.values()).values_list("pk", "description")
    )
    names = list(ids)
    vectors = embed([category_text(name, descriptions.get(ids[name], "")) for name in names])
    return dict(zip(names, vectors, strict=True))


def triage_model_train_from_tickets(*, encoder):
    """`manage.py triage_train` and the scheduled retrain: train on the tickets' labels with
    the ticket vectors POST /tickets computes (`encode_queries([text, text])`)."""
    import numpy as np

    texts, labels, ids = training_examples()

    def embed(batch):
        return np.stack([encoder.encode_queries([t, t])[0] for t in batch]) if batch else None

    return triage_model_train(texts=texts, labels=labels, ids=ids, embed=embed)


@transaction.atomic
def triage_model_store(*, model: TriageClassifier, ids: dict[str, int], n_examples: int):
    last = TriageModel.objects.select_for_update().aggregate(g=Max("generation"))["g"] or 0
    TriageModel.objects.filter(current=True).update(current=False)
    transaction.on_commit(forget_current)
    forget_current()
    return TriageModel.objects.create(
        generation=last + 1,
        current=True,
        blob=model.to_bytes(),
        labels={name: ids.get(name) for name in model.labels},
        report=model.report,
        n_examples=n_examples,
    )


# -- the model a process serves, reloaded when another one becomes current -----------------
_lock = threading.Lock()
_loaded: tuple[str, TriageClassifier | None, str] | None = None  # (revision, model, problem)
# Which row is current is read at most once per RECHECK_SECONDS per process: a new model
# reaches every worker within that, and a ticket does not pay a query for it.
RECHECK_SECONDS = 1.0
_checked: tuple[float, TriageModel | None, dict[int, Category]] | None = None


def forget_current() -> None:
    """Read the current row again on the next call (after a training in this process)."""
    global _checked
    _checked = None


def current_classifier() -> tuple[TriageClassifier | None, TriageModel | None, str]:
    """(classifier, its row, problem): the current model, loaded once per revision; (None,
    None, "no model") before any training; (None, row, reason) when the stored model cannot
    be read (triage is off, tickets are unaffected)."""
    global _loaded, _checked
    now = time.monotonic()
    checked = _checked
    if checked is not None and now - checked[0] < RECHECK_SECONDS:
        row = checked[1]
    else:
        row = TriageModel.objects.filter(current=True).only("revision", "labels", "generation")
        row = row.first()
        # The active categories, read with it (a handful of rows): what may be applied.
        active = {c.pk: c for c in Category.objects.filter(active=True)} if row else {}
        _checked = (now, row, active)
    if row is None:
        return None, None, "no trained model: run `manage.py triage_train`"
    loaded = _loaded
    if loaded is None or loaded[0] != row.revision:
        with _lock:
            loaded = _loaded
            if loaded is None or loaded[0] != row.revision:
                blob = TriageModel.objects.filter(pk=row.pk).values_list("blob", flat=True).first()
                try:
                    loaded = (row.revision, TriageClassifier.from_bytes(bytes(blob or b"")), "")
                except ValueError as exc:
                    logger.warning("Triage model %s unreadable, triage off: %s", row.pk, exc)
                    loaded = (row.revision, None, f"stored model unreadable: {exc}")
                _loaded = loaded
    return loaded[1], row, loaded[2]


def category_for(row: TriageModel, label: str | None) -> Category | None:
    """The active category a predicted label names now (None when deleted or inactive), as
    read at most RECHECK_SECONDS ago (this process forgets at once when it changes one)."""
    if label is None:
        return None
    category_id = (row.labels or {}).get(label)
    checked = _checked
    if checked is None or checked[1] is None or checked[1].pk != row.pk:
        current_classifier()
        checked = _checked
    if checked is None or checked[1] is None or checked[1].pk != row.pk:
        return Category.objects.filter(pk=category_id, active=True).first() if category_id else None
    return checked[2].get(category_id) if category_id else None


__all__ = ["TrainingError", "current_classifier", "category_for", "triage_model_train"]
