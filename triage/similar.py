"""Similar tickets: open tickets whose stored embedding is near a ticket's.

Same customer → `probable_duplicate` (the customer wrote twice: merge), another customer →
`possible_incident` (several customers hit the same problem). The similarity is the cosine of
the tickets' stored query vectors (triage/vectors.py); at or above the threshold
(SIMILAR_TICKETS_THRESHOLD unless the caller gives one) a ticket is similar.

Cost at 100k tickets is bounded by an in-memory int8 matrix per process (384 bytes a ticket)
of the open tickets' vectors, never by a scan of the table per request:

- built from the database once, then every FULL_REFRESH_SECONDS again (which also drops what
  closed and brings back what reopened);
- between builds, each request adds only the embeddings stored since the last look (by
  `created_at`, with an OVERLAP for transactions that committed late; a ticket already in the
  matrix is not added twice);
- the candidates above the threshold are checked against the database before they are answered
  (status and customer now, in one query per batch): a ticket closed or deleted since the build
  is never answered, and it is dropped from the matrix.

Scoring is one pass over the matrix (int8 → float32 in blocks of BLOCK_ROWS, so the float copy
stays small); bench/similar_bench.py measures it at 100k tickets.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import numpy as np
from django.db import IntegrityError, transaction
from django.utils import timezone

from knowledge.encoder import EMBED_DIM
from triage import vectors
from triage.similar_base import (
    LOCAL_MODEL,
    POSSIBLE_INCIDENT,
    PROBABLE_DUPLICATE,
    EmbeddingUnavailable,
    SimilarTicket,
    tickets_without_embedding,
)

logger = logging.getLogger(__name__)

FULL_REFRESH_SECONDS = 300
OVERLAP = timedelta(seconds=60)
BLOCK_ROWS = 8192
CHECK_BATCH = 100  # candidates checked against the database per query


# -- storing ------------------------------------------------------------------------------
def ticket_embedding_store(*, ticket, vector: np.ndarray) -> None:
    """Keep `vector` as the ticket's embedding (one of another encoder is replaced)."""
    from triage.models import TicketEmbedding

    try:
        with transaction.atomic():
            # A new created_at: the per-process matrices' top-up finds rows by it.
            TicketEmbedding.objects.update_or_create(
                ticket_id=ticket.pk,
                defaults={
                    "vector": vectors.to_bytes(vector),
                    "model": LOCAL_MODEL,
                    "bits": None,
                    "created_at": timezone.now(),
                },
            )
    except IntegrityError:  # a concurrent writer stored it first
        pass


def cached_embedding(ticket):
    """The embedding of a new `ticket` (unsaved), from the vector retrieval computed for it in
    this process if it is still in the encoder's cache, else None
    (triage.similar_base.embedding_on_create, at ingest). The ticket's rows are written after
    this, so nothing else can have stored its embedding: one INSERT with them, not
    ticket_embedding_store's savepoint + get_or_create."""
    from knowledge.backends.local import loaded_encoder

    encoder = loaded_encoder()
    if encoder is None:
        return None
    vector = vectors.cached_vector(encoder, ticket.subject, ticket.body_clean)
    if vector is None:
        return None
    from triage.models import TicketEmbedding

    return TicketEmbedding(ticket=ticket, vector=vectors.to_bytes(vector))


def ticket_vector(ticket) -> np.ndarray:
    """The ticket's stored vector (unit float32), embedded and stored now if it has none.
    Raises knowledge.encoder.EncoderUnavailable when it must be embedded and cannot be."""
    from knowledge.backends.local import shared_encoder
    from triage.models import TicketEmbedding

    blob = (
        TicketEmbedding.objects.filter(pk=ticket.pk, model=LOCAL_MODEL)
        .values_list("vector", flat=True)
        .first()
    )
    if blob is None:
        vector = vectors.encode_vector(shared_encoder(), ticket.subject, ticket.body_clean)
        ticket_embedding_store(ticket=ticket, vector=vector)
        blob = vectors.to_bytes(vector)
    return vectors.unit(vectors.from_bytes([blob]))[0]


