"""The full triage model read in plain Python from a ticket vector handed in (no numpy).

Where tickets are embedded by Bedrock's Titan (SIMILAR_ENCODER=bedrock: the Lambda, which has
neither numpy nor the local encoder), every new ticket already gets a Titan vector beside its KB
search (triage.similar_bedrock.PendingEmbedding). `manage.py triage_train` then trains the model
on those vectors (triage.services: the stored ones, and Titan asked for the rest and for the
category names), and this module reads all four of its views (triage.classifier: emb, lex,
near, name) with lists of floats, so the Lambda triages with the embedding instead of the words
alone (triage.lexical, what it served before, and still serves when a ticket's vector could
not be had in time).

Cost per ticket: one 1,024-component product per category (emb and name folded into one
vector at load), one popcount per stored example (near: such a model compares sign bits,
`_Parts.signs`; a product per example would cost ≈ 10-17 µs each in plain Python, 15 ms a
ticket at 77 categories × 10 examples), plus the word view; TRIAGE.md gives the figures.
Scores equal numpy's TriageClassifier on the same vector (tests/triage).
"""

from __future__ import annotations

import math
import operator
from array import array

from triage.lexical import (
    LexicalClassifier,
    Prediction,
    covered_languages,
    log_softmax,
    prediction,
    read_arrays,
    read_meta,
)

_mul = operator.mul


def _dot(a: list[float], b: list[float]) -> float:
    return sum(map(_mul, a, b))


def _rows(values: array, width: int) -> list[list[float]]:
    return [list(values[i : i + width]) for i in range(0, len(values), width)]


