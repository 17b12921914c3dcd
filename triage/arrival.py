"""Triage of a new ticket, inside its creation (tickets/services.py calls `triage_on_create`).

What it does, in the ticket's transaction:
- reads the ticket's language and sentiment (triage/reading.py) and stores them on it;
- predicts its category from the query vector retrieval already computed for it (the encoder's
  LRU cache, key `[recent, focus]`: no second encoder pass) and the current triage model;
- at or above TRIAGE_APPLY_THRESHOLD applies the category (source `model`) and its default
  priority (unless the request set one) and default assignee (unless it has one), through
  `ticket_update` like PATCH; below it the prediction is only shown (left for an agent);
- raises the priority to at least `high` when the sentiment score is at or below
  TRIAGE_NEGATIVE_SENTIMENT (the priority rule; never lowers it);
- records the decision (triage.models.TriageDecision) for GET /tickets/{id} and the metrics.

Never fails a ticket: any error in triage is logged and answered as status `error`.
This module imports no numpy at load time (the Lambda package has none).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from knowledge.query import CUSTOMER, TicketQuery, Turn

logger = logging.getLogger(__name__)

APPLIED = "applied"  # the category was set on the ticket
SUGGESTED = "suggested"  # below the threshold: shown, left for an agent
OUT_OF_SCOPE = "out_of_scope"  # none of the categories (the model abstained)
CATEGORY_UNAVAILABLE = "category_unavailable"  # the predicted category is deleted or inactive
NO_MODEL = "no_model"  # nothing trained yet
OFF = "off"  # the stored model cannot be read
UNAVAILABLE = "unavailable"  # no local encoder / numpy here (the Lambda)
ERROR = "error"
STATUSES = (
    APPLIED,
    SUGGESTED,
    OUT_OF_SCOPE,
    CATEGORY_UNAVAILABLE,
    NO_MODEL,
    OFF,
    UNAVAILABLE,
    ERROR,
)

PRIORITY_ORDER = ("low", "normal", "high", "urgent")
NEGATIVE_PRIORITY = "high"


def ticket_text(subject: str, body_clean: str) -> str:
    """The focus view retrieval embeds for a one-message ticket (knowledge.query): what
    triage reads, trains on and looks up in the encoder's cache."""
    return TicketQuery.of(subject=subject, turns=[Turn(CUSTOMER, body_clean)]).parts().focus


def triage_on_create(ticket, *, suggestions: list, priority_given: bool, actor: str):
    """(ticket, the `triage` answer of POST /tickets). The ticket returned carries any
    priority, assignee and category triage set."""
    try:
        return _triage(ticket, suggestions=suggestions, priority_given=priority_given, actor=actor)
    except Exception:
        logger.exception("Triage of ticket %s failed; the ticket is kept as it is", ticket.pk)
        return ticket, _answer(ERROR, "triage failed; the ticket is unaffected")


def _answer(status: str, reason: str = "", **fields: Any) -> dict[str, Any]:
    return {
        "status": status,
        "reason": reason,
        "category": None,
        "category_id": None,
        "confidence": None,
        "applied": False,
        "alternatives": [],
        "threshold": settings.TRIAGE_APPLY_THRESHOLD,
        "model": None,
        "language": None,
        "sentiment": None,
        "suggestions_note": "",
        "priority_rule": "",
        **fields,
    }


def _triage(ticket, *, suggestions: list, priority_given: bool, actor: str):
    from triage import reading
    from triage.models import TriageDecision

    text = ticket_text(ticket.subject, ticket.body_clean or ticket.body)
    words = ticket.body_clean or ticket.body
    language = reading.detect_language(f"{ticket.subject}\n{words}")
    sentiment = reading.sentiment_of(f"{ticket.subject}\n{words}")
    answer = _predict(text)
    answer["language"] = language or None
    answer["sentiment"] = (
        {"label": sentiment.label, "score": sentiment.score} if sentiment is not None else None
    )
    if not suggestions and language:
        kb = kb_language()
        if kb and kb != language:
            answer["suggestions_note"] = (
                f"No suggestion: the ticket is in {language!r}, the knowledge base's articles "
                f"are in {kb!r}."
            )

    # What changes on the ticket.
    ticket.language = language
    ticket.sentiment = sentiment.label if sentiment else ""
    ticket.sentiment_score = sentiment.score if sentiment else None
    ticket.save(update_fields=["language", "sentiment", "sentiment_score", "updated_at"])
    category = answer.pop("_category", None)
    priority = assignee = None
    if category is not None and answer["status"] == APPLIED:
        ticket.category = category
        ticket.category_confidence = answer["confidence"]
        ticket.category_source = "model"
        ticket.save(update_fields=["category", "category_confidence", "category_source"])
        if category.default_priority and not priority_given:
            priority = category.default_priority
        if category.default_assignee_id and ticket.assignee_id is None:
            assignee = category.default_assignee
    if sentiment is not None and sentiment.score <= settings.TRIAGE_NEGATIVE_SENTIMENT:
        current = priority or ticket.priority
        if PRIORITY_ORDER.index(current) < PRIORITY_ORDER.index(NEGATIVE_PRIORITY):
            priority = NEGATIVE_PRIORITY
            answer["priority_rule"] = (
                f"sentiment {sentiment.score} ≤ {settings.TRIAGE_NEGATIVE_SENTIMENT}: "
                f"priority raised to {NEGATIVE_PRIORITY}"
            )
    if priority is not None or assignee is not None:
        from tickets.services import ticket_update

        updated = ticket_update(ticket=ticket, actor=actor, priority=priority, assignee=assignee)
        ticket.priority, ticket.assignee = updated.priority, updated.assignee
        ticket.updated_at = updated.updated_at

    TriageDecision.objects.create(
        ticket=ticket,
        status=answer["status"],
        reason=answer["reason"][:300],
        model_generation=answer["model"],
        label=answer.pop("_label", "") or "",
        category_id=answer["category_id"],
        confidence=answer["confidence"],
        applied=answer["applied"],
        alternatives=answer["alternatives"],
        threshold=answer["threshold"],
    )
    answer.pop("_label", None)
    return ticket, answer


