"""The triage classifier: a ticket's category with a calibrated confidence, or out-of-scope.

Four views of a text, combined log-linearly:

    emb   logistic regression on the MiniLM query embedding POST /tickets already computed
    lex   logistic regression on word 1-2-gram TF-IDF (the words the embedding blurs)
    near  per category, the cosine of the nearest training example's embedding (in a model of
          Bedrock's Titan vectors, `encoder` set: their sign bits' agreement, which the Lambda
          reads in plain Python with one popcount per example: triage.embedded)
    name  per category, the cosine to the embedding of the category's name (and description):
          a zero-shot prior, from what the team called it rather than what was labelled

    score(c) = a·log p_emb(c) + b·log p_lex(c) + g·near(c) + d·name(c);  p = softmax(score)

(a, b, g, d) are fitted by log-loss on out-of-fold predictions (so they are the temperature too:
the confidence is calibrated on texts the models did not see), then scaled down by at most as
much as a standard-normal prior on the scores asks (`_shrink`): with a handful of examples per
category the out-of-fold rows are few and separable, and the unregularised fit makes the
temperature far too sharp (seed_demo, 6 per category: leave-one-out mean confidence 0.79 for
an accuracy of 0.63); with hundreds of rows the prior weighs almost nothing. The abstain
threshold comes from the same folds, with some categories held back from each fold's
training: their texts play the out-of-scope tickets (the training data has none, as a
helpdesk's labels have none), and a training label for out-of-scope (CLINC's `oos`) counts as
out-of-scope too. The threshold is the lowest confidence at which at least OOS_RECALL of those
out-of-fold unknowns are abstained on (`_choose_threshold`). Nothing is tuned on a test set.

Inference is numpy only: a few small matrix products (≈ 0.3 ms for 150 categories and 18k
examples). Training is numpy too (L-BFGS), seconds to a couple of minutes on 2 cores.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np

from triage.learn import Lexicon, has_words, lbfgs, log_softmax, max_similarity, softmax_fit
from triage.lexical import Prediction, covered_languages

FORMAT = 1
FOLDS = 3
EMB_C = 10.0
LEX_C = 10.0
LEX_ITERATIONS = 60
NEAR_PER_LABEL = 50  # examples kept per category for `near`: bounds the per-ticket cost
# `encoder` of a model trained on the local MiniLM query vectors (POST /tickets' retrieval
# vector); any other value is the TicketEmbedding.model tag of the vectors it was trained on.
LOCAL_ENCODER = ""
OOS_RECALL = 0.5  # the operating point: abstain on at least this share of out-of-fold unknowns
MIN_EXAMPLES_PER_LABEL = 2
# Up to this many training texts the word view served without an encoder (triage.lexical) is
# a model of its own with character 2-5-grams as well (misspellings, word forms): on dev,
# banking77 10-shot 0.651 → 0.730 and HINT3 in-scope +2 to +8 points (TRIAGE.md), for 3 + 1
# more fits: training 2.3 → 14.7 s at 770 texts, 8.9 → 61.8 s at 2,993. Above it the full
# model's word 1-2-gram view is reused (at 9,000 texts characters would add ≈ 2 points for
# minutes more per training). The full model never reads characters: in its mix they did not
# pay (banking77 10-shot 0.855 → 0.857, HINT3 mixed; TRIAGE.md).
WORD_VIEW_CHARS_MAX_TEXTS = 3000
# The standard-normal prior on the combined scores that keeps a small training set's fitted
# temperature honest (_shrink); a unit prior, not tuned (bench/triage_calibration.py, TRIAGE.md).
WEIGHT_PRIOR = 1.0


class TrainingError(ValueError):
    """Labels a model cannot be trained from (the message says why)."""


def check_labels(labels: list[str], *, oos_label: str | None = None) -> None:
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    in_scope = {k: v for k, v in counts.items() if k != oos_label}
    if not in_scope:
        raise TrainingError("No labelled examples: label some tickets with a category first.")
    if len(in_scope) < 2:
        only = next(iter(in_scope))
        raise TrainingError(f"Only one category ({only!r}) has examples; triage needs two or more.")
    if max(in_scope.values()) < MIN_EXAMPLES_PER_LABEL:
        raise TrainingError(
            "Every category has a single example: nothing to check a model against. "
            "Label more tickets."
        )


@dataclass
class _Parts:
    """The fitted models of one training set (a fold, or all of it)."""

    classes: np.ndarray  # global class ids present in this training set
    lexicon: Lexicon
    emb_w: np.ndarray
    emb_b: np.ndarray
    lex_w: np.ndarray
    lex_b: np.ndarray
    examples: np.ndarray  # embeddings (float32 rows); with `signs` their signs (±1)
    example_labels: np.ndarray  # local class index of each
    # `near` from the signs of the components: (agreeing − disagreeing) / dims, the Hamming
    # distance of sign bits, which plain Python reads in one popcount per example (a model of
    # Titan's vectors: triage.embedded); else the cosine.
    signs: bool = False

    def views(
        self, embeddings: np.ndarray, texts: list[str], n_classes: int, names: np.ndarray | None
    ) -> np.ndarray:
        """4 × n × n_classes: log p_emb, log p_lex, near, name (absent classes: -inf, -inf, 0,
        and name as for any class: it needs no examples). `names`: n_classes name vectors."""
        n = len(texts)
        out = np.full((4, n, n_classes), -np.inf, dtype=np.float32)
        out[2:] = 0
        if names is not None:
            out[3] = embeddings @ names.T
        out[0][:, self.classes] = log_softmax(embeddings @ self.emb_w + self.emb_b)
        lex = self.lexicon.transform(texts)
        out[1][:, self.classes] = log_softmax(lex.dot(self.lex_w) + self.lex_b)
        if self.signs:
            similarity = (self.examples @ _signs(embeddings).T) / embeddings.shape[1]
        else:
            similarity = self.examples @ embeddings.T
        near = max_similarity(similarity.T, self.example_labels, len(self.classes))
        out[2][:, self.classes] = near
        return out


def _fit_parts(
    embeddings: np.ndarray,
    texts: list[str],
    y: np.ndarray,
    *,
    seed: int = 0,
    signs: bool = False,
) -> _Parts:
    classes, local = np.unique(y, return_inverse=True)
    lexicon = Lexicon.fit(texts, chars=False)
    lex = lexicon.transform(texts)
    emb_w, emb_b = softmax_fit(embeddings, local, len(classes), c=EMB_C)
    lex_w, lex_b = softmax_fit(lex, local, len(classes), c=LEX_C, max_iter=LEX_ITERATIONS)
    rng = np.random.default_rng(seed)
    keep = np.concatenate(  # grouped by category, as max_similarity reads them
        [rng.permutation(np.flatnonzero(local == c))[:NEAR_PER_LABEL] for c in range(len(classes))]
    )
    examples = _signs(embeddings[keep]) if signs else embeddings[keep].copy()
    return _Parts(classes, lexicon, emb_w, emb_b, lex_w, lex_b, examples, local[keep], signs)


def _signs(embeddings: np.ndarray) -> np.ndarray:
    """+1 where a component is > 0, else -1 (the sign bits triage.similar_bedrock stores)."""
    return np.where(embeddings > 0, 1.0, -1.0).astype(np.float32)


def category_text(name: str, description: str = "") -> str:
    """What the name view embeds for a category: its name (underscores read as spaces, as in
    `card_arrival`) and description, as a query is embedded."""
    return " ".join(part for part in (name.replace("_", " ").strip(), description.strip()) if part)


def _name_matrix(
    labels: list[str], name_vectors: dict[str, np.ndarray] | None, dims: int
) -> np.ndarray | None:
    """One unit row per label from `name_vectors` (label → embedding of its name text); a label
    without one gets zeros, a name cosine of 0 (the out-of-scope label has no name to read)."""
    if not name_vectors:
        return None
    out = np.zeros((len(labels), dims), dtype=np.float32)
    for i, label in enumerate(labels):
        if label in name_vectors:
            vector = np.asarray(name_vectors[label], dtype=np.float32)
            out[i] = vector / max(float(np.linalg.norm(vector)), 1e-12)
    return out


def _combine(views: np.ndarray, weights: np.ndarray) -> np.ndarray:
    # Models stored before the name view carry a constant 0 in d's place (a shift softmax
    # ignores) and no name vectors: their scores are unchanged.
    a, b, g, d = weights
    with np.errstate(invalid="ignore"):
        score = a * views[0] + b * views[1] + g * views[2] + d * views[3]
    return np.where(np.isfinite(views[0]), score, -np.inf)


def _fit_weights(views: np.ndarray, y: np.ndarray, *, names: bool) -> tuple[np.ndarray, float]:
    """(a, b, g, d) minimising the log-loss of softmax(score) on out-of-fold rows, scaled by
    `_shrink` (returned too); d = 0 without name vectors, or when the names fit to d ≤ 0."""
    used = 4 if names else 3
    theta, shrink = _fit_mix(views[:used], y, np.array([1.0, 0.5, 5.0, 1.0][:used]))
    if used == 4 and theta[3] <= 0:
        # The names add nothing the examples do not say (banking77 with ~117 per category):
        # the fit without them, so the model is the one trained without names.
        return _fit_weights(views, y, names=False)
    theta = np.maximum(theta, 0)  # each view may only add evidence
    scale = shrink(theta)
    return np.concatenate([theta * scale, np.zeros(4 - used)]), scale


def _fit_mix(views: np.ndarray, y: np.ndarray, x0: np.ndarray):
    """The weights of a log-linear mix of `views` (k × n × classes, -inf where a fold's model
    lacked the class) minimising the log-loss of softmax(score) on the out-of-fold rows whose
    own class their model knew, and the function that gives their `_shrink` scale."""
    finite = np.isfinite(views[0][np.arange(len(y)), y])
    views, y = views[:, finite], y[finite]
    safe = np.where(np.isfinite(views), views, -1e4).astype(np.float64)
    prior = WEIGHT_PRIOR / max(1, len(y))
    rows = np.arange(len(y))

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        logp = log_softmax(_weighted(safe, theta))
        p = np.exp(logp)
        loss = -logp[rows, y].mean()
        grad = np.array([(safe[k][rows, y] - (p * safe[k]).sum(1)).mean() for k in range(len(x0))])
        return float(loss), -grad

    theta = lbfgs(fun, x0, max_iter=100)
    return theta, lambda fitted: _shrink(safe, np.isfinite(views[0]), y, fitted, prior)


def _fit_lexical(
    view: np.ndarray, y: np.ndarray, oof_oos: np.ndarray, oos_id: int | None, oos_recall: float
) -> tuple[dict, dict]:
    """The word view alone (`view`: its out-of-fold log-probabilities, rows × classes), for
    where a ticket has no query embedding (triage.lexical): its weight (the temperature) and
    abstain threshold, fitted on the same out-of-fold rows as the full model's. Returns (what
    the model stores, the cross-validated figures)."""
    theta, shrink = _fit_mix(view[None], y, np.array([1.0]))
    theta = np.maximum(theta, 0)
    weight = float(theta[0] * shrink(theta))
    with np.errstate(invalid="ignore"):
        score = np.where(np.isfinite(view), weight * view, -np.inf)
    confidence, top = _in_scope_top(_probabilities(score), oos_id)
    threshold = _choose_threshold(confidence, top == y, oof_oos, oos_recall=oos_recall)
    return {"weight": weight, "threshold": threshold}, _cv_figures(
        confidence, top == y, threshold, oof_oos
    )


def _cv_figures(
    confidence: np.ndarray, correct: np.ndarray, threshold: float, oof_oos: np.ndarray
) -> dict:
    return {
        "threshold": round(threshold, 4),
        "cv_in_scope_accuracy": round(
            float((correct & (confidence >= threshold))[~oof_oos].mean()), 4
        ),
        "cv_oos_recall": round(float((confidence < threshold)[oof_oos].mean()), 4)
        if oof_oos.any()
        else None,
    }


def _weighted(safe: np.ndarray, theta: np.ndarray) -> np.ndarray:
    return sum(theta[k] * safe[k] for k in range(len(theta)))


def _shrink(
    safe: np.ndarray, finite: np.ndarray, y: np.ndarray, theta: np.ndarray, prior: float
) -> float:
    """The scale s in (0, 1] of the fitted weights (their mix, so the ranking, unchanged) that
    minimises the out-of-fold log-loss of s·score plus a standard-normal prior on the scores
    (½·s²·their variance across a row's categories, averaged over rows) weighted 1/rows: on a
    few dozen rows the fitted weights can separate them perfectly and grow without bound (an
    overconfident temperature, or, once they have run away, probabilities saturated at 1 and a
    threshold no ticket reaches); on hundreds the prior weighs little and on thousands nothing.
    The objective is convex in s, so a golden-section search over log s finds its minimum
    however far the fitted weights ran (no floor on s)."""
    if not prior or not theta.any():
        return 1.0
    rows = np.arange(len(y))
    score = _weighted(safe, theta)
    spread = np.where(finite, score, np.nan)
    variance = float(np.nanmean(np.nanvar(spread, axis=1)))

    def objective(log_scale: float) -> float:
        scale = np.exp(log_scale)
        return -log_softmax(scale * score)[rows, y].mean() + 0.5 * prior * scale**2 * variance

    low, high = np.log(1e-9), 0.0
    ratio = (np.sqrt(5) - 1) / 2
    left, right = high - ratio * (high - low), low + ratio * (high - low)
    f_left, f_right = objective(left), objective(right)
    for _ in range(60):  # brackets shrink by 0.618 each: 21 → 1e-12 in log s
        if f_left <= f_right:
            high, right, f_right = right, left, f_left
            left = high - ratio * (high - low)
            f_left = objective(left)
        else:
            low, left, f_left = left, right, f_right
            right = low + ratio * (high - low)
            f_right = objective(right)
    best = (low + high) / 2
    return float(np.exp(best)) if objective(best) < objective(0.0) else 1.0


def _choose_threshold(
    confidence: np.ndarray, correct: np.ndarray, oos: np.ndarray, *, oos_recall: float
) -> float:
    """The confidence below which to abstain: the lowest one at which at least `oos_recall`
    of the out-of-fold out-of-scope rows are abstained on (so in-scope accuracy loses the
    least); 0 when there are no out-of-scope rows."""
    if not oos.any() or oos.all():
        return 0.0
    return float(np.quantile(confidence[oos], oos_recall, method="higher")) + 1e-6


class TriageClassifier:
    def __init__(
        self,
        labels: list[str],
        parts: _Parts,
        weights: np.ndarray,
        threshold: float,
        *,
        oos_label: str | None = None,
        report: dict | None = None,
        languages: dict[str, float] | None = None,
        label_vectors: np.ndarray | None = None,
        lexical: dict | None = None,
        word_model: _WordModel | None = None,
        encoder: str = LOCAL_ENCODER,
    ) -> None:
        self.labels = labels
        # What the embeddings it reads come from: LOCAL_ENCODER (the MiniLM query vector), or
        # the TicketEmbedding.model tag of Bedrock's Titan vectors (triage.embedded reads it).
        self.encoder = encoder
        # The word view's own weight and abstain threshold ({"weight", "threshold", "chars"}),
        # for a ticket with no query embedding (triage.lexical); None: stored before it was
        # fitted. With `chars` its model is `word_model` (word and character n-grams), else
        # the full model's word 1-2-gram view (parts.lexicon, lex_w, lex_b).
        self.lexical = lexical
        self.word_model = word_model
        # One unit vector per label, the embedding of its category's name text (None: trained
        # without, or stored before the name view). A renamed category keeps its old name's
        # vector until the next retrain (the scheduled one, or `manage.py triage_train`).
        self.label_vectors = label_vectors
        # Share of each language among the training texts whose language was told (set by
        # triage.services at training; None: a model stored before languages were recorded).
        self.languages = languages
        self.parts = parts
        self.weights = weights
        self.threshold = threshold
        self.oos_label = oos_label
        self.report = report or {}
        self._oos_index = labels.index(oos_label) if oos_label in labels else None

    # -- training --------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        texts: list[str],
        labels: list[str],
        embeddings: np.ndarray,
        *,
        oos_label: str | None = None,
        seed: int = 0,
        oos_recall: float = OOS_RECALL,
        name_vectors: dict[str, np.ndarray] | None = None,
        encoder: str = LOCAL_ENCODER,
    ) -> TriageClassifier:
        """`name_vectors`: label → the query embedding of its category's name text (optional).
        The name view's weight is fitted like the others; when the fit gives it none, the model
        is the one trained without names and keeps no name vectors. `encoder`: what
        `embeddings` (and the name vectors) come from (LOCAL_ENCODER: the MiniLM query
        vector); a remote encoder's model reads `near` from sign bits (`_Parts.signs`)."""
        signs = encoder != LOCAL_ENCODER
        check_labels(labels, oos_label=oos_label)
        names = sorted(set(labels))
        index = {name: i for i, name in enumerate(names)}
        y = np.array([index[label] for label in labels])
        embeddings = np.asarray(embeddings, dtype=np.float32)
        name_matrix = _name_matrix(names, name_vectors, embeddings.shape[1])
        oos_id = index.get(oos_label) if oos_label else None
        folds = _folds(y, len(names), oos_id, seed)
        views, oof_oos = _out_of_fold(embeddings, texts, y, len(names), folds, name_matrix, signs)
        weights, scale = _fit_weights(views, y, names=name_matrix is not None)
        if not weights[3]:
            name_matrix = None  # not used: neither stored nor scored
        probs = _probabilities(_combine(views, weights))
        confidence, top = _in_scope_top(probs, oos_id)
        correct = top == y
        threshold = _choose_threshold(confidence, correct, oof_oos, oos_recall=oos_recall)
        chars = len(y) <= WORD_VIEW_CHARS_MAX_TEXTS
        word_view = _word_view_out_of_fold(texts, y, len(names), folds) if chars else views[1]
        lexical, lexical_report = _fit_lexical(word_view, y, oof_oos, oos_id, oos_recall)
        lexical["chars"] = chars
        report = {
            "n_train": len(y),
            "n_labels": len(names),
            "folds": FOLDS,
            "weights": [round(float(w), 4) for w in weights],
            "weight_scale": round(scale, 4),
            **_cv_figures(confidence, correct, threshold, oof_oos),
            "lexical": {"weight": round(lexical["weight"], 4), "chars": chars, **lexical_report},
        }
        if encoder != LOCAL_ENCODER:
            report["encoder"] = encoder
        parts = _fit_parts(embeddings, texts, y, seed=seed, signs=signs)
        word_model = _WordModel.fit(texts, y, len(names)) if chars else None
        return cls(
            names,
            parts,
            weights,
            threshold,
            oos_label=oos_label,
            report=report,
            label_vectors=name_matrix,
            lexical=lexical,
            word_model=word_model,
            encoder=encoder,
        )

    def covered_languages(self) -> set[str] | None:
        """The languages the training texts cover (None: not recorded, unknown)."""
        return covered_languages(self.languages)

    # -- inference -------------------------------------------------------------------------
    def probabilities(self, embeddings: np.ndarray, texts: list[str]) -> np.ndarray:
        views = self.parts.views(
            np.asarray(embeddings, dtype=np.float32), texts, len(self.labels), self.label_vectors
        )
        return _probabilities(_combine(views, self.weights))

    def predict(
        self, embeddings: np.ndarray, texts: list[str], *, top: int = 3
    ) -> list[Prediction]:
        probs = self.probabilities(embeddings, texts)
        confidence, best = _in_scope_top(probs, self._oos_index)
        out = []
        for i, text in enumerate(texts):
            row = probs[i].copy()
            if self._oos_index is not None:
                row[self._oos_index] = -1
            order = [j for j in np.argsort(-row) if j != self._oos_index][:top]
            alternatives = [(self.labels[j], round(float(row[j]), 4)) for j in order]
            # The out-of-scope label winning is an abstention whatever the threshold.
            oos_wins = self._oos_index is not None and best[i] == self._oos_index
            in_scope = has_words(text) and not oos_wins and confidence[i] >= self.threshold
            label = self.labels[best[i]] if in_scope else None
            out.append(Prediction(label, round(float(confidence[i]), 4), alternatives))
        return out

    # -- storage ---------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        p = self.parts
        meta = {
            "format": FORMAT,
            "labels": self.labels,
            "oos_label": self.oos_label,
            "threshold": self.threshold,
            "report": self.report,
            "languages": self.languages,
            "lexical": self.lexical,
            "grams": p.lexicon.state()["grams"],
            "encoder": self.encoder,
            "near": "signs" if p.signs else "cosine",
        }
        word = self.word_model
        if word is not None:
            meta["word_grams"] = word.lexicon.state()["grams"]
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            weights=self.weights,
            classes=p.classes,
            idf=p.lexicon.idf,
            emb_w=p.emb_w,
            emb_b=p.emb_b,
            lex_w=p.lex_w,
            lex_b=p.lex_b,
            **(
                {"example_bits": np.packbits(p.examples > 0, axis=1)}
                if p.signs
                else {"examples": p.examples.astype(np.float16)}
            ),
            example_labels=p.example_labels.astype(np.int32),
            **(
                {}
                if self.label_vectors is None
                else {"label_vectors": self.label_vectors.astype(np.float16)}
            ),
            **(
                {}
                if word is None
                else {"word_idf": word.lexicon.idf, "word_w": word.weights, "word_b": word.biases}
            ),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> TriageClassifier:
        """Raises ValueError for anything that is not a model this code wrote."""
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as saved:
                meta = json.loads(saved["meta"].tobytes())
                if meta.get("format") != FORMAT:
                    raise ValueError(f"unknown model format {meta.get('format')!r}")
                lexicon = Lexicon.from_state(meta["grams"], saved["idf"], chars=False)
                signs = meta.get("near") == "signs"
                if signs:
                    dims = saved["emb_w"].shape[0]
                    bits = np.unpackbits(saved["example_bits"], axis=1)[:, :dims]
                    examples = np.where(bits > 0, 1.0, -1.0).astype(np.float32)
                else:
                    examples = saved["examples"].astype(np.float32)
                parts = _Parts(
                    saved["classes"],
                    lexicon,
                    saved["emb_w"],
                    saved["emb_b"],
                    saved["lex_w"],
                    saved["lex_b"],
                    examples,
                    saved["example_labels"],
                    signs,
                )
                weights = saved["weights"]
                label_vectors = (
                    saved["label_vectors"].astype(np.float32)
                    if "label_vectors" in saved.files
                    else None
                )
                word_model = (
                    _WordModel(
                        Lexicon.from_state(meta["word_grams"], saved["word_idf"], chars=True),
                        saved["word_w"],
                        saved["word_b"],
                    )
                    if "word_w" in saved.files
                    else None
                )
        except ValueError:
            raise
        except Exception as exc:  # a zip, npy or JSON error: the bytes are not a model
            raise ValueError(f"not a triage model: {exc}") from exc
        labels = meta["labels"]
        if parts.emb_w.shape[1] != len(parts.classes) or len(parts.classes) > len(labels):
            raise ValueError("inconsistent triage model")
        return cls(
            labels,
            parts,
            weights,
            float(meta["threshold"]),
            oos_label=meta.get("oos_label"),
            report=meta.get("report"),
            languages=meta.get("languages"),
            label_vectors=label_vectors,
            lexical=meta.get("lexical"),
            word_model=word_model,
            encoder=meta.get("encoder") or LOCAL_ENCODER,
        )


def _probabilities(score: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(score))


def _in_scope_top(probs: np.ndarray, oos_id: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the best in-scope probability (0 when the out-of-scope label wins) and its
    label index (the oos index when it wins)."""
    top = probs.argmax(axis=1)
    masked = probs.copy()
    if oos_id is not None:
        masked[:, oos_id] = -1
    confidence = masked.max(axis=1)
    if oos_id is not None:
        confidence = np.where(top == oos_id, 0.0, confidence)
    return confidence, top


def _folds(
    y: np.ndarray, n_classes: int, oos_id: int | None, seed: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per fold: (training rows mask, validation row ids, which validation rows count as out of
    scope: the label held back from that fold, or the oos label)."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(y), dtype=int)
    for cls in range(n_classes):  # stratified: each class spread over the folds
        members = np.flatnonzero(y == cls)
        rng.shuffle(members)
        fold[members] = (np.arange(len(members)) + rng.integers(FOLDS)) % FOLDS
    in_scope_classes = np.array([c for c in range(n_classes) if c != oos_id])
    held = np.zeros(n_classes, dtype=int) - 1
    shuffled = rng.permutation(in_scope_classes)
    # ~1/6 of the categories per fold, but never so many that a fold trains on fewer than two:
    # a model of one category is sure of every text, and its held-back rows would set the
    # threshold above 1 (two categories: every ticket out of scope). With two, none is held
    # back; only a training out-of-scope label then sets a threshold (else it is 0).
    share = min(max(1, len(shuffled) // (FOLDS * 2)), max(0, len(shuffled) - 2))
    for k in range(FOLDS):
        held[shuffled[k * share : (k + 1) * share]] = k
    out = []
    for k in range(FOLDS):
        valid = np.flatnonzero(fold == k)
        oos = (held[y[valid]] == k) | (y[valid] == (oos_id if oos_id is not None else -1))
        out.append(((fold != k) & (held[y] != k), valid, oos))
    return out


def _out_of_fold(
    embeddings: np.ndarray,
    texts: list[str],
    y: np.ndarray,
    n_classes: int,
    folds: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    names: np.ndarray | None,
    signs: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Views of every training row from a model that did not see it, and which rows count as
    out of scope there (`_folds`)."""
    views = np.zeros((4, len(y), n_classes), dtype=np.float32)
    oos = np.zeros(len(y), dtype=bool)
    for train, valid, valid_oos in folds:
        parts = _fit_parts(
            embeddings[train],
            [texts[i] for i in np.flatnonzero(train)],
            y[train],
            signs=signs,
        )
        views[:, valid] = parts.views(
            embeddings[valid], [texts[i] for i in valid], n_classes, names
        )
        oos[valid] = valid_oos
    return views, oos


@dataclass
class _WordModel:
    """The word view's own model where it has character n-grams (small training sets)."""

    lexicon: Lexicon
    weights: np.ndarray
    biases: np.ndarray

    @classmethod
    def fit(cls, texts: list[str], y: np.ndarray, n_classes: int) -> _WordModel:
        """`y` holds every class 0..n_classes-1 (the final model) or a subset (a fold), whose
        columns are then -inf in `log_probabilities`; weights cover all n_classes columns."""
        lexicon = Lexicon.fit(texts, chars=True)
        classes, local = np.unique(y, return_inverse=True)
        w, b = softmax_fit(
            lexicon.transform(texts), local, len(classes), c=LEX_C, max_iter=LEX_ITERATIONS
        )
        weights = np.zeros((w.shape[0], n_classes), dtype=np.float32)
        biases = np.full(n_classes, -np.inf, dtype=np.float32)
        weights[:, classes], biases[classes] = w, b
        return cls(lexicon, weights, biases)

    def log_probabilities(self, texts: list[str]) -> np.ndarray:
        return log_softmax(self.lexicon.transform(texts).dot(self.weights) + self.biases)


def _word_view_out_of_fold(
    texts: list[str], y: np.ndarray, n_classes: int, folds: list
) -> np.ndarray:
    """The character-gram word view of every training row from a model that did not see it
    (the same folds and held-back categories as the full model's)."""
    out = np.full((len(y), n_classes), -np.inf, dtype=np.float32)
    for train, valid, _ in folds:
        model = _WordModel.fit([texts[i] for i in np.flatnonzero(train)], y[train], n_classes)
        out[valid] = model.log_probabilities([texts[i] for i in valid])
    return out
