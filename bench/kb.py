"""Knowledge-base figures: query latency at N chunks, sync vs raw encoder throughput, an
unchanged re-sync of 1,000 documents, and the memory of a process serving the index.

    .venv/bin/python bench/kb.py                 # 10,000 chunks
    .venv/bin/python bench/kb.py --chunks 2000 --queries 100

Runs in-process on a temporary SQLite database (the live KB is never touched), with the same
code as `kb_sync` and `POST /tickets`' retrieval. Prints figures; passes or fails nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("SECRET_KEY", "bench")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from bench.kbgen import generate  # noqa: E402
from bench.texts import customer_pool, ticket_payload  # noqa: E402
from knowledge.backends.local import LocalBackend  # noqa: E402
from knowledge.chunking import chunk_text, passage_text  # noqa: E402
from knowledge.encoder import Encoder  # noqa: E402
from knowledge.evaluation import isolated_database, latency_summary  # noqa: E402
from knowledge.indexing import sync_documents  # noqa: E402
from knowledge.models import SyncJob  # noqa: E402
from knowledge.query import CUSTOMER, TicketQuery, ticket_query  # noqa: E402
from knowledge.sources import iter_folder, parse  # noqa: E402


def sync(backend: LocalBackend, folder: Path) -> tuple[SyncJob, float, float]:
    """The job, its wall time, and the part of it spent inside the encoder."""
    embed = backend.embedder()
    in_encoder = 0.0

    def timed_embed(texts: list[str]) -> list[bytes]:
        nonlocal in_encoder
        started = time.perf_counter()
        vectors = embed(texts)
        in_encoder += time.perf_counter() - started
        return vectors

    job = SyncJob.objects.create(backend="local", source=str(folder), trigger="command")
    started = time.perf_counter()
    job = sync_documents(job, iter_folder(folder), embed=timed_embed)
    return job, time.perf_counter() - started, in_encoder


def raw_encoder_rate(backend: LocalBackend, folder: Path, sample: int) -> tuple[float, int]:
    """Passages/s of the bare encoder on passages of the same KB (what sync must keep up with)."""
    texts = []
    for document in iter_folder(folder):
        parsed = parse(document, document.read())
        texts += [
            passage_text(parsed.title, c.heading_path, c.text) for c in chunk_text(parsed.text)
        ]
        if len(texts) >= sample:
            break
    texts = texts[:sample]
    backend.encoder.encode_passages(texts[:32])  # load the model before timing
    started = time.perf_counter()
    backend.encoder.encode_passages(texts)
    return len(texts) / (time.perf_counter() - started), len(texts)


def query_latency(backend: LocalBackend, queries: list[TicketQuery | str]) -> dict:
    backend.retrieve(queries[0], k=5)  # build the index and load the query model
    latencies = []
    for query in queries:
        backend._results.clear()  # measure retrieval, not the result cache
        backend.encoder._cache.clear()
        started = time.perf_counter()
        backend.retrieve(query, k=5)
        latencies.append((time.perf_counter() - started) * 1000)
    return latency_summary(latencies)


def serving_rss(db_path: Path) -> float:
    """RSS (MB) of a fresh process that loads Django, builds the index and answers a query."""
    code = (
        "import django; django.setup()\n"
        "from knowledge.backends.local import LocalBackend\n"
        "b = LocalBackend(); b.retrieve('my blender arrived broken', k=5)\n"
        # ru_maxrss survives exec on Linux (it would report the parent's peak); VmHWM does not.
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(int(hwm.split()[1]) / 1024)\n"
    )
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db_path}", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return round(float(out.stdout.strip().splitlines()[-1]), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--resync-docs", type=int, default=1000)
    parser.add_argument("--encoder-sample", type=int, default=512)
    args = parser.parse_args()

    report: dict = {"cpus": os.cpu_count(), "load_avg": os.getloadavg()}
    rng = random.Random(5)
    pool = customer_pool(50)
    tickets = [ticket_payload(rng, pool) for _ in range(args.queries)]
    # What POST /tickets hands the retriever: the subject and the cleaned body, one message.
    started = time.perf_counter()
    queries = [
        ticket_query(subject=t["subject"], messages=[(CUSTOMER, t["body"])]) for t in tickets
    ]
    report["reading_ms_per_ticket"] = round(
        (time.perf_counter() - started) * 1000 / len(tickets), 3
    )
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        kb = Path(tmp) / "kb"
        articles, chunks = generate(kb, chunks=args.chunks)
        with isolated_database() as db_path:
            backend = LocalBackend()
            rate, sampled = raw_encoder_rate(backend, kb, args.encoder_sample)
            job, seconds, in_encoder = sync(backend, kb)
            # Two views of "the raw encoder in the same run": its own rate during the sync (same
            # load, same texts), and a separate sample timed before the sync.
            report["sync"] = {
                "articles": articles,
                "chunks": chunks,
                "articles_stored": job.added,
                "seconds": round(seconds, 1),
                "chunks_per_s": round(chunks / seconds, 1),
                "encoder_passages_per_s_during_sync": round(chunks / in_encoder, 1),
                "ratio_to_encoder_during_sync": round(in_encoder / seconds, 2),
                "raw_encoder_sample_passages_per_s": round(rate, 1),
                "raw_encoder_sample": sampled,
                "ratio_to_raw_encoder_sample": round(chunks / seconds / rate, 2),
            }
            precision = settings.KB_QUERY_PRECISION
            report["query"] = {
                "chunks": chunks,
                "query_precision": precision,
                **query_latency(backend, queries),
            }
            one_line = [t["body"].split("\n")[-1] for t in tickets]
            report["query_one_line"] = query_latency(backend, one_line)
            # Baseline in the same run, same index and queries: the exact fp32 query encoder.
            exact = LocalBackend(
                Encoder(
                    cache_dir=settings.KB_MODEL_CACHE_DIR,
                    num_threads=settings.KB_ENCODER_THREADS or None,
                    query_precision="fp32",
                )
            )
            report["query_fp32"] = query_latency(exact, queries)
            report["serving_rss_mb"] = serving_rss(db_path)

        small = Path(tmp) / "small"
        small.mkdir()
        for n in range(args.resync_docs):
            (small / f"doc-{n:04d}.md").write_text(
                f"# Article {n}\n\nParagraph about topic {n}, with a few words to index.\n"
            )
        with isolated_database():
            backend = LocalBackend()
            first, first_s, _ = sync(backend, small)
            again, again_s, _ = sync(backend, small)
            report["resync_unchanged"] = {
                "documents": args.resync_docs,
                "first_sync_s": round(first_s, 2),
                "unchanged_resync_s": round(again_s, 3),
                "unchanged": again.unchanged,
            }
    report["bench_process_peak_rss_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    print(json.dumps(report, indent=2))
    sync_report, query = report["sync"], report["query"]
    exact = report["query_fp32"]
    print(
        f"\nreading a ticket (helpdesk.reading): {report['reading_ms_per_ticket']} ms\n"
        f"query at {query['chunks']} chunks ({query['query_precision']} query encoder): "
        f"median {query['median_ms']} ms, p99 {query['p99_ms']} ms (target median <= 15 ms); "
        f"fp32 query encoder: median {exact['median_ms']} ms, p99 {exact['p99_ms']} ms "
        f"(ratio {round(query['median_ms'] / exact['median_ms'], 2)})\n"
        f"sync: {sync_report['chunks_per_s']} chunks/s vs the encoder's own "
        f"{sync_report['encoder_passages_per_s_during_sync']} passages/s in the same sync = "
        f"{sync_report['ratio_to_encoder_during_sync']}x (separate sample: "
        f"{sync_report['ratio_to_raw_encoder_sample']}x; target >= 0.8x)\n"
        f"unchanged re-sync of {args.resync_docs} docs: "
        f"{report['resync_unchanged']['unchanged_resync_s']} s (target <= 2 s)\n"
        f"serving process RSS: {report['serving_rss_mb']} MB (target <= 700 MB)"
    )


if __name__ == "__main__":
    main()
