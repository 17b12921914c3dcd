"""Search through the int8 copy of the passages returns what scoring every passage in fp32
returns: same articles, same order, same passage each, same scores and cosines."""

import copy
import logging
import zlib

import numpy as np
import pytest

from knowledge.backends.base import get_backend
from knowledge.index import INT8_SCORING_ROWS, WEIGHTS, ChunkRecord, HybridIndex
from knowledge.int8_scoring import Int8Scorer
from knowledge.query import AGENT, CUSTOMER, TicketQuery, Turn


def reference_search(index: HybridIndex, query: TicketQuery, k: int, allowed=None):
    """`HybridIndex.search` as it was before the int8 scoring (d2333d1): every signal of every
    passage from `signals()`, fused, the best passage of each article by the fused score."""
    signals = index.signals(query)
    best = {name: index._per_article(scores) for name, scores in signals.items()}
    dense_best = np.maximum(best["dense_recent"], best["dense_focus"])
    lexical_best = np.maximum(best["bm25_title"], best["bm25_recent"])
    matched = (dense_best >= 0.2) | (lexical_best > 0)
    article_total = np.zeros(len(index.article_ids), dtype=np.float32)
    chunk_total = np.zeros(len(index.records), dtype=np.float32)
    for name, weight in WEIGHTS.items():
        per_article = best[name]
        spread = per_article.std()
        if not weight or spread < 1e-9:
            continue
        mean = per_article.mean()
        article_total += weight * (per_article - mean) / spread
        chunk_total += weight * (signals[name] - mean) / spread
    article_total[~matched] = -np.inf
    return index._top(article_total, chunk_total, k, allowed, dense_best)


def assert_same_hits(got, want):
    assert [(h.article_id, h.chunk_id) for h in got] == [(h.article_id, h.chunk_id) for h in want]
    assert np.allclose([h.score for h in got], [h.score for h in want], rtol=0, atol=1e-5)
    # fp32 rounding: with two vectors BLAS's gemm blocks a few hundred gathered rows
    # differently from all of them (a few ulps, as its one- and two-thread products differ)
    assert np.allclose([h.cosine for h in got], [h.cosine for h in want], rtol=0, atol=1e-6)


def with_int8(index: HybridIndex) -> HybridIndex:
    forced = copy.copy(index)
    forced._int8 = Int8Scorer.build(index.emb, index._starts, index._head_emb, index._head_of)
    assert forced._int8 is not None
    return forced


class FixedEncoder:
    """Query vectors drawn from a seed per text: near the passages of one article (a hit),
    near two articles at once (a close race), or anywhere."""

    def __init__(self, emb: np.ndarray, starts: np.ndarray):
        self.emb, self.starts = emb, starts

    def pool(self):
        return None

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vector(text) for text in texts])

    def _vector(self, text: str) -> np.ndarray:
        rng = np.random.default_rng(zlib.crc32(text.encode()))
        vector = rng.standard_normal(self.emb.shape[1])
        for _ in range(rng.integers(0, 3)):
            vector += 8 * self.emb[rng.integers(len(self.emb))]
        vector /= np.linalg.norm(vector)
        return vector.astype(np.float32)


@pytest.fixture(scope="module")
def synthetic():
    """INT8_SCORING_ROWS + 1,000 passages of unit vectors in articles of 1 to 90 passages,
    with exact duplicates and near-duplicates (1e-4 apart) inside articles and across them,
    passages clustered around their article's topic as KB passages are."""
    rng = np.random.default_rng(7)
    rows = INT8_SCORING_ROWS + 1000
    sizes = []
    while sum(sizes) < rows:
        sizes.append(int(rng.integers(1, 91)))
    sizes[-1] -= sum(sizes) - rows
    sizes = [size for size in sizes if size]
    emb = np.empty((rows, 384))
    start = 0
    for size in sizes:
        topic = rng.standard_normal(384)
        emb[start : start + size] = topic + rng.uniform(0.3, 2) * rng.standard_normal((size, 384))
        start += size
    for _ in range(300):  # duplicates and near-duplicates anywhere
        a, b = rng.integers(rows, size=2)
        emb[b] = emb[a] + (0 if rng.random() < 0.5 else 1e-4 * rng.standard_normal(384))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    emb = emb.astype(np.float32)
    article = np.repeat(np.arange(len(sizes)), sizes)
    words = ["refund", "delivery", "password", "invoice", "warranty", "account", "label"]
    records = [
        ChunkRecord(i, int(article[i]), f"Article {article[i]}", ["Section"], words[i % 7])
        for i in range(rows)
    ]
    # headings: 1-3 per article, some shared with another article, some near each other
    headings = rng.standard_normal((len(sizes) * 2, 384))
    headings[1::7] = headings[::7][: len(headings[1::7])] + 1e-4
    heading_of = np.empty(rows, dtype=np.int64)
    for a, (start, size) in enumerate(zip(np.r_[0, np.cumsum(sizes)[:-1]], sizes, strict=True)):
        heading_of[start : start + size] = rng.choice(
            [2 * a, 2 * a + 1, int(rng.integers(len(headings)))], size
        )
    headings = headings / np.linalg.norm(headings, axis=1, keepdims=True)
    heading_emb = headings[heading_of].astype(np.float32)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    index = HybridIndex(records, emb, FixedEncoder(emb, starts), heading_embeddings=heading_emb)
    assert index._int8 is not None
    return index


