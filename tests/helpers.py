"""Assertions and requests shared by the API tests."""

import copy
from contextlib import contextmanager


def assert_error(response, status, *, code=None, fields=()):
    """The response is our JSON error envelope with this status (and code, and field names)."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict)
    if code is not None:
        assert error["code"] == code
    for name in fields:
        assert name in error["fields"], error
    return error


def post_ticket(api, subject, body, *, email="ana@example.com", **extra):
    """POST /tickets as a customer with this e-mail; asserts 201 and returns the answer."""
    response = api.post(
        "/tickets",
        {"customer": {"email": email}, "subject": subject, "body": body, **extra},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def post_follow_up(api, ticket_id: int, body: str) -> dict:
    """A customer's follow-up through POST /tickets/{id}/messages; asserts 201 and that the
    answer conforms to the schema, and returns it."""
    from tests.openapi import assert_conforms

    response = api.post(
        f"/tickets/{ticket_id}/messages",
        {"kind": "reply", "role": "customer", "body": body},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert_conforms(response, "POST", "/tickets/{id}/messages")
    return response.json()


def count_encoder_passes(monkeypatch, encoder) -> list[list[str]]:
    """The texts of every ONNX pass `encoder` makes from now on (a list that fills up)."""
    passes: list[list[str]] = []
    run = encoder._run_onnx

    def counted(session, texts, *args):
        passes.append(list(texts))
        return run(session, texts, *args)

    monkeypatch.setattr(encoder, "_run_onnx", counted)
    return passes


def count_language_reads(monkeypatch) -> list[str]:
    """The texts triage.reading.read_language is asked about from now on."""
    from triage import reading

    reads: list[str] = []
    read = reading.read_language
    monkeypatch.setattr(reading, "read_language", lambda text: reads.append(text) or read(text))
    return reads


def run_as_lambda(script: str, tmp_path, **environment: str) -> list[str]:
    """Run `script` in a Python process set up with the Lambda stage's environment (Bedrock,
    DynamoDB), a SQLite database in `tmp_path` and fake AWS credentials, after `json` and `sys`
    are imported, numpy and lingua made unimportable (neither is in the package), Django set up
    and the database migrated; asserts it exits 0 and returns its output lines."""
    import os
    from pathlib import Path

    from deploy import package

    env = {
        "PATH": os.environ.get("PATH", ""),
        **package.stage_config("dev")["environment_variables"],
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
        "SECRET_KEY": "lambda-triage-test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        **environment,
    }
    preamble = (
        "import json, sys\n"
        "sys.modules['numpy'] = sys.modules['lingua'] = None\n"
        "import django\n"
        "django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('migrate', verbosity=0)\n"
    )
    return run_python(preamble + script, env, cwd=tmp_path)


def run_python(script: str, env: dict[str, str] | None = None, *, cwd=None) -> list[str]:
    """Run `script` in a new Python process with only `env` (by default PATH, and this project
    on PYTHONPATH); asserts it exits 0 and returns its output lines."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    if env is None:
        root = str(Path(__file__).resolve().parents[1])
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": root}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def prediction_rows(predictions) -> list[list]:
    """Triage predictions as JSON gives them back: [label, confidence, [[label, p], …]]; for
    comparing what a process without numpy answered with this process's answers."""
    return [[p.label, p.confidence, [list(a) for a in p.alternatives]] for p in predictions]


def predictions_without_numpy(
    classifier: str,
    model_bytes: bytes,
    tmp_path,
    texts: list[str],
    vectors=None,
    *,
    watched=("numpy",),
) -> tuple[list[list], str]:
    """Load a stored model with `classifier` ("triage.lexical.LexicalClassifier" or
    "triage.embedded.EmbeddedClassifier") in a new process where `import numpy` fails, as on
    the Lambda, and predict each text (with its vector, when `vectors` are given). Returns
    (`prediction_rows` of its answers, the sorted list of the `watched` top-level modules the
    process had loaded, as printed)."""
    import json

    module, name = classifier.rsplit(".", 1)
    path = tmp_path / "model.npz"
    path.write_bytes(model_bytes)
    script = (
        "import json, sys\n"
        "sys.modules['numpy'] = None  # any `import numpy` now raises ImportError\n"
        f"from {module} import {name}\n"
        f"model = {name}.from_bytes(open({str(path)!r}, 'rb').read())\n"
        f"texts = json.loads({json.dumps(json.dumps(texts))})\n"
        f"vectors = json.loads({json.dumps(json.dumps(vectors))})\n"
        "out = [model.predict(t) for t in texts] if vectors is None else "
        "[model.predict(v, t) for v, t in zip(vectors, texts)]\n"
        "from tests.helpers import prediction_rows\n"
        "print(json.dumps(prediction_rows(out)))\n"
        "print(sorted(m for m, v in sys.modules.items() if v and m.split('.')[0] in "
        f"{sorted(watched)!r}))\n"
    )
    answers, modules = run_python(script)
    return json.loads(answers), modules


@contextmanager
def default_database(**changes):
    """Requests in this block use a `default` connection of its own with these settings
    changed (closed at the end, the test's own connection put back)."""
    from django.db import connection, connections
    from django.db.utils import load_backend

    settings_dict = copy.deepcopy(connection.settings_dict)
    settings_dict.update(changes)
    wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "default")
    original = connections["default"]
    connections["default"] = wrapper
    try:
        yield wrapper
    finally:
        wrapper.close()
        connections["default"] = original
