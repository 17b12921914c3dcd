"""Fewer round trips per POST /tickets, one step at a time: the old and the new path of a step
alternated request by request in one process on Postgres (as bench/insert_chain_ab.py did for
the INSERT chain). Measured per request: the request thread's CPU (`time.thread_time()`)
around the step and around the whole POST /tickets, the wall time, and the Postgres backend's
CPU (from /proc, in clock ticks: only its mean over a run means anything).

    .venv/bin/python bench/trips_ab.py --step interaction --db-name hd_ab --requests 300

Uses an existing bench database as it is (e.g. the 10k-chunk one `bench/run.py --keep-db
--chunks 10000 --db-name hd_ab` leaves; migrated to this checkout) and keeps it; creates an
`agent` API key, sends `--warmup` POST /tickets, then `--requests` pairs through Django's test
client, the two paths in random order within each pair. The switch exists only here. Steps:

- `interaction`: the ticket's log write as one guarded statement (the Postgres function) or
  as SAVEPOINT + INSERT + RELEASE (a client-side savepoint around the compiled INSERT).
- `customer360`: customer_360's orders (with the per-currency figures) and tickets (with the
  counts) as one statement (CompiledReads), or as two.
- `lookup`: the customer's look-up by e-mail and their recent interactions (the database
  store) as one statement, or as two.

Prints JSON: medians, means and new/old ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

from inprocess import BackendCpu, create_api_key, settings_env

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
STEPS = ("interaction", "customer360", "lookup")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--step", choices=STEPS, required=True)
    parser.add_argument("--db-name", default="hd_ab")
    parser.add_argument("--requests", type=int, default=300, help="pairs")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--runs", type=int, default=1, help="repeat the pairs, one report each")
    args = parser.parse_args(argv)

    env = settings_env(args.db_name)
    key = create_api_key(env, "trips-ab")
    os.environ.update(env)
    reports = measure(key, args)
    print(json.dumps(reports if len(reports) > 1 else reports[0], indent=2))
    return 0


def _switch(step: str):
    """(the function to time, set_mode(new: bool)) for `step`: patches in the old path or
    the new one, as the service would call it."""
    from customers import interactions, selectors
    from tickets import services

    if step == "interaction":
        store = interactions.DatabaseInteractionStore
        new_append = store.append_in_transaction

        def old_append(self, record):
            from django.db import transaction

            with transaction.atomic():  # SAVEPOINT, INSERT, RELEASE
                self._append_insert(record)

        def set_mode(new: bool) -> None:
            store.append_in_transaction = new_append if new else old_append

        return (store, "append_in_transaction"), set_mode
    if step == "customer360":
        new_reads = selectors.customer_360_rows

        def two_reads(customer_id):
            from tickets.selectors import open_tickets_read

            orders = selectors._orders_and_figures.rows(customer_id)
            tickets = open_tickets_read[0].rows(customer_id, shape=(selectors.OPEN_TICKETS,))
            return orders, tickets

        def set_mode(new: bool) -> None:
            selectors.customer_360_rows = new_reads if new else two_reads

        return (services, "customer_360"), set_mode
    if step == "lookup":
        one_read = services._customer_and_history

        def two_reads(payload, degraded, *, with_customer):
            customer = services._resolve_customer(payload)
            return customer, services._recent_interactions(customer, degraded)

        def set_mode(new: bool) -> None:
            services._customer_and_history = one_read if new else two_reads

        return (services, "_customer_and_history"), set_mode
    raise ValueError(step)


def measure(key: str, args: argparse.Namespace) -> list[dict]:
    sys.path[:0] = [str(ROOT), str(BENCH)]
    import django

    django.setup()
    from django.test import Client
    from texts import customer_pool, ticket_payload

    (owner, name), set_mode = _switch(args.step)
    spent: list[float] = []
    current = {}

    def timed(*a, **kw):  # around whichever path is patched in (a function or a method)
        started = time.thread_time()
        try:
            return current["fn"](*a, **kw)
        finally:
            spent.append(time.thread_time() - started)

    def mode(new: bool) -> None:
        set_mode(new)
        patched = vars(owner)[name]
        if patched is not timed:  # the switch replaced the timed function itself
            current["fn"] = patched
            setattr(owner, name, timed)

    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}", REMOTE_ADDR="127.0.0.1")
    rng = random.Random(1)
    pool = customer_pool(200)
    backend = BackendCpu()

    def post(new: bool) -> tuple[float, float, float, float]:
        mode(new)
        body = json.dumps(ticket_payload(rng, pool))
        spent.clear()
        backend_started = backend.seconds()
        wall_started, started = time.perf_counter(), time.thread_time()
        response = client.post("/tickets", body, content_type="application/json")
        request, wall = time.thread_time() - started, time.perf_counter() - wall_started
        server = backend.seconds() - backend_started
        assert response.status_code == 201, (response.status_code, response.content[:500])
        assert response.json()["degraded"] == [], response.json()["degraded"]
        [step] = spent
        return step * 1000, request * 1000, wall * 1000, server * 1000

    for i in range(args.warmup):
        post(i % 2 == 0)
    backend.attach()
    order = random.Random(2)
    reports = []
    for _ in range(args.runs):
        results: dict[bool, list[tuple[float, ...]]] = {True: [], False: []}
        for _ in range(args.requests):
            pair = [True, False]
            order.shuffle(pair)
            for new in pair:
                results[new].append(post(new))
        reports.append(_report(args.step, results))
    return reports


def _report(step: str, results: dict) -> dict:
    def summary(new: bool) -> dict:
        part, request, wall, server = zip(*results[new], strict=True)
        return {
            "requests": len(part),
            "step_ms_median": round(statistics.median(part), 3),
            "step_ms_mean": round(statistics.fmean(part), 3),
            "request_ms_median": round(statistics.median(request), 3),
            "request_ms_mean": round(statistics.fmean(request), 3),
            "wall_ms_median": round(statistics.median(wall), 3),
            "postgres_cpu_ms_mean": round(statistics.fmean(server), 3),
        }

    new, old = summary(True), summary(False)
    return {
        "step": step,
        "new": new,
        "old": old,
        "new_over_old": {k: round(new[k] / old[k], 3) for k in new if k != "requests" and old[k]},
        "saved_ms_median": {
            "step": round(old["step_ms_median"] - new["step_ms_median"], 3),
            "request": round(old["request_ms_median"] - new["request_ms_median"], 3),
        },
    }


if __name__ == "__main__":
    sys.exit(main())