def synthetic_queries(count: int):
    rng = np.random.default_rng(11)
    words = ["refund", "delivery", "password", "invoice", "warranty", "account", "nothing"]
    queries = []
    for i in range(count):
        turns = [Turn(CUSTOMER, f"ticket {i} {rng.choice(words)}")]
        if i % 3 == 0:  # a conversation: recent ≠ focus, two vectors
            turns += [Turn(AGENT, f"reply {i}"), Turn(CUSTOMER, f"follow-up {i}")]
        queries.append(TicketQuery.of(subject=f"subject {i}", turns=turns))
    return queries


def test_search_at_scale_equals_scoring_every_passage_in_fp32(synthetic):
    fp32 = copy.copy(synthetic)
    fp32._int8 = None
    for query in synthetic_queries(300):
        want = reference_search(synthetic, query, 10)
        assert_same_hits(synthetic.search(query, k=10), want)
        assert_same_hits(fp32.search(query, k=10), want)


def test_search_at_scale_honours_allowed(synthetic):
    allowed = set(synthetic.article_ids[::3])
    for query in synthetic_queries(60):
        want = reference_search(synthetic, query, 5, allowed)
        assert_same_hits(synthetic.search(query, k=5, allowed=allowed), want)


def test_article_maxima_are_the_fp32_maxima(synthetic):
    scorer = synthetic._int8
    rng = np.random.default_rng(5)
    emb = synthetic.emb
    for count in (1, 2, 1, 2):
        # queries close to passages, where many passages of an article are near its best
        vectors = emb[rng.integers(len(emb), size=count)] + 0.05 * rng.standard_normal((count, 384))
        vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
        want = np.maximum.reduceat(emb @ vectors.T, synthetic._starts, axis=0)
        want_heading = synthetic._per_article(synthetic._heading(vectors))
        got, got_heading = scorer.maxima(vectors)
        assert np.allclose(got, want, rtol=0, atol=1e-6)
        assert np.allclose(got_heading, want_heading, rtol=0, atol=1e-6)
        # bit for bit but for the full products' 1-3 tail rows (see `_exact`)
        if count == 1 and len(emb) % 4 == 0:
            assert np.array_equal(got, want)
        tail = synthetic._head_of >= len(synthetic._head_emb) // 4 * 4
        articles = np.unique(np.searchsorted(synthetic._starts, np.flatnonzero(tail), "right") - 1)
        others = np.setdiff1d(np.arange(len(want_heading)), articles)
        assert np.array_equal(got_heading[others], want_heading[others])


def test_rows_are_the_full_products_rows(synthetic):
    vector = synthetic.emb[:1] * -1
    full = synthetic.emb @ vector.T
    rows = np.array([3, 17, 18, 400, 2001])  # not a multiple of four
    dense, heading = synthetic._int8.rows(vector)(rows)
    assert np.array_equal(dense, full[rows])
    assert np.array_equal(heading, synthetic._heading(vector)[rows])


def test_signals_stay_fp32_for_every_passage(synthetic):
    query = synthetic_queries(1)[0]
    vectors = synthetic.encoder.encode_queries([query.parts().recent, query.parts().focus])
    signals = synthetic.signals(query)
    assert np.array_equal(signals["dense_recent"], (synthetic.emb @ vectors.T)[:, 0])
    assert np.array_equal(signals["dense_focus"], (synthetic.emb @ vectors.T)[:, 1])


