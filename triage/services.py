"""Writes for triage: training a model from labelled tickets and making it current. numpy
(the classifier) is imported by the functions that train, not by this module: the Lambda,
which has none, rolls a model back from the admin."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Max, Q, TextField, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce

from triage.arrival import ticket_text
from triage.models import NO_CATEGORY, Category, TriageModel
from triage.selectors import forget_current

if TYPE_CHECKING:
    from triage.classifier import TriageClassifier

logger = logging.getLogger(__name__)


def _ticket_text(subject: str, body_clean: str, body: str) -> str:
    """What triage reads of a ticket: its subject and cleaned first message, as retrieval's
    focus view of a one-message ticket (knowledge.query), the text POST /tickets embeds."""
    return ticket_text(subject, body_clean or body)


def training_examples() -> tuple[list[str], list[str], dict[str, int]]:
    """(texts, label names, name → category id): `training_tickets` without the tickets."""
    texts, labels, ids, _ = training_tickets()
    return texts, labels, ids


def training_tickets() -> tuple[list[str], list[str], dict[str, int], list[tuple[int, str, str]]]:
    """(texts, label names, name → category id, (ticket id, subject, cleaned body) of each
    text) from tickets whose category an agent or a
    rule set, or the model set and nobody corrected; agent labels first, so when a ticket's
    label changes the agent's wins. Inactive categories are left out, and so are categories
    the model applied on a customer's follow-up (triage.arrival.follow_up_read): the model read
    them in the customer's whole story, and the first message a ticket trains on may say
    nothing of it ("Help"); an agent who confirms one makes it a label. A ticket an agent
    decided no category fits is labelled NO_CATEGORY (the model's out-of-scope label, with no
    category id)."""
    from tickets.models import DECIDED_NO_CATEGORY, Ticket

    rows = (
        Ticket.objects.filter(
            Q(category__isnull=False, category__active=True) | DECIDED_NO_CATEGORY
        )
        # A missing key reads "" (a bare key lookup is NULL there, and NOT (… AND NULL) would
        # drop every ticket without it).
        .alias(read_on=Coalesce(KT("triage__read_on"), Value(""), output_field=TextField()))
        .exclude(category_source="model", read_on="follow_up")
        .values_list("pk", "subject", "body_clean", "body", "category__name", "category_id")
        # Agent- and rule-set labels first, then what the model set and nobody corrected.
        .order_by(Case(When(category_source="model", then=1), default=0), "pk")
    )
    texts, labels, ids, tickets = [], [], {}, []
    for pk, subject, body_clean, body, name, category_id in rows:
        text = _ticket_text(subject, body_clean, body)
        if text:
            texts.append(text)
            labels.append(name if category_id is not None else NO_CATEGORY)
            if category_id is not None:
                ids[name] = category_id
            tickets.append((pk, subject, body_clean or body))
    return texts, labels, ids, tickets


def triage_model_train(
    *,
    texts: list[str],
    labels: list[str],
    ids: dict[str, int],
    embed,
    vectors=None,
    encoder: str = "",
):
    """Train on (texts, labels) and store the model as the current one. `embed` gives the
    vectors of texts (the category names; the tickets too unless `vectors` holds theirs),
    from `encoder` ("" for the local MiniLM, else a TicketEmbedding.model tag). Raises
    TrainingError (nothing stored, the current model stays) for labels no model can come
    from."""
    from triage.classifier import TriageClassifier, check_labels
    from triage.reading import language_available, text_languages

    # Tickets an agent decided no category fits are the out-of-scope label's examples.
    oos_label = NO_CATEGORY if NO_CATEGORY in labels else None
    check_labels(labels, oos_label=oos_label)  # before the encoder runs: bad labels cost nothing
    model = TriageClassifier.fit(
        texts,
        labels,
        vectors() if vectors is not None else embed(texts),
        oos_label=oos_label,
        name_vectors=_name_vectors(ids, embed),
        encoder=encoder,
    )
    # The languages the labels cover: a ticket in another one is never applied (arrival).
    if language_available():
        model.languages = text_languages(texts)
        model.report["languages"] = model.languages
    return triage_model_store(model=model, ids=ids, n_examples=len(texts))


def _name_vectors(ids: dict[str, int], embed) -> dict:
    """Label → the embedding of its category's name and description (the name view). Read at
    training: a category renamed since keeps its old name's vector until the next retrain."""
    from triage.classifier import category_text

    if not ids:
        return {}
    descriptions = dict(
        Category.objects.filter(pk__in=ids.values()).values_list("pk", "description")
    )
    names = list(ids)
    vectors = embed([category_text(name, descriptions.get(ids[name], "")) for name in names])
    return dict(zip(names, vectors, strict=True))


