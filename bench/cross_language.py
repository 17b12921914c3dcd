"""Suggestions for tickets in another language than the KB's (the sample KB, English): how
relevant the retriever's top 5 are, and what the cross-language gate (triage/arrival.py,
`suggestions_across_languages`) leaves of them.

The tickets are bench/cross_language_tickets.jsonl: typical shop questions (returns, broken
items, refunds, passwords, late deliveries, payment, invoices, ...) written for this in de, es,
fr, it, nl, pt. `chosen_on` (17, four of them German naming an English product or feature, one
a German reply under an English subject) is what CROSS_LANGUAGE_MIN_COSINE was read from;
`held_out` (20) was written before the floor was chosen and not used to choose it; `english`
(11) are English tickets, some with a foreign sign-off, short, or mixed. An article is relevant
to a ticket when its title is one of RELEVANT[topic] (fixed before the first run).

Reports, per set: tickets with a suggestion, suggestions served, how many relevant, tickets
whose first suggestion is relevant, tickets with a `suggestions_note`; before the gate (the
retriever's top 5, what POST /tickets served) and after, and what other floors would serve
(FLOORS, on the tickets the gate applies to). Then the cosines of every (ticket,
article) pair, relevant or not, per set. With --banking77 FILE, also how often lingua names
another language for English text (whole queries and their first 2-6 words), at the read's
floor, at CERTAIN and settled (triage/reading.py), and how the bench's foreign tickets are read.

    .venv/bin/python bench/cross_language.py [--json] \
        [--banking77 ../shared/eval/triage/banking77/train.jsonl]

The sample KB is indexed into a temporary SQLite database (as kb_eval does): the live KB is
never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TICKETS = Path(__file__).resolve().parent / "cross_language_tickets.jsonl"
FLOORS = (0.25, 0.3, 0.35, 0.4, 0.45)  # for comparison: the gate's is CROSS_LANGUAGE_MIN_COSINE
# Titles (prefixes) of the sample KB's articles that answer each topic.
RELEVANT = {
    "2fa": ["Two-Factor", "Creating an Account and Resetting"],
    "address": ["Changing the Delivery Address", "Updating Your Email Address"],
    "airfryer": ["Air Fryer"],
    "bnpl": ["Buy Now, Pay Later", "Why Was My Payment Declined", "Accepted Payment"],
    "broken": [
        "Damaged or Broken",
        "Warranty",
        "How to Start a Return",
        "Returns Policy",
        "Exchanges",
    ],
    "cancel": ["Changing or Cancelling"],
    "customs": ["International Shipping"],
    "declined": ["Why Was My Payment Declined", "Accepted Payment"],
    "delete": ["Deleting Your Account"],
    "descale": ["How to Descale"],
    "exchange": ["Exchanges", "Returns Policy", "How to Start a Return"],
    "giftcard": ["Promo Codes"],
    "invoice": ["Invoices and VAT"],
    "late": ["Delayed or Lost", "Tracking Your Order", "Shipping Options"],
    "missing": ["Missing Items"],
    "order_status": ["Tracking Your Order", "Delayed or Lost", "Order Confirmation"],
    "password": ["Creating an Account and Resetting", "Two-Factor"],
    "paypal": ["Accepted Payment", "Why Was My Payment Declined"],
    "promo": ["Promo Codes"],
    "refund": ["Refunds:", "Returns Policy", "How to Start a Return"],
    "return": ["How to Start a Return", "Returns Policy", "Exchanges", "Refunds:"],
    "warranty": ["Warranty", "Damaged or Broken", "Blender Troubleshooting", "Spare Parts"],
}


def relevant(topic: str, title: str) -> bool:
    return any(title.startswith(prefix) for prefix in RELEVANT[topic])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--banking77", help="banking77 train.jsonl: lingua on English text")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    import django

    django.setup()
    from django.conf import settings

    from knowledge.evaluation import isolated_database
    from knowledge.indexing import source_documents, sync_documents
    from knowledge.models import SyncJob

    tickets = [json.loads(line) for line in TICKETS.read_text(encoding="utf-8").splitlines()]
    with isolated_database():
        from knowledge.backends.local import LocalBackend

        backend = LocalBackend()
        job = SyncJob.objects.create(backend="local", source=settings.KB_SOURCE)
        job = sync_documents(job, source_documents(settings.KB_SOURCE), embed=backend.embedder())
        assert job.status == SyncJob.Status.SUCCEEDED, job.message
        report = {"suggestions": measure(backend, tickets), "cosines": cosines(backend, tickets)}
    if args.banking77:
        report["lingua_on_english"] = lingua_on_english(args.banking77)
        report["lingua_on_foreign"] = lingua_on_foreign(tickets)
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(
        "set            | before: with / served / relevant / first relevant / noted"
        " | after: the same"
    )
    for name, row in report["suggestions"].items():
        print(f"{name:14} | {row['before']} | {row['after']}")
        for key in (key for key in row if key.startswith("at ")):
            print(f"{'':14} | floor {key[3:]}: {row[key]}")
    for name, row in report["cosines"].items():
        print(f"cosines {name}: {row}")
    for key in ("lingua_on_english", "lingua_on_foreign"):
        for name, row in report.get(key, {}).items():
            print(f"{key} {name}: {row}")


def _query(ticket):
    from helpdesk.reading import clean_message
    from knowledge.query import CUSTOMER, TicketQuery, Turn

    body_clean = clean_message(ticket["body"])
    query = TicketQuery.of(subject=ticket["subject"], turns=[Turn(CUSTOMER, body_clean)])
    return query, f"{ticket['subject']}\n{body_clean or ticket['body']}"


def measure(backend, tickets) -> dict:
    """Per set, the served suggestions before and after the gate, as POST /tickets decides
    (the same language read, KB language and function)."""
    from django.conf import settings

    from triage import reading
    from triage.arrival import kb_language, suggestions_across_languages

    kb = kb_language()
    sets: dict[str, dict] = {}
    for ticket in tickets:
        query, words = _query(ticket)
        passages = backend.retrieve(query, k=settings.KB_SUGGESTIONS)
        read = reading.read_language(words)
        after, note = passages, ""
        if read.certain:
            after, note = suggestions_across_languages(passages, read.code, kb)
        # Before, the note was written only when nothing came back.
        noted_before = not passages and bool(read.code and kb and read.code != kb)
        row = sets.setdefault(ticket["set"], {"tickets": 0, "before": [0] * 5, "after": [0] * 5})
        row["tickets"] += 1
        served = {"before": (passages, noted_before), "after": (after, bool(note))}
        if read.certain and read.code != kb:  # what other floors would have served
            for floor in FLOORS:
                served[f"at {floor}"] = ([p for p in passages if p.cosine >= floor], True)
        for key, (kept, noted) in served.items():
            marks = [relevant(ticket["topic"], p.title) for p in kept]
            counts = (bool(kept), len(kept), sum(marks), bool(marks and marks[0]), noted)
            totals = row.setdefault(key, [0] * 5)
            row[key] = [total + n for total, n in zip(totals, counts, strict=True)]
    return sets


def cosines(backend, tickets) -> dict:
    """Per set, the best passage cosine of every article to every ticket (the value the gate
    reads), split into relevant and unrelated pairs."""
    import numpy as np

    index = backend.index().hybrid
    titles = {record.article_id: record.title for record in index.records}
    out = {}
    for name in dict.fromkeys(t["set"] for t in tickets):
        unrelated, related = [], []
        for ticket in (t for t in tickets if t["set"] == name):
            signals = index.signals(_query(ticket)[0])
            best = np.maximum(
                index._per_article(signals["dense_focus"]),
                index._per_article(signals["dense_recent"]),
            )
            for position, article_id in enumerate(index.article_ids):
                pairs = related if relevant(ticket["topic"], titles[article_id]) else unrelated
                pairs.append(float(best[position]))
        unrelated, related = np.array(unrelated), np.array(related)
        out[name] = {
            "unrelated": len(unrelated),
            "unrelated_max": round(float(unrelated.max()), 3),
            "unrelated_p99": round(float(np.quantile(unrelated, 0.99)), 3),
            "unrelated_at_0.4": int((unrelated >= 0.4).sum()),
            "unrelated_at_0.3": int((unrelated >= 0.3).sum()),
            "related": len(related),
            "related_at_0.4": int((related >= 0.4).sum()),
            "related_at_0.3": int((related >= 0.3).sum()),
            "related_median": round(float(np.median(related)), 3),
        }
    return out


def lingua_on_english(path: str) -> dict:
    """English banking77 queries (1,500, shuffled with seed 0), whole and cut to their first
    2-6 words: how many are told, and how many of those are named another language, at the
    read's floor and at CERTAIN."""
    from triage import reading

    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]
    random.Random(0).shuffle(rows)
    texts = []
    for row in rows[:1500]:
        words = row["text"].split()
        texts += [" ".join(words[:n]) for n in (2, 3, 4, 5, 6)] + [row["text"]]
    reads = [reading.read_language(text) for text in texts]
    told = [read for read in reads if read.code]
    wrong = [read for read in told if read.code != "en"]
    return {
        "texts": len(texts),
        "told": len(told),
        "named_another_language": len(wrong),
        "of_them_certain": sum(read.certain for read in wrong),
        # What keeps triage from applying a category and VADER from scoring (settled:
        # certain, or told by function words).
        "of_them_settled": sum(read.settled for read in wrong),
    }


def lingua_on_foreign(tickets: list[dict]) -> dict:
    """The bench's tickets in another language than English, as triage reads them (subject and
    cleaned body) and their body cut to its first 3-6 words: how many are told their language,
    and how many of those are certain, or settled."""
    from triage import reading

    texts = []
    for ticket in tickets:
        if ticket["language"] == "en":
            continue
        words = ticket["body"].split()
        texts.append((_query(ticket)[1], ticket["language"]))
        texts += [(" ".join(words[:n]), ticket["language"]) for n in (3, 4, 5, 6)]
    reads = [(reading.read_language(text), language) for text, language in texts]
    right = [read for read, language in reads if read.code == language]
    return {
        "texts": len(texts),
        "told_right": len(right),
        "of_them_certain": sum(read.certain for read in right),
        "of_them_settled": sum(read.settled for read in right),
        "told_wrong": sum(bool(read.code) and read.code != language for read, language in reads),
    }


if __name__ == "__main__":
    main()
