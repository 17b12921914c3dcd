"""Load run: POST /tickets at N requests x C clients against gunicorn, then check the data.

The mix (all drawn from a seeded generator, so two runs send the same requests):

- a burst of `--burst` posts without an Idempotency-Key for one new e-mail address, first,
  so they run at once (the issue's reproduction: on SQLite they were ~60 % "database is locked");
- the rest for the 200-customer pool and some new addresses; `--keyed` of them carry an
  Idempotency-Key, and `--retried` of those are sent twice back to back (two clients send the
  same key and body at the same moment), a client retrying after a timeout.

Afterwards, in the database: tickets = distinct keys + accepted requests without a key; each
key's answers name one ticket; one customer per e-mail; every ticket has the suggestions it was
answered with and exactly one `ticket_created` interaction. Prints throughput, latency (median,
p99) and errors, and writes bench/results/load-<db>-<timestamp>.json.

    .venv/bin/python bench/load.py --db sqlite
    .venv/bin/python bench/load.py --db postgres --requests 2000 --clients 16 --workers 4
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import loadgen
import psycopg
from report import machine_info
from servers import HOST, free_port
from texts import customer_pool, ticket_payload

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV_BIN = Path(sys.executable).parent
PG = {"host": HOST, "port": 5432, "user": "postgres"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--burst", type=int, default=200, help="first posts, one new e-mail")
    parser.add_argument("--keyed", type=float, default=0.5, help="share with Idempotency-Key")
    parser.add_argument("--retried", type=float, default=0.2, help="share of keyed sent twice")
    parser.add_argument("--new-customers", type=float, default=0.1, help="share new e-mails")
    parser.add_argument("--db-name", default="helpdesk_load", help="Postgres database")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--server-root", default=str(ROOT), help="checkout gunicorn serves (default: this one)"
    )
    return parser.parse_args(argv)


def build_plan(args: argparse.Namespace) -> list[tuple[str | None, dict]]:
    """Exactly `--requests` (idempotency key or None, payload) items, in sending order."""
    rng = random.Random(args.seed)
    pool = customer_pool(200)
    plan: list[tuple[str | None, dict]] = []
    for _ in range(min(args.burst, args.requests)):
        payload = ticket_payload(rng, pool)
        payload["customer"] = {"email": "burst.new@example.com", "name": "Burst New"}
        plan.append((None, payload))
    n = 0
    while len(plan) < args.requests:
        n += 1
        payload = ticket_payload(rng, pool)
        if rng.random() < args.new_customers:
            payload["customer"] = {"email": f"new{n}@example.org", "name": f"New {n}"}
        payload["metadata"] = {"load_n": n}
        key = f"load-{n}" if rng.random() < args.keyed else None
        plan.append((key, payload))
        if key and rng.random() < args.retried and len(plan) < args.requests:
            plan.append((key, payload))  # the same key and body, sent at the same moment
    return plan


class Database:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        if args.db == "postgres":
            self.url = f"postgres://postgres@{HOST}:5432/{args.db_name}"
        else:
            self.path = tmp / "load.sqlite3"
            self.url = f"sqlite:///{self.path}"

    def create(self) -> None:
        if self.args.db == "postgres":
            self._admin(f'DROP DATABASE IF EXISTS "{self.args.db_name}" WITH (FORCE)')
            self._admin(f'CREATE DATABASE "{self.args.db_name}"')

    def drop(self) -> None:
        if self.args.db == "postgres":
            self._admin(f'DROP DATABASE IF EXISTS "{self.args.db_name}" WITH (FORCE)')

    def _admin(self, sql: str) -> None:
        with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
            conn.execute(sql)

    def query(self, sql: str) -> list[tuple]:
        if self.args.db == "postgres":
            with psycopg.connect(dbname=self.args.db_name, **PG) as conn:
                return conn.execute(sql).fetchall()
        with sqlite3.connect(self.path) as conn:
            return conn.execute(sql).fetchall()

    def scalar(self, sql: str):
        return self.query(sql)[0][0]


def check(db: Database, plan, result: loadgen.LoadResult) -> dict:
    """What the database holds after the run, against what the answers said."""
    answers = {s.seq: s for s in result.samples}
    accepted = [(plan[seq][0], json.loads(s.body)) for seq, s in answers.items() if s.status == 201]
    by_key: dict[str, set[int]] = {}
    unkeyed = 0
    suggestions: dict[int, int] = {}
    for key, body in accepted:
        ticket_id = body["ticket"]["id"]
        suggestions[ticket_id] = len(body["suggestions"])
        if key:
            by_key.setdefault(key, set()).add(ticket_id)
        else:
            unkeyed += 1
    keys_sent = {key for key, _ in plan if key}
    emails = {payload["customer"]["email"] for _, payload in plan}
    tickets = db.scalar("SELECT count(*) FROM tickets_ticket")
    checks = {
        "tickets": tickets,
        "distinct_keys_accepted": len(by_key),
        "unkeyed_accepted": unkeyed,
        "tickets_equal_keys_plus_unkeyed": tickets == len(by_key) + unkeyed,
        "every_key_one_ticket": all(len(ids) == 1 for ids in by_key.values()),
        "every_key_accepted": set(by_key) == keys_sent,
        "idempotency_records": db.scalar("SELECT count(*) FROM tickets_idempotencyrecord"),
        "customers": db.scalar("SELECT count(*) FROM customers_customer"),
        "one_customer_per_email": db.scalar(
            "SELECT count(*) FROM (SELECT email FROM customers_customer GROUP BY email "
            "HAVING count(*) > 1) AS dup"
        )
        == 0
        and db.scalar("SELECT count(DISTINCT email) FROM customers_customer") == len(emails),
        "burst_customer_tickets": db.scalar(
            "SELECT count(*) FROM tickets_ticket t JOIN customers_customer c "
            "ON c.id = t.customer_id WHERE c.email = 'burst.new@example.com'"
        ),
        "tickets_without_suggestions": db.scalar(
            "SELECT count(*) FROM tickets_ticket t WHERE NOT EXISTS "
            "(SELECT 1 FROM tickets_suggestion s WHERE s.ticket_id = t.id)"
        ),
        "suggestions_as_answered": db.scalar("SELECT count(*) FROM tickets_suggestion")
        == sum(suggestions.values()),
        "tickets_without_exactly_one_created_interaction": db.scalar(
            "SELECT count(*) FROM tickets_ticket t WHERE (SELECT count(*) FROM "
            "customers_interaction i WHERE i.ticket_id = t.id AND i.kind = 'ticket_created') "
            "!= 1"
        ),
        "degraded_answers": sum(1 for _, body in accepted if body.get("degraded")),
    }
    checks["nothing_lost_or_duplicated"] = (
        checks["tickets_equal_keys_plus_unkeyed"]
        and checks["every_key_one_ticket"]
        and checks["idempotency_records"] == len(by_key)
        and checks["one_customer_per_email"]
        and checks["tickets_without_suggestions"] == 0
        and checks["suggestions_as_answered"]
        and checks["tickets_without_exactly_one_created_interaction"] == 0
    )
    return checks


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    tmp = Path(tempfile.mkdtemp(prefix="helpdesk-load-"))
    db = Database(args, tmp)
    server_root = Path(args.server_root).resolve()
    env = {
        **os.environ,
        "DATABASE_URL": db.url,
        "SECRET_KEY": "bench",
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback
        "ALLOWED_HOSTS": HOST,
        "DB_CONN_MAX_AGE": "600",
        "BROWSABLE_API": "false",
        "THROTTLE_RATE_API_KEY": "1000000/min",
        "LOG_LEVEL": "WARNING",
        "KB_SOURCE": str(ROOT / "knowledge" / "sample_kb"),
        "KB_ENCODER_THREADS": "1",  # several workers on few cores
    }

    def manage(*command: str) -> str:
        done = subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", *command],
            cwd=server_root,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(command)}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    server = None
    log_path = tmp / "gunicorn.log"
    port = free_port()
    try:
        db.create()
        manage("migrate", "--no-input")
        manage("kb_sync")
        key = manage("create_api_key", "load", "--scope", "agent").strip().splitlines()[-1]
        with open(log_path, "wb") as log_file:
            server = subprocess.Popen(
                [str(VENV_BIN / "gunicorn"), "helpdesk.wsgi", "-w", str(args.workers)]
                + ["-b", f"{HOST}:{port}", "--timeout", "300"],
                cwd=server_root,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_for_health(server, port)
        plan = build_plan(args)
        headers = {
            "Authorization": f"Api-Key {key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

        def factory(seq: int) -> loadgen.Request:
            idempotency_key, payload = plan[seq]
            extra = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
            return "POST", "/tickets", json.dumps(payload).encode(), extra

        # Each worker builds its KB index on its first request: warm them (not measured, and
        # not in the database checks: a GET).
        loadgen.run(
            host=HOST,
            port=port,
            headers=headers,
            factory=lambda seq: ("GET", "/kb/search?q=refund", None),
            requests=args.workers * 4,
            clients=args.workers,
        )
        print(f"[load] {len(plan)} requests x {args.clients} clients, {args.db}", flush=True)
        result = loadgen.run(
            host=HOST,
            port=port,
            headers=headers,
            factory=factory,
            requests=len(plan),
            clients=args.clients,
            keep_bodies=True,
        )
        summary = result.summary()
        accepted = sum(1 for s in result.samples if s.status == 201)
        summary["accepted_per_s"] = round(accepted / result.elapsed_s, 1)
        summary["first_failures"] = [
            f"{s.status}: {s.body[:200].decode(errors='replace')}"
            for s in result.samples
            if s.status != 201
        ][:5] + result.errors[:5]
        errors = Counter(s.status for s in result.samples if s.status != 201)
        summary["non_201"] = dict(errors)
        checks = check(db, plan, result)
        report = {
            "started_at": datetime.now().isoformat(timespec="seconds"),
            "machine": machine_info(),
            "config": vars(args),
            "plan": {
                "requests": len(plan),
                "distinct_keys": len({k for k, _ in plan if k}),
                "keyed_requests": sum(1 for k, _ in plan if k),
                "unkeyed_requests": sum(1 for k, _ in plan if not k),
            },
            "results": summary,
            "checks": checks,
        }
        _print(report)
        out = BENCH / "results" / f"load-{args.db}-{datetime.now():%Y%m%d-%H%M%S}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"results: {out.relative_to(ROOT)}")
        return 0 if checks["nothing_lost_or_duplicated"] and not errors else 1
    except KeyboardInterrupt:
        return 130
    finally:
        if server and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        if server and server.returncode not in (0, None, -signal.SIGTERM):
            print(log_path.read_text(errors="replace")[-3000:])
        db.drop()
        for path in sorted(tmp.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        tmp.rmdir()


def _wait_for_health(server: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gunicorn exited")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("/health never answered 200")


def _print(report: dict) -> None:
    r, c, p = report["results"], report["checks"], report["plan"]
    print(
        f"\n{report['config']['db']}: {r['requests']} requests, {r['clients']} clients, "
        f"{report['config']['workers']} workers, load average at start "
        f"{report['machine']['loadavg_at_start']}\n"
        f"  plan: {p['distinct_keys']} keys ({p['keyed_requests']} keyed requests), "
        f"{p['unkeyed_requests']} without a key\n"
        f"  throughput {r['req_per_s']} req/s ({r['accepted_per_s']} accepted/s), "
        f"median {r['median_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms\n"
        f"  statuses {r['statuses']}, client errors {r['client_errors']}\n"
        f"  tickets {c['tickets']} = keys {c['distinct_keys_accepted']} + unkeyed "
        f"{c['unkeyed_accepted']}: {c['tickets_equal_keys_plus_unkeyed']}; one ticket per key: "
        f"{c['every_key_one_ticket']}; one customer per e-mail: {c['one_customer_per_email']} "
        f"(burst customer's tickets: {c['burst_customer_tickets']})\n"
        f"  tickets without suggestions: {c['tickets_without_suggestions']}; without exactly one "
        f"ticket_created interaction: {c['tickets_without_exactly_one_created_interaction']}; "
        f"degraded answers: {c['degraded_answers']}\n"
        f"  nothing lost or duplicated: {c['nothing_lost_or_duplicated']}"
    )
    for failure in r["first_failures"]:
        print(f"  failure: {failure}")


if __name__ == "__main__":
    sys.exit(main())
