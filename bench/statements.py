"""SQL statements per POST /tickets, counted in-process on Postgres (as the peer's
dh_query_profile.py counts django-helpdesk's 19).

    .venv/bin/python bench/statements.py              # database helpdesk_statements, then dropped
    .venv/bin/python bench/statements.py --requests 5 --show --profile 30

Migrates a fresh database, indexes the sample KB, creates an `agent` API key and the bench's
customer pool (seed.py), then sends `--warmup` POST /tickets (the process's first request builds
the KB index and verifies the key) and counts, for each of `--requests` more, the statements
Django sent, grouped by kind and table. Same settings as bench/run.py (DEBUG=false, throttling
on with the database cache, persistent connection). Prints JSON; `--show` lists the SQL of the
last request.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
from inprocess import create_api_key, settings_env

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-name", default="helpdesk_statements")
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--show", action="store_true", help="print the last request's SQL")
    parser.add_argument(
        "--profile-out",
        metavar="FILE",
        help="with --profile, also write the profile to FILE (pstats format, for callers/callees)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also profile the measured requests (cProfile) and print the top N functions by "
        "own time and by cumulative time",
    )
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="use the database as it is (e.g. one `bench/run.py --keep-db --chunks 10000` left, "
        "same --db-name) and keep it: no migrate, kb_sync or seeding",
    )
    parser.add_argument(
        "--server-root",
        type=Path,
        default=ROOT,
        help="measure this checkout (e.g. a `git worktree` of another commit; default: this one)",
    )
    args = parser.parse_args(argv)
    root = args.server_root.resolve()

    env = settings_env(args.db_name)
    admin = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
    if not args.reuse_db:
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{args.db_name}"')
    try:

        def manage(*command: str) -> str:
            return subprocess.run(
                [PY, "manage.py", *command],
                cwd=root,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout

        if not args.reuse_db:
            manage("migrate", "--no-input")
            manage("kb_sync")
            subprocess.run(
                [PY, str(BENCH / "seed.py"), "customers", "200"],
                env=env,
                check=True,
                capture_output=True,
            )
        key = create_api_key(env, "bench", root)
        os.environ.update(env)
        report = count(key, args, root)
    finally:
        if not args.reuse_db:
            with psycopg.connect(**admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
    print(json.dumps(report, indent=2))
    return 0


def _kind(sql: str) -> str:
    head = sql.lstrip().split(None, 1)[0].upper()
    if head in {"SAVEPOINT", "RELEASE", "ROLLBACK"}:
        return head
    table = re.search(r'(?:FROM|INTO|UPDATE)\s+"([a-z_0-9]+)"', sql)
    return f"{head} {table.group(1) if table else '?'}"


def count(key: str, args: argparse.Namespace, root: Path) -> dict:
    sys.path[:0] = [str(root), str(BENCH)]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    import django

    django.setup()
    import onnxruntime
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from texts import customer_pool, ticket_payload

    passes = [0]
    run = onnxruntime.InferenceSession.run

    def counted_run(self, output_names, input_feed, *args, **kwargs):
        # The encoder's runs only (their feed has input_ids), not the int8 passage scorer's.
        passes[0] += "input_ids" in input_feed
        return run(self, output_names, input_feed, *args, **kwargs)

    onnxruntime.InferenceSession.run = counted_run  # counts the encoder passes per create
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}", REMOTE_ADDR="127.0.0.1")
    rng = random.Random(1)
    pool = customer_pool(200)

    def post() -> tuple[int, list[str], int]:
        with CaptureQueriesContext(connection) as queries:
            response = client.post(
                "/tickets", json.dumps(ticket_payload(rng, pool)), content_type="application/json"
            )
        assert response.status_code == 201, (response.status_code, response.content[:500])
        return len(queries), [q["sql"] for q in queries.captured_queries], len(response.content)

    for _ in range(args.warmup):
        post()
    totals, kinds, sizes, last = [], Counter(), [], []
    profiler = cProfile.Profile() if args.profile else None
    cpu_started = time.process_time()
    passes[0] = 0
    for _ in range(args.requests):
        if profiler:
            profiler.enable()
        n, sqls, size = post()
        if profiler:
            profiler.disable()
        totals.append(n)
        kinds.update(_kind(s) for s in sqls)
        sizes.append(size)
        last = sqls
    cpu_ms = (time.process_time() - cpu_started) * 1000 / args.requests
    passes_per_create = passes[0] / args.requests
    if args.show:
        for sql in last:
            print(sql[:300], file=sys.stderr)
    if profiler and args.profile_out:
        profiler.dump_stats(args.profile_out)
    if profiler:
        for order in ("tottime", "cumulative"):
            pstats.Stats(profiler, stream=sys.stderr).sort_stats(order).print_stats(args.profile)
    return {
        "server_root": str(root),
        "statements_per_create": dict(sorted(Counter(totals).items())),  # count: requests
        "per_create_by_kind": {k: round(v / args.requests, 2) for k, v in kinds.most_common()},
        "response_bytes_median": sorted(sizes)[len(sizes) // 2],
        "process_cpu_ms_per_create": round(cpu_ms, 2),
        "encoder_passes_per_create": passes_per_create,
        "profiled": bool(profiler),
    }


if __name__ == "__main__":
    sys.exit(main())