class EmbeddedClassifier:
    """A model trained on a remote encoder's vectors (`encoder`: their TicketEmbedding.model
    tag), scored from such a vector and the ticket's text."""

    def __init__(
        self,
        *,
        labels: list[str],
        oos_label: str | None,
        encoder: str,
        classes: list[int],
        emb_columns: list[list[float]],
        emb_biases: list[float],
        example_bits: list[int],
        example_classes: list[int],
        label_vectors: list[list[float]] | None,
        weights: list[float],
        threshold: float,
        words: LexicalClassifier,
        languages: dict[str, float] | None = None,
    ) -> None:
        self.labels = labels
        self.oos_label = oos_label
        self.encoder = encoder
        self.classes = classes  # the label index of each local class
        self.example_bits = example_bits  # `near`'s examples' sign bits, as ints
        self.example_classes = example_classes
        self.weights = weights  # (a, b, g, d)
        self.threshold = threshold
        self.words = words  # the full model's word 1-2-gram view (`lex`)
        self.languages = languages
        self.dims = len(emb_columns[0]) if emb_columns else 0
        self._oos_index = labels.index(oos_label) if oos_label in labels else None
        # The emb and name views in one product per class: score = a·log p_emb + d·name + …,
        # and log p_emb = logits − log Σ exp(logits), a constant across the classes that the
        # final softmax drops; so a·(q·w_c + bias_c) + d·(q·n_c) = q·(a·w_c + d·n_c) + a·bias_c
        # gives the same probabilities with one product per class instead of two.
        a, _, _, d = weights
        use_names = bool(d) and label_vectors is not None
        self._linear = [
            [a * w + d * n for w, n in zip(column, label_vectors[label], strict=True)]
            if use_names
            else [a * w for w in column]
            for column, label in zip(emb_columns, classes, strict=True)
        ]
        self._offsets = [a * bias for bias in emb_biases]

    @classmethod
    def from_bytes(cls, blob: bytes) -> EmbeddedClassifier:
        """Raises ValueError for a blob that is not a model, or one trained on the local
        encoder's vectors (numpy's TriageClassifier reads those): triage is then off and
        GET /health says why (triage.selectors), tickets are unaffected."""
        try:
            return cls._from_bytes(blob)
        except (KeyError, TypeError, IndexError, AttributeError) as exc:  # fields missing
            raise ValueError(f"inconsistent triage model: {exc!r}") from exc

    @classmethod
    def _from_bytes(cls, blob: bytes) -> EmbeddedClassifier:
        meta = read_meta(blob)
        encoder = meta.get("encoder") or ""
        if not encoder:
            raise ValueError("the model was trained on the local encoder's vectors")
        if meta.get("near") != "signs":
            raise ValueError("the model's near view is not read from sign bits; retrain it")
        names = ("weights", "classes", "emb_w", "emb_b", "example_bits", "example_labels")
        arrays = read_arrays(blob, names, optional=("label_vectors",))
        labels = meta["labels"]
        (dims, n_classes), emb_w = arrays["emb_w"]
        classes = [int(c) for c in arrays["classes"][1]]
        bits_shape, bits = arrays["example_bits"]
        width = (dims + 7) // 8
        example_classes = [int(c) for c in arrays["example_labels"][1]]
        weights = [float(w) for w in arrays["weights"][1]]
        names_arr = arrays.get("label_vectors")
        if (
            len(classes) != n_classes
            or any(not 0 <= c < len(labels) for c in classes)
            or len(arrays["emb_b"][1]) != n_classes
            or bits_shape != (len(example_classes), width)
            or any(not 0 <= c < n_classes for c in example_classes)
            or len(weights) != 4
            or (names_arr is not None and names_arr[0] != (len(labels), dims))
        ):
            raise ValueError("inconsistent triage model")
        words = LexicalClassifier.of_model(blob, meta, chars=False, weight=1.0, threshold=0.0)
        if words.classes != classes:
            raise ValueError("inconsistent triage model")
        return cls(
            labels=labels,
            oos_label=meta.get("oos_label"),
            encoder=encoder,
            classes=classes,
            emb_columns=[list(emb_w[j::n_classes]) for j in range(n_classes)],
            emb_biases=list(arrays["emb_b"][1]),
            example_bits=[
                int.from_bytes(bits[i : i + width].tobytes(), "big")
                for i in range(0, len(bits), width)
            ],
            example_classes=example_classes,
            label_vectors=_rows(names_arr[1], dims) if names_arr is not None else None,
            weights=weights,
            threshold=float(meta["threshold"]),
            words=words,
            languages=meta.get("languages"),
        )

    def covered_languages(self) -> set[str] | None:
        return covered_languages(self.languages)

    def probabilities(self, vector: list[float], text: str) -> list[float]:
        """One probability per label, as TriageClassifier.probabilities gives for `vector`
        (normalised here) and `text`."""
        if len(vector) != self.dims:
            raise ValueError(f"a {len(vector)}-vector for a model of {self.dims}")
        norm = math.sqrt(_dot(vector, vector)) or 1.0
        q = [x / norm for x in vector]
        signs = 0
        for x in vector:
            signs = (signs << 1) | (x > 0)
        signs <<= -self.dims % 8  # np.packbits pads each row's last byte with zeros
        _, b, g, _ = self.weights
        linear = zip(self._linear, self._offsets, strict=True)
        emb_and_names = [_dot(q, column) + offset for column, offset in linear]
        lex = self.words.log_probabilities(text) if b else [0.0] * len(self.classes)
        near = [-math.inf] * len(self.classes)
        if g:
            dims = self.dims
            for local, bits in zip(self.example_classes, self.example_bits, strict=True):
                similarity = (dims - 2 * (signs ^ bits).bit_count()) / dims
                if similarity > near[local]:
                    near[local] = similarity
        score = [-math.inf] * len(self.labels)
        for local, label in enumerate(self.classes):
            nearest = near[local] if near[local] != -math.inf else 0.0
            score[label] = emb_and_names[local] + b * lex[local] + g * nearest
        return [math.exp(s) for s in log_softmax(score)]

    def predict(self, vector: list[float], text: str, *, top: int = 3) -> Prediction:
        return prediction(
            text,
            self.labels,
            self.probabilities(vector, text),
            self._oos_index,
            self.threshold,
            top=top,
        )
