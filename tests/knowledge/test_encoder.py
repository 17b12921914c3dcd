"""The query encoder: the int8 copy of the ONNX export, its checks and fallbacks, and a
query's parts encoded side by side."""

import logging
import shutil
import subprocess
import sys

import numpy as np
import pytest
from django.conf import settings

from knowledge.backends.local import shared_encoder
from knowledge.encoder import INT8_MIN_COSINE, QUERY_MAX_TOKENS, Encoder
from knowledge.index import SPLIT_SCORING_ROWS, ChunkRecord, HybridIndex

TEXTS = [
    "My blender arrived with a cracked jug",
    "Where is my refund?\nI returned the kettle two weeks ago and have heard nothing since.",
    "How do I change the e-mail address on my account?",
]


@pytest.fixture(scope="module")
def fp32_graph():
    """The fp32 graph the suite's KB sync built (built here if this file runs alone)."""
    return shared_encoder()._fp32()


@pytest.fixture
def cache(tmp_path, fp32_graph):
    """A model cache holding only the fp32 graph."""
    shutil.copy(fp32_graph, tmp_path / fp32_graph.name)
    return tmp_path


def exact(encoder: Encoder, texts: list[str]) -> np.ndarray:
    """The fp32 ONNX vectors of texts, encoded as a query's parts are (left-truncated)."""
    return np.stack([encoder._encode_batch([t], QUERY_MAX_TOKENS, "left")[0] for t in texts])


def test_int8_copy_is_made_from_the_fp32_graph_and_stays_close_to_it(cache):
    encoder = Encoder(cache_dir=cache)

    vectors = encoder.encode_queries(TEXTS)

    assert encoder.query_precision == "int8"
    assert [p.name for p in cache.glob("*-int8.onnx")], "the int8 copy is written to the cache"
    cosines = np.sum(vectors * exact(encoder, TEXTS), axis=1)
    assert cosines.min() >= INT8_MIN_COSINE
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_fp32_precision_encodes_exactly_and_writes_no_int8_copy(cache):
    encoder = Encoder(cache_dir=cache, query_precision="fp32")

    vectors = encoder.encode_queries(TEXTS)

    assert np.allclose(vectors, exact(encoder, TEXTS), atol=1e-6)
    assert not list(cache.glob("*-int8.onnx"))


def test_parts_encoded_side_by_side_equal_parts_encoded_one_by_one(cache):
    parallel = Encoder(cache_dir=cache, num_threads=2)
    serial = Encoder(cache_dir=cache, num_threads=1)

    side_by_side = parallel.encode_queries(TEXTS)
    one_by_one = serial.encode_queries(TEXTS)

    assert parallel.pool() is not None and serial.pool() is None
    assert np.allclose(side_by_side, one_by_one, atol=1e-6)
    # Repeated and empty parts keep their places.
    again = parallel.encode_queries([TEXTS[0], "", TEXTS[0]])
    assert np.allclose(again[0], again[2]) and again.shape == (3, 384)


def test_a_lone_query_text_runs_on_one_thread_with_the_same_vector(cache):
    two = Encoder(cache_dir=cache, num_threads=2)
    one = Encoder(cache_dir=cache, num_threads=1)

    alone = two.encode_queries([TEXTS[0]])

    # The spare thread is left to the query's other work (its lexical signals, other parts).
    assert two._onnx_query().get_session_options().intra_op_num_threads == 1
    assert two.pool() is not None
    assert np.allclose(alone, one.encode_queries([TEXTS[0]]), atol=1e-6)


def test_a_broken_int8_file_falls_back_to_fp32_with_a_warning(cache, caplog):
    fp32 = next(p for p in cache.glob("*.onnx"))
    (cache / f"{fp32.stem}-int8.onnx").write_bytes(b"not a model")
    encoder = Encoder(cache_dir=cache)

    with caplog.at_level(logging.WARNING, logger="knowledge.encoder"):
        vectors = encoder.encode_queries(TEXTS)

    assert encoder.query_precision == "fp32"
    assert "int8 query encoder unavailable" in caplog.text
    assert np.allclose(vectors, exact(encoder, TEXTS), atol=1e-6)


def test_an_int8_file_that_does_not_match_the_model_is_refused(cache, caplog):
    """A model file of the right format but the wrong weights fails the probe check."""
    fp32 = next(p for p in cache.glob("*.onnx"))
    encoder = Encoder(cache_dir=cache)
    good = encoder._quantized(fp32)
    import onnx

    model = onnx.load(str(good))
    for tensor in model.graph.initializer:
        if tensor.data_type == onnx.TensorProto.FLOAT and len(tensor.dims) == 1:
            array = onnx.numpy_helper.to_array(tensor)
            tensor.CopyFrom(onnx.numpy_helper.from_array(np.zeros_like(array), tensor.name))
    onnx.save(model, str(good))
    fresh = Encoder(cache_dir=cache)

    with caplog.at_level(logging.WARNING, logger="knowledge.encoder"):
        fresh.encode_queries(TEXTS[:1])

    assert fresh.query_precision == "fp32"
    assert "does not match the reference vectors" in caplog.text


def test_unknown_query_precision_is_refused():
    with pytest.raises(ValueError):
        Encoder(query_precision="int4")


def test_the_setting_is_checked_at_startup(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "SECRET_KEY": "x",
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
        "KB_QUERY_PRECISION": "int4",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )

    assert result.returncode != 0
    assert "KB_QUERY_PRECISION is int8 or fp32, not 'int4'" in result.stderr


def test_the_live_encoder_follows_the_setting():
    assert shared_encoder().query_precision == settings.KB_QUERY_PRECISION


def test_scoring_split_across_threads_equals_scoring_in_one(cache):
    rng = np.random.default_rng(3)
    rows = SPLIT_SCORING_ROWS + 1001  # odd, so the halves differ in size
    records = [ChunkRecord(i, i // 7, f"Article {i // 7}", [], f"passage {i}") for i in range(rows)]
    embeddings = rng.standard_normal((rows, 384)).astype(np.float32)
    vectors = rng.standard_normal((2, 384)).astype(np.float32)
    split = HybridIndex(records, embeddings, Encoder(cache_dir=cache, num_threads=2))
    whole = HybridIndex(records, embeddings, Encoder(cache_dir=cache, num_threads=1))

    assert np.allclose(split._dense(vectors), whole._dense(vectors), atol=1e-5)
    assert np.allclose(whole._dense(vectors), whole.emb @ vectors.T)


def test_prepare_queries_makes_the_int8_copy_before_any_query(cache):
    encoder = Encoder(cache_dir=cache)
    assert not list(cache.glob("*-int8.onnx"))

    assert encoder.prepare_queries() == "int8"

    assert len(list(cache.glob("*-int8.onnx"))) == 1
    assert not list(cache.glob("tmp*")), "no temporary file is left behind"
