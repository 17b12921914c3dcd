"""Exact per-article maxima of passage cosines, found through an int8 copy of the passages.
Django-free.

`HybridIndex.search` needs, for every article, the best cosine of its passages to each query
vector (fusion, the MIN_DENSE_COSINE floor), and every passage's cosine only for the few
articles it returns (their snippet). Reading the fp32 passage matrix for each query is memory
bound (16 MB at 10k passages, ~1.3 ms of CPU). This module reads a quarter of that instead and
still returns the fp32 maxima, the values `emb[rows] @ vectors.T` gives:

1. At build: each passage row e is stored as int8 with its own scale, ẽ = scale · int8(e), and
   the norm of what that loses, ||e - ẽ||. ONNX Runtime multiplies by the int8 matrix
   (`MatMulInteger`, the matrix an initializer, so it is prepacked once).
2. Per query vector q: q is quantised here in two 7-bit levels, q̃ = s1·a1 + s2·a2, so its
   remainder η = q - q̃ is known and tiny; one run of the int8 product (both levels, and both
   vectors of a conversation, as rows of one matrix) gives s̃ = ẽ·q̃, and

       |fl(e·q) - s̃| ≤ ||e - ẽ||·||q|| + ||ẽ||·||η|| + γ384·||e||·||q|| + rounding  =: b

   (e·q - ẽ·q̃ = (e - ẽ)·q + ẽ·η, then Cauchy-Schwarz; γ384 bounds fp32 summation of 384
   terms in any order; the rest is a relative slack for computing s̃ and b in fp32).
3. Per article, L = max(s̃ - b) over its passages; a passage with s̃ + b < L cannot be the
   article's best. The others (≈ 3 % of passages at 10k) are scored in fp32, and their maximum
   is the article's maximum.

The distinct heading vectors ("title > section", 1,733 at 10k passages) are rows of the same
int8 matrix: the same run bounds their cosines to the first query vector, and each article's
best heading is found the same way over its distinct headings.

The bound holds for any summation order, so the candidates always include each article's best
row whatever BLAS kernel scores them. Their fp32 scores come from the call shape the full
product uses: with one vector bit for bit the full product's values (see `_exact`), with two
within a few fp32 ulps of them (tests/knowledge/test_int8_scoring.py).
"""

from __future__ import annotations

import logging
import math

import numpy as np

logger = logging.getLogger(__name__)

_SLACK = 4e-6  # relative to ||ẽ||·||q||: rounding in s̃ (3 products), b and s̃ ± b
# The query's codes are 7-bit (uint8 63 ± 63, steps of max|q|/63): on x86 without VNNI, ONNX
# Runtime multiplies uint8 by int8 with VPMADDUBSW, which saturates a pair of products at
# 32,767; 126·127·2 fits, 255·127·2 would not. Each session is also checked when built.
_ZERO = 63
_BUILD_BLOCK = 1024