def test_small_index_scores_in_fp32():
    emb = np.eye(384, dtype=np.float32)[:10]
    records = [ChunkRecord(i, i, f"Article {i}", [], "text") for i in range(10)]
    index = HybridIndex(records, emb, FixedEncoder(emb, np.arange(10)))
    assert INT8_SCORING_ROWS > 10
    assert index._int8 is None


def test_without_onnx_runtime_session_search_scores_in_fp32(synthetic, monkeypatch, caplog):
    import onnxruntime

    def refuse(*args, **kwargs):
        raise RuntimeError("no session")

    monkeypatch.setattr(onnxruntime, "InferenceSession", refuse)
    with caplog.at_level(logging.WARNING, logger="knowledge.int8_scoring"):
        index = HybridIndex(
            synthetic.records,
            synthetic.emb,
            synthetic.encoder,
            heading_embeddings=synthetic._head_emb[synthetic._head_of],
        )
    assert index._int8 is None
    assert "scoring in fp32" in caplog.text
    query = synthetic_queries(2)[1]
    assert_same_hits(index.search(query, k=5), reference_search(synthetic, query, 5))


def test_a_failing_int8_run_falls_back_to_fp32(synthetic, caplog):
    index = copy.copy(synthetic)
    index._int8 = copy.copy(synthetic._int8)
    index._int8._session = None  # .run raises AttributeError
    query = synthetic_queries(2)[1]
    with caplog.at_level(logging.WARNING, logger="knowledge.index"):
        hits = index.search(query, k=5)
    assert_same_hits(hits, reference_search(synthetic, query, 5))
    assert index._int8 is None
    assert "int8 passage scoring failed" in caplog.text


@pytest.mark.django_db
def test_search_on_the_sample_kb_equals_scoring_every_passage_in_fp32():
    index = get_backend().index().hybrid
    forced = with_int8(index)
    texts = sorted({r.text for r in index.records})[:120]
    queries = [TicketQuery.of(subject="", turns=[Turn(CUSTOMER, text)]) for text in texts]
    queries += [
        TicketQuery.of(
            subject=a[:40],
            turns=[Turn(CUSTOMER, a), Turn(AGENT, "Thanks, checking."), Turn(CUSTOMER, b)],
        )
        for a, b in zip(texts[::2], texts[1::2], strict=False)
    ]
    for query in queries:
        want = reference_search(index, query, 10)
        assert_same_hits(forced.search(query, k=10), want)
        assert_same_hits(index.search(query, k=10), want)


def test_the_hand_written_graph_is_the_onnx_helpers_graph():
    from onnx import TensorProto, checker, helper, load_from_string, numpy_helper

    from knowledge.int8_scoring import _ZERO, _graph

    rng = np.random.default_rng(1)
    codes = rng.integers(-127, 128, (300, 384)).astype(np.int8)
    scale, lost, approx_norm = rng.random((3, 300)).astype(np.float32)
    floats = TensorProto.FLOAT

    def const(name, values):
        return numpy_helper.from_array(np.ascontiguousarray(values), name)

    node = helper.make_node
    graph = helper.make_graph(
        [
            node("MatMulInteger", ["a", "codes", "zero"], ["acc"]),
            node("Cast", ["acc"], ["acc_float"], to=floats),
            node("MatMul", ["w", "acc_float"], ["combined"]),
            node("Mul", ["combined", "scale"], ["approx"]),
            node("MatMul", ["norms", "per_row"], ["bound"]),
            node("Sub", ["approx", "bound"], ["lower"]),
            node("Add", ["approx", "bound"], ["upper"]),
        ],
        "passages_int8",
        [
            helper.make_tensor_value_info("a", TensorProto.UINT8, ["m2", 384]),
            helper.make_tensor_value_info("w", floats, ["m", "m2"]),
            helper.make_tensor_value_info("norms", floats, ["m", 2]),
        ],
        [
            helper.make_tensor_value_info("lower", floats, ["m", 300]),
            helper.make_tensor_value_info("upper", floats, ["m", 300]),
        ],
        [
            const("codes", codes.T),
            const("zero", np.array(_ZERO, dtype=np.uint8)),
            const("scale", scale),
            const("per_row", np.stack((lost, approx_norm))),
        ],
    )
    want = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    want.ir_version = 8

    got = load_from_string(_graph(codes, scale, lost, approx_norm))

    checker.check_model(got, full_check=True)
    assert got == want
