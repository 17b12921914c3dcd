"""A new ticket's rows as one statement (CompiledInsertChain) against one INSERT per model,
alternated request by request in one process on Postgres: the request thread's CPU
(`time.thread_time()`) around the rows' INSERTs and around the whole POST /tickets, the
request's wall time, and the Postgres backend's CPU (from /proc, in clock ticks: a mean over
the run, not per request).

    .venv/bin/python bench/insert_chain_ab.py                 # database hd_cte_ab, then dropped
    .venv/bin/python bench/insert_chain_ab.py --requests 400 --keep-db

Migrates a fresh database, indexes the sample KB (`kb_sync`), runs `seed_demo` (DEBUG on, as it
requires), adds the bench's 200 pool customers with orders (seed.py), creates an `agent` API key,
then sends `--warmup` POST /tickets and `--requests` pairs through Django's test client, the two
paths in random order within each pair. The switch exists only here: the service's chain is
patched so that its `insert` runs either as it is (one statement) or through its per-model path
(`_insert_each`, the four INSERTs the service sent before). Prints JSON: medians, means, ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from inprocess import BackendCpu, create_api_key, settings_env

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-name", default="hd_cte_ab")
    parser.add_argument("--requests", type=int, default=300, help="per path")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--keep-db", action="store_true", help="leave the database (and reuse it)")
    args = parser.parse_args(argv)

    env = settings_env(args.db_name)
    admin = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [args.db_name]
        ).fetchone()
        fresh = not (exists and args.keep_db)
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{args.db_name}"')

    def manage(*command: str, **extra: str) -> str:
        return subprocess.run(
            [PY, "manage.py", *command],
            cwd=ROOT,
            env={**env, **extra},
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    try:
        if fresh:
            manage("migrate", "--no-input")
            manage("kb_sync")
            manage("seed_demo", DEBUG="true")
            subprocess.run(
                [PY, str(BENCH / "seed.py"), "customers", "200"],
                env=env,
                check=True,
                capture_output=True,
            )
        key = create_api_key(env, "abtest")
        os.environ.update(env)
        report = measure(key, args)
    finally:
        if not args.keep_db:
            with psycopg.connect(**admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
    print(json.dumps(report, indent=2))
    return 0


def measure(key: str, args: argparse.Namespace) -> dict:
    sys.path[:0] = [str(ROOT), str(BENCH)]
    import django

    django.setup()
    from django.test import Client
    from texts import customer_pool, ticket_payload

    from tickets import services

    chain = services._insert_new_ticket
    one_statement = chain.insert
    switch = {"one_statement": True}  # the module-level switch, set per request below
    inserts: list[float] = []

    def timed_insert(**rows):
        started = time.thread_time()
        if switch["one_statement"]:
            one_statement(**rows)
        else:
            chain._insert_each([rows.get(step.name) or [] for step in chain._steps])
        inserts.append(time.thread_time() - started)

    chain.insert = timed_insert
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}", REMOTE_ADDR="127.0.0.1")
    rng = random.Random(1)
    pool = customer_pool(200)

    backend = BackendCpu()

    def post(mode: bool) -> tuple[float, float, float, float]:
        switch["one_statement"] = mode
        body = json.dumps(ticket_payload(rng, pool))
        inserts.clear()
        backend_started = backend.seconds()
        wall_started, started = time.perf_counter(), time.thread_time()
        response = client.post("/tickets", body, content_type="application/json")
        request, wall = time.thread_time() - started, time.perf_counter() - wall_started
        server = backend.seconds() - backend_started
        assert response.status_code == 201, (response.status_code, response.content[:500])
        assert len(response.json()["suggestions"]) == 5
        [insert] = inserts
        return insert * 1000, request * 1000, wall * 1000, server * 1000

    for i in range(args.warmup):
        post(i % 2 == 0)
    pid = backend.attach()
    results: dict[bool, list[tuple[float, ...]]] = {True: [], False: []}
    order = random.Random(2)
    for _ in range(args.requests):
        pair = [True, False]
        order.shuffle(pair)
        for mode in pair:
            results[mode].append(post(mode))

    assert backend.attach() == pid, "the connection changed during the run"

    def summary(mode: bool) -> dict:
        insert, request, wall, server = zip(*results[mode], strict=True)
        return {
            "requests": len(insert),
            "insert_ms_median": round(statistics.median(insert), 3),
            "insert_ms_mean": round(statistics.fmean(insert), 3),
            "request_ms_median": round(statistics.median(request), 3),
            "request_ms_mean": round(statistics.fmean(request), 3),
            "wall_ms_median": round(statistics.median(wall), 3),
            "postgres_cpu_ms_mean": round(statistics.fmean(server), 3),
        }

    after, before = summary(True), summary(False)
    return {
        "one_statement": after,
        "one_insert_per_model": before,
        "after_over_before": {
            name: round(after[name] / before[name], 3) for name in after if name != "requests"
        },
        "saved_ms_median": {
            "insert": round(before["insert_ms_median"] - after["insert_ms_median"], 3),
            "request": round(before["request_ms_median"] - after["request_ms_median"], 3),
        },
    }


if __name__ == "__main__":
    sys.exit(main())
