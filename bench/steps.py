"""Where a POST /tickets' request thread spends its CPU, step by step, in real requests.

    .venv/bin/python bench/steps.py --db-name hd_ab --requests 400
    .venv/bin/python bench/steps.py --db-name hd_ab --step triage.reading.read_language

Uses an existing bench database as it is (e.g. the 10k-chunk one `bench/run.py --keep-db
--chunks 10000 --db-name hd_ab` leaves) and keeps it; creates an `agent` API key, sends
`--warmup` POST /tickets through Django's test client, then `--requests` more, each step
wrapped in a timer of the calling thread's CPU (`time.thread_time()`; a step that calls
another counts it too). Unlike a sampling profiler, this is what the step costs where it
runs, caches as a request leaves them (in isolation, warm, lingua reads a ticket's language
in about a third of what it costs in a request). Prints JSON: per step, the median and mean
ms of CPU per request (0 when a request did not run it), its median wall time (a step that
waits, such as `_Passages.get` for the search, shows it there) and how many requests ran it;
the whole
request's thread CPU and wall time; and the process's CPU per request (the retrieval
thread's encoder pass and scoring included).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

from inprocess import create_api_key, settings_env

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# Module-level functions and class methods along a create's request thread (module.attr or
# module.Class.attr), as the code calls them (module attributes looked up at call time).
STEPS = (
    "helpdesk.throttling._CountingThrottle.allow_request",
    "tickets.apis.validated",
    "tickets.services.clean_message",
    "tickets.services._customer_and_history",
    "tickets.services.kb_retrieval_start",
    "tickets.services._Passages.get",
    "tickets.services.triage_start",
    "triage.arrival._decide",
    "triage.reading.read_language",
    "triage.reading.sentiment_of",
    "tickets.services._suggestions",
    "triage.similar_base._CachedEmbedding.embedding",
    "helpdesk.api.compiled.CompiledInsertChain.insert",
    "tickets.services.interaction_record",
    "tickets.services.customer_360",
    "tickets.services.ticket_json",
    "rest_framework.renderers.JSONRenderer.render",
)


def _resolve(dotted: str):
    """(owner, attribute name) for `module.attr` or `module.Class.attr`."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:-1]:
            owner = getattr(owner, name)
        return owner, parts[-1]
    raise ValueError(f"cannot import {dotted}")


def _wrap(owner, name: str, spent: dict[str, float], label: str) -> None:
    # On a class, the attribute as stored (a staticmethod stays one), inherited ones included.
    inner = inspect.getattr_static(owner, name) if isinstance(owner, type) else getattr(owner, name)
    function = inner.__func__ if isinstance(inner, staticmethod | classmethod) else inner

    def timed(*args, **kwargs):
        started, wall = time.thread_time(), time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.thread_time() - started
            spent[f"{label} wall"] = spent.get(f"{label} wall", 0.0) + time.perf_counter() - wall

    if isinstance(inner, staticmethod):
        timed = staticmethod(timed)
    elif isinstance(inner, classmethod):
        timed = classmethod(timed)
    setattr(owner, name, timed)


def measure(key: str, args: argparse.Namespace) -> dict:
    sys.path[:0] = [str(ROOT), str(BENCH)]
    import django

    django.setup()
    from django.test import Client
    from texts import customer_pool, ticket_payload

    steps = args.step or list(STEPS)
    spent: dict[str, float] = {}
    for dotted in steps:
        _wrap(*_resolve(dotted), spent, dotted)

    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}", REMOTE_ADDR="127.0.0.1")
    rng = random.Random(args.seed)
    pool = customer_pool(200)

    def post() -> tuple[float, float, float]:
        body = json.dumps(ticket_payload(rng, pool))
        spent.clear()
        cpu, process, wall = time.thread_time(), time.process_time(), time.perf_counter()
        response = client.post("/tickets", body, content_type="application/json")
        done = (time.thread_time() - cpu, time.process_time() - process)
        wall = time.perf_counter() - wall
        if response.status_code != 201 or len(response.json()["suggestions"]) != 5:
            raise RuntimeError(f"unexpected answer {response.status_code}: {response.content!r}")
        return done[0], done[1], wall

    for _ in range(args.warmup):
        post()
    per_step: dict[str, list[float]] = {s: [] for s in steps}
    walls_of: dict[str, list[float]] = {s: [] for s in steps}
    thread, process, walls = [], [], []
    for _ in range(args.requests):
        t, p, w = post()
        thread.append(t)
        process.append(p)
        walls.append(w)
        for s in steps:
            per_step[s].append(spent.get(s, 0.0))
            walls_of[s].append(spent.get(f"{s} wall", 0.0))

    def ms(values: list[float]) -> dict:
        return {
            "median_ms": round(statistics.median(values) * 1000, 3),
            "mean_ms": round(statistics.fmean(values) * 1000, 3),
        }

    return {
        "requests": args.requests,
        "request_thread_cpu": ms(thread),
        "process_cpu": ms(process),
        "wall": ms(walls),
        "steps": {
            s: {
                **ms(v),
                "wall_median_ms": ms(walls_of[s])["median_ms"],
                "ran_in": sum(1 for x in v if x > 0),
            }
            for s, v in per_step.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-name", default="hd_ab")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1, help="random seed for request bodies")
    parser.add_argument(
        "--step",
        action="append",
        metavar="DOTTED",
        help="time only this function (module.attr or module.Class.attr); repeatable "
        "(default: the steps of a create listed in STEPS)",
    )
    args = parser.parse_args(argv)
    env = settings_env(args.db_name)
    key = create_api_key(env, "steps")
    os.environ.update(env)
    print(json.dumps(measure(key, args), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
