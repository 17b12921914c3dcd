"""Triage of a new ticket, inside its creation (tickets/services.py calls `triage_start`).

What it does, before the ticket's row is inserted (so it adds no query: the fields go into the
INSERT):
- reads the ticket's language and sentiment (triage/reading.py);
- predicts its category from the query vector retrieval already computed for it (the encoder's
  LRU cache, key `[recent, focus]`: no second encoder pass) and the current triage model; where
  tickets are embedded by Bedrock's Titan (SIMILAR_ENCODER=bedrock, the Lambda) and the model
  was trained on Titan's vectors, from the vector asked beside the KB search, read in plain
  Python (triage.embedded); where neither is at hand, from its words alone (triage.lexical);
- at or above TRIAGE_APPLY_THRESHOLD applies the category (source `model`) and its default
  priority (unless the request set one) and default assignee by the rule an agent's PATCH
  follows too (triage.defaults); below it the prediction is only shown (left for an agent);
- never applies a category to a ticket settled in a language the model's training texts do not
  cover (the model records them; shown as `suggested` with both languages in the reason;
  settled: lingua certain, or told by its function words, reading.LanguageRead.settled);
- on a ticket certainly in another language than the KB's articles, serves only the suggestions
  that match it closely in meaning across the languages (CROSS_LANGUAGE_MIN_COSINE) and says so
  in `suggestions_note`, naming both languages, whether or not any is left (a customer's
  follow-up gets the same rule: `follow_up_gate`);
- raises the priority to at least `high` when the sentiment score is at or below
  TRIAGE_NEGATIVE_SENTIMENT (the priority rule; never lowers it); a ticket settled in another
  language than English has no sentiment (VADER is an English lexicon);
- keeps the decision on the ticket (Ticket.triage) for GET /triage/metrics, with the
  suggestions note (the admin ticket page shows it).

A customer's follow-up is read too (`follow_up_read`, then `follow_up_apply` in the message's
transaction): its sentiment and the priority rule, and, while the ticket has no category and no
agent has decided one, the model's read of the customer's whole story.

Never fails a ticket: any error in triage is logged and answered as status `error`.
This module imports no numpy at load time (the Lambda package has none).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

from knowledge.query import CUSTOMER, TicketQuery, Turn
from triage.defaults import category_defaults, priority_rule

if TYPE_CHECKING:
    from triage.reading import LanguageRead, Sentiment

logger = logging.getLogger(__name__)

APPLIED = "applied"  # the category was set on the ticket
SUGGESTED = "suggested"  # below the threshold: shown, left for an agent
OUT_OF_SCOPE = "out_of_scope"  # none of the categories (the model abstained)
CATEGORY_UNAVAILABLE = "category_unavailable"  # the predicted category is deleted or inactive
NO_MODEL = "no_model"  # nothing trained yet
KEPT = "kept"  # a customer's follow-up on a ticket whose category is settled: not read again
OFF = "off"  # the stored model cannot be read (here: its word view, where no encoder runs)
ERROR = "error"
STATUSES = (
    APPLIED,
    SUGGESTED,
    OUT_OF_SCOPE,
    CATEGORY_UNAVAILABLE,
    NO_MODEL,
    KEPT,
    OFF,
    ERROR,
)
# The statuses where the model read the ticket: its decision counts in GET /triage/metrics.
READ_BY_MODEL = (APPLIED, SUGGESTED, OUT_OF_SCOPE, CATEGORY_UNAVAILABLE)

# What read the ticket: the full model (its embedding and words) where the ticket has the
# vector the model was trained on (the local encoder's, with numpy; or Titan's, read in plain
# Python: triage.embedded), else the model's word view alone (triage.lexical: Bedrock, the
# Lambda, which has no local encoder and no numpy).
FULL = "full"
LEXICAL = "lexical"
EMBEDDED = "embedded"  # triage.selectors' key for the full model read in plain Python


def ticket_text(subject: str, body_clean: str) -> str:
    """The focus view retrieval embeds for a one-message ticket (knowledge.query): what
    triage reads, trains on and looks up in the encoder's cache."""
    return TicketQuery.of(subject=subject, turns=[Turn(CUSTOMER, body_clean)]).parts().focus


