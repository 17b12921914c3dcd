"""Triage where a ticket has no query embedding, in plain Python (no numpy, no encoder).

A deployment whose KB is Bedrock (the Lambda package, which carries neither numpy nor the
MiniLM encoder) never computes the ticket's MiniLM vector, so three of the model's four views
(triage.classifier: emb, near, name) cannot be read there. The fourth, the word view, can: a
logistic regression over TF-IDF n-grams. Up to `classifier.WORD_VIEW_CHARS_MAX_TEXTS` texts it is
a model of its own over word 1-2-grams and character 2-5-grams (misspellings and word forms,
which the embedding would otherwise have covered); above, the full model's word 1-2-gram view.
Training fits it a weight (its temperature) and an abstain threshold on the same out-of-fold
rows and held-back categories as the full model (`TriageClassifier.fit`, `lexical`), so its
confidence is calibrated and its out-of-scope answer is chosen from the training labels, as
the full model's are. It knows fewer tickets than the full model (TRIAGE.md "Without an
encoder"): the same TRIAGE_APPLY_THRESHOLD applies to its own calibrated confidence.

This module reads the stored model (`np.savez_compressed` output: a zip of .npy files) with
the standard library and scores a text with lists of floats: its n-grams × the categories.
"""

from __future__ import annotations

import ast
import io
import json
import math
import struct
import sys
import zipfile
from array import array
from collections import Counter
from dataclasses import dataclass, field

from triage.text import grams, has_words

# A language counts as covered by the labels when at least this share of the training texts
# whose language was told are in it.
COVERED_SHARE = 0.1


@dataclass(frozen=True)
class Prediction:
    label: str | None  # None: out of scope
    confidence: float  # of the best in-scope label
    alternatives: list[tuple[str, float]] = field(default_factory=list)  # best first, incl. top

    @property
    def out_of_scope(self) -> bool:
        return self.label is None


def covered_languages(languages: dict[str, float] | None) -> set[str] | None:
    """The languages the training texts cover (None: not recorded, unknown)."""
    if languages is None:
        return None
    return {code for code, share in languages.items() if share >= COVERED_SHARE}


# -- reading np.savez output without numpy ---------------------------------------------------
_MAGIC = b"\x93NUMPY"
# .npy dtypes the model uses, as array typecodes (sizes checked below: 'i'/'q' are 4/8 bytes
# on every platform Python supports, 'f'/'d' IEEE single/double).
_TYPECODES = {"f4": "f", "f8": "d", "i4": "i", "i8": "q", "u1": "B"}


def _npy(data: bytes) -> tuple[tuple[int, ...], array]:
    """(shape, flat values in C order) of one .npy file (format 1.0-3.0)."""
    if not data.startswith(_MAGIC):
        raise ValueError("not a .npy array")
    major = data[6]
    size = 2 if major == 1 else 4
    length = int.from_bytes(data[8 : 8 + size], "little")
    start = 8 + size + length
    header = ast.literal_eval(data[8 + size : start].decode("latin1"))
    descr, shape = header["descr"], tuple(header["shape"])
    order, code = descr[0], _TYPECODES.get(descr[1:])
    if header["fortran_order"] and len(shape) > 1:
        raise ValueError("Fortran-ordered array")
    if descr[1:] == "f2" and order in "<|=":  # half floats (stored vectors): struct reads them
        count = math.prod(shape)
        raw = data[start : start + 2 * count]
        if len(raw) != 2 * count:
            raise ValueError("truncated array")
        return shape, array("f", struct.unpack(f"<{count}e", raw))
    if code is None or order not in "<|=":
        raise ValueError(f"unsupported dtype {descr!r}")
    values = array(code)
    if values.itemsize != int(descr[2:]):
        raise ValueError(f"no {descr!r} array type on this platform")
    values.frombytes(data[start : start + values.itemsize * math.prod(shape)])
    if order == "<" and sys.byteorder == "big":
        values.byteswap()
    if len(values) != math.prod(shape):
        raise ValueError("truncated array")
    return shape, values


def read_arrays(
    blob: bytes, names: tuple[str, ...], *, optional: tuple[str, ...] = ()
) -> dict[str, tuple[tuple[int, ...], array]]:
    """The named arrays of an np.savez(_compressed) blob (and those of `optional` it holds).
    Raises ValueError for anything else."""
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            present = set(archive.namelist())
            wanted = names + tuple(name for name in optional if f"{name}.npy" in present)
            return {name: _npy(archive.read(f"{name}.npy")) for name in wanted}
    except ValueError:
        raise
    except Exception as exc:  # a zip error, a missing member: the bytes are not a model
        raise ValueError(f"not a triage model: {exc}") from exc


