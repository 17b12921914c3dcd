"""Embeddings of evaluation texts, the way POST /tickets embeds a ticket, cached on disk.

A ticket's triage reads the query vector retrieval already computed (knowledge.index:
`encode_queries([recent, focus])`, the focus left-truncated to 64 tokens, int8 when available).
triage_eval embeds its texts through the same call, one text per pass as a ticket is, so what is
measured is what serves. Vectors are cached under `cache_dir` keyed by the text's SHA-1 and the
encoder's model file and precision: a repeated run embeds nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from knowledge.encoder import EMBED_DIM, Encoder


def encoder_version(encoder: Encoder) -> str:
    precision = encoder.prepare_queries()
    model = encoder._onnx_file().stem if encoder.cache_dir else "torch"
    return f"{model}-{precision}"


def embed_texts(
    texts: list[str],
    *,
    encoder: Encoder,
    cache_dir: str | Path | None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """One row per text (float32, L2-normalised), as `encode_queries` makes it for a ticket."""
    version = encoder_version(encoder)
    store: dict[str, np.ndarray] = {}
    path = None
    if cache_dir:
        path = Path(cache_dir) / f"triage-embeddings-{version}.npz"
        if path.exists():
            with np.load(path) as saved:
                store = dict(zip(saved["keys"].tolist(), saved["vectors"], strict=True))
    keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
    missing = list(dict.fromkeys(k for k in keys if k not in store))
    if missing:
        by_key = dict(zip(keys, texts, strict=True))
        for n, key in enumerate(missing):
            text = by_key[key]
            store[key] = encoder.encode_queries([text, text])[0]
            if progress and n % 500 == 0:
                progress(n, len(missing))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, keys=np.array(list(store)), vectors=np.stack(list(store.values())))
            tmp.replace(path)
    if not texts:
        return np.zeros((0, EMBED_DIM), dtype=np.float32)
    return np.stack([store[k] for k in keys]).astype(np.float32)