def triage_model_train_from_tickets(*, encoder=None, progress=None, started=None):
    """`manage.py triage_train` and the scheduled retrain: train on the tickets' labels with
    the vectors POST /tickets computes for a ticket. With SIMILAR_ENCODER=bedrock those are
    Titan's (`_titan_vectors`; the model is then read in plain Python: triage.embedded), else
    the local encoder's query vector (`encode_queries([text, text])`; `encoder`, by default
    the shared one). `started(texts, categories, no_fit)`, if given, hears how many were read
    (and how many of the texts are tickets an agent decided no category fits) before
    training begins."""
    import numpy as np

    texts, labels, ids, tickets = training_tickets()
    if started is not None:
        no_fit = labels.count(NO_CATEGORY)
        started(len(texts), len(set(labels)) - (1 if no_fit else 0), no_fit)
    if settings.SIMILAR_ENCODER == "bedrock":
        from triage import similar_bedrock

        # triage_model_train checks the labels before it asks for any vector.
        return triage_model_train(
            texts=texts,
            labels=labels,
            ids=ids,
            embed=_titan_embed,
            vectors=lambda: _titan_vectors(tickets, progress),
            encoder=similar_bedrock.model_tag(),
        )
    if encoder is None:
        from knowledge.backends.local import shared_encoder

        encoder = shared_encoder()

    def embed(batch):
        return np.stack([encoder.encode_queries([t, t])[0] for t in batch]) if batch else None

    return triage_model_train(texts=texts, labels=labels, ids=ids, embed=embed)


def _titan_vectors(tickets: list[tuple[int, str, str]], progress=None):
    """The labelled tickets' Titan vectors, as stored for similar tickets (TicketEmbedding of
    this configuration's model tag; int8 components, made unit length again, a component
    rounded to 0 given its stored sign bit's sign, so the model's `near` reads the signs a new
    ticket's float vector has); a ticket without one is embedded now and its vector stored, as
    `similar_backfill` would. Raises
    TrainingError when Titan cannot embed one (nothing is trained; a rerun carries on from
    the vectors stored so far)."""
    import numpy as np

    from triage import similar_bedrock
    from triage.classifier import TrainingError
    from triage.similar_base import EmbeddingUnavailable, stored_embeddings

    pks = [pk for pk, _, _ in tickets]
    stored = {
        pk: row
        for pk, row in stored_embeddings(similar_bedrock.model_tag(), pks).items()
        if row[1] is not None  # Titan's rows always have their sign bits
    }
    missing = [t for t in tickets if t[0] not in stored]
    for n, (pk, subject, body) in enumerate(missing, 1):
        try:
            vector = similar_bedrock.embed(similar_bedrock.ticket_text(subject, body))
        except EmbeddingUnavailable as exc:
            raise TrainingError(
                f"{exc}: {len(missing) - n + 1} labelled ticket(s) still to embed."
            ) from exc
        stored[pk] = similar_bedrock.store(ticket_id=pk, vector=vector)
        if progress is not None:
            progress(n, len(missing))
    out = np.stack([np.frombuffer(stored[pk][0], dtype=np.int8) for pk in pks]).astype(np.float32)
    signs = np.stack([np.frombuffer(stored[pk][1], dtype=np.uint8) for pk in pks])
    positive = np.unpackbits(signs, axis=1)[:, : out.shape[1]].astype(bool)
    out = np.where(out == 0, np.where(positive, 0.5, -0.5), out)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def _titan_embed(texts: list[str]):
    """Titan's vectors of `texts` (the category names). Raises TrainingError when it fails."""
    import numpy as np

    from triage import similar_bedrock
    from triage.classifier import TrainingError
    from triage.similar_base import EmbeddingUnavailable

    try:
        return np.array([similar_bedrock.embed(text) for text in texts], dtype=np.float32)
    except EmbeddingUnavailable as exc:
        raise TrainingError(f"{exc}: the category names could not be embedded.") from exc


@transaction.atomic
def triage_model_store(*, model: TriageClassifier, ids: dict[str, int], n_examples: int):
    """Store `model` as the current one; of the others, keep the newest TRIAGE_MODELS_KEPT - 1
    (to make current again: `triage_model_make_current`) and delete the rest."""
    last = TriageModel.objects.select_for_update().aggregate(g=Max("generation"))["g"] or 0
    TriageModel.objects.filter(current=True).update(current=False)
    transaction.on_commit(forget_current)
    forget_current()
    row = TriageModel.objects.create(
        generation=last + 1,
        current=True,
        blob=model.to_bytes(),
        labels={name: ids.get(name) for name in model.labels},
        report=model.report,
        n_examples=n_examples,
    )
    kept = TriageModel.objects.order_by("-generation").values_list("pk", flat=True)
    kept = list(kept[: settings.TRIAGE_MODELS_KEPT])
    TriageModel.objects.exclude(pk__in=kept).delete()
    return row


@transaction.atomic
def triage_model_make_current(*, model: TriageModel) -> TriageModel:
    """Make a stored model the current one again (a retrain that made triage worse is rolled
    back); every process picks it up within RECHECK_SECONDS, as after a training."""
    TriageModel.objects.select_for_update().filter(current=True).exclude(pk=model.pk).update(
        current=False
    )
    TriageModel.objects.filter(pk=model.pk).update(current=True)
    transaction.on_commit(forget_current)
    forget_current()
    model.refresh_from_db(fields=["current"])
    return model


__all__ = ["forget_current", "triage_model_make_current", "triage_model_train"]
