"""A ticket's stored embedding: the query vector `POST /tickets` computes for retrieval, kept.

Django-free. The vector is the retriever's `focus` view of the ticket as it arrived (subject +
cleaned first message, left-truncated to 64 tokens, knowledge.encoder.encode_queries), i.e. the
exact key retrieval put in the encoder's LRU cache, so storing it costs no encoder pass. It is
kept as 384 signed bytes (each component scaled by 127 / the largest |component|): similarity is
a cosine, so the scale is not needed, and int8 keeps 99.99% of the cosine (measured on the
stackfaq queries, TRIAGE.md) at a quarter of float32's size.
"""

from __future__ import annotations

import numpy as np

from knowledge.encoder import EMBED_DIM, Encoder
from knowledge.query import CUSTOMER, TicketQuery, Turn

VECTOR_BYTES = EMBED_DIM


def ticket_parts(subject: str, body_clean: str) -> list[str]:
    """The texts retrieval encodes for a new one-message ticket: `[recent, focus]`, the key of
    `encode_queries` (knowledge.index.HybridIndex.signals)."""
    parts = TicketQuery.of(subject=subject, turns=[Turn(CUSTOMER, body_clean)]).parts()
    return [parts.recent, parts.focus]


def cached_vector(encoder: Encoder, subject: str, body_clean: str) -> np.ndarray | None:
    """The ticket's vector if retrieval computed it in this process (no encoder pass), else
    None."""
    hit = encoder.cached_queries(ticket_parts(subject, body_clean))
    return None if hit is None else hit[1]


def encode_vector(encoder: Encoder, subject: str, body_clean: str) -> np.ndarray:
    """The ticket's vector, encoding it if needed (backfill, a ticket stored without one)."""
    return encoder.encode_queries(ticket_parts(subject, body_clean))[1]


def to_bytes(vector: np.ndarray) -> bytes:
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    if v.shape != (EMBED_DIM,) or not np.all(np.isfinite(v)):
        raise ValueError(f"not a {EMBED_DIM}-dimension finite vector")
    peak = float(np.abs(v).max())
    if peak == 0:
        return bytes(VECTOR_BYTES)
    return np.round(v * (127.0 / peak)).astype(np.int8).tobytes()


def from_bytes(blobs: list[bytes]) -> np.ndarray:
    """Stored vectors as an (n, 384) int8 matrix."""
    if not blobs:
        return np.zeros((0, EMBED_DIM), dtype=np.int8)
    joined = b"".join(bytes(b) for b in blobs)
    return np.frombuffer(joined, dtype=np.int8).reshape(len(blobs), EMBED_DIM)


def unit(matrix: np.ndarray) -> np.ndarray:
    """float32 rows scaled to length 1 (an all-zero row stays zero)."""
    m = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return m / np.where(norms > 0, norms, 1.0)
