"""What triage adds to POST /tickets, with and without a model, in the same run.

In-process (no HTTP: the figure is the service's own cost), on a fresh Postgres database with
the sample KB indexed and seed_demo's categories, examples and model. Each round creates three
tickets, one per mode, in rotating order (so drift and load hit every mode alike), each with
its own text (so no mode gets retrieval's result cache):

    off       ticket_create with triage_start replaced by a pass-through: the baseline
    no_model  triage on, no current model (language, sentiment, the decision row)
    model     triage on with seed_demo's model (plus the prediction and what it applies)

Prints the median and p90 of ticket_create's wall time per mode, the differences of medians
against `off`, and the median time inside the triage hook itself (both its steps).

    DATABASE_URL is set here (database hd_tri_bench on 127.0.0.1:5432, dropped and remade).
    .venv/bin/python bench/triage_cost.py --rounds 150
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DB = "hd_tri_bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()

    import psycopg

    with psycopg.connect(host="127.0.0.1", port=5432, user="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}"')
        conn.execute(f'CREATE DATABASE "{DB}"')
    os.environ.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB}",
        SECRET_KEY="bench-only",
        DEBUG="false",
        SECURE_SSL_REDIRECT="false",
        KB_SYNC_BACKGROUND="false",
        DJANGO_SETTINGS_MODULE="helpdesk.settings",
    )
    sys.path[:0] = [str(ROOT), str(BENCH)]
    import django

    django.setup()
    from io import StringIO

    from django.core.management import call_command
    from texts import customer_pool, ticket_payload

    from tickets import services
    from triage import selectors as triage_selectors
    from triage.arrival import TriageRead
    from triage.models import TriageModel
    from triage.services import forget_current

    out = StringIO()
    call_command("migrate", "--no-input", stdout=out)
    call_command("kb_sync", stdout=out)
    call_command("seed_demo", "--force", stdout=out)
    triage_selectors.RECHECK_SECONDS = float("inf")
    checked = {"off": None}
    forget_current()
    triage_selectors.current_classifier()
    checked["model"] = triage_selectors._checked
    TriageModel.objects.update(current=False)
    forget_current()
    triage_selectors.current_classifier()
    checked["no_model"] = triage_selectors._checked

    real_hook = services.triage_start
    hook_ms: dict[str, list[float]] = {"no_model": [], "model": []}
    mode_now = {"name": "off"}

    def timed_hook(payload, body_clean):
        # Both steps: reading the text (before the search is awaited) and the decision.
        started = time.perf_counter()
        decide = real_hook(payload, body_clean)
        reading = time.perf_counter() - started

        def timed_decide(passages):
            started = time.perf_counter()
            try:
                return decide(passages)
            finally:
                spent = reading + time.perf_counter() - started
                hook_ms[mode_now["name"]].append(spent * 1000)

        return timed_decide

    def passthrough(payload, body_clean):
        priority = payload.get("priority") or "normal"
        return lambda passages: TriageRead({"priority": priority}, {}, passages)

    def set_mode(name: str) -> None:
        mode_now["name"] = name
        services.triage_start = passthrough if name == "off" else timed_hook
        # What a process serving that state has cached (triage.selectors re-reads the current
        # row once per RECHECK_SECONDS, not per ticket): swapped in, not re-read per ticket.
        triage_selectors._checked = checked[name]

    rng = random.Random(11)
    pool = customer_pool(200)
    modes = ["off", "no_model", "model"]
    wall: dict[str, list[float]] = {m: [] for m in modes}
    statuses: dict[str, int] = {}
    for n in range(args.warmup + args.rounds):
        order = modes[n % 3 :] + modes[: n % 3]
        for mode in order:
            set_mode(mode)
            payload = ticket_payload(rng, pool)
            payload.pop("priority")  # the category's default may apply
            payload["body"] += f" (ref {n}-{mode})"  # a text of its own: no result cache
            started = time.perf_counter()
            result = services.ticket_create(payload=payload, actor="bench")
            elapsed = (time.perf_counter() - started) * 1000
            if n >= args.warmup:
                wall[mode].append(elapsed)
                if mode == "model":
                    status = result.body["triage"]["status"]
                    statuses[status] = statuses.get(status, 0) + 1
            elif mode != "off":
                hook_ms[mode].pop()

    def p(values, q):
        return statistics.quantiles(values, n=100)[q - 1]

    print(f"triage cost on ticket_create, {args.rounds} rounds (+{args.warmup} warm-up), ms")
    print(f"{'mode':<10} {'median':>8} {'p90':>8} {'Δ median vs off':>16} {'hook median':>12}")
    base = statistics.median(wall["off"])
    for mode in modes:
        median = statistics.median(wall[mode])
        hook = f"{statistics.median(hook_ms[mode]):12.3f}" if mode != "off" else f"{'-':>12}"
        print(f"{mode:<10} {median:8.2f} {p(wall[mode], 90):8.2f} {median - base:+16.2f} {hook}")
    print(f"model run statuses: {statuses}")


if __name__ == "__main__":
    main()
