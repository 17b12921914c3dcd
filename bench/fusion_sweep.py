"""Sweep the local retriever's fusion weights on every eval set at once (knowledge/RETRIEVAL.md).

    .venv/bin/python bench/fusion_sweep.py ../shared/eval/stackfaq ../shared/eval/dstc11_faq \
        ../shared/eval/stackfaq_tickets

Each set's corpus is indexed once with the code a KB sync runs (cached under --cache; delete it
after changing the chunker or the signals), every query is read into a TicketQuery the way
POST /tickets reads a ticket, and the raw per-article score of each signal is computed once.
The grid is then swept in numpy: every setting is scored on every set in the same run, so the
chosen configuration is ONE for all shapes, and settings are ranked by their worst neighbour
on the grid (a plateau, not a spike).
Prints figures; passes or fails nothing; not run in CI.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import pickle
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("SECRET_KEY", "bench")

import django  # noqa: E402

django.setup()

from knowledge import index as index_module  # noqa: E402
from knowledge.backends.local import LocalBackend  # noqa: E402
from knowledge.evaluation import (  # noqa: E402
    article_id_of,
    corpus_documents,
    eval_query,
    isolated_database,
    load_beir,
)
from knowledge.indexing import sync_documents  # noqa: E402
from knowledge.models import Article, SyncJob  # noqa: E402

SIGNALS = index_module.SIGNALS
GRID = (0, 0.25, 0.5, 0.75, 1, 1.5, 2)
METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")


def signal_table(folder: Path, cache: Path) -> dict:
    """Per-article raw scores of every signal for every judged query, cached per folder."""
    target = cache / f"{folder.name}.pkl"
    if target.exists() and target.stat().st_mtime > (folder / "queries.jsonl").stat().st_mtime:
        return pickle.loads(target.read_bytes())
    evalset = load_beir(folder)
    started = time.perf_counter()
    with isolated_database():
        backend = LocalBackend()
        job = SyncJob.objects.create(backend="local", source="sweep", trigger="command")
        sync_documents(job, corpus_documents(evalset.corpus), embed=backend.embedder())
        hybrid = backend.index().hybrid
        keys = dict(Article.objects.values_list("pk", "source_key"))
        names = [article_id_of(keys[a]) for a in hybrid.article_ids]
        qids = list(evalset.qrels)
        scores = {s: np.zeros((len(qids), len(names)), np.float32) for s in SIGNALS}
        for row, qid in enumerate(qids):
            signals = hybrid.signals(eval_query(evalset.queries[qid]))
            for name in SIGNALS:
                scores[name][row] = hybrid._per_article(signals[name])
    table = {"names": names, "scores": scores, "relevant": [evalset.qrels[q] for q in qids]}
    cache.mkdir(parents=True, exist_ok=True)
    target.write_bytes(pickle.dumps(table))
    elapsed = time.perf_counter() - started
    print(f"{folder.name}: {len(qids)} queries, {len(names)} articles, {elapsed:.0f} s")
    return table


class Scorer:
    """Metrics of any weighting of one set's signals, vectorised over queries (the same
    definitions as knowledge.evaluation.metrics; ties rank the relevant article last)."""

    def __init__(self, table: dict) -> None:
        position = {name: i for i, name in enumerate(table["names"])}
        self.z = {}
        for name, raw in table["scores"].items():
            spread = raw.std(axis=1, keepdims=True)
            flat = spread < 1e-9  # a signal that does not discriminate adds nothing
            z = (raw - raw.mean(axis=1, keepdims=True)) / np.where(flat, 1, spread)
            self.z[name] = np.where(flat, 0, z).astype(np.float32)
        pairs = [
            (q, position[doc], gain)
            for q, relevant in enumerate(table["relevant"])
            for doc, gain in relevant.items()
            if doc in position
        ]
        self.q, self.doc, gain = (np.array(column) for column in zip(*pairs, strict=True))
        self.gain = 2.0**gain - 1
        self.n = len(table["relevant"])
        self.n_relevant = np.array([len(r) for r in table["relevant"]], dtype=np.float64)
        self.idcg = np.array(
            [
                sum(
                    (2**g - 1) / math.log2(k + 2)
                    for k, g in enumerate(sorted(r.values())[::-1][:10])
                )
                for r in table["relevant"]
            ]
        )

    def __call__(self, weights: dict[str, float]) -> dict[str, float]:
        total = sum(w * self.z[name] for name, w in weights.items() if w)
        own = total[self.q, self.doc][:, None]
        # Ties count against the relevant article (a title shared by many articles ties them).
        rank = (total[self.q] > own).sum(axis=1) + (total[self.q] == own).sum(axis=1)
        out = {}
        for k in (1, 5, 10):
            hits = np.bincount(self.q, weights=rank <= k, minlength=self.n)
            out[f"recall@{k}"] = float(np.mean(hits / self.n_relevant))
        reciprocal = np.zeros(self.n)
        np.maximum.at(reciprocal, self.q, np.where(rank <= 10, 1.0 / rank, 0.0))
        out["mrr@10"] = float(reciprocal.mean())
        gains = np.where(rank <= 10, self.gain / np.log2(rank + 1), 0.0)
        out["ndcg@10"] = float(
            np.mean(np.bincount(self.q, weights=gains, minlength=self.n) / self.idcg)
        )
        return out


def fmt(m: dict[str, float]) -> str:
    return "/".join(f"{m[k]:.3f}" for k in METRICS)


def neighbours(combo: tuple, known: dict) -> list[tuple]:
    """Settings one grid step away in one weight."""
    out = []
    for i, value in enumerate(combo):
        j = GRID.index(value)
        for step in (-1, 1):
            if 0 <= j + step < len(GRID):
                other = (*combo[:i], GRID[j + step], *combo[i + 1 :])
                if other in known:
                    out.append(other)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/fusion-sweep"))
    parser.add_argument("--signals", default=",".join(SIGNALS), help="signals to sweep")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument(
        "--floor",
        action="append",
        default=[],
        metavar="SET:METRIC=VALUE",
        help="only settings meeting it (e.g. stackfaq:mrr@10=0.975); repeatable",
    )
    args = parser.parse_args()
    scorers = {f.name: Scorer(signal_table(f, args.cache)) for f in args.folders}

    def row(weights):
        return "  ".join(f"{s}: {fmt(score(weights))}" for s, score in scorers.items())

    print("single signals (R@1/R@5/R@10/MRR@10/nDCG@10):")
    for name in SIGNALS:
        print(f"  {name:<14}{row({name: 1})}")
    print(f"  {'current':<14}{row(index_module.WEIGHTS)}")
    swept = args.signals.split(",")
    results = {}
    for combo in itertools.product(GRID, repeat=len(swept)):
        if any(combo):
            weights = dict(zip(swept, combo, strict=True))
            results[combo] = {s: score(weights) for s, score in scorers.items()}

    # One configuration for every set: the mean of MRR@10 + nDCG@10 over the sets, judged by a
    # setting's WORST grid neighbour, so that the choice sits on a plateau, not a spike.
    def quality(combo):
        return statistics.fmean(m["mrr@10"] + m["ndcg@10"] for m in results[combo].values())

    floors = [_floor(text) for text in args.floor]
    eligible = [c for c in results if all(results[c][s][m] >= value for s, m, value in floors)]
    ranked = sorted(
        eligible, key=lambda c: min(quality(n) for n in neighbours(c, results) or [c]), reverse=True
    )
    print(f"most robust of {len(eligible)}/{len(results)} settings meeting the floors:")
    for combo in ranked[: args.top]:
        print(f"  {combo}  " + "  ".join(f"{s}: {fmt(m)}" for s, m in results[combo].items()))


def _floor(text: str) -> tuple[str, str, float]:
    where, value = text.split("=")
    name, metric = where.split(":")
    return name, metric, float(value)


if __name__ == "__main__":
    main()
