"""Sentiment read as a support message against VADER alone, on labelled texts of the triage
eval sets whose intent says what the customer feels about: banking77's problem reports (a
card declined or swallowed, a payment not recognised, a transfer that never came; none of
them a happy message) and CLINC150's `thank_you` messages (all of them one). Prints, per
group and reader, the share of texts labelled positive, neutral and negative, and how many
score at or below the priority rule's default (-0.8).

    .venv/bin/python bench/sentiment_support.py [--json]

No sentiment labels exist for these sets: the intents stand in for them, so read the
figures as "how often a problem report reads as positive" and "how often a thank-you still
does", not as accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TRIAGE = ROOT.parent / "shared" / "eval" / "triage"

PROBLEMS = frozenset((
    "card_not_working", "card_swallowed", "cash_withdrawal_not_recognised",
    "card_payment_not_recognised", "compromised_card", "declined_card_payment",
    "declined_cash_withdrawal", "declined_transfer", "direct_debit_payment_not_recognised",
    "extra_charge_on_statement", "failed_transfer", "lost_or_stolen_card", "lost_or_stolen_phone",
    "pin_blocked", "Refund_not_showing_up", "transaction_charged_twice",
    "transfer_not_received_by_recipient", "wrong_amount_of_cash_received", "top_up_failed",
    "top_up_reverted", "virtual_card_not_working", "contactless_not_working",
    "balance_not_updated_after_bank_transfer", "unable_to_verify_identity",
    "card_payment_wrong_exchange_rate", "wrong_exchange_rate_for_cash_withdrawal",
    "beneficiary_not_allowed",
))  # fmt: skip
PRIORITY_RULE = -0.8


def texts(path: Path, labels) -> list[str]:
    with path.open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return [row["text"] for row in rows if row["label"] in labels]


def label(score: float) -> str:
    from triage import reading

    if score >= reading.POSITIVE_AT:
        return "positive"
    return "negative" if score <= reading.NEGATIVE_AT else "neutral"


def shares(scores: list[float]) -> dict:
    counts = Counter(label(score) for score in scores)
    labels = ("positive", "neutral", "negative")
    return {
        **{name: round(counts[name] / len(scores), 3) for name in labels},
        "at_or_below_priority_rule": sum(score <= PRIORITY_RULE for score in scores),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from helpdesk.reading import clean_message
    from triage import reading

    vader = SentimentIntensityAnalyzer()
    groups = {
        "banking77 problem reports": texts(TRIAGE / "banking77" / "train.jsonl", PROBLEMS),
        "clinc150 thank_you": texts(TRIAGE / "clinc150" / "train.jsonl", {"thank_you"}),
    }
    report = {}
    for group, rows in groups.items():
        report[group] = {
            "n": len(rows),
            "vader": shares([vader.polarity_scores(text[:4000])["compound"] for text in rows]),
            # As POST /tickets reads a message: its cleaned words (no greeting, sign-off).
            "ours": shares([reading.sentiment_of(clean_message(text)).score for text in rows]),
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for group, row in report.items():
        print(f"{group} (n={row['n']})")
        for reader in ("vader", "ours"):
            print(f"  {reader:6} {row[reader]}")


if __name__ == "__main__":
    main()
