"""Carve a dev split from a triage training set (../shared/eval/triage/*/train.jsonl): the test
splits are kept aside, so triage is tuned and reported on this split only.

    .venv/bin/python bench/triage_split.py SRC_TRAIN_JSONL OUT_DIR [--seed 0] [--fraction 0.1]
        [--held-labels 0.2 --oos-label NO_NODES_DETECTED]

10% of each label's rows (at least one, never all), stratified and seeded, go to dev.json;
with --held-labels, that share of the labels is held out whole: its rows go to dev relabelled
--oos-label (pseudo out-of-scope, for sets whose training side has no out-of-scope rows).
Writes OUT_DIR/train.jsonl and OUT_DIR/dev.jsonl.
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from triage.evaluation import dev_split, load_jsonl  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("source")
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--held-labels", type=float, default=0.0)
    parser.add_argument("--oos-label", default="OOS_HELD_OUT")
    args = parser.parse_args()
    train, dev = dev_split(
        load_jsonl(args.source),
        seed=args.seed,
        fraction=args.fraction,
        held_labels=args.held_labels,
        oos_label=args.oos_label,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("dev", dev)):
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    print(f"train {len(train)}  dev {len(dev)}  -> {out}")


if __name__ == "__main__":
    main()