def _predict(text: str) -> dict[str, Any]:
    """The model's answer for `text` (status, category, confidence, alternatives)."""
    try:
        import numpy as np  # noqa: F401  (absent on the Lambda)

        from triage.learn import has_words
        from triage.services import category_for, current_classifier
    except ImportError as exc:
        return _answer(UNAVAILABLE, f"triage cannot run here ({exc.name} is not installed)")
    classifier, row, problem = current_classifier()
    if classifier is None:
        return _answer(OFF if row is not None else NO_MODEL, problem)
    generation = row.generation
    if not has_words(text):
        return _answer(
            OUT_OF_SCOPE, "no words to read (empty, punctuation or emoji only)", model=generation
        )
    vector = query_vector(text)
    if vector is None:
        return _answer(
            UNAVAILABLE, "no local encoder (KB_BACKEND is not `local`)", model=generation
        )
    [prediction] = classifier.predict(vector[None, :], [text])
    alternatives = [
        {"category": label, "confidence": confidence}
        for label, confidence in prediction.alternatives
    ]
    best_label = prediction.alternatives[0][0] if prediction.alternatives else None
    fields = {
        "model": generation,
        "alternatives": alternatives,
        "confidence": prediction.confidence,
        "_label": best_label,
    }
    if prediction.out_of_scope:
        return _answer(
            OUT_OF_SCOPE,
            f"none of the categories fits (best {best_label!r} at {prediction.confidence}, "
            f"below the model's abstain threshold {classifier.threshold:.3f})",
            **fields,
        )
    category = category_for(row, prediction.label)
    if category is None:
        return _answer(
            CATEGORY_UNAVAILABLE,
            f"the predicted category {prediction.label!r} was deleted or is inactive",
            **fields,
        )
    fields.update(category=category.name, category_id=category.pk, _category=category)
    threshold = settings.TRIAGE_APPLY_THRESHOLD
    if threshold < 1 and prediction.confidence >= threshold:  # 1: never applied
        return _answer(APPLIED, f"confidence ≥ {threshold}", applied=True, **fields)
    return _answer(
        SUGGESTED,
        f"confidence below TRIAGE_APPLY_THRESHOLD {threshold}: left for an agent",
        **fields,
    )


def query_vector(text: str):
    """The ticket's query vector: retrieval's, from the encoder's LRU cache (no pass); encoded
    here only when retrieval did not embed it (the KB was down or timed out)."""
    if settings.KB_BACKEND != "local":
        return None
    from knowledge.backends.local import shared_encoder

    encoder = shared_encoder()
    key = [text, text]  # [recent, focus] of a one-message ticket
    cached = encoder.cached_queries(key)
    return (cached if cached is not None else encoder.encode_queries(key))[1]


_kb_language: tuple[str, str] | None = None  # (KB revision, language)


def kb_language() -> str:
    """The language most of the KB's article titles are in ("" when unknown), once per KB
    revision."""
    global _kb_language
    from knowledge.models import Article, KnowledgeState
    from triage import reading

    _, revision = KnowledgeState.current()
    if _kb_language is not None and _kb_language[0] == revision:
        return _kb_language[1]
    titles = list(Article.objects.order_by("pk").values_list("title", flat=True)[:50])
    counts: dict[str, int] = {}
    for title in titles:
        code = reading.detect_language(title)
        if code:
            counts[code] = counts.get(code, 0) + 1
    language = max(counts, key=counts.get) if counts else ""
    _kb_language = (revision, language)
    return language


def triage_health() -> dict[str, Any]:
    """GET /health's `triage` check: degraded when the stored model cannot be read (triage is
    off, tickets are unaffected); ok with no model yet, or where triage cannot run."""
    try:
        import numpy as np  # noqa: F401

        from triage.services import current_classifier
    except ImportError:
        return {"status": "ok", "detail": "not available in this deployment (no numpy)"}
    classifier, row, problem = current_classifier()
    if classifier is None and row is not None:
        return {
            "status": "degraded",
            "detail": f"triage off: {problem}",
            "generation": row.generation,
        }
    if row is None:
        return {"status": "ok", "detail": problem}
    return {"status": "ok", "detail": "ok", "generation": row.generation}
