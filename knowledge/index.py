"""Hybrid retrieval (BM25 + embeddings) over KB passages. Django-free.

A query is a ticket (knowledge.query.TicketQuery): a subject and cleaned messages, the latest
customer message being the focus. Five signals are scored per passage from its three views
(weights in WEIGHTS):

    dense_focus    MiniLM(focus) · passage
    dense_recent   MiniLM(recent: the turn before the focus + the focus) · passage
    dense_heading  MiniLM(recent) · the passage's headings alone ("title > section"): an FAQ-style
                   heading is often the customer's question in other words
    bm25_title     BM25 over the title+headings field, query = the whole ticket
    bm25_recent    BM25 over title+headings+text, query = recent

A one-message ticket's focus and recent views are the same text (its subject and message), so
it costs one encoder pass. Each signal is collapsed to articles (best passage), z-normalised
across all articles and summed with the weights; the same affine map at passage level picks
each article's snippet. Embeddings come from `knowledge.encoder` (passages' stored at sync,
queries' at search). From INT8_SCORING_ROWS passages, `search` finds each article's best cosine
through an int8 copy of the passages (knowledge/int8_scoring.py) and scores in fp32 only the
passages that can be an article's best and those of the articles it returns: the same values
as scoring every passage, which `signals()` still does.

Every constant below was chosen on the development splits of the evaluation sets in
../shared/eval with ONE configuration for all three query shapes (grid search, bench/
fusion_sweep.py; the table is in knowledge/RETRIEVAL.md), inside a flat region of the grid so
that it holds on held-out queries. Nothing depends on particular queries or on which set runs.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import bm25s
import numpy as np

from knowledge.encoder import EMBED_DIM, Encoder
from knowledge.int8_scoring import Int8Scorer
from knowledge.query import QueryParts, TicketQuery

logger = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG when imported

# What bm25s.tokenize does with its defaults (lower case, this pattern, English stopwords), for
# one query at a time: the library call builds progress bars and id maps per call (0.053 against
# 0.010 ms of thread CPU per query); tests/knowledge/test_query_tokens.py proves equal tokens.
_WORDS = re.compile(r"(?u)\b\w\w+\b").findall
_STOPWORDS = frozenset(bm25s.stopwords.STOPWORDS_EN)

# Lucene BM25 defaults (not tuned), English stop words, Snowball stemming.
BM25_K1 = 1.2
BM25_B = 0.75

# Fusion weights on z-normalised article scores (grid {0, .1, .25, .5, .75, 1, 1.5, 2}).
WEIGHTS = {
    "dense_focus": 1.0,
    "dense_recent": 1.0,
    "dense_heading": 1.0,
    "bm25_title": 0.375,
    "bm25_recent": 0.25,
}
SIGNALS = tuple(WEIGHTS)

# An article is only suggested if something matches at all: a query word (BM25 > 0) or a
# passage at least this close in meaning. MiniLM puts unrelated texts at cosine ≈ 0-0.15; the
# floor removes noise-only answers (a gibberish ticket) and changes no eval metric.
MIN_DENSE_COSINE = 0.2
SPLIT_SCORING_ROWS = 2048  # below this one thread scores every passage faster
# From this many passages `search` finds each article's best cosine through an int8 copy of the
# passages (knowledge/int8_scoring.py; the same values, about half the CPU of the fp32 product
# at 10k passages); below ~3k the fp32 product costs less (bench/int8_scoring_ab.py --rows).
INT8_SCORING_ROWS = 4096


@dataclass(frozen=True)
class ChunkRecord:
    chunk_id: int
    article_id: int
    title: str
    heading_path: list[str]  # sections below the title
    text: str


@dataclass(frozen=True)
class Hit:
    article_id: int
    chunk_id: int
    score: float
    record: ChunkRecord = field(repr=False)
    # The article's best passage cosine to the ticket (the dense signal the MIN_DENSE_COSINE
    # floor reads); None from the baselines.
    cosine: float | None = None


class HybridIndex:
    """In-memory index over chunk records and their stored embeddings (never re-encoded)."""

    def __init__(
        self,
        records: list[ChunkRecord],
        embeddings: np.ndarray,
        encoder: Encoder,
        *,
        heading_embeddings: np.ndarray | None = None,
    ):
        import Stemmer

        emb = np.ascontiguousarray(embeddings, dtype=np.float32)
        if emb.shape != (len(records), EMBED_DIM):
            raise ValueError(f"embeddings {emb.shape} do not match {len(records)} chunks")
        self.encoder = encoder
        # Chunks grouped by article so a per-article maximum is one reduceat.
        article_of = [r.article_id for r in records]
        self.article_ids = list(dict.fromkeys(article_of))
        position = {a: i for i, a in enumerate(self.article_ids)}
        order = sorted(range(len(records)), key=lambda i: position[article_of[i]])
        self.records = [records[i] for i in order]
        self.emb = emb[order]
        # Headings repeat across an article's passages: score each distinct one once.
        self._head_emb, self._head_of = _distinct_rows(
            None if heading_embeddings is None else heading_embeddings[order], len(records)
        )
        chunk_article = np.array([position[r.article_id] for r in self.records], dtype=np.int64)
        self._starts = np.r_[0, np.flatnonzero(np.diff(chunk_article)) + 1].astype(np.int64)
        self._position = position
        self._int8 = None
        if len(self.emb) >= INT8_SCORING_ROWS:
            self._int8 = Int8Scorer.build(self.emb, self._starts, self._head_emb, self._head_of)
        self._stemmer = Stemmer.Stemmer("english")
        self._bm25 = self._bm25_over(
            [f"{r.title}\n{' '.join(r.heading_path)}\n{r.text}" for r in self.records]
        )
        self._bm25_title = self._bm25_over(
            [f"{r.title}\n{' '.join(r.heading_path)}" for r in self.records]
        )

    def __len__(self) -> int:
        return len(self.records)

    def _bm25_over(self, texts: list[str]):
        model = bm25s.BM25(method="lucene", k1=BM25_K1, b=BM25_B)
        if texts:
            model.index(self._tokenize(texts), show_progress=False)
        return model

    def _tokenize(self, texts: list[str]):
        return bm25s.tokenize(
            texts,
            stopwords="en",
            stemmer=self._stemmer,
            return_ids=True,
            show_progress=False,
        )

    def _query_tokens(self, text: str) -> list[str]:
        """The tokens `bm25s.tokenize` gives `text` with `_tokenize`'s options (as strings),
        without the library's per-call overhead."""
        words = [word for word in _WORDS(text.lower()) if word not in _STOPWORDS]
        return self._stemmer.stemWords(words) if words else []

    def _bm25_scores(self, model, tokens: list[str]) -> np.ndarray:
        known = [t for t in tokens if t in model.vocab_dict]
        if not known:
            return np.zeros(len(self.records), dtype=np.float32)
        return np.asarray(model.get_scores(known), dtype=np.float32)

    def _per_article(self, chunk_scores: np.ndarray) -> np.ndarray:
        return np.maximum.reduceat(chunk_scores, self._starts)

    def _top(
        self, article_scores, chunk_scores, k: int, allowed: set[int] | None, cosines=None
    ) -> list[Hit]:
        """The k best articles, each with its best passage by `chunk_scores`: an array over
        all passages, or a function of passage positions giving theirs (only the returned
        articles' passages are asked for)."""
        if allowed is not None:
            mask = np.zeros(len(self.article_ids), dtype=bool)
            mask[[self._position[a] for a in allowed if a in self._position]] = True
            article_scores = np.where(mask, article_scores, -np.inf)
        k = min(k, len(article_scores))
        if k <= 0:
            return []
        top = np.argpartition(-article_scores, k - 1)[:k]
        top = top[np.argsort(-article_scores[top], kind="stable")]
        finite = np.isfinite(article_scores[top])
        top = [int(a) for a in top[: len(top) if finite.all() else int(np.argmin(finite))]]
        if not top:
            return []
        bounds = [(self._starts[a], self._end(a)) for a in top]
        rows = np.concatenate([np.arange(lo, hi) for lo, hi in bounds])
        scores = chunk_scores(rows) if callable(chunk_scores) else chunk_scores[rows]
        hits = []
        offset = 0
        for a, (lo, hi) in zip(top, bounds, strict=True):
            best = lo + int(np.argmax(scores[offset : offset + hi - lo]))
            offset += hi - lo
            record = self.records[best]
            cosine = None if cosines is None else float(cosines[a])
            hits.append(
                Hit(record.article_id, record.chunk_id, float(article_scores[a]), record, cosine)
            )
        return hits

    def _end(self, a: int) -> int:
        return int(self._starts[a + 1]) if a + 1 < len(self._starts) else len(self.records)

    def _dense(self, vectors: np.ndarray) -> np.ndarray:
        """Cosines of every passage to each vector. Reading the matrix is the cost (memory
        bound, ~15 MB at 10k passages), so with a spare thread each half is read by one."""
        pool = self.encoder.pool()
        rows = len(self.emb)
        if pool is None or rows < SPLIT_SCORING_ROWS:
            return self.emb @ vectors.T
        out = np.empty((rows, len(vectors)), dtype=np.float32)
        half = rows // 2
        later = pool.submit(np.matmul, self.emb[half:], vectors.T, out=out[half:])
        np.matmul(self.emb[:half], vectors.T, out=out[:half])
        later.result()
        return out

    def signals(self, query: TicketQuery) -> dict[str, np.ndarray]:
        """Per-chunk raw scores of every signal (for analysis and debugging). Every passage is
        scored in fp32 here; `search` gets the same per-article maxima without that."""
        parts = query.parts()
        lexical, vectors = self._lexical_and_vectors(parts)
        dense = self._dense(vectors)
        return {
            "dense_focus": dense[:, -1],
            "dense_recent": dense[:, 0],
            "dense_heading": self._heading(vectors),
            **lexical(),
        }

    def _lexical_and_vectors(self, parts: QueryParts):
        """The query vectors (recent, then focus if it is another text) and a function giving
        the lexical signals, computed on the spare thread while the encoder runs."""
        pool = self.encoder.pool()
        lexical = pool.submit(self._lexical, parts) if pool is not None else None
        # One pass when recent == focus (a one-message ticket): encode_queries de-duplicates.
        vectors = self.encoder.encode_queries([parts.recent, parts.focus])
        if parts.recent == parts.focus:
            vectors = vectors[:1]
        return (lexical.result if lexical is not None else lambda: self._lexical(parts)), vectors

    def _heading(self, vectors: np.ndarray) -> np.ndarray:
        return (self._head_emb @ vectors[0])[self._head_of]

    def _dense_best(self, vectors: np.ndarray):
        """Each article's best passage cosine to each vector (articles, m) and best heading
        cosine to the first (articles,), and a function of passage positions giving theirs,
        all as the fp32 products `_dense` and `_heading` give them."""
        if self._int8 is not None:
            try:
                return (*self._int8.maxima(vectors), self._int8.rows(vectors))
            except Exception:  # noqa: BLE001 - never fail a search over an optimisation
                logger.warning("int8 passage scoring failed; scoring in fp32", exc_info=True)
                self._int8 = None
        dense = self._dense(vectors)
        heading = self._heading(vectors)
        return (
            np.maximum.reduceat(dense, self._starts, axis=0),
            self._per_article(heading),
            lambda rows: (dense[rows], heading[rows]),
        )

    def _lexical(self, parts: QueryParts) -> dict[str, np.ndarray]:
        recent = self._query_tokens(parts.recent)
        full = recent if parts.full == parts.recent else self._query_tokens(parts.full)
        return {
            "bm25_title": self._bm25_scores(self._bm25_title, full),
            "bm25_recent": self._bm25_scores(self._bm25, recent),
        }

    def search(
        self, query: TicketQuery, k: int = 5, *, allowed: set[int] | None = None
    ) -> list[Hit]:
        if query.is_empty():
            return []
        parts = query.parts()
        if not self.records:
            # Nothing to search, but the ticket's vector is still read from the encoder's
            # cache (similar tickets store it, triage reads it): one pass, as with a KB, so
            # a helpdesk whose KB is still empty finds its duplicates and incidents too.
            self.encoder.encode_queries([parts.recent, parts.focus])
            return []
        lexical, vectors = self._lexical_and_vectors(parts)
        # Each article's best cosine, exactly; a passage's own only for the articles returned.
        maxima, heading_best, dense_rows = self._dense_best(vectors)
        signals = lexical()
        best = {name: self._per_article(scores) for name, scores in signals.items()}
        best["dense_focus"] = maxima[:, -1]
        best["dense_recent"] = maxima[:, 0]
        best["dense_heading"] = heading_best
        dense_best = np.maximum(best["dense_recent"], best["dense_focus"])  # passages only
        lexical_best = np.maximum(best["bm25_title"], best["bm25_recent"])
        matched = (dense_best >= MIN_DENSE_COSINE) | (lexical_best > 0)
        article_total = np.zeros(len(self.article_ids), dtype=np.float32)
        used = []
        for name, weight in WEIGHTS.items():
            per_article = best[name]
            spread = per_article.std()
            if not weight or spread < 1e-9:
                continue  # a signal that does not discriminate adds nothing
            mean = per_article.mean()
            article_total += weight * (per_article - mean) / spread
            used.append((name, weight, mean, spread))
        article_total[~matched] = -np.inf

        def chunk_total(rows: np.ndarray) -> np.ndarray:
            dense, heading = dense_rows(rows)
            at = {
                "dense_recent": dense[:, 0],
                "dense_focus": dense[:, -1],
                "dense_heading": heading,
            }
            total = np.zeros(len(rows), dtype=np.float32)
            for name, weight, mean, spread in used:
                scores = at[name] if name in at else signals[name][rows]
                total += weight * (scores - mean) / spread
            return total

        return self._top(article_total, chunk_total, k, allowed, dense_best)

    def search_bm25(self, query: str, k: int = 5, *, allowed: set[int] | None = None):
        """Baseline: plain BM25 over title+headings+text, the whole query."""
        if not self.records or not query.strip():
            return []
        scores = self._bm25_scores(self._bm25, self._query_tokens(query))
        hits = self._top(self._per_article(scores), scores, k, allowed)
        return [hit for hit in hits if hit.score > 0]

    def search_dense(self, query: str, k: int = 5, *, allowed: set[int] | None = None):
        """Baseline: the whole query embedded once."""
        if not self.records or not query.strip():
            return []
        scores = self.emb @ self.encoder.encode_query(query)
        hits = self._top(self._per_article(scores), scores, k, allowed)
        return [hit for hit in hits if hit.score >= MIN_DENSE_COSINE]


def _distinct_rows(matrix: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows, row index of each of the n records). Without a matrix: one zero row, so
    the signal is constant and adds nothing to the fusion."""
    if matrix is None or not n:
        return np.zeros((1, EMBED_DIM), dtype=np.float32), np.zeros(n, dtype=np.int64)
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if matrix.shape != (n, EMBED_DIM):
        raise ValueError(f"heading embeddings {matrix.shape} do not match {n} chunks")
    distinct, index = np.unique(matrix, axis=0, return_inverse=True)
    return np.ascontiguousarray(distinct), index.reshape(-1).astype(np.int64)