@dataclass(frozen=True)
class TriageRead:
    ticket_fields: dict[str, Any]  # for Ticket.objects.create: nothing is written afterwards
    answer: dict[str, Any]  # the `triage` of POST /tickets
    passages: list  # retrieval's passages that are served as the ticket's suggestions


def triage_start(payload: dict[str, Any], body_clean: str) -> Callable[[list], TriageRead]:
    """Reads the language and sentiment of a ticket about to be created from `payload`
    (validated input) now, and returns the function that decides the rest once retrieval's
    passages are in: tickets/services.py calls it while the KB search runs in its worker, so
    the reading (lingua and VADER, ≈ 0.7 ms of a create) is off the request's critical path.
    Never fails a ticket: an error in either step is logged and answered as status `error`,
    and the ticket is created as if triage were not there."""
    try:
        text = _read_text(payload, body_clean)
    except Exception:
        logger.exception("Triage failed; the ticket is created without it")
        return lambda passages, vector=None: _failed(payload, passages)

    def decide(passages: list, vector: list[float] | None = None) -> TriageRead:
        """`vector`: the ticket's Titan embedding (SIMILAR_ENCODER=bedrock), when it came."""
        try:
            return _decide(payload, body_clean, passages, text, vector)
        except Exception:
            logger.exception("Triage failed; the ticket is created without it")
            return _failed(payload, passages)

    return decide


def _failed(payload: dict[str, Any], passages: list) -> TriageRead:
    answer = _answer(ERROR, "triage failed; the ticket is unaffected")
    fields = {**_priorities(payload), "triage": _decision(answer)}
    return TriageRead(fields, answer, passages)


def _priorities(payload: dict[str, Any]) -> dict[str, str]:
    """A new ticket's priority and Ticket.defaulted_priority: the client's (kept: no category
    default replaces or raises it), or `normal` by default (which a category's default may then
    replace, lower too)."""
    given = payload.get("priority")
    return {"priority": given or "normal", "defaulted_priority": "" if given else "normal"}


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
        "method": None,
        "language": None,
        "language_note": "",
        "sentiment": None,
        "sentiment_note": "",
        "suggestions_note": "",
        "priority_rule": "",
        "orders_mentioned": [],
        **fields,
    }


@dataclass(frozen=True)
class _TextRead:
    language: LanguageRead
    sentiment: Sentiment | None
    sentiment_note: str


def _read_text(payload: dict[str, Any], body_clean: str) -> _TextRead:
    from triage import reading
    from triage.text import normalise

    subject, body = payload["subject"], body_clean or payload["body"]
    # A body that repeats the subject ("Password reset" twice, as web forms make it) is read
    # once: the repeat is no more evidence of its language, and would double its words past
    # reading.MIN_WORDS (lingua calls "Password reset" twice Italian at 0.995).
    words = body if normalise(body) == normalise(subject) else f"{subject}\n{body}"
    read = reading.read_language(words)
    return _TextRead(read, *_sentiment(words, read.code if read.settled else ""))


def _sentiment(words: str, language: str, what: str = "the ticket") -> tuple[Sentiment | None, str]:
    """The sentiment of `words` in `language` ("" when not told) and the note when it is not
    scored."""
    from triage import reading

    if language and language not in reading.SENTIMENT_LANGUAGES:
        # VADER is an English lexicon: on other languages its score says nothing (and must
        # not raise the priority), so it is not run (≈ 0.35 ms of a create).
        note = ""
        if reading.sentiment_available():
            note = f"not scored: {what} is in {language!r}, VADER reads English only"
        return None, note
    return reading.sentiment_of(words), ""


