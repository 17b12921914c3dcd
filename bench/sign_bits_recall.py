"""Does the Titan path's first pass (sign bits, Hamming distance) keep the tickets an exact
cosine search would answer? Measured on real sentence embeddings, not random vectors.

    .venv/bin/python bench/sign_bits_recall.py [../shared/eval/triage/banking77/train.jsonl]
        [--queries 300] [--candidates 200] [--limit 10] [--threshold 0.6]

triage/similar_bedrock.py answers similar tickets in two passes: the CANDIDATES open tickets
nearest by Hamming distance of their embeddings' sign bits, then the int8 cosine of those, kept
at or above the threshold. Sign bits order random (isotropic) vectors almost as their cosines
do; real embeddings are not isotropic (their components have non-zero means), which can only
make the first pass worse. Titan cannot be called here, so this uses the local encoder's
vectors of real customer messages (banking77's ~9,000 training texts: 77 intents of ~130
rewordings each, a dense neighbourhood like a helpdesk's recurring questions) as the open
tickets, and for --queries of them compares the two passes' answer with the exact one (the
int8 cosine over every ticket): the share of the exact top-`limit` at the threshold that the
two passes answer, per query averaged, at several candidate counts.
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

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from knowledge.backends.local import shared_encoder  # noqa: E402
from triage import similar_bedrock  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    default = ROOT.parent / "shared/eval/triage/banking77/train.jsonl"
    parser.add_argument("texts", nargs="?", default=str(default))
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--candidates", default="50,100,200,400")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--threshold", type=float, default=0.6)
    args = parser.parse_args()

    lines = Path(args.texts).read_text().splitlines()
    texts = [json.loads(line)["text"] for line in lines if line.strip()]
    started = time.perf_counter()
    encoder = shared_encoder()
    vectors = np.concatenate(
        [encoder.encode_passages(texts[i : i + 256]) for i in range(0, len(texts), 256)]
    )
    print(f"{len(texts)} texts embedded in {time.perf_counter() - started:.0f} s")

    # As stored: int8 components and sign bits (similar_bedrock.pack), as Python ints.
    packed = [similar_bedrock.pack([float(x) for x in v]) for v in vectors]
    ints = np.array([np.frombuffer(c, dtype=np.int8) for c, _ in packed], dtype=np.float32)
    unit = ints / np.linalg.norm(ints, axis=1, keepdims=True)
    bits = [int.from_bytes(b, "big") for _, b in packed]
    picks = np.random.default_rng(0).choice(len(texts), args.queries, replace=False)
    counts = [int(c) for c in args.candidates.split(",")]
    found = dict.fromkeys(counts, 0.0)
    answered = 0
    sizes = []
    for q in picks:
        cosines = unit @ unit[q]
        cosines[q] = -1.0
        above = np.flatnonzero(cosines >= args.threshold)
        exact = set(above[np.argsort(-cosines[above], kind="stable")][: args.limit].tolist())
        if not exact:
            continue
        answered += 1
        sizes.append(len(above))
        hamming = np.array([(bits[q] ^ b).bit_count() for b in bits])
        hamming[q] = 1 << 30
        order = np.lexsort((np.arange(len(bits)), hamming))
        for k in counts:
            candidates = order[:k]
            kept = candidates[cosines[candidates] >= args.threshold]
            top = kept[np.argsort(-cosines[kept], kind="stable")][: args.limit]
            found[k] += len(exact & set(top.tolist())) / len(exact)
    print(
        f"{answered} of {len(picks)} queries have a ticket at cosine >= {args.threshold} "
        f"(median {int(np.median(sizes))} such tickets each); share of the exact top-"
        f"{args.limit} the two passes answer, by candidates from the first pass:"
    )
    for k in counts:
        print(f"  {k:>5} candidates: {found[k] / max(answered, 1):.4f}")


if __name__ == "__main__":
    main()
