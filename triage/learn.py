"""The numbers behind triage, numpy only (training and inference), Django-free.

- `Lexicon`: word (1-2) and character (2-5, within words) n-grams, TF-IDF weighted (sublinear
  tf, smooth idf, each block L2-normalised), as a `Sparse` row matrix.
- `Sparse`: a CSR matrix with the two products logistic regression and nearest-neighbour
  scoring need (no scipy: the Lambda package stays small).
- `softmax_fit`: multinomial logistic regression with L2, by L-BFGS.
- `max_similarity`: per class, the best cosine between a text and that class's examples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from triage.text import grams as _grams
from triage.text import has_words, normalise

# has_words and normalise are read here by the classifier; they live in triage.text (no numpy).
__all__ = [
    "Lexicon",
    "Sparse",
    "has_words",
    "lbfgs",
    "log_softmax",
    "max_similarity",
    "normalise",
    "softmax_fit",
]


@dataclass
class Sparse:
    """Rows of a sparse matrix (CSR): row i is data[indptr[i]:indptr[i+1]] at columns
    indices[...]."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n_cols: int

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    def rows(self, which: np.ndarray) -> Sparse:
        starts, ends = self.indptr[which], self.indptr[which + 1]
        lengths = ends - starts
        take = _ranges(starts, lengths)
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return Sparse(indptr, self.indices[take], self.data[take], self.n_cols)

    def row_ids(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_rows), np.diff(self.indptr))

    def dot(self, dense: np.ndarray) -> np.ndarray:
        """self @ dense (n_cols × k) → n_rows × k."""
        k = dense.shape[1]
        out = np.zeros(self.n_rows * k, dtype=np.float64)
        rows = self.row_ids() * k
        step = max(1, 4_000_000 // max(1, k))  # bounded temporary memory
        for lo in range(0, len(self.indices), step):
            hi = lo + step
            product = dense[self.indices[lo:hi]] * self.data[lo:hi, None]
            flat = (rows[lo:hi, None] + np.arange(k)).ravel()
            out += np.bincount(flat, product.ravel(), minlength=len(out))
        return out.reshape(self.n_rows, k).astype(np.float32)

    def transpose(self) -> Sparse:
        order = np.argsort(self.indices, kind="stable")
        counts = np.bincount(self.indices, minlength=self.n_cols)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return Sparse(indptr, self.row_ids()[order], self.data[order], self.n_rows)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated aranges [s, s+len) for each start (vectorised)."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.arange(total, dtype=np.int64) + offsets


class Lexicon:
    """TF-IDF over word 1-2-grams and character 2-5-grams (a vocabulary learned from training
    texts; grams seen once are dropped when there are enough texts)."""

    def __init__(self, vocabulary: dict[str, int], idf: np.ndarray, *, chars: bool = True) -> None:
        self.vocabulary = vocabulary
        self.idf = idf.astype(np.float32)
        self.chars = chars

    @classmethod
    def fit(cls, texts: list[str], *, chars: bool = True) -> Lexicon:
        df: Counter[str] = Counter()
        for text in texts:
            df.update(set(_grams(text, chars)))
        min_df = 2 if len(texts) >= 1000 else 1
        grams = sorted(g for g, n in df.items() if n >= min_df)
        vocabulary = {g: i for i, g in enumerate(grams)}
        counts = np.array([df[g] for g in grams], dtype=np.float64)
        idf = np.log((1 + len(texts)) / (1 + counts)) + 1
        return cls(vocabulary, idf, chars=chars)

    def transform(self, texts: list[str]) -> Sparse:
        indptr, indices, data = [0], [], []
        vocabulary = self.vocabulary
        for text in texts:
            counts = Counter(g for g in _grams(text, self.chars) if g in vocabulary)
            cols = np.fromiter((vocabulary[g] for g in counts), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
            weights = (1 + np.log(tf)) * self.idf[cols] if len(cols) else tf
            words = np.fromiter((g.startswith("w:") for g in counts), dtype=bool, count=len(counts))
            for block in (words, ~words):  # each block unit length, then the whole
                norm = np.linalg.norm(weights[block])
                if norm:
                    weights[block] /= norm
            norm = np.linalg.norm(weights)
            if norm:
                weights = weights / norm
            indices.append(cols)
            data.append(weights.astype(np.float32))
            indptr.append(indptr[-1] + len(cols))
        return Sparse(
            np.array(indptr, dtype=np.int64),
            np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
            np.concatenate(data) if data else np.zeros(0, dtype=np.float32),
            len(vocabulary),
        )

    def state(self) -> dict:
        grams = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        return {"grams": grams, "idf": self.idf}

    @classmethod
    def from_state(cls, grams: list[str], idf: np.ndarray, *, chars: bool = True) -> Lexicon:
        return cls({g: i for i, g in enumerate(grams)}, idf, chars=chars)


# -- logistic regression ---------------------------------------------------------------------
def log_softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def lbfgs(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    *,
    max_iter: int = 200,
    memory: int = 10,
    tol: float = 1e-5,
) -> np.ndarray:
    """Minimise `fun` (value, gradient) from x0: L-BFGS with a backtracking line search."""
    x = x0.astype(np.float64)
    value, grad = fun(x)
    s_list: list[np.ndarray] = []
    y_list: list[np.ndarray] = []
    for _ in range(max_iter):
        q = grad.copy()
        alphas = []
        for s, y in zip(reversed(s_list), reversed(y_list), strict=True):
            a = (s @ q) / (y @ s)
            alphas.append(a)
            q -= a * y
        if s_list:
            q *= (s_list[-1] @ y_list[-1]) / (y_list[-1] @ y_list[-1])
        else:
            q /= max(1.0, np.abs(grad).max())
        for (s, y), a in zip(zip(s_list, y_list, strict=True), reversed(alphas), strict=True):
            b = (y @ q) / (y @ s)
            q += (a - b) * s
        direction = -q
        slope = grad @ direction
        if slope >= 0:  # not a descent direction: restart from the gradient
            s_list.clear()
            y_list.clear()
            direction, slope = -grad, -(grad @ grad)
        step = 1.0
        for _ in range(30):
            new_x = x + step * direction
            new_value, new_grad = fun(new_x)
            if new_value <= value + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            break
        s, y = new_x - x, new_grad - grad
        if s @ y > 1e-10:
            s_list.append(s)
            y_list.append(y)
            if len(s_list) > memory:
                s_list.pop(0)
                y_list.pop(0)
        x, grad = new_x, new_grad
        done = abs(value - new_value) <= tol * max(1.0, abs(value))
        value = new_value
        if done:
            break
    return x


def softmax_fit(
    features: np.ndarray | Sparse,
    labels: np.ndarray,
    n_classes: int,
    *,
    c: float = 10.0,
    max_iter: int = 200,
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression (weights, biases): mean log-loss + ||W||² / (2·c·n),
    the same objective as scikit-learn's LogisticRegression(C=c)."""
    sparse = isinstance(features, Sparse)
    n = features.n_rows if sparse else features.shape[0]
    dims = features.n_cols if sparse else features.shape[1]
    transposed = features.transpose() if sparse else None
    onehot = np.zeros((n, n_classes), dtype=np.float32)
    onehot[np.arange(n), labels] = 1
    lam = 1.0 / (c * n)

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        weights = theta[: dims * n_classes].reshape(dims, n_classes).astype(np.float32)
        bias = theta[dims * n_classes :].astype(np.float32)
        scores = (features.dot(weights) if sparse else features @ weights) + bias
        logp = log_softmax(scores)
        loss = -float((logp * onehot).sum()) / n + 0.5 * lam * float((weights * weights).sum())
        diff = (np.exp(logp) - onehot) / n
        g_weights = (transposed.dot(diff) if sparse else features.T @ diff) + lam * weights
        return loss, np.concatenate([g_weights.ravel(), diff.sum(axis=0)]).astype(np.float64)

    theta = lbfgs(fun, np.zeros(dims * n_classes + n_classes), max_iter=max_iter)
    weights = theta[: dims * n_classes].reshape(dims, n_classes).astype(np.float32)
    return weights, theta[dims * n_classes :].astype(np.float32)


# -- nearest neighbours ------------------------------------------------------------------------
def max_similarity(similarity: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """similarity (queries × examples, examples sorted by label) → queries × classes: the best
    example of each class (0 for a class with no example)."""
    out = np.zeros((similarity.shape[0], n_classes), dtype=np.float32)
    present, starts = np.unique(labels, return_index=True)
    if len(present):
        out[:, present] = np.maximum.reduceat(similarity, starts, axis=1)
    return out
