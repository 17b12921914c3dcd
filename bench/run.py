"""Benchmarks for helpdesk: prepare a fresh Postgres database, serve with gunicorn, measure.

Prints figures next to DESIGN.md's targets and writes them to bench/results/<timestamp>.json.
Nothing here passes or fails. See bench/README.md.

    .venv/bin/python bench/run.py --scenarios create-1,context-1 --chunks 10000
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import cpu
import loadgen
import psycopg
from kbgen import generate
from report import machine_info, print_report
from servers import free_port, start_moto
from texts import customer_pool, ticket_payload

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV_BIN = Path(sys.executable).parent
SAMPLE_KB = ROOT / "knowledge" / "sample_kb"
HOST = "127.0.0.1"
PG = {"host": HOST, "port": 5432, "user": "postgres"}
SCENARIOS = [
    "create-1",
    "create-8",
    "context-1",
    "reply-1",
    "follow-up-1",
    "inbound-1",
    "triage-1",
]
WORKERS = 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, from {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument(
        "--chunks",
        type=int,
        default=0,
        help="add a synthetic KB of at least N chunks to the sample KB (default: sample KB only; "
        "DESIGN's targets are at >= 10000)",
    )
    parser.add_argument("--requests", type=int, default=300, help="measured requests per run")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests first")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measured rounds per scenario (figures are pooled; round medians listed)",
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrency of create-8")
    parser.add_argument(
        "--tickets-sizes",
        default="100,10000",
        help="ticket-table sizes at which context-1 is measured (default: 100,10000)",
    )
    parser.add_argument(
        "--quiet",
        type=float,
        default=0.25,
        help="before each measurement, wait until other processes use less than this share "
        "of the CPUs (default: 0.25) ...",
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=30, help="... but at most this many seconds"
    )
    parser.add_argument(
        "--interaction-store",
        choices=["database", "dynamodb"],
        default="database",
        help="dynamodb: start a DynamoDB-protocol server (moto_server) on loopback and log "
        "interactions there, to compare POST /tickets with the database store",
    )
    parser.add_argument("--customers", type=int, default=200, help="customer pool size")
    parser.add_argument("--db-name", default="helpdesk_bench")
    parser.add_argument(
        "--keep-db",
        action="store_true",
        help="leave the database (KB indexed, customers seeded) for a later --reuse-db run",
    )
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="measure on the database a --keep-db run left (no migrate, kb_sync or seeding; "
        "a new API key); implies --keep-db. For A/B runs of two checkouts (--server-root)",
    )
    parser.add_argument(
        "--server-root",
        type=Path,
        default=ROOT,
        help="serve this checkout (e.g. a `git worktree` of another commit) with this bench "
        "and this virtualenv (default: this checkout)",
    )
    parser.add_argument("--port", type=int, default=0, help="gunicorn port (default: a free one)")
    parser.add_argument("--seed", type=int, default=1, help="random seed for request bodies")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    args.keep_db = args.keep_db or args.reuse_db
    args.server_root = args.server_root.resolve()
    args.tickets_sizes = sorted(int(s) for s in args.tickets_sizes.split(",") if s.strip())
    return args


def first_failures(result, expected: int) -> list[str]:
    """The first three answers other than `expected` (status and body) and the first three
    client errors, for the figures of a run that went wrong."""
    answers = [s for s in result.samples if s.status != expected][:3]
    return [f"{s.status}: {s.body[:300].decode(errors='replace')}" for s in answers] + (
        result.errors[:3]
    )


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="helpdesk-bench-"))
        self.port = args.port or free_port()
        self.server: subprocess.Popen | None = None
        self.dynamodb: subprocess.Popen | None = None
        self.db_created = False
        self.key = ""
        self.rng = random.Random(args.seed)
        self.pool = customer_pool(args.customers)
        self.timings: dict[str, float] = {}
        self.started = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://postgres@{HOST}:5432/{args.db_name}",
            "SECRET_KEY": "bench",
            "DEBUG": "false",
            "SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback
            "ALLOWED_HOSTS": HOST,
            "DB_CONN_MAX_AGE": "600",
            "BROWSABLE_API": "false",
            "THROTTLE_RATE_API_KEY": "1000000/min",
            "LOG_LEVEL": "WARNING",
            "KB_SOURCE": str(SAMPLE_KB),
            # Replies are composed and handed to a backend that keeps them in memory: what is
            # measured is the helpdesk's work, not a mail server's.
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        }

    # --- set-up and tear-down ----------------------------------------------------------------

    def start_dynamodb(self) -> None:
        """A moto_server on a free loopback port, and the interactions table on it."""
        log_file = open(self.tmp / "moto.log", "wb")  # noqa: SIM115  (lives with the server)
        self.dynamodb, url = start_moto(log_file)
        self.env.update(
            {
                "INTERACTION_STORE": "dynamodb",
                "DYNAMODB_ENDPOINT_URL": url,
                "DYNAMODB_TABLE": "helpdesk-bench",
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_EC2_METADATA_DISABLED": "true",
            }
        )
        log(self.manage("interactions_create_table").strip().splitlines()[-1])

    def prepare(self) -> dict:
        if self.args.interaction_store == "dynamodb":
            with self.timed("dynamodb"):
                self.start_dynamodb()
        if self.args.reuse_db:
            created = self.manage("create_api_key", "bench", "--scope", "agent,inbound")
            self.key = created.strip().splitlines()[-1]
            return {"source": f"reused database {self.args.db_name}"}
        with self.timed("database"):
            self._admin_sql(f'DROP DATABASE IF EXISTS "{self.args.db_name}" WITH (FORCE)')
            self._admin_sql(f'CREATE DATABASE "{self.args.db_name}"')
            self.db_created = True
            self.manage("migrate", "--no-input")
        kb: dict = {"source": "sample"}
        if self.args.chunks:
            with self.timed("kb_generate"):
                source = self.tmp / "kb"
                articles, chunks = generate(source / "synthetic", chunks=self.args.chunks)
                shutil.copytree(SAMPLE_KB, source / "sample")
                self.env["KB_SOURCE"] = str(source)
            kb = {"source": "sample + synthetic", "synthetic_articles": articles}
            log(f"generated {articles} synthetic articles (~{chunks} chunks) in {source}")
        with self.timed("kb_sync"):
            log(self.manage("kb_sync").strip().splitlines()[-1])
        # `agent`: the full answer (ticket + customer context + suggestions), as measured before.
        # `inbound` too: the inbound-1 scenario posts raw e-mail with the same key.
        created = self.manage("create_api_key", "bench", "--scope", "agent,inbound")
        self.key = created.strip().splitlines()[-1]
        with self.timed("seed_customers"):
            log(self.seed("customers", self.args.customers).strip())
        return kb

    def start_server(self) -> dict:
        log_file = open(self.tmp / "gunicorn.log", "wb")  # noqa: SIM115  (lives with the server)
        command = [
            str(VENV_BIN / "gunicorn"),
            "helpdesk.wsgi",
            "-w",
            str(WORKERS),
            "-b",
            f"{HOST}:{self.port}",
            # The first request in each worker builds the KB index; don't kill it for that.
            "--timeout",
            "300",
        ]
        with self.timed("server_start"):
            self.server = subprocess.Popen(
                command,
                cwd=self.args.server_root,
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us; we stop it ourselves
            )
            deadline = time.monotonic() + 300
            why = {}  # the last answer that said why (not the throttle's 429 of the polling)
            while True:
                if self.server.poll() is not None:
                    raise RuntimeError(f"gunicorn exited:\n{self.server_log()}")
                try:
                    status, body = self.get("/health")
                except OSError:
                    status, body = 0, {}
                if status == 200:
                    break
                why = why if status == 429 else body
                if time.monotonic() > deadline:
                    raise RuntimeError(f"/health never answered 200:\n{why or body}")
                time.sleep(0.2)
        return body

    def server_log(self) -> str:
        path = self.tmp / "gunicorn.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def server_rss_mb(self) -> list[float]:
        """Resident memory of each gunicorn worker (the master is not counted)."""
        if not self.server:
            return []
        sizes = []
        for pid in cpu.children(self.server.pid):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(round(int(line.split()[1]) / 1024, 1))
        return sizes

    def cleanup(self) -> None:
        if self.dynamodb and self.dynamodb.poll() is None:
            self.dynamodb.terminate()
            self.dynamodb.wait(timeout=15)
        if self.server and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        if self.db_created and not self.args.keep_db:
            try:
                self._admin_sql(f'DROP DATABASE IF EXISTS "{self.args.db_name}" WITH (FORCE)')
            except psycopg.Error as exc:
                log(f"could not drop {self.args.db_name}: {exc}")
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- helpers -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def timed(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - started, 2)

    def manage(self, *args: str) -> str:
        return self._run([str(VENV_BIN / "python"), "manage.py", *args])

    def seed(self, *args: object) -> str:
        return self._run([str(VENV_BIN / "python"), str(BENCH / "seed.py"), *map(str, args)])

    def _run(self, command: list[str]) -> str:
        done = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def _admin_sql(self, sql: str) -> None:
        with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
            conn.execute(sql)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(dbname=self.args.db_name, **PG) as conn:
            return conn.execute(sql, params).fetchall()

    def ticket_count(self) -> int:
        return self.query("SELECT count(*) FROM tickets_ticket")[0][0]

    def get(self, path: str) -> tuple[int, dict]:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        try:
            return response.status, json.loads(body)
        except ValueError:
            return response.status, {"raw": body[:500].decode(errors="replace")}

    def load(self, factory, *, requests: int, clients: int, first_seq=0, keep_bodies=False):
        """One unmeasured batch (warm-up, seeding)."""
        return loadgen.run(
            host=HOST,
            port=self.port,
            headers={
                "Authorization": f"Api-Key {self.key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            factory=factory,
            requests=requests,
            clients=clients,
            first_seq=first_seq,
            keep_bodies=keep_bodies,
        )

    def measure(self, factory, *, clients: int, first_seq=0, keep_bodies=False):
        """`--repeat` rounds of `--requests` requests; pooled figures plus CPU accounting."""
        args = self.args
        busy_before = cpu.wait_for_quiet(threshold=args.quiet, max_wait_s=args.quiet_wait)
        before = cpu.Snapshot.take(server_pid=self.server.pid, db_name=args.db_name)
        rounds = [
            self.load(
                factory,
                requests=args.requests,
                clients=clients,
                first_seq=first_seq + i * args.requests,
                keep_bodies=keep_bodies,
            )
            for i in range(args.repeat)
        ]
        after = cpu.Snapshot.take(server_pid=self.server.pid, db_name=args.db_name)
        pooled = loadgen.LoadResult(
            clients=clients,
            elapsed_s=sum(r.elapsed_s for r in rounds),
            samples=[s for r in rounds for s in r.samples],
            errors=[e for r in rounds for e in r.errors],
        )
        figures = pooled.summary()
        if len(rounds) > 1:
            figures["round_medians_ms"] = [r.summary()["median_ms"] for r in rounds]
        figures.update(cpu.usage(before, after, requests=len(pooled.samples)))
        figures["machine_busy_share_before"] = busy_before
        return pooled, figures

    def create_factory(self, scenario: str):
        def factory(seq: int) -> loadgen.Request:
            payload = ticket_payload(self.rng, self.pool)
            payload["metadata"] = {"bench_scenario": self.tag(scenario), "bench_seq": seq}
            return "POST", "/tickets", json.dumps(payload).encode()

        return factory

    def tag(self, scenario: str) -> str:
        """The scenario's name in the tickets' metadata; unique to this run on a reused
        database, so its checks count this run's tickets only."""
        return f"{scenario}@{self.started}" if self.args.reuse_db else scenario

    # --- scenarios ---------------------------------------------------------------------------

    def create(self, scenario: str, clients: int) -> dict:
        args = self.args
        # Warm-up with at least 2 clients so that both workers have loaded the KB index.
        self.load(
            self.create_factory(f"{scenario}-warmup"),
            requests=args.warmup,
            clients=max(2, clients),
        )
        before = self.ticket_count()
        result, figures = self.measure(
            self.create_factory(scenario), clients=clients, keep_bodies=True
        )
        after = self.ticket_count()
        created = [s for s in result.samples if s.status == 201]
        bodies = [json.loads(s.body) for s in created]
        rows, distinct = self.query(
            "SELECT count(*), count(DISTINCT metadata->>'bench_seq') FROM tickets_ticket "
            "WHERE metadata->>'bench_scenario' = %s",
            (self.tag(scenario),),
        )[0]
        figures.update(
            tickets_in_table_before=before,
            responses_201=len(created),
            all_201=len(created) == len(result.samples) and not result.errors,
            db_rows=rows,
            db_distinct=distinct,
            db_table_delta=after - before,
            nothing_lost_or_duplicated=rows == distinct == len(created) == after - before,
            degraded_responses=sum(1 for b in bodies if b.get("degraded")),
            mean_suggestions=round(
                sum(len(b.get("suggestions", [])) for b in bodies) / len(bodies), 2
            )
            if bodies
            else None,
        )
        if any(s.status != 201 for s in result.samples) or result.errors:
            figures["first_failures"] = first_failures(result, 201)
        return figures

    def triage(self) -> dict:
        """POST /tickets (one client) without a triage model, with seed_demo's model, and without
        again (the model made not current): the same server, run and text generator; the
        difference of medians is what the prediction adds (language and sentiment run in all)."""
        phases: dict = {}
        phases["no_model"] = self.create("triage-1-no-model", 1)
        self.manage(
            "shell",
            "-c",
            "from customers.models import Customer; "
            "from tickets.management.commands.seed_demo import Command; "
            "Command()._triage_examples(list(Customer.objects.order_by('id')[:20]))",
        )
        time.sleep(1.5)  # the workers re-read the current model at most once a second
        phases["model"] = self.create("triage-1-model", 1)
        statuses = self.query(
            "SELECT triage->>'status', count(*) FROM tickets_ticket "
            "WHERE metadata->>'bench_scenario' = 'triage-1-model' GROUP BY 1"
        )
        self.manage(
            "shell",
            "-c",
            "from triage.models import TriageModel; "
            "TriageModel.objects.filter(current=True).update(current=False)",
        )
        time.sleep(1.5)
        phases["no_model_again"] = self.create("triage-1-no-model-again", 1)
        base = statistics.median(
            [phases["no_model"]["median_ms"], phases["no_model_again"]["median_ms"]]
        )
        return {
            "phases": phases,
            "model_statuses": dict(statuses),
            "model_minus_no_model_median_ms": round(phases["model"]["median_ms"] - base, 2),
        }

    def context(self) -> dict:
        args = self.args
        # Tickets made through the API (with suggestions and interactions) are the ones read;
        # filler rows only make the table bigger.
        self.load(self.create_factory("context-seed"), requests=50, clients=2)
        by_size = []
        for size in args.tickets_sizes:
            with self.timed(f"fill_{size}"):
                in_table = int(self.seed("fill", size).strip().splitlines()[-1])
            ids = [
                row[0]
                for row in self.query(
                    "SELECT id FROM tickets_ticket "
                    "WHERE metadata->>'bench' IS DISTINCT FROM 'filler'"
                )
            ]
            rng = random.Random(size)
            chosen = [rng.choice(ids) for _ in range(args.warmup + args.requests * args.repeat)]

            def factory(seq: int, chosen=chosen) -> loadgen.Request:
                return "GET", f"/tickets/{chosen[seq]}/context", None

            warm = self.load(factory, requests=args.warmup, clients=1)
            result, figures = self.measure(factory, clients=1, first_seq=args.warmup)
            figures.update(
                tickets_in_table=in_table,
                api_created_tickets=len(ids),
                distinct_tickets_read=len(set(chosen)),
            )
            if warm.errors or result.errors or set(figures["statuses"]) != {"200"}:
                figures["first_failures"] = first_failures(result, 200)
            by_size.append(figures)
        medians = [f["median_ms"] for f in by_size if f["median_ms"]]
        return {
            "sizes": by_size,
            "median_ms": max(medians) if medians else None,
            "largest_over_smallest": round(medians[-1] / medians[0], 2)
            if len(medians) > 1
            else None,
        }

    def messages(self, scenario: str) -> dict:
        """POST /tickets/{id}/messages, one client: an agent reply (reply-1: stored, e-mailed
        through the outbox after the commit) or a customer follow-up (follow-up-1: retrieval
        over the whole thread, a new round of suggestions)."""
        args = self.args
        seed = f"{scenario}-seed"
        self.load(self.create_factory(seed), requests=40, clients=2)
        ids = [
            row[0]
            for row in self.query(
                "SELECT id FROM tickets_ticket WHERE metadata->>'bench_scenario' = %s",
                (self.tag(seed),),
            )
        ]
        customer = scenario == "follow-up-1"

        def factory(seq: int) -> loadgen.Request:
            if customer:
                body = ticket_payload(self.rng, self.pool)["body"]
                payload = {"kind": "reply", "role": "customer", "body": body}
            else:
                payload = {
                    "kind": "reply",
                    "body": f"Hi,\nthanks for waiting ({seq}). A "
                    "replacement is on its way; the tracking link follows.\nBest,\nSam",
                }
            return "POST", f"/tickets/{ids[seq % len(ids)]}/messages", json.dumps(payload).encode()

        self.load(factory, requests=args.warmup, clients=1)
        before = self.query("SELECT count(*) FROM tickets_message")[0][0]
        result, figures = self.measure(factory, clients=1, first_seq=args.warmup)
        after = self.query("SELECT count(*) FROM tickets_message")[0][0]
        created = [s for s in result.samples if s.status == 201]
        figures.update(
            responses_201=len(created),
            messages_table_delta=after - before,
            nothing_lost_or_duplicated=after - before == len(created) == len(result.samples),
            email_outbox_left=self.query("SELECT count(*) FROM tickets_emailoutbox")[0][0],
        )
        if len(created) != len(result.samples) or result.errors:
            figures["first_failures"] = first_failures(result, 201)
        return figures

    def inbound(self) -> dict:
        """POST /inbound/email, one client: Gmail-shaped raw messages (multipart/alternative,
        quoted-printable, an encoded-word subject), alternately a new e-mail (a new ticket for
        a pool customer, retrieval, 5 suggestions) and a reply to an earlier one by In-Reply-To
        with a quote (a follow-up: reopen, retrieval over the thread, a new round)."""
        args = self.args
        run_id = f"{os.getpid()}-{int(time.time())}"
        seeds = 40
        self.load(
            lambda seq: self.raw_email(f"<seed-{seq}-{run_id}@bench.example>", seq),
            requests=seeds,
            clients=2,
        )

        def factory(seq: int) -> loadgen.Request:
            message_id = f"<m-{seq}-{run_id}@bench.example>"
            if seq % 2:
                parent = f"<seed-{seq % seeds}-{run_id}@bench.example>"
                return self.raw_email(message_id, seq % seeds, in_reply_to=parent)
            return self.raw_email(message_id, seq)

        self.load(factory, requests=args.warmup, clients=1)
        before = self.query("SELECT count(*) FROM tickets_message")[0][0]
        result, figures = self.measure(factory, clients=1, first_seq=args.warmup, keep_bodies=True)
        after = self.query("SELECT count(*) FROM tickets_message")[0][0]
        created = [s for s in result.samples if s.status == 201]
        bodies = [json.loads(s.body) for s in created]
        figures.update(
            responses_201=len(created),
            new_tickets=sum(1 for b in bodies if b["created"]),
            threaded=sum(1 for b in bodies if not b["created"]),
            messages_table_delta=after - before,
            nothing_lost_or_duplicated=after - before == len(created) == len(result.samples),
            degraded_responses=sum(1 for b in bodies if b.get("degraded")),
            mean_suggestions=round(sum(len(b["suggestions"]) for b in bodies) / len(bodies), 2)
            if bodies
            else None,
        )
        if len(created) != len(result.samples) or result.errors:
            figures["first_failures"] = first_failures(result, 201)
        return figures

    def raw_email(self, message_id: str, who: int, *, in_reply_to: str = "") -> loadgen.Request:
        """A raw message as Gmail writes it, from pool customer `who`."""
        payload = ticket_payload(self.rng, self.pool)
        customer = self.pool[who % len(self.pool)]
        message = EmailMessage(policy=email_policy.SMTP)
        message["From"] = f"{customer['name']} <{customer['email']}>"
        message["To"] = "Support <support@localhost>"
        message["Subject"] = ("Re: " if in_reply_to else "") + payload["subject"] + " — ✓"
        message["Message-ID"] = message_id
        message["Date"] = format_datetime(datetime.now(UTC))
        body = f"Hi,\n\n{payload['body']}\n\nThanks,\n{customer['name']}"
        if in_reply_to:
            message["In-Reply-To"] = in_reply_to
            message["References"] = in_reply_to
            body += "\n\nOn Fri, 4 Dec 2026 at 10:02, Support <support@localhost> wrote:\n> "
            body += "\n> ".join(["Could you tell us the order number?", "", "Best,", "Sam"])
        message.set_content(body, cte="quoted-printable")
        html = '<div dir="ltr">' + "<br>".join(body.split("\n")) + "</div>"
        message.add_alternative(html, subtype="html", cte="quoted-printable")
        return "POST", "/inbound/email", message.as_bytes(), {"Content-Type": "message/rfc822"}

    def run(self) -> dict:
        started = time.perf_counter()
        report: dict = {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine_info(),
            "config": {
                "scenarios": self.args.scenarios,
                "chunks_requested": self.args.chunks,
                "requests": self.args.requests,
                "warmup": self.args.warmup,
                "repeat": self.args.repeat,
                "quiet": self.args.quiet,
                "quiet_wait_s": self.args.quiet_wait,
                "workers": WORKERS,
                "customers": self.args.customers,
                "interaction_store": self.args.interaction_store,
                "server_root": str(self.args.server_root),
                "server_commit": _commit(self.args.server_root),
            },
        }
        report["kb"] = self.prepare()
        health = self.start_server()
        kb_health = health.get("checks", {}).get("knowledge_base", {})
        report["kb"].update(chunks=kb_health.get("chunks"), backend=kb_health.get("name"))
        log(f"server up on :{self.port}; KB {report['kb']}")
        results: dict = {}
        # context-1 first: its smallest table size must not be exceeded by the create runs.
        order = ["context-1", "create-1", "create-8", "reply-1", "follow-up-1", "inbound-1"]
        # triage-1 last: it trains a model, which every later POST /tickets would then use.
        for name in [*order, "triage-1"]:
            if name not in self.args.scenarios:
                continue
            log(f"running {name} ...")
            with self.timed(name):
                if name == "context-1":
                    results[name] = self.context()
                elif name in ("reply-1", "follow-up-1"):
                    results[name] = self.messages(name)
                elif name == "inbound-1":
                    results[name] = self.inbound()
                elif name == "triage-1":
                    results[name] = self.triage()
                else:
                    clients = 1 if name == "create-1" else self.args.clients
                    results[name] = self.create(name, clients)
        report["results"] = results
        report["server_rss_mb"] = self.server_rss_mb()
        report["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        report["timings_s"] = self.timings
        report["total_s"] = round(time.perf_counter() - started, 1)
        return report


def _commit(root: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return done.stdout.strip() + ("+dirty" if dirty else "")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl-C and SIGTERM both end the run through the clean-up in `finally`.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    bench = Bench(args)
    try:
        report = bench.run()
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    except Exception:
        log(f"failed; server log tail:\n{bench.server_log()}")
        raise
    finally:
        bench.cleanup()
    print_report(report)
    out = BENCH / "results" / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
