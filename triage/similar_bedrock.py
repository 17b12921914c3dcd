"""Similar tickets where no local encoder runs (SIMILAR_ENCODER=bedrock, the Lambda's default).

No numpy here (the Lambda package has none: tests/test_lambda_package.py). A ticket's text (the
focus Bedrock's Retrieve searches with: subject + cleaned first message) is embedded by Amazon
Titan Text Embeddings (InvokeModel, SIMILAR_BEDROCK_MODEL_ID, SIMILAR_BEDROCK_DIMENSIONS,
normalised) once, when it arrives, beside its KB search (tickets/services.py), and stored:

- `vector`: the components as int8 (each scaled by 127 / the largest |component|; the cosine
  needs no scale), what the answered similarity is computed from;
- `bits`: each component's sign (1 for > 0), packed, for the search's first pass.

A search is two passes: the CANDIDATES open tickets nearest by Hamming distance of the sign
bits (on Postgres one statement, `bit_count` over a generated bit-string column, no extension;
elsewhere in Python), then the cosine of the int8 vectors of those candidates, kept at or above
the threshold. Sign bits keep the order of cosines closely enough for near-duplicates to be
among the nearest by far; bench/similar_bench.py --encoder bedrock measures the cost at 100k.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import operator
import time
from array import array
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from helpdesk import aws
from helpdesk.deadline import DeadlineExceeded, start, wait
from knowledge.query import CUSTOMER, TicketQuery, Turn
from triage.similar_base import (
    POSSIBLE_INCIDENT,
    PROBABLE_DUPLICATE,
    EmbeddingUnavailable,
    SimilarTicket,
    tickets_without_embedding,
)

logger = logging.getLogger(__name__)

# Characters of a ticket's text sent to Titan (its limit is 50,000; what makes two tickets
# duplicates is at their start, and Titan is paid per token).
TEXT_CHARS = 4000
# Open tickets nearest by sign bits whose cosine is computed (the answer's limit is at most 50).
CANDIDATES = 200


def model_tag() -> str:
    """TicketEmbedding.model for this configuration: vectors of another model or size are
    never compared with these."""
    return f"bedrock:{settings.SIMILAR_BEDROCK_MODEL_ID}:{settings.SIMILAR_BEDROCK_DIMENSIONS}"


def ticket_text(subject: str, body_clean: str) -> str:
    """What is embedded: the text Bedrock's Retrieve searches with for a new ticket."""
    query = TicketQuery.of(subject=subject, turns=[Turn(CUSTOMER, body_clean)])
    return query.text()[:TEXT_CHARS]


# -- Titan --------------------------------------------------------------------------------
def embed(text: str, *, client=None) -> list[float]:
    """Titan's normalised embedding of `text`. Raises EmbeddingUnavailable when Bedrock fails
    or answers something that is not a vector of the configured size."""
    client = client or aws.bedrock_runtime_client()
    model = settings.SIMILAR_BEDROCK_MODEL_ID
    dimensions = settings.SIMILAR_BEDROCK_DIMENSIONS
    request = {"inputText": text, "dimensions": dimensions, "normalize": True}
    try:
        response = client.invoke_model(
            modelId=model,
            body=json.dumps(request),
            contentType="application/json",
            accept="application/json",
        )
        answer = json.loads(response["body"].read())
    except (ClientError, BotoCoreError, ValueError) as exc:
        raise EmbeddingUnavailable(
            f"Bedrock embeddings ({model}): {aws.describe_error(exc)}"
        ) from exc
    vector = answer.get("embedding") if isinstance(answer, dict) else None
    if (
        not isinstance(vector, list)
        or len(vector) != dimensions
        or not all(isinstance(x, int | float) and math.isfinite(x) for x in vector)
    ):
        raise EmbeddingUnavailable(f"Bedrock embeddings ({model}): not a {dimensions}-vector")
    return [float(x) for x in vector]


