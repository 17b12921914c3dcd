"""The offline backend: passages and their embeddings in the relational DB, an in-memory hybrid
index (BM25 + MiniLM embeddings, see knowledge/index.py and knowledge/encoder.py) per process.

The index is rebuilt lazily when the KB revision (changed by every sync that changes something)
differs from the one it was built at, so a completed sync is visible to the next request in
every process. Results are cached per (revision, query, filter, k, mode).
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from helpdesk.api.exceptions import KnowledgeBackendUnavailable
from helpdesk.api.utils import elapsed_ms
from knowledge.backends.base import BackendHealth, Embedder, Passage, snippet
from knowledge.chunking import passage_text, section_path
from knowledge.encoder import EMBED_DIM, Encoder
from knowledge.filters import matches
from knowledge.index import ChunkRecord, HybridIndex
from knowledge.indexing import source_documents, sync_documents
from knowledge.models import Article, Chunk, KnowledgeState, SyncJob

RESULT_CACHE_SIZE = 2048
MODES = ("hybrid", "bm25", "dense")


@dataclass
class _Index:
    generation: int
    revision: str
    hybrid: HybridIndex
    articles: dict[int, tuple[str, dict]]  # id → (uri, metadata)
    snippets: dict[int, str]  # chunk id → its stored snippet


_encoder_lock = threading.Lock()
_encoder: Encoder | None = None


def shared_encoder() -> Encoder:
    """One encoder per process (the model is loaded once, lazily)."""
    global _encoder
    if _encoder is None:
        with _encoder_lock:
            if _encoder is None:
                _encoder = Encoder(
                    cache_dir=settings.KB_MODEL_CACHE_DIR,
                    num_threads=settings.KB_ENCODER_THREADS or None,
                    query_precision=settings.KB_QUERY_PRECISION,
                )
    return _encoder


def vector_bytes(vectors: np.ndarray) -> list[bytes]:
    return [row.astype(np.float32).tobytes() for row in vectors]


def _build_index(generation: int, revision: str, encoder: Encoder) -> _Index:
    rows = list(
        Chunk.objects.order_by("article_id", "position").values_list(
            "id", "article_id", "article__title", "heading_path", "text", "embedding", "snippet"
        )
    )
    missing = [i for i, row in enumerate(rows) if row[5] is None]
    if missing:
        # Passages stored before they were embedded: embed them once and keep the vectors.
        texts = [passage_text(rows[i][2], rows[i][3] or [], rows[i][4]) for i in missing]
        blobs = vector_bytes(encoder.encode_passages(texts))
        Chunk.objects.bulk_update(
            [Chunk(pk=rows[i][0], embedding=blob) for i, blob in zip(missing, blobs, strict=True)],
            ["embedding"],
        )
        for i, blob in zip(missing, blobs, strict=True):
            rows[i] = (*rows[i][:5], blob, *rows[i][6:])
    records = [
        ChunkRecord(
            chunk_id=chunk_id,
            article_id=article_id,
            title=title,
            heading_path=section_path(title, headings or []),
            text=text,
        )
        for chunk_id, article_id, title, headings, text, *_ in rows
    ]
    matrix = np.frombuffer(b"".join(bytes(row[5]) for row in rows), dtype=np.float32)
    hybrid = HybridIndex(records, matrix.reshape(len(rows), EMBED_DIM), encoder)
    articles = {
        pk: (uri, meta or {})
        for pk, uri, meta in Article.objects.values_list("pk", "uri", "metadata")
    }
    snippets = {row[0]: row[6] for row in rows if row[6]}
    return _Index(generation, revision, hybrid, articles, snippets)


class LocalBackend:
    name = "local"

    def __init__(self, encoder: Encoder | None = None) -> None:
        self._encoder = encoder
        self._index: _Index | None = None
        self._lock = threading.Lock()
        self._results: OrderedDict[tuple, list[Passage]] = OrderedDict()

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = shared_encoder()
        return self._encoder

    def index(self) -> _Index:
        generation, revision = KnowledgeState.current()
        index = self._index
        if index is None or index.revision != revision:
            with self._lock:
                index = self._index
                if index is None or index.revision != revision:
                    index = self._index = _build_index(generation, revision, self.encoder)
                    self._results.clear()
        return index

    def retrieve(self, query, *, k=5, filters=None, mode="hybrid") -> list[Passage]:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        try:
            index = self.index()
        except Exception as exc:  # a broken index must degrade tickets, not fail them
            raise KnowledgeBackendUnavailable(f"Local index unavailable: {exc}") from exc
        key = (index.revision, query, json.dumps(filters, sort_keys=True), k, mode)
        cached = self._results.get(key)
        if cached is not None:
            return cached
        allowed = None
        if filters:
            allowed = {pk for pk, (_, meta) in index.articles.items() if matches(filters, meta)}
        search = {
            "hybrid": index.hybrid.search,
            "bm25": index.hybrid.search_bm25,
            "dense": index.hybrid.search_dense,
        }[mode]
        passages = [
            Passage(
                title=hit.record.title,
                snippet=index.snippets.get(hit.chunk_id) or snippet(hit.record.text),
                score=round(hit.score, 4),
                source=index.articles[hit.article_id][0],
                passage_ref=f"chunk:{hit.chunk_id}",
                article_id=hit.article_id,
                heading_path=hit.record.heading_path,
                metadata=index.articles[hit.article_id][1],
            )
            for hit in search(query, k, allowed=allowed)
        ]
        with self._lock:
            self._results[key] = passages
            if len(self._results) > RESULT_CACHE_SIZE:
                self._results.popitem(last=False)
        return passages

    def embedder(self) -> Embedder:
        """What sync uses to embed passages (title and section path included)."""
        return lambda texts: vector_bytes(self.encoder.encode_passages(texts))

    def sync(self, job: SyncJob, *, progress: Callable[[SyncJob, str], None] | None = None):
        job = sync_documents(
            job, source_documents(job.source), embed=self.embedder(), progress=progress
        )
        self.encoder.prepare_queries()  # so the first ticket after `make run` does not wait
        return job

    def refresh(self, job: SyncJob) -> SyncJob:
        """A local sync runs in this process or another that saves as it goes: nothing to read."""
        return job

    def check(self) -> BackendHealth:
        started = time.perf_counter()
        try:
            index = self.index()
        except Exception as exc:
            return BackendHealth(False, f"index unavailable: {exc}", elapsed_ms(started))
        size = len(index.hybrid)
        detail = "ok" if size else "empty: run `manage.py kb_sync`"
        info = {
            "chunks": size,
            "generation": index.generation,
            # int8 unless the int8 copy could not be made or failed its check (then fp32, and
            # a warning in the log): known once the first query has run.
            "query_precision": self.encoder.query_precision,
        }
        return BackendHealth(True, detail, elapsed_ms(started), info)
