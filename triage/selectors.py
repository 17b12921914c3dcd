"""Reads for triage: the model a process serves, reloaded when another one becomes current,
and the categories it may apply. No numpy at import (the Lambda reads a model in plain Python:
triage.embedded, triage.lexical); each model is read from its blob once per revision."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from triage.arrival import EMBEDDED, FULL, LEXICAL
from triage.models import Category, TriageModel

if TYPE_CHECKING:
    from triage.classifier import TriageClassifier
    from triage.embedded import EmbeddedClassifier
    from triage.lexical import LexicalClassifier

logger = logging.getLogger(__name__)

_lock = threading.Lock()
# how it is read (arrival's FULL, EMBEDDED or LEXICAL) → (revision, model or None, problem)
_loaded: dict[str, tuple[str, Any, str]] = {}
# Which row is current is read at most once per RECHECK_SECONDS per process: a new model
# reaches every worker within that, and a ticket does not pay a query for it.
RECHECK_SECONDS = 1.0
_checked: tuple[float, TriageModel | None, dict[int, Category]] | None = None
NO_MODEL = "no trained model: run `manage.py triage_train`"


def forget_current() -> None:
    """Read the current row again on the next call (after a training in this process)."""
    global _checked
    _checked = None


def _current_row() -> TriageModel | None:
    global _checked
    now = time.monotonic()
    checked = _checked
    if checked is not None and now - checked[0] < RECHECK_SECONDS:
        return checked[1]
    row = TriageModel.objects.filter(current=True).only(
        "revision", "labels", "generation", "report"
    )
    row = row.first()
    # The active categories, read with it (a handful of rows): what may be applied.
    active = {c.pk: c for c in Category.objects.filter(active=True)} if row else {}
    _checked = (now, row, active)
    return row


def _current(kind: str, read: Callable[[bytes], Any]) -> tuple[Any, TriageModel | None, str]:
    row = _current_row()
    if row is None:
        return None, None, NO_MODEL
    loaded = _loaded.get(kind)
    if loaded is None or loaded[0] != row.revision:
        with _lock:
            loaded = _loaded.get(kind)
            if loaded is None or loaded[0] != row.revision:
                blob = TriageModel.objects.filter(pk=row.pk).values_list("blob", flat=True).first()
                try:
                    loaded = (row.revision, read(bytes(blob or b"")), "")
                except ValueError as exc:
                    logger.warning("Triage model %s (%s) unreadable, off: %s", row.pk, kind, exc)
                    loaded = (row.revision, None, f"stored model unreadable: {exc}")
                _loaded[kind] = loaded
    return loaded[1], row, loaded[2]


def current_classifier() -> tuple[TriageClassifier | None, TriageModel | None, str]:
    """(classifier, its row, problem): the current model, loaded once per revision; (None,
    None, "no model") before any training; (None, row, reason) when the stored model cannot
    be read (triage is off, tickets are unaffected)."""
    from triage.classifier import TriageClassifier

    return _current(FULL, TriageClassifier.from_bytes)


def current_lexical() -> tuple[LexicalClassifier | None, TriageModel | None, str]:
    """The same for the current model's word view (triage.lexical): what a deployment without
    the local encoder or numpy serves."""
    from triage.lexical import LexicalClassifier

    return _current(LEXICAL, LexicalClassifier.from_bytes)


def current_embedded() -> tuple[EmbeddedClassifier | None, TriageModel | None, str]:
    """The same for a model trained on Bedrock's Titan vectors, read in plain Python from a
    ticket's vector (triage.embedded)."""
    from triage.embedded import EmbeddedClassifier

    return _current(EMBEDDED, EmbeddedClassifier.from_bytes)


def current_encoder() -> str | None:
    """What the current model's vectors come from: "" for the local encoder, else their
    TicketEmbedding.model tag (Titan's); None with no model."""
    row = _current_row()
    if row is None:
        return None
    return (row.report or {}).get("encoder") or ""


def category_for(row: TriageModel, label: str | None) -> Category | None:
    """The active category a predicted label names now (None when deleted or inactive), as
    read at most RECHECK_SECONDS ago (this process forgets at once when it changes one)."""
    if label is None:
        return None
    category_id = (row.labels or {}).get(label)
    checked = _checked
    if checked is None or checked[1] is None or checked[1].pk != row.pk:
        _current_row()
        checked = _checked
    if checked is None or checked[1] is None or checked[1].pk != row.pk:
        return Category.objects.filter(pk=category_id, active=True).first() if category_id else None
    return checked[2].get(category_id) if category_id else None
