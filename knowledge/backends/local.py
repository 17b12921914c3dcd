"""The offline backend: chunks in the relational DB, an in-memory BM25 index per process.

The index is rebuilt lazily when the KB generation (bumped by every sync that changes
something) differs from the one it was built at, so a completed sync is visible to the next
request in every process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import bm25s
import numpy as np
import Stemmer

from helpdesk.api.exceptions import KnowledgeBackendUnavailable
from knowledge.backends.base import BackendHealth, Embedder, Passage
from knowledge.chunking import passage_text
from knowledge.filters import matches
from knowledge.models import Article, Chunk, SyncJob

# Passages retrieved before collapsing to articles: enough that k distinct articles survive.
CANDIDATES_PER_RESULT = 8
SNIPPET_CHARS = 400

_stemmer = Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(
        texts, stopwords="en", stemmer=_stemmer, return_ids=False, show_progress=False
    )


@dataclass
class _Index:
    generation: int
    revision: str
    chunk_ids: np.ndarray
    article_ids: np.ndarray
    titles: list[str]
    headings: list[list[str]]
    texts: list[str]
    sources: list[str]
    metadata: dict[int, dict]  # article id → metadata, for filters
    bm25: bm25s.BM25 | None

    @property
    def size(self) -> int:
        return len(self.chunk_ids)

    def mask(self, condition: dict) -> np.ndarray:
        """1.0 for passages whose article matches the filter, else 0.0."""
        allowed = {aid for aid, meta in self.metadata.items() if matches(condition, meta or {})}
        return np.isin(self.article_ids, list(allowed)).astype(np.float32)


def _build_index(generation: int, revision: str) -> _Index:
    rows = list(
        Chunk.objects.select_related("article")
        .order_by("article_id", "position")
        .values_list("id", "article_id", "article__title", "heading_path", "text", "article__uri")
    )
    metadata = dict(Article.objects.values_list("id", "metadata"))
    titles = [row[2] for row in rows]
    headings = [row[3] or [] for row in rows]
    texts = [row[4] for row in rows]
    bm25 = None
    if rows:
        # The title and section headings go into every passage's text, so a query that names
        # the topic matches every passage of that article.
        corpus = [
            passage_text(title, h, text)
            for title, h, text in zip(titles, headings, texts, strict=True)
        ]
        bm25 = bm25s.BM25(method="lucene")
        bm25.index(tokenize(corpus), show_progress=False)
    return _Index(
        generation=generation,
        revision=revision,
        chunk_ids=np.array([row[0] for row in rows], dtype=np.int64),
        article_ids=np.array([row[1] for row in rows], dtype=np.int64),
        titles=titles,
        headings=headings,
        texts=texts,
        sources=[row[5] for row in rows],
        metadata=metadata,
        bm25=bm25,
    )


class LocalBackend:
    name = "local"

    def __init__(self) -> None:
        self._index: _Index | None = None
        self._lock = threading.Lock()

    def index(self) -> _Index:
        from knowledge.services import kb_revision

        generation, revision = kb_revision()
        index = self._index
        if index is None or index.revision != revision:
            with self._lock:
                index = self._index
                if index is None or index.revision != revision:
                    index = self._index = _build_index(generation, revision)
        return index

    def retrieve(self, query, *, k=5, filters=None) -> list[Passage]:
        try:
            index = self.index()
        except Exception as exc:  # a broken index must degrade tickets, not fail them
            raise KnowledgeBackendUnavailable(f"Local index unavailable: {exc}") from exc
        if index.bm25 is None or not query.strip():
            return []
        tokens = [t for t in tokenize([query])[0] if t in index.bm25.vocab_dict]
        if not tokens:
            return []
        n = min(index.size, k * CANDIDATES_PER_RESULT)
        mask = index.mask(filters) if filters else None
        docs, scores = index.bm25.retrieve([tokens], k=n, show_progress=False, weight_mask=mask)
        passages: list[Passage] = []
        seen: set[int] = set()
        for position, score in zip(docs[0], scores[0], strict=True):
            if score <= 0:
                break
            article_id = int(index.article_ids[position])
            if article_id in seen:
                continue
            seen.add(article_id)
            passages.append(
                Passage(
                    title=index.titles[position],
                    snippet=_snippet(index.texts[position]),
                    score=round(float(score), 4),
                    source=index.sources[position],
                    passage_ref=f"chunk:{int(index.chunk_ids[position])}",
                    article_id=article_id,
                    heading_path=index.headings[position],
                )
            )
            if len(passages) == k:
                break
        return passages

    def sync(self, job: SyncJob, *, progress: Callable[[SyncJob, str], None] | None = None):
        from knowledge.services import source_documents, sync_documents

        return sync_documents(
            job, source_documents(job.source), embed=self.embedder(), progress=progress
        )

    def embedder(self) -> Embedder | None:
        """What sync uses to embed passages; None while the index is lexical only."""
        return None

    def check(self) -> BackendHealth:
        started = time.perf_counter()
        try:
            index = self.index()
        except Exception as exc:
            return BackendHealth(False, f"index unavailable: {exc}", _ms(started))
        detail = "ok" if index.size else "empty: run `manage.py kb_sync`"
        return BackendHealth(
            True,
            detail,
            _ms(started),
            {"chunks": index.size, "generation": index.generation},
        )


def _snippet(text: str) -> str:
    if len(text) <= SNIPPET_CHARS:
        return text
    cut = text.rfind(" ", 0, SNIPPET_CHARS)
    return text[: cut if cut > 0 else SNIPPET_CHARS] + "…"


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
