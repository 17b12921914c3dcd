"""The language read where lingua is not installed (the Lambda package): a text's function
words alone (triage/reading.py `_by_function_words`), on the English texts of every eval set
and on the bench's foreign-language tickets (bench/cross_language_tickets.jsonl), whole and cut
to their first 3-6 words. Prints counts of texts told English, told another language, not told.

    .venv/bin/python bench/language_fallback.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "eval"
TICKETS = Path(__file__).resolve().parent / "cross_language_tickets.jsonl"


def english_texts() -> list[str]:
    triage = ("banking77", "clinc150", "hint3_curekart", "hint3_powerplay11", "hint3_sofmattress")
    retrieval = ("stackfaq_tickets", "stackfaq", "dstc11_faq")
    paths = [EVAL / "triage" / name / "train.jsonl" for name in triage]
    paths += [EVAL / name / "queries.jsonl" for name in retrieval]
    texts = []
    for path in paths:
        if path.exists():
            texts += [json.loads(line)["text"] for line in path.open() if line.strip()]
    return texts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from triage import reading

    reading._loaded["language"], reading._detector = True, None  # as if lingua were absent

    def read(text: str) -> str:
        return reading.read_language(text).code

    english = Counter()
    misread = []
    for text in english_texts():
        code = read(text)
        english["en" if code == "en" else "other" if code else "untold"] += 1
        if code and code != "en":
            misread.append((code, text))
    tickets = [json.loads(line) for line in TICKETS.open() if line.strip()]
    whole, cut = Counter(), Counter()
    for ticket in tickets:
        code = read(f"{ticket['subject']}\n{ticket['body']}")
        language = ticket["language"]
        whole["right" if code == language else "wrong" if code else "untold"] += 1
        if language == "en":
            continue
        words = ticket["body"].split()
        for n in (3, 4, 5, 6):
            code = read(" ".join(words[:n]))
            cut["right" if code == language else "wrong" if code else "untold"] += 1
    report = {
        "english_texts": dict(english),
        "english_told_another_language": misread,
        "bench_tickets_whole": dict(whole),
        "foreign_tickets_first_3_to_6_words": dict(cut),
    }
    if args.json:
        print(json.dumps(report))
        return
    for key, value in report.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