def _decide(
    payload: dict[str, Any],
    body_clean: str,
    passages: list,
    text: _TextRead,
    vector: list[float] | None,
) -> TriageRead:
    read, sentiment, sentiment_note = text.language, text.sentiment, text.sentiment_note
    language = read.code
    subject = payload["subject"]
    # Only a settled read keeps a category from being applied (reading.LanguageRead.settled).
    settled = language if read.settled else ""
    answer = _predict(ticket_text(subject, body_clean or payload["body"]), settled, vector)
    category = answer.pop("_category", None)
    answer["language"] = language or None
    answer["language_note"] = read.note
    answer["sentiment"] = (
        {"label": sentiment.label, "score": sentiment.score} if sentiment is not None else None
    )
    answer["sentiment_note"] = sentiment_note
    if read.certain:
        passages, answer["suggestions_note"] = suggestions_across_languages(
            passages, language, kb_language()
        )
    fields: dict[str, Any] = {
        "language": language,
        "sentiment": sentiment.label if sentiment else "",
        "sentiment_score": sentiment.score if sentiment else None,
    }
    applied = category if category is not None and answer["status"] == APPLIED else None
    if applied is not None:
        fields.update(category=applied, category_confidence=answer["confidence"])
        fields["category_source"] = "model"
    # As an agent setting the category would (triage.defaults): its default priority (in place
    # of the default `normal`; not over a priority the client gave, as not over one an agent
    # gives with the category) and its default assignee (a new ticket has none). Then the
    # priority rule on the ticket's sentiment, with or without a category, on a client's
    # priority too.
    priorities = _priorities(payload)
    defaulted = category_defaults(
        category=applied,
        priority=priorities["priority"],
        defaulted_priority=priorities["defaulted_priority"],
        assignee_id=None,
        priority_given=bool(payload.get("priority")),
    )
    fields["defaulted_priority"] = defaulted.defaulted_priority
    fields["priority"], answer["priority_rule"] = priority_rule(
        defaulted.priority, sentiment.score if sentiment is not None else None
    )
    if defaulted.assignee_id is not None:
        fields["assignee_id"] = defaulted.assignee_id
    fields["triage"] = _decision(answer)
    answer.pop("_label", None)
    return TriageRead(fields, answer, passages)


def _decision(answer: dict[str, Any]) -> dict[str, Any]:
    """What is kept on the ticket (Ticket.triage) for GET /triage/metrics."""
    return {
        "status": answer["status"],
        "label": answer.get("_label") or "",
        "category_id": answer["category_id"],
        "confidence": answer["confidence"],
        "applied": answer["applied"],
        "model": answer["model"],
        "method": answer["method"],
        "threshold": answer["threshold"],
        # Why the ticket's current suggestions are what they are (the admin ticket page shows
        # it); a customer's follow-up that stores a new round replaces it (follow_up_gate).
        "suggestions_note": answer["suggestions_note"],
    }


