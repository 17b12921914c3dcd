"""triage_eval's work: our classifier and two baselines trained on one labelled set and scored
on another, in one run (Django-free but for the encoder settings the command passes in)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from triage.classifier import TriageClassifier, category_text
from triage.learn import Lexicon, log_softmax, softmax_fit
from triage.lexical import LexicalClassifier

METRICS = ("accuracy", "macro_f1", "in_scope_accuracy", "oos_recall")


def load_jsonl(path: str | Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row.get("text"), str) or not isinstance(row.get("label"), str):
                raise ValueError(f"line {number}: expected {{'text': str, 'label': str}}")
            rows.append(row)
    return rows


def sample_shots(rows: list[dict], shots: int, seed: int, oos_label: str | None) -> list[dict]:
    """K examples per label (all of a label with fewer), seeded. The out-of-scope label keeps
    K examples too."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_label.setdefault(row["label"], []).append(i)
    chosen = []
    for label in sorted(by_label):
        members = np.array(by_label[label])
        chosen.extend(rng.permutation(members)[:shots].tolist())
    return [rows[i] for i in sorted(chosen)]


def dev_split(
    rows: list[dict],
    *,
    seed: int = 0,
    fraction: float = 0.1,
    held_labels: float = 0.0,
    oos_label: str = "OOS_HELD_OUT",
) -> tuple[list[dict], list[dict]]:
    """(train, dev) from one labelled set: `fraction` of each label's rows (at least one, never
    all) go to dev, stratified and seeded; with `held_labels`, that share of the labels is
    held out whole and its rows go to dev relabelled `oos_label` (pseudo out-of-scope, for sets
    whose training side has no out-of-scope rows)."""
    rng = np.random.default_rng(seed)
    labels = sorted({r["label"] for r in rows})
    held = set(rng.permutation(labels)[: int(round(len(labels) * held_labels))].tolist())
    train, dev = [], []
    by_label: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_label.setdefault(row["label"], []).append(i)
    for label in labels:
        members = rng.permutation(by_label[label])
        if label in held:
            dev.extend({"text": rows[i]["text"], "label": oos_label} for i in members)
            continue
        n_dev = min(len(members) - 1, max(1, int(round(len(members) * fraction))))
        dev.extend(rows[i] for i in members[:n_dev])
        train.extend(rows[i] for i in members[n_dev:])
    return train, dev


def scores(truth: list[str], predicted: list[str], oos_label: str | None) -> dict:
    truth_a, pred_a = np.array(truth), np.array(predicted)
    out = {"accuracy": float((truth_a == pred_a).mean())}
    f1s = []
    for label in sorted(set(truth) | set(predicted)):
        tp = int(((truth_a == label) & (pred_a == label)).sum())
        fp = int(((truth_a != label) & (pred_a == label)).sum())
        fn = int(((truth_a == label) & (pred_a != label)).sum())
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    out["macro_f1"] = float(np.mean(f1s))
    oos = truth_a == oos_label if oos_label else np.zeros(len(truth_a), dtype=bool)
    out["in_scope_accuracy"] = float((truth_a == pred_a)[~oos].mean()) if (~oos).any() else None
    out["oos_recall"] = float((pred_a[oos] == oos_label).mean()) if oos.any() else None
    return {k: (round(v, 4) if v is not None else None) for k, v in out.items()}


def _lr_predict(train_x, train_y, test_x, *, c: float, max_iter: int) -> list[str]:
    names = sorted(set(train_y))
    y = np.array([names.index(label) for label in train_y])
    weights, bias = softmax_fit(train_x, y, len(names), c=c, max_iter=max_iter)
    logits = (test_x.dot(weights) if hasattr(test_x, "n_rows") else test_x @ weights) + bias
    return [names[i] for i in log_softmax(logits).argmax(axis=1)]


def evaluate(
    train: list[dict],
    test: list[dict],
    *,
    embed,
    oos_label: str | None = None,
    seed: int = 0,
    names: bool = True,
) -> dict:
    """One training set, one test set: ours, TF-IDF+LR and MiniLM+LR (neither baseline has a
    threshold: they predict the out-of-scope label only when it has training rows). A label is
    its category's name (no description) for ours' name view; `names=False` trains without."""
    train_texts = [r["text"] for r in train]
    train_labels = [r["label"] for r in train]
    test_texts = [r["text"] for r in test]
    truth = [r["label"] for r in test]
    timings = {}
    started = time.perf_counter()
    train_x, test_x = embed(train_texts), embed(test_texts)
    timings["embed_s"] = round(time.perf_counter() - started, 1)

    in_scope = sorted({label for label in train_labels if label != oos_label})
    name_vectors = (
        dict(zip(in_scope, embed([category_text(label) for label in in_scope]), strict=True))
        if names
        else None
    )
    started = time.perf_counter()
    model = TriageClassifier.fit(
        train_texts,
        train_labels,
        train_x,
        oos_label=oos_label,
        seed=seed,
        name_vectors=name_vectors,
    )
    predictions = model.predict(test_x, test_texts)
    if oos_label:  # abstaining is scored as the out-of-scope answer
        ours = [p.label or oos_label for p in predictions]
    else:  # a set without out-of-scope rows: the best category
        ours = [p.alternatives[0][0] if p.alternatives else "" for p in predictions]
    timings["ours_s"] = round(time.perf_counter() - started, 1)
    # The same model's word view alone, as a deployment without the local encoder serves it
    # (triage.lexical: Bedrock, the Lambda), read from the stored bytes.
    words = LexicalClassifier.from_bytes(model.to_bytes())
    lexical = [words.predict(text) for text in test_texts]
    if oos_label:
        ours_lexical = [p.label or oos_label for p in lexical]
    else:
        ours_lexical = [p.alternatives[0][0] if p.alternatives else "" for p in lexical]

    started = time.perf_counter()
    lexicon = Lexicon.fit(train_texts)
    tfidf = _lr_predict(
        lexicon.transform(train_texts),
        train_labels,
        lexicon.transform(test_texts),
        c=10.0,
        max_iter=100,
    )
    timings["tfidf_lr_s"] = round(time.perf_counter() - started, 1)

    started = time.perf_counter()
    minilm = _lr_predict(train_x, train_labels, test_x, c=10.0, max_iter=200)
    timings["minilm_lr_s"] = round(time.perf_counter() - started, 1)
    return {
        "ours": scores(truth, ours, oos_label),
        "ours_lexical": scores(truth, ours_lexical, oos_label),
        "tfidf_lr": scores(truth, tfidf, oos_label),
        "minilm_lr": scores(truth, minilm, oos_label),
        "n_test": len(test),
        "ours_model": model.report,
        "timings": timings,
    }


def mean_reports(reports: list[dict]) -> dict:
    out = {"n_test": reports[0]["n_test"], "runs": len(reports)}
    for name in ("ours", "ours_lexical", "tfidf_lr", "minilm_lr"):
        out[name] = {}
        for metric in METRICS:
            values = [r[name][metric] for r in reports if r[name][metric] is not None]
            out[name][metric] = round(float(np.mean(values)), 4) if values else None
    out["per_seed"] = reports
    return out
