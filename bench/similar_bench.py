"""Cost of GET /tickets/{id}/similar at 100k tickets: latency medians and memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hd_sim_bench \\
        .venv/bin/python bench/similar_bench.py [--tickets 100000] [--open-fraction 1.0]
    DATABASE_URL=sqlite:////tmp/hd_sim_bench.sqlite3 .venv/bin/python bench/similar_bench.py
    DATABASE_URL=... .venv/bin/python bench/similar_bench.py --encoder bedrock

With `--encoder bedrock` (SIMILAR_ENCODER=bedrock, the Lambda's way: triage/similar_bedrock.py)
the embeddings are Titan-shaped (SIMILAR_BEDROCK_DIMENSIONS components, int8, and sign bits)
and there is no matrix: each ask is the database's Hamming pass over the open tickets' sign bits
(one statement on Postgres) and the cosine of the nearest CANDIDATES. It reports that ask's
median and p90, the first pass alone, and how many of the exact top-`limit` tickets (by the
int8 cosine, computed here over every open ticket) the two passes answered.

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
from triage import similar, similar_bedrock, vectors  # noqa: E402
from triage.models import TicketEmbedding  # noqa: E402
from triage.similar_base import DEFAULT_LIMIT, LOCAL_MODEL  # noqa: E402

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


def fill(n: int, open_fraction: float, encoder: str) -> None:
    have = Ticket.objects.count()
    open_now = Ticket.objects.filter(status__in=Ticket.ACTIVE_STATUSES).count()
    tag = model_tag(encoder)
    if (
        have == n
        and TicketEmbedding.objects.filter(model=tag).count() == n
        and abs(open_now / n - open_fraction) < 0.01
    ):
        print(f"reusing {n} tickets")
        return
    print(f"filling: {n} tickets ({open_fraction:.0%} open), {CUSTOMERS} customers ...")
    if connection.vendor == "postgresql":  # a cascading delete of 100k tickets by the ORM
        tables = [m._meta.db_table for m in (TicketEmbedding, Ticket, Customer)]
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
    else:
        TicketEmbedding.objects.all().delete()
        Ticket.objects.all().delete()
        Customer.objects.all().delete()
    Customer.objects.bulk_create(
        [Customer(email=f"bench{i}@example.com", name=f"Bench {i}") for i in range(CUSTOMERS)],
        batch_size=BATCH,
    )
    customer_ids = list(Customer.objects.values_list("pk", flat=True))
    centres = topics() if encoder == "local" else titan_topics()
    dimensions = centres.shape[1]
    rng = np.random.default_rng(0)
    now = timezone.now()
    for start in range(0, n, BATCH):
        size = min(BATCH, n - start)
        topic = rng.integers(0, len(centres), size)
        # Each ticket near its topic (cosine ≈ 0.75 for MiniLM; ≈ 0.82 for Titan's vectors,
        # whose random noise is less correlated with other tickets' in 1,024 dimensions, so
        # that a topic's ~160 tickets are above the threshold of one another for both).
        spread = 0.88 if encoder == "local" else 0.7
        noise = vectors.unit(rng.standard_normal((size, dimensions))) * spread
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
                [embedding(t.pk, v, encoder) for t, v in zip(tickets, vecs, strict=True)]
            )
        print(f"  {start + size} tickets")
    # Stored a day ago, as a helpdesk's older tickets were (not inside the top-up's window).
    TicketEmbedding.objects.update(created_at=now - timedelta(days=1))
    if connection.vendor == "postgresql":  # statistics and visibility, as autovacuum keeps them
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def titan_topics() -> np.ndarray:
    """Titan-sized topic vectors: random, as no Titan answers here."""
    dimensions = settings.SIMILAR_BEDROCK_DIMENSIONS
    return vectors.unit(np.random.default_rng(0).standard_normal((625, dimensions)))


def model_tag(encoder: str) -> str:
    return LOCAL_MODEL if encoder == "local" else similar_bedrock.model_tag()


def embedding(ticket_id: int, vector: np.ndarray, encoder: str) -> TicketEmbedding:
    if encoder == "local":
        return TicketEmbedding(ticket_id=ticket_id, vector=vectors.to_bytes(vector))
    components, bits = similar_bedrock.pack([float(x) for x in vector])
    return TicketEmbedding(
        ticket_id=ticket_id, vector=components, bits=bits, model=similar_bedrock.model_tag()
    )


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--open-fraction", type=float, default=1.0)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--encoder", choices=["local", "bedrock"], default="local")
    args = parser.parse_args()
    settings.SIMILAR_ENCODER = args.encoder

    call_command("migrate", verbosity=0)
    fill(args.tickets, args.open_fraction, args.encoder)
    print(
        f"database: {connection.vendor}; tickets {Ticket.objects.count()}, open "
        f"{Ticket.objects.filter(status__in=Ticket.ACTIVE_STATUSES).count()}; threshold "
        f"{settings.SIMILAR_TICKETS_THRESHOLD}; encoder {args.encoder}"
    )
    if args.encoder == "bedrock":
        bedrock_asks(args.queries)
        return

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

    client = api_client()
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


def api_client() -> Client:
    ApiKey.objects.filter(name="similar-bench").delete()
    _, key = ApiKey.objects.create_key(name="similar-bench", scopes="agent")
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the test client's host
    return Client(HTTP_AUTHORIZATION=f"Api-Key {key}")


def bedrock_asks(queries: int) -> None:
    """The Titan path: two passes in the database per ask, no per-process matrix."""
    client = api_client()
    open_rows = list(
        TicketEmbedding.objects.filter(
            model=similar_bedrock.model_tag(), ticket__status__in=Ticket.ACTIVE_STATUSES
        ).values_list("ticket_id", "vector", "bits")
    )
    ids = np.array([pk for pk, _, _ in open_rows])
    matrix = vectors.unit(
        np.frombuffer(b"".join(bytes(v) for _, v, _ in open_rows), dtype=np.int8).reshape(
            len(open_rows), -1
        )
    )
    bits = {pk: int.from_bytes(bytes(b), "big") for pk, _, b in open_rows}
    picks = random.Random(0).sample(range(len(open_rows)), min(queries, len(open_rows)))
    client.get(f"/tickets/{ids[picks[0]]}/similar")  # warm: auth cache, imports

    def ask(pk: int) -> list[int]:
        response = client.get(f"/tickets/{pk}/similar")
        assert response.status_code == 200, response.content
        return [r["id"] for r in response.json()["results"]]

    def read(pk: int) -> None:
        assert client.get(f"/tickets/{pk}").status_code == 200

    steady, plain, first_pass, found, expected = [], [], [], 0, 0
    k = max(similar_bedrock.CANDIDATES, 4 * DEFAULT_LIMIT)
    for at in picks:
        pk = int(ids[at])
        started = time.perf_counter()
        answered = ask(pk)
        steady.append((time.perf_counter() - started) * 1000)
        plain.append(timed(read, pk))
        first_pass.append(timed(similar_bedrock._nearest, pk, bits[pk], k))
        # The exact answer: every open ticket's cosine to this one, at the threshold.
        cosines = matrix @ matrix[at]
        cosines[at] = -1.0
        above = np.flatnonzero(cosines >= settings.SIMILAR_TICKETS_THRESHOLD)
        exact = above[np.argsort(-cosines[above], kind="stable")][:DEFAULT_LIMIT]
        expected += len(exact)
        found += len({int(i) for i in ids[exact]} & set(answered))
    print(
        f"GET /tickets/{{id}}/similar (bedrock) steady: median {statistics.median(steady):.1f} ms, "
        f"p90 {np.percentile(steady, 90):.1f} ms ({len(picks)} tickets); of which the first "
        f"pass (Hamming, {k} nearest): median {statistics.median(first_pass):.1f} ms; "
        f"GET /tickets/{{id}} (baseline, same run): median {statistics.median(plain):.1f} ms; "
        f"exact top-{DEFAULT_LIMIT} at the threshold answered: {found} of {expected} "
        f"({found / max(expected, 1):.3f})"
    )
    ApiKey.objects.filter(name="similar-bench").delete()


if __name__ == "__main__":
    main()
