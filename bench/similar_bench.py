"""Cost of GET /tickets/{id}/similar at 100k tickets: latency medians and memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hd_sim_bench \\
        .venv/bin/python bench/similar_bench.py [--tickets 100000] [--open-fraction 1.0]
    DATABASE_URL=sqlite:////tmp/hd_sim_bench.sqlite3 .venv/bin/python bench/similar_bench.py

Migrates the database, fills it once with --tickets tickets and their embeddings (reused by
later runs with the same counts; --open-fraction of them open, the rest closed), then measures
in this process:

- the matrix build (what a process does on its first ask and every FULL_REFRESH_SECONDS):
  wall time, the matrix's bytes, the process RSS it adds;
- GET /tickets/{id}/similar through the whole Django stack (API-key auth, middleware, JSON),
  steady state: median and p90 over --queries random tickets;
- the same while tickets arrive: one new ticket + embedding before each request (the top-up).

Vectors are synthetic but shaped like tickets: 625 real MiniLM query vectors (the stackfaq
questions) as topics, each ticket a topic plus noise (cosine ≈ 0.75 to its topic), so a ticket
has ~160 look-alikes above the default threshold: a worst case for the database re-check.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("SECRET_KEY", "bench")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from customers.models import Customer  # noqa: E402
from helpdesk.models import ApiKey  # noqa: E402
from tickets.models import Ticket  # noqa: E402
from triage import similar, vectors  # noqa: E402
from triage.models import TicketEmbedding  # noqa: E402

CUSTOMERS = 20_000
BATCH = 5_000


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def topics() -> np.ndarray:
    """The stackfaq questions' query vectors (real tickets' shape), or random ones offline."""
    import json

    path = ROOT.parent / "shared/eval/stackfaq/queries.jsonl"
    if not path.exists():
        path = Path("/work/shared/eval/stackfaq/queries.jsonl")
    if path.exists():
        from knowledge.backends.local import shared_encoder

        encoder = shared_encoder()
        texts = [json.loads(line)["text"] for line in path.read_text().splitlines() if line]
        return np.stack([vectors.encode_vector(encoder, "", t) for t in texts])
    return vectors.unit(np.random.default_rng(0).standard_normal((625, 384)))


def fill(n: int, open_fraction: float) -> None:
    have = Ticket.objects.count()
    open_now = Ticket.objects.filter(status__in=Ticket.ACTIVE_STATUSES).count()
    if (
        have == n
        and TicketEmbedding.objects.count() == n
        and abs(open_now / n - open_fraction) < 0.01
    ):
        print(f"reusing {n} tickets")
        return
    print(f"filling: {n} tickets ({open_fraction:.0%} open), {CUSTOMERS} customers ...")
    TicketEmbedding.objects.all().delete()
    Ticket.objects.all().delete()
    Customer.objects.all().delete()
    Customer.objects.bulk_create(
        [Customer(email=f"bench{i}@example.com", name=f"Bench {i}") for i in range(CUSTOMERS)],
        batch_size=BATCH,
    )
    customer_ids = list(Customer.objects.values_list("pk", flat=True))
    centres = topics()
    rng = np.random.default_rng(0)
    now = timezone.now()
    for start in range(0, n, BATCH):
        size = min(BATCH, n - start)
        topic = rng.integers(0, len(centres), size)
        noise = vectors.unit(rng.standard_normal((size, 384))) * 0.88
        vecs = vectors.unit(centres[topic] + noise)
        closed = rng.random(size) >= open_fraction
        with transaction.atomic():
            tickets = Ticket.objects.bulk_create(
                [
                    Ticket(
                        customer_id=customer_ids[int(rng.integers(len(customer_ids)))],
                        subject=f"Bench ticket {start + i} (topic {topic[i]})",
                        body="Synthetic ticket for bench/similar_bench.py.",
                        body_clean="Synthetic ticket for bench/similar_bench.py.",
                        status=Ticket.Status.CLOSED if closed[i] else Ticket.Status.OPEN,
                        resolved_at=now if closed[i] else None,
                    )
                    for i in range(size)
                ]
            )
            if tickets[0].pk is None:  # a backend that does not return ids
                tickets = list(Ticket.objects.order_by("-pk")[:size])[::-1]
            TicketEmbedding.objects.bulk_create(
                [
                    TicketEmbedding(ticket_id=t.pk, vector=vectors.to_bytes(v))
                    for t, v in zip(tickets, vecs, strict=True)
                ]
            )
        print(f"  {start + size} tickets")
    # Stored a day ago, as a helpdesk's older tickets were (not inside the top-up's window).
    TicketEmbedding.objects.update(created_at=now - timedelta(days=1))


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--open-fraction", type=float, default=1.0)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    fill(args.tickets, args.open_fraction)
    print(
        f"database: {connection.vendor}; tickets {Ticket.objects.count()}, open "
        f"{Ticket.objects.filter(status__in=Ticket.ACTIVE_STATUSES).count()}; threshold "
        f"{settings.SIMILAR_TICKETS_THRESHOLD}"
    )

    similar.forget_matrix()
    before = rss_mb()
    builds = []
    for _ in range(3):
        similar.forget_matrix()
        builds.append(timed(similar.open_matrix))
    matrix = similar.open_matrix()
    print(
        f"matrix build: median {statistics.median(builds):.0f} ms (3 builds); {matrix.size} rows, "
        f"{matrix.nbytes() / 2**20:.1f} MiB of arrays, process RSS +{rss_mb() - before:.0f} MiB "
        f"(now {rss_mb():.0f} MiB)"
    )

    ApiKey.objects.filter(name="similar-bench").delete()
    _, key = ApiKey.objects.create_key(name="similar-bench", scopes="agent")
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the test client's host
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
    ids = list(
        Ticket.objects.filter(status__in=Ticket.ACTIVE_STATUSES).values_list("pk", flat=True)
    )
    picks = random.Random(0).sample(ids, min(args.queries, len(ids)))
    client.get(f"/tickets/{picks[0]}/similar")  # warm: auth cache, encoder import

    def ask(pk: int) -> None:
        response = client.get(f"/tickets/{pk}/similar")
        assert response.status_code == 200, response.content

    def read(pk: int) -> None:
        assert client.get(f"/tickets/{pk}").status_code == 200

    # Interleaved with a plain ticket read, the same run's baseline for the stack's own cost.
    steady, plain = [], []
    for pk in picks:
        steady.append(timed(ask, pk))
        plain.append(timed(read, pk))
    sizes = [len(client.get(f"/tickets/{pk}/similar").json()["results"]) for pk in picks[:20]]
    scoring = [timed(matrix.scores, vectors.unit(matrix.rows[i])) for i in range(50)]
    print(
        f"GET /tickets/{{id}}/similar steady: median {statistics.median(steady):.1f} ms, p90 "
        f"{np.percentile(steady, 90):.1f} ms ({len(picks)} tickets; answers of "
        f"{min(sizes)}-{max(sizes)} results); of which scoring the matrix: median "
        f"{statistics.median(scoring):.1f} ms; GET /tickets/{{id}} (baseline, same run): median "
        f"{statistics.median(plain):.1f} ms"
    )

    customer = Customer.objects.first()
    arriving = []
    rng = np.random.default_rng(1)
    for pk in picks[:50]:
        ticket = Ticket.objects.create(
            customer=customer, subject="Arriving", body="New ticket.", body_clean="New ticket."
        )
        TicketEmbedding.objects.create(
            ticket=ticket, vector=vectors.to_bytes(rng.standard_normal(384))
        )
        arriving.append(timed(ask, pk))
    print(
        f"GET /tickets/{{id}}/similar with a new ticket before each: median "
        f"{statistics.median(arriving):.1f} ms (50 requests); RSS now {rss_mb():.0f} MiB"
    )
    TicketEmbedding.objects.filter(ticket__subject="Arriving").delete()
    Ticket.objects.filter(subject="Arriving").delete()
    ApiKey.objects.filter(name="similar-bench").delete()


if __name__ == "__main__":
    main()
