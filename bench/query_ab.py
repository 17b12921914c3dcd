"""Ticket-shaped retrieval cost of this tree, to compare with another commit's in one session.

Run inside each tree (its own checkout and venv; a commit before knowledge/query.py existed
gets `f"{subject}\\n{body}"`, as its POST /tickets did), on one shared KB folder, each into its
own SQLite file, then alternate the query runs:

    .venv/bin/python -c "from pathlib import Path; from bench.kbgen import generate; \\
        generate(Path('/tmp/ab/kb'), chunks=10000)"                     # once, any tree
    DATABASE_URL=sqlite:////tmp/ab/new.sqlite3 .venv/bin/python bench/query_ab.py index /tmp/ab/kb
    DATABASE_URL=sqlite:////tmp/ab/new.sqlite3 .venv/bin/python bench/query_ab.py query 300

The same 300 tickets as bench/kb.py (seed 5); reading the ticket is inside the timed region.
Prints one JSON line: wall and process-CPU medians per retrieval (CPU counts every thread, and
moves less than wall time on a shared machine).
"""

import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

import django  # noqa: E402

django.setup()

from bench.texts import customer_pool, ticket_payload  # noqa: E402
from knowledge.backends.local import LocalBackend  # noqa: E402
from knowledge.models import SyncJob  # noqa: E402
from knowledge.sources import iter_folder  # noqa: E402

try:
    from knowledge.indexing import sync_documents
    from knowledge.query import CUSTOMER, ticket_query
except ImportError:  # a tree from before the structured query (9b7c80d and earlier)
    from knowledge.services import sync_documents

    ticket_query = None


def as_query(ticket: dict):
    if ticket_query is None:
        return f"{ticket['subject']}\n{ticket['body']}"[:4000]
    return ticket_query(subject=ticket["subject"], messages=[(CUSTOMER, ticket["body"])])


def index(folder: Path) -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    backend = LocalBackend()
    job = SyncJob.objects.create(backend="local", source=str(folder), trigger="command")
    started = time.perf_counter()
    job = sync_documents(job, iter_folder(folder), embed=backend.embedder())
    print(f"indexed {job.added} articles in {time.perf_counter() - started:.1f} s")


def query(n: int) -> None:
    rng = random.Random(5)
    pool = customer_pool(50)
    tickets = [ticket_payload(rng, pool) for _ in range(n)]
    backend = LocalBackend()
    for ticket in tickets[:20]:  # build the index, load the models
        backend.retrieve(as_query(ticket), k=5)
    wall, cpu = [], []
    for ticket in tickets:
        backend._results.clear()  # measure retrieval, not the result cache
        backend.encoder._cache.clear()
        wall_0, cpu_0 = time.perf_counter(), time.process_time()
        backend.retrieve(as_query(ticket), k=5)
        cpu.append((time.process_time() - cpu_0) * 1000)
        wall.append((time.perf_counter() - wall_0) * 1000)
    print(
        json.dumps(
            {
                "tree": "structured" if ticket_query else "one text",
                "n": n,
                "wall_median_ms": round(statistics.median(wall), 2),
                "cpu_median_ms": round(statistics.median(cpu), 2),
                "load": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1] == "index":
        index(Path(sys.argv[2]))
    else:
        query(int(sys.argv[2]))