def read_meta(blob: bytes) -> dict:
    """The stored model's metadata (np.savez's `meta`). Raises ValueError for a blob that is
    not a model, or one of another format."""
    try:
        meta = json.loads(read_arrays(blob, ("meta",))["meta"][1].tobytes())
    except ValueError as exc:
        raise ValueError(f"not a triage model: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != 1:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"unknown model format {found!r}")
    return meta


def log_softmax(scores: list[float]) -> list[float]:
    top = max(scores)
    if top == -math.inf:
        return list(scores)
    log_z = top + math.log(sum(math.exp(s - top) for s in scores))
    return [s - log_z for s in scores]


def _unit(row: list[tuple[int, float]]) -> list[tuple[int, float]]:
    norm = math.sqrt(sum(value * value for _, value in row))
    return [(col, value / norm) for col, value in row] if norm else row


class LexicalClassifier:
    """The stored model's word view with its own weight and threshold (see the module doc)."""

    def __init__(
        self,
        *,
        labels: list[str],
        oos_label: str | None,
        vocabulary: dict[str, int],
        idf: array,
        weights: array,
        biases: array,
        classes: list[int],
        weight: float,
        threshold: float,
        languages: dict[str, float] | None = None,
        chars: bool = False,
    ) -> None:
        self.labels = labels
        self.chars = chars  # character 2-5-grams too (triage.text.grams)
        self.oos_label = oos_label
        self.vocabulary = vocabulary
        self.idf = idf
        self.weights = weights  # vocabulary × len(classes), row-major
        self.biases = biases
        self.classes = classes  # the label index of each weight column
        self.weight = weight
        self.threshold = threshold
        self.languages = languages
        self._oos_index = labels.index(oos_label) if oos_label in labels else None

    @classmethod
    def from_bytes(cls, blob: bytes) -> LexicalClassifier:
        """Raises ValueError for a blob that is not a model, or one trained before the word
        view had its own weight and threshold (retrain it)."""
        meta = read_meta(blob)
        lexical = meta.get("lexical")
        if not lexical:
            raise ValueError(
                "the model was trained before its word view had a threshold of its own; "
                "retrain it (`manage.py triage_train`)"
            )
        # Its own word and character n-gram model (small training sets), or the full model's
        # word 1-2-gram view (TriageClassifier.lexical).
        return cls.of_model(
            blob,
            meta,
            chars=bool(lexical.get("chars")),
            weight=float(lexical["weight"]),
            threshold=float(lexical["threshold"]),
        )

    @classmethod
    def of_model(
        cls, blob: bytes, meta: dict, *, chars: bool, weight: float, threshold: float
    ) -> LexicalClassifier:
        """A word view of the stored model (`meta`: its read_meta): with `chars` its own word
        and character n-gram model, else the full model's word 1-2-gram view (`lex`)."""
        idf, w, b = ("word_idf", "word_w", "word_b") if chars else ("idf", "lex_w", "lex_b")
        arrays = read_arrays(blob, ("classes", idf, w, b))
        grams_ = meta["word_grams" if chars else "grams"]
        (n_vocabulary, n_classes), weights = arrays[w]
        classes = list(range(n_classes)) if chars else [int(c) for c in arrays["classes"][1]]
        labels = meta["labels"]
        if (
            n_vocabulary != len(grams_)
            or len(arrays[idf][1]) != n_vocabulary
            or len(classes) != n_classes
            or len(arrays[b][1]) != n_classes
            or any(not 0 <= c < len(labels) for c in classes)
        ):
            raise ValueError("inconsistent triage model")
        return cls(
            labels=labels,
            oos_label=meta.get("oos_label"),
            vocabulary={g: i for i, g in enumerate(grams_)},
            idf=arrays[idf][1],
            weights=weights,
            biases=arrays[b][1],
            classes=classes,
            weight=weight,
            threshold=threshold,
            languages=meta.get("languages"),
            chars=chars,
        )

    def covered_languages(self) -> set[str] | None:
        return covered_languages(self.languages)

    def features(self, text: str) -> list[tuple[int, float]]:
        """The text's TF-IDF row as (column, value), as triage.learn.Lexicon.transform makes
        it: sublinear tf times the model's idf; the word grams and the character grams each
        scaled to unit length, then the whole row."""
        vocabulary, idf = self.vocabulary, self.idf
        counts = Counter(g for g in grams(text, chars=self.chars) if g in vocabulary)
        blocks: dict[bool, list[tuple[int, float]]] = {True: [], False: []}
        for gram, n in counts.items():
            col = vocabulary[gram]
            blocks[gram.startswith("w:")].append((col, (1 + math.log(n)) * idf[col]))
        row = []
        for block in blocks.values():
            row += _unit(block)
        return _unit(row)

    def log_probabilities(self, text: str) -> list[float]:
        """log p of each of `classes` (the weight columns) by this view alone."""
        n = len(self.classes)
        scores = list(self.biases)
        weights = self.weights
        for col, value in self.features(text):
            row = weights[col * n : (col + 1) * n]
            scores = [s + value * w for s, w in zip(scores, row, strict=True)]
        return log_softmax(scores)

    def probabilities(self, text: str) -> list[float]:
        """One probability per label (0 for a label the word view never saw)."""
        # log p_lex, times the fitted weight, then normalised again over the labels.
        mixed = [self.weight * lp for lp in self.log_probabilities(text)]
        top = max(mixed)
        exps = [math.exp(m - top) for m in mixed]
        total = sum(exps)
        out = [0.0] * len(self.labels)
        for j, e in zip(self.classes, exps, strict=True):
            out[j] = e / total
        return out

    def predict(self, text: str, *, top: int = 3) -> Prediction:
        return prediction(
            text, self.labels, self.probabilities(text), self._oos_index, self.threshold, top=top
        )


def prediction(
    text: str,
    labels: list[str],
    probs: list[float],
    oos_index: int | None,
    threshold: float,
    *,
    top: int = 3,
) -> Prediction:
    """The answer for `text` from one probability per label, as TriageClassifier.predict
    gives it: the best in-scope label and its confidence (0 when the out-of-scope label wins),
    out of scope below `threshold` or for a text without words; `top` in-scope alternatives."""
    row = list(probs)
    if oos_index is not None:
        row[oos_index] = -1.0
    order = sorted(range(len(row)), key=lambda j: -row[j])
    best = order[0]
    oos_wins = oos_index is not None and probs[oos_index] > probs[best]
    confidence = 0.0 if oos_wins else row[best]
    alternatives = [(labels[j], round(row[j], 4)) for j in order if j != oos_index][:top]
    in_scope = has_words(text) and not oos_wins and confidence >= threshold
    return Prediction(labels[best] if in_scope else None, round(confidence, 4), alternatives)