def _predict(text: str, language: str = "", vector: list[float] | None = None) -> dict[str, Any]:
    """The model's answer for `text` (status, category, confidence, alternatives); in
    `language` (detected, "" when not told); `vector`: the ticket's Titan embedding, if any."""
    from triage.selectors import category_for
    from triage.text import has_words

    classifier, row, problem, method = _current_model(has_vector=vector is not None)
    if classifier is None:
        return _answer(OFF if row is not None else NO_MODEL, problem)
    generation = row.generation
    if not has_words(text):
        return _answer(
            OUT_OF_SCOPE,
            "no words to read (empty, punctuation or emoji only)",
            model=generation,
            method=method,
        )
    if method == LEXICAL:
        prediction = classifier.predict(text)
    elif classifier.encoder:  # trained on Titan's vectors: triage.embedded
        prediction = classifier.predict(vector, text)
    else:
        [prediction] = classifier.predict(query_vector(text)[None, :], [text])
    alternatives = [
        {"category": label, "confidence": confidence}
        for label, confidence in prediction.alternatives
    ]
    best_label = prediction.alternatives[0][0] if prediction.alternatives else None
    fields = {
        "model": generation,
        "method": method,
        "alternatives": alternatives,
        "confidence": prediction.confidence,
        "_label": best_label,
    }
    # A ticket in a language the labels do not cover: the model has not seen one like it,
    # whatever its confidence says. Never applied; the reason names both languages.
    foreign = ""
    covered = classifier.covered_languages()
    if language and covered and language not in covered:
        trained = ", ".join(
            f"{code!r} ({share:.0%})"
            for code, share in sorted(classifier.languages.items(), key=lambda item: -item[1])
            if code in covered
        )
        foreign = (
            f"the ticket is in {language!r}, the categories were learned from tickets in {trained}"
        )
    if prediction.out_of_scope:
        if classifier.oos_label is not None and prediction.confidence == 0:
            # The out-of-scope label won (with NO_CATEGORY: tickets agents decided no
            # category fits).
            why = (
                f": it reads like the tickets where no category fits (best category {best_label!r})"
            )
        else:
            why = (
                f" (best {best_label!r} at {prediction.confidence}, below the model's abstain "
                f"threshold {classifier.threshold:.3f})"
            )
        return _answer(
            OUT_OF_SCOPE,
            (f"{foreign}; " if foreign else "") + f"none of the categories fits{why}",
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
    if foreign:
        return _answer(SUGGESTED, f"{foreign}: left for an agent", **fields)
    threshold = settings.TRIAGE_APPLY_THRESHOLD
    if threshold < 1 and prediction.confidence >= threshold:  # 1: never applied
        return _answer(APPLIED, f"confidence ≥ {threshold}", applied=True, **fields)
    return _answer(
        SUGGESTED,
        f"confidence below TRIAGE_APPLY_THRESHOLD {threshold}: left for an agent",
        **fields,
    )


def _current_model(*, has_vector: bool) -> tuple[Any, Any, str, str]:
    """(model, its row, problem, method), see triage.selectors: a model trained on the local
    encoder's vectors is read whole where this deployment embeds tickets; one trained on
    Titan's (SIMILAR_ENCODER=bedrock at training) where the ticket has Titan's vector of the
    same model and size (`has_vector`: SIMILAR_ENCODER=bedrock and it came in time), in plain
    Python (triage.embedded). Otherwise its word view (triage.lexical)."""
    from triage.selectors import (
        current_classifier,
        current_embedded,
        current_encoder,
        current_lexical,
    )

    encoder = current_encoder()
    if encoder:
        if has_vector and encoder == _titan_tag():
            return (*current_embedded(), FULL)
        return (*current_lexical(), LEXICAL)
    if encoder_here():
        return (*current_classifier(), FULL)
    return (*current_lexical(), LEXICAL)


def _titan_tag() -> str | None:
    """The TicketEmbedding.model tag of the vectors new tickets get here (None: no Titan)."""
    if settings.SIMILAR_ENCODER != "bedrock":
        return None
    from triage.similar_bedrock import model_tag

    return model_tag()


def encoder_here() -> bool:
    """Whether this deployment embeds tickets (the local KB backend, with numpy): then the full
    model reads the ticket; elsewhere (Bedrock, the Lambda) its word view does."""
    if settings.KB_BACKEND != "local":
        return False
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return True


def query_vector(text: str):
    """The ticket's query vector: retrieval's, from the encoder's LRU cache (no pass); encoded
    here only when retrieval did not embed it (the KB was down or timed out)."""
    from knowledge.backends.local import shared_encoder

    encoder = shared_encoder()
    key = [text, text]  # [recent, focus] of a one-message ticket
    cached = encoder.cached_queries(key)
    return (cached if cached is not None else encoder.encode_queries(key))[1]


# On a ticket in another language than the KB's, a suggestion is served only if its article's
# best passage is at least this close to the ticket (MiniLM cosine; knowledge.index's floor for
# any match is 0.2, or one shared word). MiniLM reads English only: across languages what it
# sees is shared word pieces, names and cognates. On the sample KB (bench/cross_language.py,
# TRIAGE.md "Tickets in another language than the KB"), of 1,012 (ticket, unrelated article)
# pairs from 37 tickets in de, es, fr, it, nl, pt none reaches 0.4 (at most 0.385; the first 17
# tickets chose it, the other 20 held it), while the relevant article does when the ticket names
# the product or feature in English (2FA, Air Fryer, PayPal, promo code). A shared word is not
# enough here: across languages it is "me", "non", "week", "plus".
CROSS_LANGUAGE_MIN_COSINE = 0.4


def suggestions_across_languages(
    passages: list, language: str, kb: str, *, what: str = "the ticket"
) -> tuple[list, str]:
    """The passages to serve a ticket certainly in `language` and the note that says why
    (`suggestions_note`), given the KB's language `kb` ("" when not told): all of them and no
    note when the languages agree or either is unknown; otherwise those whose cosine is at
    least CROSS_LANGUAGE_MIN_COSINE (a backend that gives none, Bedrock, keeps them all), and a
    note naming both languages (`what` was read: the ticket, or a follow-up's message)."""
    if not language or not kb or kb == language:
        return passages, ""
    kept = [p for p in passages if p.cosine is None or p.cosine >= CROSS_LANGUAGE_MIN_COSINE]
    languages = f"{what} is in {language!r}, the knowledge base's articles are in {kb!r}"
    left_out = len(passages) - len(kept)
    if not kept:
        matches = f"{left_out} weak match{'es' if left_out > 1 else ''}"
        weak = f" {matches} across the languages left out." if left_out else ""
        return kept, f"No suggestion: {languages}.{weak}"
    return kept, (
        f"{languages[0].upper()}{languages[1:]}: only suggestions close in meaning across the "
        f"languages are shown ({len(kept)} of {len(passages)})."
    )


FOLLOW_UP = "the latest message"
SETTLED = "the ticket's category is set, or an agent decided it"


def follow_up_language(focus: str) -> LanguageRead | None:
    """The language of a customer's follow-up, read once on the retriever's focus view of the
    thread (`follow_up_gate` says why that view); None when reading fails (logged): the message
    is never failed for it."""
    from triage import reading

    try:
        return reading.read_language(focus)
    except Exception:
        logger.exception("Reading a follow-up's language failed; its round is served as is")
        return None


def follow_up_gate(passages: list, read: LanguageRead | None) -> tuple[list, str]:
    """The same rule for a customer's follow-up round (tickets/services.py `message_create`),
    given the follow-up's language as `follow_up_language` read it (None: reading failed). It
    is read once, on the retriever's focus view of the thread (the new message alone, cleaned;
    subject + message while the ticket has no earlier message), as a new ticket's is read on
    its focus. Not on the whole thread: its earlier messages keep the language they were
    written in (an English ticket answered in Spanish is a Spanish customer now, and the focus
    view is the one signal made of the new words alone), and lingua reads a text's first 2,000
    characters, i.e. the thread's oldest part. Never fails a message: an error is logged and
    the round is served as retrieved."""
    if read is None or not read.certain:
        return passages, ""
    try:
        return suggestions_across_languages(passages, read.code, kb_language(), what=FOLLOW_UP)
    except Exception:
        logger.exception("Gating a follow-up's round failed; it is served as retrieved")
        return passages, ""


@dataclass(frozen=True)
class FollowUpRead:
    """What triage reads in a customer's follow-up, before its transaction (`follow_up_read`);
    `follow_up_apply` then writes it on the locked ticket."""

    answer: dict[str, Any]  # the `triage` of the follow-up's answer (suggestions_note aside)
    category: Any  # the Category to apply (status `applied`), else None
    sentiment: Sentiment | None


def follow_up_embedding_start(ticket, query: TicketQuery):
    """Titan's vector of the customer's story for `follow_up_read`, asked in a worker while the
    follow-up's KB search runs (tickets/services.py `message_create`): only where triage will
    read the story with it (the ticket has no category, this deployment embeds with Titan and
    the current model was trained on the same Titan vectors). The returned
    triage.similar_bedrock.PendingEmbedding is `resolve()`d before the message's transaction,
    within the retrieval deadline; its `vector` stays None when Titan fails or is late (the
    word view reads the story then). None when no vector is wanted. Never raises."""
    if ticket.category_id is not None or settings.SIMILAR_ENCODER != "bedrock":
        return None
    try:
        from triage.selectors import current_encoder
        from triage.similar_bedrock import PendingEmbedding

        if current_encoder() != _titan_tag():
            return None
        return PendingEmbedding(ticket.subject, _story(query), what="Follow-up triaged")
    except Exception:
        logger.exception("Asking Titan for a follow-up's story failed; the word view reads it")
        return None


def _story(query: TicketQuery) -> str:
    """The customer's whole story: every customer message of the thread, oldest first."""
    return "\n\n".join(t.text for t in query.turns if t.role == CUSTOMER and t.text)


def follow_up_read(
    ticket, query: TicketQuery, read: LanguageRead | None, vector: list[float] | None = None
) -> FollowUpRead | None:
    """Triage of a customer's follow-up to `ticket` (tickets/services.py `message_create`),
    given the thread as the retriever reads it and the follow-up's language as
    `follow_up_language` read it.

    - Sentiment: of the new message alone (the focus view), in English or an untold language,
      as a new ticket's is read; it becomes the ticket's (the customer's latest mood) and the
      priority rule applies (raised, never lowered).
    - Category: only while the ticket has none and no agent has decided one (set or cleared):
      the model reads the customer's whole story, the subject and every customer message
      (oldest first), so a ticket that arrived as "Help" is classified once the customer says
      what it is about; at or above TRIAGE_APPLY_THRESHOLD it is applied, as on arrival,
      never in a language the labels do not cover (the follow-up's settled read, else the
      story's own).
      One encoder pass (this text is not what retrieval embedded), or with a model of Titan's
      vectors Titan's `vector` of it (`follow_up_embedding_start`); none on a ticket that has
      its category or one an agent decided no category fits. Otherwise, or when an agent
      cleared the category meanwhile (`follow_up_apply` finds out under the row's lock), the
      answer's status is `kept`.
    Never fails a message: an error is logged and None returned (nothing changes)."""
    try:
        language = read.code if read is not None else ""
        settled = language if read is not None and read.settled else ""
        focus = query.parts().focus
        sentiment, sentiment_note = _sentiment(focus, settled, what=FOLLOW_UP)
        if ticket.category_id is not None or ticket.no_category_fits:
            answer = _answer(KEPT, SETTLED)  # an agent decided no category fits: kept too
        else:
            story = ticket_text(ticket.subject, _story(query))
            if not settled:
                # The follow-up alone does not settle its language: the story's own read
                # does (not the ticket's stored one, which may be an unsettled read).
                from triage import reading

                whole = reading.read_language(story)
                settled = whole.code if whole.settled else ""
            answer = _predict(story, settled, vector)
        category = answer.pop("_category", None)
        answer.update(
            language=language or None,
            language_note=read.note if read is not None else "",
            sentiment=({"label": sentiment.label, "score": sentiment.score} if sentiment else None),
            sentiment_note=sentiment_note,
        )
        return FollowUpRead(answer, category if answer["status"] == APPLIED else None, sentiment)
    except Exception:
        logger.exception("Triage of a follow-up failed; the message is kept without it")
        return None


def follow_up_apply(ticket, read: FollowUpRead, *, message_id: int) -> tuple[list[str], dict]:
    """Writes a follow-up's triage on `ticket`, the row locked in the message's transaction:
    the sentiment; the category if it is applied and the ticket still has none and no agent
    has decided one (set or cleared: asked here, once, and only when a model read the story),
    with its default priority and assignee by the rule every path follows (triage.defaults:
    the default replaces a priority the ticket still has by default, else only raises it);
    the priority rule on the follow-up's sentiment (an unscored one changes nothing); the
    model's decision, arrival's kept under `arrival`, for GET /triage/metrics. Returns the
    fields changed (for `save`) and the answer."""
    from triage.models import CategoryCorrection

    answer = dict(read.answer)
    label = answer.pop("_label", None)  # the decision keeps it; the answer names the category
    changed: list[str] = []
    if read.sentiment is not None:
        ticket.sentiment, ticket.sentiment_score = read.sentiment.label, read.sentiment.score
        changed += ["sentiment", "sentiment_score"]
    category = read.category
    if answer["status"] in READ_BY_MODEL and (
        ticket.category_id is not None  # set since the read (an agent, another follow-up)
        or CategoryCorrection.objects.filter(ticket_id=ticket.pk).exists()
    ):
        category = None
        answer.update(status=KEPT, applied=False, reason=SETTLED)
    if category is not None:
        ticket.category, ticket.category_confidence = category, answer["confidence"]
        ticket.category_source = "model"
        changed += ["category", "category_confidence", "category_source"]
    defaulted = category_defaults(
        category=category,
        priority=ticket.priority,
        defaulted_priority=ticket.defaulted_priority,
        assignee_id=ticket.assignee_id,
    )
    if defaulted.assignee_id is not None:
        ticket.assignee_id = defaulted.assignee_id
        changed.append("assignee")
    priority, answer["priority_rule"] = priority_rule(
        defaulted.priority, read.sentiment.score if read.sentiment is not None else None
    )
    if defaulted.defaulted_priority != ticket.defaulted_priority:
        ticket.defaulted_priority = defaulted.defaulted_priority
        changed.append("defaulted_priority")
    if priority != ticket.priority:
        ticket.priority = priority
        changed.append("priority")
    if answer["status"] in READ_BY_MODEL:
        before = ticket.triage if isinstance(ticket.triage, dict) else {}
        ticket.triage = {
            **_decision({**answer, "_label": label}),
            "suggestions_note": before.get("suggestions_note", ""),
            "read_on": "follow_up",
            "message_id": message_id,
            "arrival": before.get("arrival", before),
        }
        changed.append("triage")
    return changed, answer


_kb_language: tuple[str, str] | None = None  # (KB revision, language)
KB_TITLES = 50


def kb_language() -> str:
    """The language of the KB's article titles ("" when not told), detected once per KB
    revision (knowledge.selectors.kb_revision: no query per ticket) on the first KB_TITLES
    titles read as one text (one by one, most titles are too short to tell)."""
    global _kb_language
    from knowledge.models import Article
    from knowledge.selectors import kb_revision
    from triage import reading

    revision = kb_revision()
    cached = _kb_language
    if cached is not None and cached[0] == revision:
        return cached[1]
    titles = Article.objects.order_by("pk").values_list("title", flat=True)[:KB_TITLES]
    language = reading.detect_language(".\n".join(titles))
    _kb_language = (revision, language)
    return language


def triage_health() -> dict[str, Any]:
    """GET /health's `triage` check: degraded when the stored model cannot be read (triage is
    off, tickets are unaffected), or, without the local encoder, when its word view cannot
    (a model trained before it had one); ok with no model yet."""
    classifier, row, problem, method = _current_model(
        has_vector=settings.SIMILAR_ENCODER == "bedrock"
    )
    if classifier is None and row is not None:
        return {
            "status": "degraded",
            "detail": f"triage off: {problem}",
            "generation": row.generation,
            "method": method,
        }
    if row is None:
        return {"status": "ok", "detail": problem, "method": method}
    return {"status": "ok", "detail": "ok", "generation": row.generation, "method": method}
