"""Retrieval evaluation on a BEIR-layout folder (corpus.jsonl, queries.jsonl, qrels/*.tsv).

The corpus is indexed through the same code as a KB sync (each line an article), into a
temporary SQLite database so the live KB is never touched; every query then goes through the
backend's `retrieve`, the call POST /tickets makes, with passages collapsed to articles. Plain
BM25 and plain embeddings are measured in the same run as baselines.

A query line has one of three shapes (../shared/eval/README.md): `{"text"}` (a one-message
ticket), `{"subject", "text"}` (a ticket: subject + first message) and `{"text", "turns": [{"role",
"text"}, ...]}` (a conversation, oldest first). The retriever gets each as the structured query
a ticket makes (knowledge.query); the baselines get the same words as one plain text (subject and
messages joined), so the comparison stays fair.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.core.management import call_command
from django.db import connections
from django.db.utils import load_backend

from knowledge.query import CUSTOMER, TicketQuery, ticket_query
from knowledge.sources import DocumentContent, SourceDocument

CUTOFFS = (1, 5, 10)


@dataclass(frozen=True)
class EvalSet:
    corpus: list[dict]
    queries: dict[str, dict]  # query id → the queries.jsonl line
    qrels: dict[str, dict[str, int]]  # query id → {article id: relevance}


def load_beir(folder: str | Path) -> EvalSet:
    folder = Path(folder)
    corpus = [json.loads(line) for line in _lines(folder / "corpus.jsonl")]
    queries = {q["_id"]: q for q in map(json.loads, _lines(folder / "queries.jsonl"))}
    qrels: dict[str, dict[str, int]] = {}
    qrel_files = sorted((folder / "qrels").glob("*.tsv"))
    if not qrel_files:
        raise FileNotFoundError(f"No qrels/*.tsv in {folder}")
    for path in qrel_files:
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle, delimiter="\t"):
                if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
                    continue  # the header line, or a blank one
                if int(row[2]) > 0:
                    qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    qrels = {qid: rels for qid, rels in qrels.items() if qid in queries}
    return EvalSet(corpus=corpus, queries=queries, qrels=qrels)


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield line


def query_messages(line: dict) -> list[dict[str, str]]:
    """A query line's messages, oldest first: its `turns`, else `text` as one customer message
    (never split on newlines: a newline inside a message is not a turn)."""
    turns = line.get("turns")
    if isinstance(turns, list) and turns:
        return [{"role": t.get("role", CUSTOMER), "text": t.get("text") or ""} for t in turns]
    return [{"role": CUSTOMER, "text": line.get("text") or ""}]


def eval_query(line: dict) -> TicketQuery:
    """What POST /tickets (or a ticket's conversation) would hand the retriever."""
    return ticket_query(subject=line.get("subject") or "", messages=query_messages(line))


def plain_text(line: dict) -> str:
    """The baselines' query: the same subject and messages as one text."""
    texts = [line.get("subject") or "", *(m["text"] for m in query_messages(line))]
    return "\n".join(t for t in texts if t)


def corpus_documents(corpus: list[dict]) -> Iterator[SourceDocument]:
    """Each corpus line as a Markdown document, keyed by its id."""
    for doc in corpus:
        text = f"# {doc.get('title') or doc['_id']}\n\n{doc.get('text', '')}\n".encode()
        yield SourceDocument(
            key=f"{doc['_id']}.md",
            uri=f"beir:{doc['_id']}",
            version="",
            read=lambda text=text: DocumentContent(text),
        )


def article_id_of(source_key: str) -> str:
    return source_key.removesuffix(".md")


def metrics(ranked: list[str], relevant: dict[str, int]) -> dict[str, float]:
    """Recall@1/5/10, MRR@10, nDCG@10 (graded gains) for one query."""
    result = {}
    for k in CUTOFFS:
        hits = sum(1 for doc in ranked[:k] if doc in relevant)
        result[f"recall@{k}"] = hits / len(relevant)
    result["mrr@10"] = next(
        (1 / rank for rank, doc in enumerate(ranked[:10], start=1) if doc in relevant), 0.0
    )
    dcg = sum(
        (2 ** relevant.get(doc, 0) - 1) / math.log2(rank + 1)
        for rank, doc in enumerate(ranked[:10], start=1)
    )
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum((2**gain - 1) / math.log2(rank + 1) for rank, gain in enumerate(ideal, start=1))
    result["ndcg@10"] = dcg / idcg if idcg else 0.0
    return result


def mean_metrics(per_query: list[dict[str, float]]) -> dict[str, float]:
    return {name: round(statistics.fmean(m[name] for m in per_query), 4) for name in per_query[0]}


def evaluate(
    evalset: EvalSet, search: Callable[[dict], list[str]]
) -> tuple[dict[str, float], list[float]]:
    """Macro-averaged metrics and per-query latencies (ms) of `search` (a queries.jsonl line →
    article ids)."""
    per_query, latencies = [], []
    for qid, relevant in evalset.qrels.items():
        started = time.perf_counter()
        ranked = search(evalset.queries[qid])
        latencies.append((time.perf_counter() - started) * 1000)
        per_query.append(metrics(ranked, relevant))
    return mean_metrics(per_query), latencies


def latency_summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return {"median_ms": round(statistics.median(ordered), 2), "p99_ms": round(p99, 2)}


@contextmanager
def isolated_database() -> Iterator[Path]:
    """Make the default database a fresh, migrated SQLite file for the duration.

    The live connection is set aside untouched (with any transaction it holds) and put back.
    """
    original = connections["default"]
    with tempfile.TemporaryDirectory(prefix="kb-eval-") as folder:
        path = Path(folder) / "eval.sqlite3"
        settings_dict = connections.configure_settings(
            {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}}
        )["default"]
        isolated = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "default")
        connections["default"] = isolated
        try:
            call_command("migrate", verbosity=0, interactive=False)
            yield path
        finally:
            isolated.close()
            connections["default"] = original
