"""Interaction-store figures: append and read latency of the `database` and `dynamodb` stores,
and how fast the outbox drains into DynamoDB.

    .venv/bin/python bench/interactions.py [--items 2000]

DynamoDB is a moto_server started here on loopback (the same protocol as AWS; its latency is not
AWS's, so compare the stores' overhead, not absolute numbers). The relational side is a temporary
SQLite database (the live one is never touched). Prints figures; passes or fails nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("SECRET_KEY", "bench")
for name, value in {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_EC2_METADATA_DISABLED": "true",
}.items():
    os.environ.setdefault(name, value)

import django  # noqa: E402

django.setup()

from django.test import override_settings  # noqa: E402

from bench.servers import start_moto  # noqa: E402
from customers.interactions import (  # noqa: E402
    InteractionRecord,
    _store_for,
    get_interaction_store,
)
from customers.models import Customer, InteractionOutbox  # noqa: E402
from customers.outbox import outbox_drain  # noqa: E402
from knowledge.evaluation import isolated_database, latency_summary  # noqa: E402


def store_latency(customer_id: int, items: int) -> dict:
    _store_for.cache_clear()
    store = get_interaction_store()
    appends, reads = [], []
    for n in range(items):
        record = InteractionRecord(customer_id=customer_id, ticket_id=n, kind="note", summary="x")
        started = time.perf_counter()
        store.append(record)
        appends.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        store.for_customer(customer_id, limit=10)
        reads.append((time.perf_counter() - started) * 1000)
    return {"append": latency_summary(appends), "recent_10": latency_summary(reads)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000, help="outbox rows to drain")
    parser.add_argument("--samples", type=int, default=300, help="timed appends/reads per store")
    args = parser.parse_args()
    server, url = start_moto()
    report: dict = {"load_avg": os.getloadavg()}
    try:
        with isolated_database():
            customer = Customer.objects.create(email="bench@example.com")
            report["database"] = store_latency(customer.id, args.samples)
            with override_settings(
                INTERACTION_STORE="dynamodb",
                DYNAMODB_ENDPOINT_URL=url,
                DYNAMODB_TABLE="helpdesk-bench",
            ):
                from customers.dynamodb import interactions_table_create

                _store_for.cache_clear()
                interactions_table_create()
                report["dynamodb"] = store_latency(customer.id, args.samples)
                InteractionOutbox.objects.bulk_create(
                    InteractionOutbox(
                        interaction_id=record.id,
                        payload=record.to_json(),
                        next_attempt_at=record.occurred_at,
                    )
                    for record in (
                        InteractionRecord(customer_id=customer.id, kind="note", ticket_id=n)
                        for n in range(args.items)
                    )
                )
                started = time.perf_counter()
                result = outbox_drain()
                seconds = time.perf_counter() - started
                report["drain"] = {
                    "items": args.items,
                    "delivered": result.delivered,
                    "remaining": result.remaining,
                    "seconds": round(seconds, 2),
                    "items_per_s": round(result.delivered / seconds, 1),
                }
                _store_for.cache_clear()
    finally:
        server.terminate()
        server.wait(timeout=15)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