class Int8Scorer:
    """Built once per passage matrix (per KB generation); `build` returns None when ONNX
    Runtime cannot make the session, and the caller keeps the fp32 product.

    With the distinct heading vectors (`heads`, and `head_of` each passage's), the same run
    also bounds their cosines to the first query vector, and `maxima` gives each article's
    best heading cosine too, found the same way over the article's distinct headings."""

    def __init__(self, emb: np.ndarray, starts: np.ndarray, heads: np.ndarray, session):
        self.emb = emb  # the fp32 rows, grouped by article (not copied)
        self.heads = heads
        self._starts = starts
        self._session = session
        self._articles = len(starts)

    @classmethod
    def build(
        cls, emb: np.ndarray, starts: np.ndarray, heads: np.ndarray, head_of: np.ndarray
    ) -> Int8Scorer | None:
        try:
            return cls._build(emb, starts, heads, head_of)
        except Exception:  # noqa: BLE001 - any ORT/onnx failure: score in fp32, as before
            logger.warning("int8 passage scoring unavailable; scoring in fp32", exc_info=True)
            return None

    @classmethod
    def _build(cls, emb, starts, heads, head_of) -> Int8Scorer:
        import onnxruntime as ort

        rows = len(emb)
        sizes = np.diff(np.r_[starts, rows])
        article_of = np.repeat(np.arange(len(starts)), sizes)
        # Each article's distinct headings, grouped by article: (article, heading) pairs.
        pairs = np.unique(article_of * len(heads) + head_of)
        pair_article, pair_head = np.divmod(pairs, len(heads))
        parts = zip(_quantised_rows(emb), _quantised_rows(heads), strict=True)
        session = ort.InferenceSession(
            _graph(*(np.concatenate(part) for part in parts)),
            _options(ort),
            providers=["CPUExecutionProvider"],
        )
        scorer = cls(emb, starts, heads, session)
        scorer._article_of = article_of
        scorer._sizes = sizes
        scorer._head_of = head_of
        scorer._pair_head = pair_head
        scorer._pair_article = pair_article
        scorer._pair_starts = np.flatnonzero(np.diff(pair_article, prepend=-1))
        scorer._pair_sizes = np.diff(np.r_[scorer._pair_starts, len(pairs)])
        scorer._check()
        return scorer

    def _check(self) -> None:
        """Raise unless the bounds hold on every row for probe vectors: random ones, and one
        with the signs of the first row (the largest int8 products, where a saturating
        kernel would go wrong)."""
        rng = np.random.default_rng(0)
        probes = rng.standard_normal((3, self.emb.shape[1]))
        probes[0] = np.where(self.emb[0] < 0, -1.0, 1.0)
        probes = (probes / np.linalg.norm(probes, axis=1, keepdims=True)).astype(np.float32)
        for vectors in (probes[:1], probes[1:]):
            lower, upper = self._bounds(vectors)
            exact = np.concatenate((self.emb @ vectors.T, self.heads @ vectors.T)).T
            if not ((lower <= exact).all() and (exact <= upper).all()):
                raise RuntimeError("int8 session's bounds do not hold on the probe vectors")

    def maxima(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(articles, len(vectors)): each article's maximum of `emb[rows] @ vectors.T` over
        its rows, and (articles,): its maximum of `heads @ vectors[0]` over its headings, both
        exactly. Falls back to the full fp32 products if the bounds leave an article without
        a candidate (only possible with NaN in the input)."""
        lower, upper = self._bounds(vectors)
        n = len(self.emb)
        passages = self._best(
            lower[:, :n],
            upper[:, :n],
            self._starts,
            self._sizes,
            self._article_of,
            lambda rows: _exact(self.emb, rows, vectors),
        )
        head_rows = self._pair_head + n
        headings = self._best(
            lower[:1, head_rows],
            upper[:1, head_rows],
            self._pair_starts,
            self._pair_sizes,
            self._pair_article,
            lambda pairs: _exact(self.heads, self._pair_head[pairs], vectors[0])[:, None],
        )
        if passages is None or headings is None:  # only with NaN in the input
            passages = np.maximum.reduceat(self.emb @ vectors.T, self._starts, axis=0)
            headings = np.maximum.reduceat((self.heads @ vectors[0])[self._head_of], self._starts)[
                :, None
            ]
        return passages, headings[:, 0]

    def _best(self, lower, upper, starts, sizes, article_of, exact) -> np.ndarray | None:
        """Per article (segments `starts` of the items), the maximum of the exact scores of
        the items whose upper bound reaches the article's greatest lower bound."""
        floor = np.maximum.reduceat(lower, starts, axis=1)
        keep = upper >= np.repeat(floor, sizes, axis=1)
        candidates = np.flatnonzero(keep.any(axis=0) if len(keep) > 1 else keep[0])
        groups = np.flatnonzero(np.diff(article_of[candidates], prepend=-1))
        if len(groups) != self._articles:
            return None
        return np.maximum.reduceat(exact(candidates), groups, axis=0)

    def _bounds(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(m, passages + headings) lower and upper bounds on each row's fp32 cosine to each
        vector."""
        a, w, norms = _quantise(vectors)
        return self._session.run(None, {"a": a, "w": w, "norms": norms})

    def rows(self, vectors: np.ndarray):
        """A function of passage positions giving their fp32 cosines to `vectors` (len, m)
        and their headings' to `vectors[0]` (len,)."""
        return lambda positions: (
            _exact(self.emb, positions, vectors),
            _exact(self.heads, self._head_of[positions], vectors[0]),
        )


def _exact(matrix: np.ndarray, positions: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """`matrix[positions] @ vectors.T`, in the call shape the full product is made with
    (`_heading` multiplies by one 1-D vector, `_dense` by a matrix). With one vector, the rows
    are padded to a multiple of four so that OpenBLAS's gemv scores every one with its main
    4-row kernel, as it scores all but the last n % 4 rows of the full product: each value is
    then bit for bit the full product's. Its 1-3 tail rows, and with two vectors gemm's
    blocking of a few hundred rows, differ by a few fp32 ulps (≤ 6e-7 seen), as the full
    product's one- and two-thread forms already differ from each other."""
    one = vectors.ndim == 1 or len(vectors) == 1
    pad = -len(positions) % 4 if one and len(positions) else 0
    if pad:
        positions = np.r_[positions, np.repeat(positions[-1], pad)]
    out = matrix[positions] @ vectors.T
    return out[: len(out) - pad] if pad else out


def _quantised_rows(matrix: np.ndarray):
    """Each row e as ẽ = scale·codes (int8, per-row scale), with what multiplies ||q|| in the
    bound, ||e - ẽ|| + γ·||e||, and ||ẽ||, both rounded up. float64 a block at a time: a
    small peak."""
    rows, dim = matrix.shape
    gamma = dim * 2.0**-24 / (1 - dim * 2.0**-24)  # an fp32 dot product's error, any order
    scale = np.empty(rows, dtype=np.float32)
    codes = np.empty((rows, dim), dtype=np.int8)
    lost = np.empty(rows)
    approx_norm = np.empty(rows)
    for lo in range(0, rows, _BUILD_BLOCK):
        block = matrix[lo : lo + _BUILD_BLOCK].astype(np.float64)
        hi = lo + len(block)
        scale[lo:hi] = np.abs(block).max(axis=1) / 127
        scale[lo:hi][scale[lo:hi] == 0] = 1  # an all-zero row: int8 zeros, nothing lost
        ints = np.clip(np.rint(block / scale[lo:hi, None]), -127, 127)
        codes[lo:hi] = ints
        approx = ints * scale[lo:hi, None].astype(np.float64)  # ẽ, exactly (8 + 24 bits)
        approx_norm[lo:hi] = np.linalg.norm(approx, axis=1)
        lost[lo:hi] = np.linalg.norm(block - approx, axis=1)
        lost[lo:hi] += gamma * np.linalg.norm(block, axis=1)
    return codes, scale, _up(lost), _up(approx_norm)


def _up(values: np.ndarray) -> np.ndarray:
    """float64 → float32, never rounded down (a bound must not shrink)."""
    return (values * (1 + 2.0**-20)).astype(np.float32)


def _options(ort):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # memory bound: a second thread buys little
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _quantise(vectors: np.ndarray):
    """Each vector q as s1·a1 + s2·a2 + η: a1, a2 integers in [-63, 63] (sent as uint8 + 63),
    s1 = max|q|/63 and s2 = s1/126 fp32 values (|q - s1·a1| ≤ s1/2 = 63·s2), all products and
    differences exact in float64. Returns the codes (2m, dim) (rows a1[0], a2[0], a1[1], …),
    the weights (m, 2m) that combine a vector's two rows of int8 products (s1, s2 on its own
    pair), and per vector (||q||, ||η|| + slack·||q||) as (m, 2), rounded up. As few numpy
    calls as can be: at m ≤ 2 their overhead is the cost."""
    q = vectors.astype(np.float64)
    m, dim = q.shape
    s1 = np.maximum(np.abs(q).max(axis=1) / _ZERO, 1e-30).astype(np.float32)
    scales = np.stack((s1, s1 / np.float32(2 * _ZERO)), axis=1).astype(np.float64)
    a1 = np.rint(q / scales[:, :1])
    rest = q - a1 * scales[:, :1]
    a2 = np.rint(rest / scales[:, 1:])
    eta = rest - a2 * scales[:, 1:]
    codes = (np.concatenate((a1, a2), axis=1) + _ZERO).astype(np.uint8).reshape(2 * m, dim)
    weights = np.zeros((m, 2 * m), dtype=np.float32)
    norms = np.empty((m, 2))
    for i in range(m):
        weights[i, 2 * i : 2 * i + 2] = scales[i]
        q_norm = math.sqrt(q[i] @ q[i])
        norms[i] = q_norm, math.sqrt(eta[i] @ eta[i]) + _SLACK * q_norm
    return codes, weights, _up(norms)


def _graph(codes, scale, lost, approx_norm) -> bytes:
    """The ONNX model: (a, w, norms) from `_quantise` in, (lower, upper) (m, rows) out:
    s̃ = scale·(w @ acc), acc = a·codes exact in int32 and in fp32 (|acc| ≤ 384·63·127 <
    2^24); b = norms @ (lost, ||ẽ||) = lost·||q|| + ||ẽ||·(||η|| + _SLACK·||q||); s̃ ∓ b.

    Written as protobuf here rather than with the onnx package, whose import costs a serving
    process ~15 MB of RSS (the tests parse it with onnx and compare)."""
    rows, dim = codes.shape
    graph = b"".join(
        [
            _node("MatMulInteger", ["a", "codes", "zero"], ["acc"]),
            _node("Cast", ["acc"], ["acc_float"], to=_FLOAT),
            _node("MatMul", ["w", "acc_float"], ["combined"]),
            _node("Mul", ["combined", "scale"], ["approx"]),
            _node("MatMul", ["norms", "per_row"], ["bound"]),
            _node("Sub", ["approx", "bound"], ["lower"]),
            _node("Add", ["approx", "bound"], ["upper"]),
            _field(2, "passages_int8"),
            _field(5, _tensor("codes", codes.T)),
            _field(5, _tensor("zero", np.array(_ZERO, dtype=np.uint8))),
            _field(5, _tensor("scale", scale)),
            _field(5, _tensor("per_row", np.stack((lost, approx_norm)))),
            _field(11, _value("a", _UINT8, ["m2", dim])),
            _field(11, _value("w", _FLOAT, ["m", "m2"])),
            _field(11, _value("norms", _FLOAT, ["m", 2])),
            _field(12, _value("lower", _FLOAT, ["m", rows])),
            _field(12, _value("upper", _FLOAT, ["m", rows])),
        ]
    )
    opset = _field(1, "") + _field(2, 17)
    return _field(1, 8) + _field(7, graph) + _field(8, opset)  # IR version 8, opset 17


# The few pieces of ONNX's protobuf schema (onnx/onnx.proto) the graph above uses.
_FLOAT, _UINT8, _INT8 = 1, 2, 3
_TYPES = {np.dtype(np.float32): _FLOAT, np.dtype(np.uint8): _UINT8, np.dtype(np.int8): _INT8}


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, value: int | str | bytes) -> bytes:
    """One protobuf field: an int as a varint, a string or message length-delimited."""
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _node(op: str, inputs: list[str], outputs: list[str], **ints: int) -> bytes:
    """A GraphProto.node: NodeProto(input=1, output=2, op_type=4, attribute=5) with INT (2)
    attributes AttributeProto(name=1, i=3, type=20)."""
    parts = [_field(1, name) for name in inputs] + [_field(2, name) for name in outputs]
    parts.append(_field(4, op))
    parts += [_field(5, _field(1, k) + _field(3, v) + _field(20, 2)) for k, v in ints.items()]
    return _field(1, b"".join(parts))


def _tensor(name: str, array: np.ndarray) -> bytes:
    """TensorProto(dims=1, data_type=2, name=8, raw_data=9), little-endian."""
    array = np.ascontiguousarray(array)
    dims = b"".join(_field(1, d) for d in array.shape)
    return dims + _field(2, _TYPES[array.dtype]) + _field(8, name) + _field(9, array.tobytes())


def _value(name: str, elem_type: int, dims: list[int | str]) -> bytes:
    """ValueInfoProto(name=1, type=2): TypeProto.tensor_type(elem_type=1, shape=2), each
    dimension a dim_value (1) or a dim_param (2)."""
    shape = b"".join(_field(1, _field(1, d) if isinstance(d, int) else _field(2, d)) for d in dims)
    return _field(1, name) + _field(2, _field(1, _field(1, elem_type) + _field(2, shape)))
