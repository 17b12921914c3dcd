"""Triage read in plain Python from a ticket vector (triage.embedded: the Lambda with a model
trained on Titan's vectors) against the model numpy serves and the word view, on one train/dev
split, in one run.

Titan cannot be called here, so the local encoder's query vectors (as POST /tickets makes them,
cached like triage_eval's) stand in for Titan's, lifted to 1,024 components by a fixed random
orthonormal map (every cosine and dot product unchanged, so the accuracy is the 384-component
one; the cost is that of Titan's size):

- `numpy, near 50`: the model as a local deployment trains and serves it (NEAR_PER_LABEL);
- `plain Python, near by signs`: trained as `triage_train` does with SIMILAR_ENCODER=bedrock
  (`near` from sign bits), read by triage.embedded from the stored blob;
- `word view`: what the Lambda served before (triage.lexical), from the same model.

Cost: thread CPU per ticket of `predict` (median over the dev texts, after a warm-up), and the
time to read the model from its blob once.

With --native the vectors keep their 384 components: the signs `near` reads are then the
encoder's own components' (as Titan's are), not those of the random map (the accuracy to
quote); without it, the cost at Titan's size.

    .venv/bin/python bench/triage_split.py ../shared/eval/triage/banking77/train.jsonl \
        /tmp/triage-dev/banking77
    .venv/bin/python bench/triage_embedded.py /tmp/triage-dev/banking77/train.jsonl \
        /tmp/triage-dev/banking77/dev.jsonl [--shots 10 --seeds 0,1,2] [--oos-label L] [--native]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DIMS = 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("train")
    parser.add_argument("dev")
    parser.add_argument("--shots", type=int)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--oos-label")
    parser.add_argument("--native", action="store_true", help="384 components, no lift")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    import django

    django.setup()
    import numpy as np
    from django.conf import settings

    from knowledge.backends.local import shared_encoder
    from triage.classifier import TriageClassifier, category_text
    from triage.embedded import EmbeddedClassifier
    from triage.embeddings import embed_texts
    from triage.evaluation import load_jsonl, sample_shots, scores
    from triage.lexical import LexicalClassifier

    encoder = shared_encoder()
    lift, _ = np.linalg.qr(np.random.default_rng(1234).standard_normal((DIMS, 384)))
    lift = lift.astype(np.float32)  # DIMS × 384, orthonormal columns

    def embed(texts):
        vectors = embed_texts(texts, encoder=encoder, cache_dir=settings.TRIAGE_EVAL_CACHE_DIR)
        return vectors if args.native else vectors @ lift.T

    train_all, dev = load_jsonl(args.train), load_jsonl(args.dev)
    dev_texts = [r["text"] for r in dev]
    truth = [r["label"] for r in dev]
    dev_x = embed(dev_texts)
    dev_lists = [[float(x) for x in row] for row in dev_x]
    oos = args.oos_label

    def answers(predictions):
        if oos:
            return [p.label or oos for p in predictions]
        return [p.alternatives[0][0] if p.alternatives else "" for p in predictions]

    def cpu_per_call(call, items, *, spread=False):
        for item in items[:20]:
            call(*item) if spread else call(item)
        times = []
        for item in items:
            started = time.thread_time()
            call(*item) if spread else call(item)
            times.append(time.thread_time() - started)
        return round(statistics.median(times) * 1000, 3)

    runs = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        train = sample_shots(train_all, args.shots, seed, oos) if args.shots else train_all
        texts, labels = [r["text"] for r in train], [r["label"] for r in train]
        train_x = embed(texts)
        in_scope = sorted({label for label in labels if label != oos})
        names = dict(zip(in_scope, embed([category_text(n) for n in in_scope]), strict=True))
        run = {"seed": seed, "n_train": len(train), "n_dev": len(dev), "labels": len(in_scope)}
        local = TriageClassifier.fit(
            texts, labels, train_x, oos_label=oos, seed=seed, name_vectors=names
        )
        local = TriageClassifier.from_bytes(local.to_bytes())
        run["numpy, near by cosine"] = scores(truth, answers(local.predict(dev_x, dev_texts)), oos)
        remote = TriageClassifier.fit(
            texts, labels, train_x, oos_label=oos, seed=seed, name_vectors=names, encoder="x"
        )
        blob = remote.to_bytes()
        started = time.perf_counter()
        plain = EmbeddedClassifier.from_bytes(blob)
        run["read_ms"] = round((time.perf_counter() - started) * 1000, 1)
        pairs = list(zip(dev_lists, dev_texts, strict=True))
        predicted = [plain.predict(v, t) for v, t in pairs]
        run["plain Python, near by signs"] = scores(truth, answers(predicted), oos)
        run["plain_ms_per_ticket"] = cpu_per_call(plain.predict, pairs[:300], spread=True)
        words = LexicalClassifier.from_bytes(blob)
        run["word view"] = scores(truth, answers([words.predict(t) for t in dev_texts]), oos)
        run["word_ms_per_ticket"] = cpu_per_call(words.predict, dev_texts[:300])
        run["weights"] = remote.report["weights"]
        run["blob_kb"] = round(len(blob) / 1024)
        runs.append(run)
        print(json.dumps(run), flush=True)
    if len(runs) > 1:
        summary = {}
        for view in ("numpy, near by cosine", "plain Python, near by signs", "word view"):
            summary[view] = {
                metric: round(statistics.mean(r[view][metric] for r in runs), 4)
                for metric in runs[0][view]
                if runs[0][view][metric] is not None
            }
        print(json.dumps({"mean": summary}))


if __name__ == "__main__":
    main()
