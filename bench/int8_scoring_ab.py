"""CPU of the passage scoring, fp32 product against the int8 copy (knowledge/int8_scoring.py),
alternated query by query in one process on one loaded index.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hd_ab .venv/bin/python \\
        bench/int8_scoring_ab.py --rounds 5 --queries 200 [--rows 2000,4000,6000]

Reads the KB's index (never writes). Queries are bench/texts.py ticket payloads (seed 3): a
one-message ticket (one vector) and, for every third, a conversation (two vectors). Each
measurement starts with an encoder pass of its own query (cache cleared), so the matrix is read
after the pass has evicted it from cache, as in a request. Per query and path:

    dense    process CPU of the articles' best passage and heading cosines (fp32: `_dense` and
             `_heading` + reduceat over every passage; int8: `Int8Scorer.maxima`), after the
             encoder pass
    search   process CPU of `HybridIndex.search` (encoder pass, lexical signals, fusion), k=10;
             the two paths' hits are compared (articles, order, passage; score and cosine
             differences)

Prints one JSON line per round (medians, ms) and the medians of the rounds; `--rows` repeats the
dense figure on the first N passages (the threshold INT8_SCORING_ROWS).
"""

import argparse
import copy
import json
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("ENV_FILE", "")
os.environ.setdefault("SECRET_KEY", "bench")
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from bench.texts import customer_pool, ticket_payload  # noqa: E402
from helpdesk.reading import clean_message  # noqa: E402
from knowledge.backends.base import get_backend  # noqa: E402
from knowledge.index import HybridIndex  # noqa: E402
from knowledge.int8_scoring import Int8Scorer  # noqa: E402
from knowledge.query import AGENT, CUSTOMER, TicketQuery, Turn  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def queries(count: int) -> list[TicketQuery]:
    rng = random.Random(3)
    pool = customer_pool(200)
    out = []
    for i in range(count):
        payload = ticket_payload(rng, pool)
        turns = [Turn(CUSTOMER, clean_message(payload["body"]))]
        if i % 3 == 2:
            earlier = ticket_payload(rng, pool)
            turns = [
                Turn(CUSTOMER, clean_message(earlier["body"])),
                Turn(AGENT, "Thanks, we are looking into it."),
                *turns,
            ]
        out.append(TicketQuery.of(subject=payload["subject"], turns=turns))
    return out


def vectors_of(index: HybridIndex, query: TicketQuery) -> np.ndarray:
    index.encoder._cache.clear()
    parts = query.parts()
    vectors = index.encoder.encode_queries([parts.recent, parts.focus])
    return vectors[:1] if parts.recent == parts.focus else vectors


def dense_fp32(index: HybridIndex, vectors: np.ndarray):
    passages = np.maximum.reduceat(index._dense(vectors), index._starts, axis=0)
    return passages, index._per_article(index._heading(vectors))


def one_round(old: HybridIndex, new: HybridIndex, qs: list[TicketQuery]) -> dict:
    cpu = time.process_time
    differing, score_diff, cosine_diff = 0, 0.0, 0.0
    times = {k: [] for k in ("dense_fp32", "dense_int8", "search_fp32", "search_int8")}
    for i, query in enumerate(qs):
        order = (("fp32", old), ("int8", new)) if i % 2 else (("int8", new), ("fp32", old))
        for name, index in order:
            vectors = vectors_of(index, query)  # the encoder pass evicts the matrix
            started = cpu()
            if name == "fp32":
                dense_fp32(index, vectors)
            else:
                index._int8.maxima(vectors)
            times[f"dense_{name}"].append(cpu() - started)
        hits = {}
        for name, index in order:
            index.encoder._cache.clear()
            started = cpu()
            hits[name] = index.search(query, k=10)
            times[f"search_{name}"].append(cpu() - started)
        same = [(h.article_id, h.chunk_id) for h in hits["fp32"]] == [
            (h.article_id, h.chunk_id) for h in hits["int8"]
        ]
        differing += not same
        for old_hit, new_hit in zip(hits["fp32"], hits["int8"], strict=False):
            score_diff = max(score_diff, abs(old_hit.score - new_hit.score))
            cosine_diff = max(cosine_diff, abs(old_hit.cosine - new_hit.cosine))
    medians = {key: round(statistics.median(values) * 1000, 3) for key, values in times.items()}
    return {
        **medians,
        "queries_with_other_hits": differing,
        "max_score_diff": score_diff,
        "max_cosine_diff": cosine_diff,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rows", default="")
    args = parser.parse_args()

    before = rss_mb()
    new = get_backend().index().hybrid
    loaded = rss_mb()
    if new._int8 is None:
        sys.exit("the index has no int8 scorer (fewer passages than INT8_SCORING_ROWS?)")
    old = copy.copy(new)
    old._int8 = None
    again = Int8Scorer.build(new.emb, new._starts, new._head_emb, new._head_of)
    print(
        json.dumps(
            {
                "passages": len(new),
                "articles": len(new.article_ids),
                "rss_index_mb": round(loaded - before, 1),
                "rss_second_int8_scorer_mb": round(rss_mb() - loaded, 1),
            }
        )
    )
    del again
    qs = queries(args.queries)
    for query in qs[:20]:  # warm up both paths
        old.search(query)
        new.search(query)
    rounds = []
    for r in range(args.rounds):
        rounds.append(one_round(old, new, qs))
        print(json.dumps({"round": r + 1, **rounds[-1]}), flush=True)
    medians = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    medians["queries_with_other_hits"] = sum(r["queries_with_other_hits"] for r in rounds)
    medians["max_score_diff"] = max(r["max_score_diff"] for r in rounds)
    medians["max_cosine_diff"] = max(r["max_cosine_diff"] for r in rounds)
    medians["dense_ratio"] = round(medians["dense_int8"] / medians["dense_fp32"], 3)
    medians["search_saved_ms"] = round(medians["search_fp32"] - medians["search_int8"], 3)
    print(json.dumps({"medians_of_rounds": medians}))

    for rows in [int(n) for n in args.rows.split(",") if n]:
        cut = int(np.searchsorted(new._starts, rows))  # whole articles
        end = int(new._starts[cut]) if cut < len(new._starts) else len(new)
        part = copy.copy(old)
        part.emb = new.emb[:end]
        part._starts = new._starts[:cut]
        part._head_of = new._head_of[:end]
        scorer = Int8Scorer.build(part.emb, part._starts, part._head_emb, part._head_of)
        times = {"fp32": [], "int8": []}
        for _ in range(3):
            for query in qs:
                vectors = vectors_of(part, query)
                started = time.process_time()
                dense_fp32(part, vectors)
                times["fp32"].append(time.process_time() - started)
                vectors = vectors_of(part, query)
                started = time.process_time()
                scorer.maxima(vectors)
                times["int8"].append(time.process_time() - started)
        medians = {key: round(statistics.median(v) * 1000, 3) for key, v in times.items()}
        print(json.dumps({"rows": end, **medians}))


if __name__ == "__main__":
    main()