def backfill(*, batch_size: int = 256, progress=None) -> int:
    """Embed and store every ticket without an embedding of the local encoder (oldest first;
    one of another encoder is replaced). Returns how many."""
    from knowledge.backends.local import shared_encoder
    from knowledge.encoder import EncoderUnavailable
    from triage.models import TicketEmbedding

    try:
        encoder = shared_encoder()
    except EncoderUnavailable as exc:
        raise EmbeddingUnavailable(str(exc)) from exc
    done = 0
    for batch in tickets_without_embedding(LOCAL_MODEL, batch_size=batch_size):
        fresh = [
            TicketEmbedding(
                ticket_id=pk,
                vector=vectors.to_bytes(vectors.encode_vector(encoder, subject, body_clean)),
            )
            for pk, subject, body_clean in batch
        ]
        # Another encoder's embeddings are replaced; ignore_conflicts: a ticket embedded
        # meanwhile (ingest, an API read) keeps its own.
        TicketEmbedding.objects.filter(ticket_id__in=[pk for pk, _, _ in batch]).exclude(
            model=LOCAL_MODEL
        ).delete()
        TicketEmbedding.objects.bulk_create(fresh, ignore_conflicts=True)
        done += len(fresh)
        if progress is not None:
            progress(done)
    return done


# -- the per-process matrix ---------------------------------------------------------------
class OpenTicketMatrix:
    """Vectors of open tickets (int8 rows, their norms, ticket ids), grown in place."""

    def __init__(self) -> None:
        self.rows = np.zeros((0, EMBED_DIM), dtype=np.int8)
        self.norms = np.zeros(0, dtype=np.float32)
        self.ids = np.zeros(0, dtype=np.int64)
        self.size = 0
        self.position: dict[int, int] = {}
        self.built_at = 0.0  # time.monotonic() of the last full build
        self.seen_until = None  # embeddings stored before this were looked at

    def add(self, ids: list[int], blobs: list[bytes]) -> None:
        keep = [(i, b) for i, b in zip(ids, blobs, strict=True) if i not in self.position]
        if not keep:
            return
        new = vectors.from_bytes([b for _, b in keep])
        need = self.size + len(keep)
        if need > len(self.ids):
            # Room for an eighth more: tickets arriving between builds rarely copy the matrix.
            capacity = max(need + need // 8, 1024)
            self.rows = _grow(self.rows, capacity)
            self.norms = _grow(self.norms, capacity)
            self.ids = _grow(self.ids, capacity)
        end = self.size + len(keep)
        self.rows[self.size : end] = new
        for start in range(self.size, end, BLOCK_ROWS):  # no float copy of the whole matrix
            stop = min(start + BLOCK_ROWS, end)
            self.norms[start:stop] = np.linalg.norm(
                self.rows[start:stop].astype(np.float32), axis=1
            )
        self.ids[self.size : end] = [i for i, _ in keep]
        for offset, (ticket_id, _) in enumerate(keep):
            self.position[ticket_id] = self.size + offset
        self.size = end

    def drop(self, ticket_ids) -> None:
        for ticket_id in ticket_ids:
            at = self.position.pop(int(ticket_id), None)
            if at is not None:
                self.norms[at] = 0.0  # scores 0 (never similar) until the next build compacts
                self.ids[at] = -1

    def scores(self, unit_query: np.ndarray) -> np.ndarray:
        """Cosine of every row to `unit_query` (0 for a dropped row)."""
        out = np.empty(self.size, dtype=np.float32)
        q = unit_query.astype(np.float32)
        for start in range(0, self.size, BLOCK_ROWS):
            end = min(start + BLOCK_ROWS, self.size)
            np.matmul(self.rows[start:end].astype(np.float32), q, out=out[start:end])
        norms = self.norms[: self.size]
        np.divide(out, norms, out=out, where=norms > 0)
        out[norms == 0] = 0.0
        return out

    def nbytes(self) -> int:
        return self.rows.nbytes + self.norms.nbytes + self.ids.nbytes


def _grow(array: np.ndarray, capacity: int) -> np.ndarray:
    bigger = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger


_lock = threading.Lock()
_matrix: OpenTicketMatrix | None = None


def open_matrix() -> OpenTicketMatrix:
    """This process's matrix, rebuilt every FULL_REFRESH_SECONDS and topped up otherwise."""
    global _matrix
    with _lock:
        matrix = _matrix
        if matrix is None or time.monotonic() - matrix.built_at > FULL_REFRESH_SECONDS:
            matrix = _build()
        else:
            _top_up(matrix)
        _matrix = matrix
        return matrix


def forget_matrix() -> None:
    """Drop this process's matrix (tests; after a restore): the next request rebuilds it."""
    global _matrix
    with _lock:
        _matrix = None


def _open_embeddings():
    from tickets.models import Ticket
    from triage.models import TicketEmbedding

    return TicketEmbedding.objects.filter(
        ticket__status__in=Ticket.ACTIVE_STATUSES, model=LOCAL_MODEL
    )


def _build() -> OpenTicketMatrix:
    matrix = OpenTicketMatrix()
    matrix.seen_until = timezone.now()
    matrix.built_at = time.monotonic()
    ids: list[int] = []
    blobs: list[bytes] = []
    rows = _open_embeddings().order_by().values_list("ticket_id", "vector")
    for ticket_id, blob in rows.iterator(chunk_size=5000):
        ids.append(ticket_id)
        blobs.append(bytes(blob))
    matrix.add(ids, blobs)  # one allocation, sized for what is open now
    return matrix


def _top_up(matrix: OpenTicketMatrix) -> None:
    """Add the open tickets' embeddings stored since the last look. Ids first: after a mass
    insert (a backfill) the overlap window holds many rows the matrix already has, and only
    the vectors it lacks are read."""
    now = timezone.now()
    from triage.models import TicketEmbedding

    # No join here: the created_at index alone (the status is read for the unknown ones only).
    recent = TicketEmbedding.objects.filter(
        created_at__gte=matrix.seen_until - OVERLAP, model=LOCAL_MODEL
    )
    unknown = [
        i for i in recent.order_by().values_list("ticket_id", flat=True) if i not in matrix.position
    ]
    for start in range(0, len(unknown), 5000):
        rows = _open_embeddings().filter(ticket_id__in=unknown[start : start + 5000])
        fresh = list(rows.order_by().values_list("ticket_id", "vector"))
        matrix.add([i for i, _ in fresh], [bytes(b) for _, b in fresh])
    matrix.seen_until = now


# -- asking -------------------------------------------------------------------------------
def similar_tickets(*, ticket, threshold: float, limit: int) -> list[SimilarTicket]:
    """Open tickets other than `ticket` whose cosine to it is ≥ threshold, most similar
    first, at most `limit`."""
    from tickets.models import Ticket

    query = ticket_vector(ticket)
    matrix = open_matrix()
    with _lock:
        sims = matrix.scores(query)
        ids = matrix.ids[: matrix.size].copy()
    above = np.flatnonzero((sims >= threshold) & (ids != ticket.pk) & (ids > 0))
    order = above[np.argsort(-sims[above], kind="stable")]
    found: list[SimilarTicket] = []
    gone: list[int] = []
    for start in range(0, len(order), CHECK_BATCH):
        batch = order[start : start + CHECK_BATCH]
        wanted = [int(ids[i]) for i in batch]
        # The database is the truth: status and customer now, and the stored vector (a row
        # of the matrix is only a candidate; the answered similarity is the stored vectors').
        current = {
            t.pk: t
            for t in Ticket.objects.filter(
                pk__in=wanted, status__in=Ticket.ACTIVE_STATUSES, embedding__model=LOCAL_MODEL
            )
            .select_related("customer", "embedding")
            .only(
                "pk",
                "subject",
                "status",
                "priority",
                "created_at",
                "customer__email",
                "problem",
                "embedding__vector",
            )
        }
        for ticket_id in wanted:
            other = current.get(ticket_id)
            if other is None:
                gone.append(ticket_id)
                continue
            stored = vectors.unit(vectors.from_bytes([other.embedding.vector]))[0]
            similarity = float(stored @ query)
            if similarity < threshold:
                continue
            relation = (
                PROBABLE_DUPLICATE if other.customer_id == ticket.customer_id else POSSIBLE_INCIDENT
            )
            found.append(SimilarTicket(other, round(similarity, 4), relation))
        if len(found) >= limit:
            break
    found.sort(key=lambda item: -item.similarity)
    found = found[:limit]
    if gone:
        with _lock:
            matrix.drop(gone)
    return found
