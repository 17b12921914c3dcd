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

from helpdesk.api.exceptions import DATABASE_DOWN, KnowledgeBackendUnavailable
from helpdesk.api.utils import elapsed_ms
from knowledge.backends.base import BackendHealth, Embedder, Passage, snippet
from knowledge.chunking import heading_text, passage_text, section_path
from knowledge.encoder import EMBED_DIM, Encoder
from knowledge.filters import matches
from knowledge.index import ChunkRecord, HybridIndex
from knowledge.indexing import source_documents, sync_documents
from knowledge.models import Article, Chunk, KnowledgeState, SyncJob
from knowledge.query import TicketQuery, as_query

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


def loaded_encoder() -> Encoder | None:
    """The process's encoder if something has made it (None: nothing was embedded here)."""
    return _encoder


def vector_bytes(vectors: np.ndarray) -> list[bytes]:
    return [row.astype(np.float32).tobytes() for row in vectors]


def _build_index(generation: int, revision: str, encoder: Encoder) -> _Index:
    rows = list(
        Chunk.objects.order_by("article_id", "position").values_list(
            "id",
            "article_id",
            "article__title",
            "heading_path",
            "text",
            "embedding",
            "heading_embedding",
            "snippet",
        )
    )
    passages = _stored_vectors(
        rows, 5, "embedding", lambda row: passage_text(row[2], row[3] or [], row[4]), encoder
    )
    headings = _stored_vectors(
        rows, 6, "heading_embedding", lambda row: heading_text(row[2], row[3] or []), encoder
    )
    records = [
        ChunkRecord(
            chunk_id=chunk_id,
            article_id=article_id,
            title=title,
            heading_path=section_path(title, headings_ or []),
            text=text,
        )
        for chunk_id, article_id, title, headings_, text, *_ in rows
    ]
    hybrid = HybridIndex(records, passages, encoder, heading_embeddings=headings)
    articles = {
        pk: (uri, meta or {})
        for pk, uri, meta in Article.objects.values_list("pk", "uri", "metadata")
    }
    snippets = {row[0]: row[7] for row in rows if row[7]}
    return _Index(generation, revision, hybrid, articles, snippets)


def _stored_vectors(rows: list[tuple], column: int, field: str, text_of, encoder) -> np.ndarray:
    """The vectors stored in `column` of `rows` as one matrix. Rows stored before they had one
    (an older sync, a backend that does not embed) are embedded once and saved."""
    missing = [i for i, row in enumerate(rows) if row[column] is None]
    if missing:
        texts = [text_of(rows[i]) for i in missing]
        unique = list(dict.fromkeys(texts))  # sections share their headings
        encoded = dict(zip(unique, vector_bytes(encoder.encode_passages(unique)), strict=True))
        Chunk.objects.bulk_update(
            [
                Chunk(pk=rows[i][0], **{field: encoded[t]})
                for i, t in zip(missing, texts, strict=True)
            ],
            [field],
        )
        fresh = dict(zip(missing, (encoded[t] for t in texts), strict=True))
    else:
        fresh = {}
    blob = b"".join(bytes(fresh.get(i, row[column])) for i, row in enumerate(rows))
    return np.frombuffer(blob, dtype=np.float32).reshape(len(rows), EMBED_DIM)


class LocalBackend:
    name = "local"
    # Its health check reads the database: /health runs it in the request thread.
    remote = False

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

    def known_revision(self) -> str | None:
        """The KB revision of the index this process holds (as the last retrieval read it),
        without a query; None before the first retrieval."""
        index = self._index
        return index.revision if index is not None else None

    def retrieve(
        self, query: TicketQuery | str, *, k=5, filters=None, mode="hybrid"
    ) -> list[Passage]:
        """`mode` "hybrid" is the retriever; "bm25" and "dense" are kb_eval's baselines, which
        read a plain-text query as it is (a TicketQuery: all of its cleaned text)."""
        return self.retrieval(query, k=k, filters=filters, mode=mode)()

    def retrieval(
        self, query: TicketQuery | str, *, k=5, filters=None, mode="hybrid"
    ) -> Callable[[], list[Passage]]:
        """`retrieve` in two steps: what needs the database (the index at the current KB
        revision, built if stale; the encoder, loaded once) now, in the caller's thread; the
        search itself (CPU only) in the returned call, which may run in another thread
        (knowledge.selectors.kb_retrieve runs it within the retrieval deadline)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if mode == "hybrid":
            query = as_query(query)
        elif isinstance(query, TicketQuery):
            query = query.parts().full
        try:
            index = self.index()
            self.encoder.prepare_queries()  # loaded once per process, not inside a deadline
        except DATABASE_DOWN:
            raise  # not the index's fault: the API answers 503 database_unavailable
        except Exception as exc:  # a broken index must degrade tickets, not fail them
            raise KnowledgeBackendUnavailable(f"Local index unavailable: {exc}") from exc
        key = (index.revision, mode, query, json.dumps(filters, sort_keys=True), k)
        cached = self._results.get(key)
        if cached is not None:
            return lambda: cached
        return lambda: self._search(index, key, query, k, filters, mode)

    def _search(self, index: _Index, key: tuple, query, k, filters, mode) -> list[Passage]:
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
                cosine=None if hit.cosine is None else round(hit.cosine, 4),
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
            job,
            source_documents(job.source, job=job),
            embed=self.embedder(),
            progress=progress,
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
