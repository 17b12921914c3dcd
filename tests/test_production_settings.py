"""Production settings: no start without a SECRET_KEY, `check --deploy` clean, HTTPS enforced.

The first tests run `manage.py` in a subprocess with a production-like environment, as a
deployment would; the last ones check the HTTPS behaviour those settings give, in process.
"""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

BASE_DIR = Path(__file__).resolve().parent.parent


def manage(*args: str, **env: str | None) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "api.example.com",
        "SECRET_KEY": secrets.token_urlsafe(50),
    }
    # What a deployment sets, not what the test run set for itself.
    for name in ("SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_PROXY_SSL_HEADER"):
        environment.pop(name, None)
    for name, value in env.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_env_file_fills_in_what_the_environment_leaves_unset(tmp_path):
    dotenv = tmp_path / "dev.env"
    dotenv.write_text("KB_PUBLIC_BASE_URL=https://from-the-file.example/\nDEBUG=true\n")
    show = "from django.conf import settings as s; print(s.KB_PUBLIC_BASE_URL, s.DEBUG)"

    read = manage("shell", "-v", "0", "-c", show, ENV_FILE=str(dotenv), KB_PUBLIC_BASE_URL=None)
    # The environment wins over the file (DEBUG=false is set by `manage`).
    assert read.stdout.split() == ["https://from-the-file.example/", "False"], read.stderr

    ignored = manage("shell", "-v", "0", "-c", show, ENV_FILE="", KB_PUBLIC_BASE_URL=None)
    assert ignored.stdout.split() == ["False"], ignored.stderr


@pytest.mark.parametrize("key", ["", "   "], ids=["empty", "blank"])
def test_an_empty_secret_key_refuses_to_start(key):
    result = manage("check", SECRET_KEY=key)

    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is empty" in result.stderr, result.stderr


def test_a_missing_secret_key_refuses_to_start():
    # ENV_FILE empty: a developer's .env (make run writes one) would supply the key.
    result = manage("check", SECRET_KEY=None, ENV_FILE="")

    assert result.returncode != 0
    assert "ImproperlyConfigured: Set the SECRET_KEY environment variable" in result.stderr


def test_check_deploy_passes_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING")

    # drf-spectacular's own deploy check (the schema's warnings) included: nothing at all.
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_defaults_are_the_secure_ones():
    # The test run itself uses the production defaults except for the redirect (plain_http).
    assert not django_settings.DEBUG
    assert django_settings.SECURE_HSTS_SECONDS == 365 * 24 * 3600
    assert django_settings.SECURE_HSTS_INCLUDE_SUBDOMAINS and django_settings.SECURE_HSTS_PRELOAD
    assert django_settings.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")
    assert django_settings.SESSION_COOKIE_SECURE and django_settings.CSRF_COOKIE_SECURE


@pytest.fixture
def https_only(settings):
    settings.SECURE_SSL_REDIRECT = True


def test_plain_http_is_redirected_to_https(db, api, https_only):
    response = api.get("/tickets?status=open", HTTP_HOST="testserver")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/tickets?status=open"


def test_https_behind_the_proxy_is_served_with_hsts(api, https_only):
    response = api.get("/tickets", HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 200, response.content
    assert response.json()["results"] == []
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_a_load_balancer_probes_health_over_plain_http(db, outsider, https_only):
    response = outsider.get("/health")

    assert response.status_code == 200
    assert response.json()["checks"]["database"]["status"] == "ok"


def test_only_the_configured_proxy_header_counts_as_https(db, api, https_only):
    response = api.get("/tickets", HTTP_X_FORWARDED_SCHEME="https", HTTP_X_FORWARDED_SSL="on")

    assert response.status_code == 301


def test_s3_attachments_without_a_bucket_refuse_to_start():
    result = manage("check", STORAGE_BACKEND="s3", AWS_STORAGE_BUCKET_NAME=None)

    assert result.returncode != 0
    assert "STORAGE_BACKEND=s3 needs AWS_STORAGE_BUCKET_NAME" in result.stderr, result.stderr


def test_storage_backend_s3_puts_attachments_in_the_bucket_under_the_prefix():
    show = "from django.core.files.storage import storages; s = storages['default']; "
    show += "print(type(s).__name__, s.bucket_name, s.location, s.endpoint_url)"
    result = manage(
        "shell",
        "-c",
        show,
        STORAGE_BACKEND="s3",
        AWS_STORAGE_BUCKET_NAME="hd-files",
        AWS_STORAGE_PREFIX="mail",
        S3_ENDPOINT_URL=None,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["S3Storage", "hd-files", "mail", "None"]


def database_options(**env: str) -> dict:
    """The default database's OPTIONS as a process configured from `env` builds them."""
    show = "import json; from django.conf import settings; "
    show += "print(json.dumps(settings.DATABASES['default']['OPTIONS']))"
    result = manage("shell", "-c", show, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_postgres_prepares_statements_unless_switched_off():
    url = "postgres://postgres@127.0.0.1:5432/unused"  # never connected to

    options = database_options(DATABASE_URL=url, DATABASE_PREPARED_STATEMENTS=None)
    assert options["server_side_binding"] is True and options["prepare_threshold"] == 5

    options = database_options(DATABASE_URL=url, DATABASE_PREPARED_STATEMENTS="false")
    assert "server_side_binding" not in options and "prepare_threshold" not in options
    assert options["connect_timeout"] == 3

    options = database_options(DATABASE_URL="sqlite:///:memory:")
    assert "server_side_binding" not in options


def test_each_process_runs_the_collector_less_often_unless_told_otherwise():
    show = "import gc; print(*gc.get_threshold())"

    tuned = manage("shell", "-c", show, GC_GEN0_THRESHOLD=None)
    assert tuned.returncode == 0, tuned.stderr
    # Generation 0 every 50,000 net allocations; the older generations keep Python's 10 each.
    assert tuned.stdout.split()[-3:] == ["50000", "10", "10"]

    python_own = manage("shell", "-c", show, GC_GEN0_THRESHOLD="0")
    assert python_own.stdout.split()[-3:] == ["700", "10", "10"], python_own.stderr

    refused = manage("check", GC_GEN0_THRESHOLD="-1")
    assert refused.returncode != 0
    assert "GC_GEN0_THRESHOLD is 0 or more, not -1" in refused.stderr
