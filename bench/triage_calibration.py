"""How honest triage's confidence is on a small label set: seed_demo's 5 categories × 6
examples (triage/demo.py), leave-one-out. Each example is predicted by a model trained on the
other 29 through TriageClassifier.fit (the code path of triage_train), embedded as POST
/tickets embeds a ticket. Reports accuracy, mean confidence, expected calibration error (ECE,
5 equal-width bins), log-loss and how many held-out examples would be applied at 0.8.

    .venv/bin/python bench/triage_calibration.py [--json] [--no-names]

With the categories' names and descriptions as training gives them (the name view), unless
--no-names.

No database: the texts are read from triage/demo.py, the encoder from KB_MODEL_CACHE_DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--no-names", action="store_true", help="without the name view")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    import django

    django.setup()
    import numpy as np

    from knowledge.backends.local import shared_encoder
    from triage.classifier import TriageClassifier, category_text
    from triage.demo import CATEGORIES, labelled_texts

    texts, labels = labelled_texts()
    encoder = shared_encoder()
    embeddings = np.stack([encoder.encode_queries([t, t])[0] for t in texts])
    name_vectors = None  # as triage training embeds a category's name and description
    if not args.no_names:
        name_vectors = {}
        for name, (description, _, _) in CATEGORIES.items():
            text = category_text(name, description)
            name_vectors[name] = encoder.encode_queries([text, text])[0]
    started = time.perf_counter()
    confidence, correct, true_p = [], [], []
    for i in range(len(texts)):
        keep = [j for j in range(len(texts)) if j != i]
        model = TriageClassifier.fit(
            [texts[j] for j in keep],
            [labels[j] for j in keep],
            embeddings[keep],
            name_vectors=name_vectors,
        )
        probs = model.probabilities(embeddings[[i]], [texts[i]])[0]
        best = int(np.argmax(probs))
        confidence.append(float(probs[best]))
        correct.append(model.labels[best] == labels[i])
        true_p.append(float(probs[model.labels.index(labels[i])]))
    confidence, correct = np.array(confidence), np.array(correct)
    bins = np.minimum((confidence * 5).astype(int), 4)
    ece = sum(
        abs(confidence[bins == b].mean() - correct[bins == b].mean()) * (bins == b).mean()
        for b in range(5)
        if (bins == b).any()
    )
    applied = confidence >= args.threshold
    result = {
        "n": len(texts),
        "accuracy": round(float(correct.mean()), 4),
        "mean_confidence": round(float(confidence.mean()), 4),
        "ece": round(float(ece), 4),
        "log_loss": round(float(-np.mean(np.log(np.maximum(true_p, 1e-12)))), 4),
        f"applied_at_{args.threshold}": int(applied.sum()),
        "applied_accuracy": round(float(correct[applied].mean()), 4) if applied.any() else None,
        "wrong_applied": int((applied & ~correct).sum()),
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
