"""What the rest of the app needs of similar tickets without importing numpy or the encoder
(the Lambda package has neither: tests/test_lambda_package.py): the answer's vocabulary, the
ingest hook and the search by the configured encoder (SIMILAR_ENCODER). The work is in
triage/similar.py (the local encoder) and triage/similar_bedrock.py (Titan), imported when it
is needed."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger(__name__)

# TicketEmbedding.model of the local encoder's vectors (the KB's MiniLM query vector, int8).
LOCAL_MODEL = "local:all-MiniLM-L6-v2"
PROBABLE_DUPLICATE = "probable_duplicate"
POSSIBLE_INCIDENT = "possible_incident"
MAX_LIMIT = 50
DEFAULT_LIMIT = 10


class EmbeddingUnavailable(Exception):
    """A ticket must be embedded and cannot be now (no local encoder here, Bedrock failing)."""


@dataclass(frozen=True)
class SimilarTicket:
    ticket: object  # tickets.models.Ticket
    similarity: float
    relation: str


def similar_tickets(*, ticket, threshold: float, limit: int) -> list[SimilarTicket]:
    """Open tickets other than `ticket` whose embedding's cosine to its own is ≥ threshold,
    most similar first, at most `limit`, from the configured encoder's embeddings
    (SIMILAR_ENCODER). Raises EmbeddingUnavailable when the ticket has no embedding and none
    can be made here."""
    if settings.SIMILAR_ENCODER == "bedrock":
        from triage import similar_bedrock

        return similar_bedrock.similar_tickets(ticket=ticket, threshold=threshold, limit=limit)
    try:  # numpy and the encoder: not in every deployment (the Lambda has neither)
        from knowledge.encoder import EncoderUnavailable
        from triage import similar
    except ImportError as exc:
        raise EmbeddingUnavailable(
            f"Similar tickets need the local encoder (SIMILAR_ENCODER=local): {exc}"
        ) from exc
    try:
        return similar.similar_tickets(ticket=ticket, threshold=threshold, limit=limit)
    except EncoderUnavailable as exc:
        raise EmbeddingUnavailable(str(exc)) from exc


def tickets_without_embedding(model: str, *, batch_size: int):
    """Batches of (ticket id, subject, cleaned body) of the tickets with no embedding of
    `model`, oldest first (for the backfills; each batch is read after the previous one was
    stored)."""
    from tickets.models import Ticket

    last_pk = 0
    while True:
        rows = list(
            Ticket.objects.filter(pk__gt=last_pk)
            .exclude(embedding__model=model)
            .order_by("pk")
            .values_list("pk", "subject", "body_clean", "body")[:batch_size]
        )
        if not rows:
            return
        yield [(pk, subject, clean or body) for pk, subject, clean, body in rows]
        last_pk = rows[-1][0]


def stored_embeddings(model: str, ticket_ids) -> dict[int, tuple[bytes, bytes | None]]:
    """Ticket id → (vector, sign bits or None) of the stored embeddings of `model` among
    `ticket_ids` (read 1,000 ids per statement; tickets without one are absent)."""
    from triage.models import TicketEmbedding

    ids = sorted(set(ticket_ids))
    out: dict[int, tuple[bytes, bytes | None]] = {}
    for start in range(0, len(ids), 1000):
        rows = TicketEmbedding.objects.filter(model=model, ticket_id__in=ids[start : start + 1000])
        for pk, vector, bits in rows.values_list("ticket_id", "vector", "bits"):
            out[pk] = (bytes(vector), bytes(bits) if bits is not None else None)
    return out


class _CachedEmbedding:
    """The local encoder's embedding of a new ticket: the vector its KB search computed, read
    from the encoder's cache inside the ticket's transaction (no encoder pass, no wait)."""

    vector = None  # Titan's (triage.similar_bedrock.PendingEmbedding): none here

    def resolve(self) -> None:
        pass

    def embedding(self, ticket):
        if settings.KB_BACKEND != "local":
            return None  # no local encoder ran (and none may be installed)
        try:
            from triage.similar import cached_embedding

            return cached_embedding(ticket)
        except Exception:
            logger.exception("Reading the embedding of new ticket %r failed", ticket.subject[:80])
            return None


def embedding_start(subject: str, body_clean: str):
    """For ticket ingest (tickets/services.py), started beside the KB search: an object whose
    `resolve()` is called before the ticket's transaction (it waits for a remote call, within
    the retrieval deadline) and whose `embedding(ticket)` gives the new ticket's unsaved
    triage.models.TicketEmbedding, inserted with it, or None when it cannot be had (another KB
    backend, a deadline, an outage: the ticket gets one when it is first asked for similar
    tickets, or from `manage.py similar_backfill`). Never raises: a ticket is never refused for
    this."""
    if settings.SIMILAR_ENCODER == "bedrock":
        try:
            from triage.similar_bedrock import PendingEmbedding

            return PendingEmbedding(subject, body_clean)
        except Exception:  # no worker free: the deadline runner is saturated
            logger.exception("Starting the embedding of new ticket %r failed", subject[:80])
    return _CachedEmbedding()