def pack(vector: list[float]) -> tuple[bytes, bytes]:
    """(int8 components, sign bits) of a vector, as stored."""
    peak = max((abs(x) for x in vector), default=0.0)
    scale = 127.0 / peak if peak else 0.0
    components = array("b", (round(x * scale) for x in vector)).tobytes()
    signs = 0
    for x in vector:
        signs = (signs << 1) | (x > 0)
    return components, signs.to_bytes((len(vector) + 7) // 8, "big")


@dataclass(frozen=True)
class Query:
    """A ticket's stored vector, ready to be compared."""

    components: array
    norm: float
    bits: int

    @classmethod
    def of(cls, vector: bytes, bits: bytes) -> Query:
        components = array("b", bytes(vector))
        return cls(components, _norm(components), int.from_bytes(bytes(bits), "big"))

    def cosine(self, other: bytes) -> float:
        components = array("b", bytes(other))
        norm = _norm(components)
        if not norm or not self.norm or len(components) != len(self.components):
            return 0.0
        return sum(map(operator.mul, self.components, components)) / (self.norm * norm)


def _norm(components: array) -> float:
    return math.sqrt(sum(map(operator.mul, components, components)))


# -- storing ------------------------------------------------------------------------------
class PendingEmbedding:
    """A new ticket's embedding, asked of Bedrock in a worker while its KB search runs
    (tickets.services.ticket_create); `resolve()` waits for it before the ticket's transaction
    (never inside it), within what is left of the retrieval deadline."""

    def __init__(self, subject: str, body_clean: str, *, what: str = "New ticket stored") -> None:
        self.what = what  # for the log when it does not come
        self.started = time.monotonic()
        self.vector: list[float] | None = None
        self.future = start(
            lambda: embed(ticket_text(subject, body_clean)), what="Bedrock embeddings"
        )

    def resolve(self) -> None:
        seconds = settings.KB_RETRIEVAL_DEADLINE_SECONDS - (time.monotonic() - self.started)
        try:
            self.vector = wait(self.future, seconds=seconds, what="Bedrock embeddings")
        except (EmbeddingUnavailable, DeadlineExceeded) as exc:
            # The ticket is stored without one: it is embedded on its first ask, or by
            # `manage.py similar_backfill`. A ticket is never refused or degraded for this.
            logger.warning("%s without an embedding: %s", self.what, exc)
        except Exception:
            logger.exception("%s without an embedding", self.what)

    def embedding(self, ticket):
        """The unsaved TicketEmbedding of `ticket` (inserted with it), or None."""
        if self.vector is None:
            return None
        from triage.models import TicketEmbedding

        vector, bits = pack(self.vector)
        return TicketEmbedding(ticket=ticket, vector=vector, bits=bits, model=model_tag())


def store(*, ticket_id: int, vector: list[float]) -> tuple[bytes, bytes]:
    """Keep `vector` as the ticket's embedding, replacing one of another model."""
    from triage.models import TicketEmbedding

    components, bits = pack(vector)
    try:
        with transaction.atomic():
            TicketEmbedding.objects.update_or_create(
                ticket_id=ticket_id,
                defaults={"vector": components, "bits": bits, "model": model_tag()},
            )
    except IntegrityError:  # a concurrent writer stored it first: theirs is as good
        pass
    return components, bits


def ticket_query(ticket) -> Query:
    """The ticket's stored vector, embedded and stored now if it has none of this model.
    Raises EmbeddingUnavailable when it must be embedded and cannot be."""
    from triage.models import TicketEmbedding

    row = (
        TicketEmbedding.objects.filter(pk=ticket.pk, model=model_tag())
        .values_list("vector", "bits")
        .first()
    )
    if row is None or row[1] is None:
        row = store(ticket_id=ticket.pk, vector=embed(ticket_text(ticket.subject, _clean(ticket))))
    return Query.of(*row)


def _clean(ticket) -> str:
    return ticket.body_clean or ticket.body


def backfill(*, batch_size: int = 64, progress=None, embed_text=None) -> int:
    """Embed and store every ticket without an embedding of this model (oldest first), one
    InvokeModel each. Returns how many. Raises EmbeddingUnavailable on the first failure
    (what was stored stays; a rerun carries on)."""
    embed_text = embed_text or embed
    done = 0
    for batch in tickets_without_embedding(model_tag(), batch_size=batch_size):
        for pk, subject, body_clean in batch:
            store(ticket_id=pk, vector=embed_text(ticket_text(subject, body_clean)))
            done += 1
        if progress is not None:
            progress(done)
    return done


# -- asking -------------------------------------------------------------------------------
def similar_tickets(*, ticket, threshold: float, limit: int) -> list[SimilarTicket]:
    """Open tickets other than `ticket` whose cosine to it is ≥ threshold, most similar
    first, at most `limit` (triage.similar.similar_tickets' contract)."""
    from tickets.models import Ticket
    from triage.models import TicketEmbedding

    query = ticket_query(ticket)
    wanted = _nearest(ticket.pk, query.bits, max(CANDIDATES, 4 * limit))
    if not wanted:
        return []
    # The second pass on the candidates' vectors alone; the tickets are read for the answer only.
    rows = TicketEmbedding.objects.filter(
        ticket_id__in=wanted, model=model_tag(), ticket__status__in=Ticket.ACTIVE_STATUSES
    ).values_list("ticket_id", "vector")
    scored = [(query.cosine(vector), pk) for pk, vector in rows]
    best = sorted((item for item in scored if item[0] >= threshold), key=lambda x: (-x[0], x[1]))
    best = best[:limit]
    tickets = Ticket.objects.select_related("customer").only(
        "pk", "subject", "status", "priority", "created_at", "customer__email", "problem"
    )
    by_id = tickets.in_bulk([pk for _, pk in best])
    found = []
    for similarity, pk in best:
        other = by_id.get(pk)
        if other is None:  # deleted in between
            continue
        relation = (
            PROBABLE_DUPLICATE if other.customer_id == ticket.customer_id else POSSIBLE_INCIDENT
        )
        found.append(SimilarTicket(other, round(similarity, 4), relation))
    return found


def _nearest(ticket_id: int, bits: int, k: int) -> list[int]:
    """Ids of the k open tickets (this model's embeddings, not `ticket_id`) nearest to `bits`
    by Hamming distance, nearest first (ties by id)."""
    if connection.vendor == "postgresql":
        return _nearest_sql(ticket_id, bits, k)
    return _nearest_python(ticket_id, bits, k)


def _nearest_sql(ticket_id: int, bits: int, k: int) -> list[int]:
    """Postgres: one statement over the generated bit-string column, read from the covering
    index `triage_embedding_signature` (model, ticket id, bits: 23 MB at 100k tickets against
    313 MB of table) (migration 0004)."""
    from tickets.models import Ticket
    from triage.models import TicketEmbedding

    width = settings.SIMILAR_BEDROCK_DIMENSIONS
    sql = (
        f'SELECT e."ticket_id" FROM "{TicketEmbedding._meta.db_table}" e '
        f'JOIN "{Ticket._meta.db_table}" t ON t."id" = e."ticket_id" '
        'WHERE e."model" = %s AND t."status" = ANY(%s) AND e."ticket_id" <> %s '
        'ORDER BY bit_count(e."bits_varbit" # %s::bit varying), e."ticket_id" LIMIT %s'
    )
    params = [model_tag(), list(Ticket.ACTIVE_STATUSES), ticket_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, format(bits, f"0{width}b"), k])
        return [row[0] for row in cursor.fetchall()]


def _nearest_python(ticket_id: int, bits: int, k: int) -> list[int]:
    """Any database: the open tickets' bits read and compared here (SQLite in development)."""
    from tickets.models import Ticket
    from triage.models import TicketEmbedding

    width = settings.SIMILAR_BEDROCK_DIMENSIONS // 8
    rows = (
        TicketEmbedding.objects.filter(
            model=model_tag(), ticket__status__in=Ticket.ACTIVE_STATUSES, bits__isnull=False
        )
        .exclude(ticket_id=ticket_id)
        .values_list("ticket_id", "bits")
    )
    scored = (
        ((bits ^ int.from_bytes(other, "big")).bit_count(), pk)
        for pk, other in ((pk, bytes(other)) for pk, other in rows)
        if len(other) == width
    )
    return [pk for _, pk in heapq.nsmallest(k, scored)]
