"""Precision and recall of "similar tickets" on the stackfaq queries (five rewordings per article
= five tickets that are duplicates of each other), ours against plain cosine on MiniLM.

    .venv/bin/python bench/similar_eval.py [../shared/eval/stackfaq] [--seed 0] [--json]

Each query is a ticket (no subject, its text cleaned as POST /tickets cleans a body). A pair of
tickets is "similar" when their cosine is at or above the threshold; it is a true duplicate when
both rewordings belong to the same article (qrels). Precision and recall are over ordered pairs
(every ticket asks for its similar ones among all the others of its half), micro-averaged.

- ours: the vector POST /tickets stores (triage/vectors.py: encode_queries' focus view, int8
  ONNX, left-truncated to 64 tokens, then stored as int8), at SIMILAR_TICKETS_THRESHOLD's default
  (helpdesk/settings.py). Also shown at the endpoint's default limit (10 per ticket).
- plain: MiniLM (fp32, sentence-transformers-equivalent encode_query) cosine, at its best-F1
  threshold.

The articles are split in two halves at random (seeded): thresholds are chosen on half A (ours'
default was chosen there once, the same way: best F1 on a 0.01 grid, then rounded to 0.05) and
every figure is reported on half B, whose queries chose nothing. Nothing depends on particular
queries.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpdesk.reading import clean_message  # noqa: E402
from knowledge.encoder import Encoder  # noqa: E402
from triage import vectors  # noqa: E402

DEFAULT_LIMIT = 10
GRID = np.round(np.arange(0.30, 0.96, 0.01), 2)


def load(folder: Path) -> tuple[list[str], list[str]]:
    texts = {}
    for line in (folder / "queries.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            texts[row["_id"]] = row["text"]
    article = {}
    for qrels in sorted((folder / "qrels").glob("*.tsv")):
        for line in qrels.read_text().splitlines()[1:]:
            query_id, corpus_id, score = line.split("\t")
            if int(score) > 0 and query_id in texts:
                article[query_id] = corpus_id
    ids = [q for q in texts if q in article]
    return [texts[q] for q in ids], [article[q] for q in ids]


def pair_counts(matrix: np.ndarray, groups: np.ndarray, threshold: float, limit: int | None):
    """(true positives, predicted, relevant) over ordered pairs."""
    sims = matrix @ matrix.T
    np.fill_diagonal(sims, -np.inf)
    same = groups[:, None] == groups[None, :]
    np.fill_diagonal(same, False)
    predicted = sims >= threshold
    if limit is not None:
        order = np.argsort(-sims, axis=1, kind="stable")[:, :limit]
        top = np.zeros_like(predicted)
        np.put_along_axis(top, order, True, axis=1)
        predicted &= top
    return int((predicted & same).sum()), int(predicted.sum()), int(same.sum())


def scores(matrix, groups, threshold, limit=None) -> dict:
    tp, predicted, relevant = pair_counts(matrix, groups, threshold, limit)
    precision = tp / predicted if predicted else 1.0
    recall = tp / relevant if relevant else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "threshold": float(threshold),
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(f1, 3),
        "predicted_pairs": predicted,
    }


def best_threshold(matrix, groups) -> float:
    return float(max(GRID, key=lambda t: (scores(matrix, groups, t)["f1"], -t)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", default="../shared/eval/stackfaq")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=None, help="ours (default: settings)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    if args.threshold is None:
        import os

        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
        os.environ.setdefault("SECRET_KEY", "similar-eval")
        django.setup()
        from django.conf import settings

        args.threshold = settings.SIMILAR_TICKETS_THRESHOLD
        cache_dir = settings.KB_MODEL_CACHE_DIR
    else:
        cache_dir = str(ROOT / "var" / "models")

    texts, articles = load(Path(args.folder))
    cleaned = [clean_message(t) for t in texts]
    encoder = Encoder(cache_dir=cache_dir)
    precision = encoder.prepare_queries()
    ours = vectors.unit(
        vectors.from_bytes(
            [vectors.to_bytes(vectors.encode_vector(encoder, "", body)) for body in cleaned]
        )
    )
    plain = vectors.unit(np.stack([encoder.encode_query(t) for t in texts]))

    names = sorted(set(articles))
    random.Random(args.seed).shuffle(names)
    half_a = set(names[: len(names) // 2])
    in_a = np.array([a in half_a for a in articles])
    groups = np.array(articles)
    a_rows, b_rows = np.flatnonzero(in_a), np.flatnonzero(~in_a)

    chosen_ours = best_threshold(ours[a_rows], groups[a_rows])
    chosen_plain = best_threshold(plain[a_rows], groups[a_rows])
    by_article = defaultdict(int)
    for a in groups[b_rows]:
        by_article[a] += 1
    report = {
        "n_tickets_b": int(len(b_rows)),
        "n_articles_b": len(by_article),
        "query_precision": precision,
        "ours": scores(ours[b_rows], groups[b_rows], args.threshold),
        "ours_limit_10": scores(ours[b_rows], groups[b_rows], args.threshold, DEFAULT_LIMIT),
        "ours_best_on_a": scores(ours[b_rows], groups[b_rows], chosen_ours),
        "plain_minilm": scores(plain[b_rows], groups[b_rows], chosen_plain),
        "int8_storage_cosine_kept": round(
            float(
                np.mean(
                    np.sum(
                        ours
                        * vectors.unit(
                            np.stack([vectors.encode_vector(encoder, "", b) for b in cleaned])
                        ),
                        axis=1,
                    )
                )
            ),
            5,
        ),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"half B: {report['n_tickets_b']} tickets, {report['n_articles_b']} articles")
    for name in ("ours", "ours_limit_10", "ours_best_on_a", "plain_minilm"):
        r = report[name]
        print(
            f"{name:16s} threshold {r['threshold']:.2f}  precision {r['precision']:.3f}  "
            f"recall {r['recall']:.3f}  F1 {r['f1']:.3f}  ({r['predicted_pairs']} pairs)"
        )
    print(f"mean cosine of the stored int8 vector to float32: {report['int8_storage_cosine_kept']}")


if __name__ == "__main__":
    main()
