"""pytest plugin: a real DynamoDB-protocol server (moto in server mode) for the test session.

Load it from tests/conftest.py (`pytest_plugins = ["tests.dynamodb_server"]`) or with
`pytest -p tests.dynamodb_server`. The server starts lazily, the first time a test asks for
`dynamodb_server` (directly or through `dynamodb_table`), on a free loopback port, and stops at
the end of the session. Credentials are fake and set in the environment only while it runs;
nothing leaves the machine.

Fixtures:
- `dynamodb_server`: the running server (`.url`, `.startup_seconds`), once per session.
- `dynamodb_settings`: points DYNAMODB_ENDPOINT_URL at the server and DYNAMODB_TABLE at a fresh
  table name (not created); drops that table, if any, after the test.
- `dynamodb_table`: the settings pointing at the session's interactions table (created the way
  production creates it), emptied after each test.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import dataclass

import pytest

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    # Never read a developer's real profile, and never ask an instance-metadata endpoint.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def use_fake_aws(monkeypatch) -> None:
    """FAKE_AWS_ENV and a region in this test's environment (for clients made in the test)."""
    for name, value in {**FAKE_AWS_ENV, "AWS_DEFAULT_REGION": "eu-west-2"}.items():
        monkeypatch.setenv(name, value)


# moto on a busy test machine can take longer than production's 1 s DYNAMODB_TIMEOUT_SECONDS;
# tests of the timeout itself (tests/test_deadlines.py) set their own.
TEST_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class DynamoDBServer:
    url: str
    startup_seconds: float


_started: list[DynamoDBServer] = []


@pytest.fixture(scope="session")
def dynamodb_server():
    started = time.perf_counter()
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as env:
        for name, value in FAKE_AWS_ENV.items():
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        # A proxy from the environment must not see loopback traffic.
        no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"]))
        env.setenv("NO_PROXY", no_proxy)

        # Port 0: the OS picks a free port, so parallel runs never collide.
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        info = DynamoDBServer(
            url=f"http://{host}:{port}", startup_seconds=time.perf_counter() - started
        )
        _started.append(info)
        try:
            yield info
        finally:
            server.stop()


@pytest.fixture
def dynamodb_settings(dynamodb_server, settings):
    """Settings for the `dynamodb` store against the session's server, with a table name of
    this test's own (so tests never see each other's items)."""
    from customers.interactions import _store_for

    table = f"helpdesk-test-{uuid.uuid4().hex[:12]}"
    settings.DYNAMODB_ENDPOINT_URL = dynamodb_server.url
    settings.DYNAMODB_TABLE = table
    settings.DYNAMODB_TIMEOUT_SECONDS = TEST_TIMEOUT_SECONDS
    _store_for.cache_clear()
    yield settings
    # A test may have pointed the settings elsewhere (a dead port, a missing table).
    settings.DYNAMODB_ENDPOINT_URL = dynamodb_server.url
    _drop_table(table)
    _store_for.cache_clear()


@pytest.fixture(scope="session")
def _dynamodb_shared_table(dynamodb_server):
    """One interactions table for the session: a botocore client per table costs ≈ 0.1-0.3 s
    to build, a table per test would add that to every test."""
    from django.test import override_settings

    from customers.dynamodb import interactions_table_create

    table = f"helpdesk-test-shared-{uuid.uuid4().hex[:8]}"
    with override_settings(
        DYNAMODB_ENDPOINT_URL=dynamodb_server.url,
        DYNAMODB_TABLE=table,
        DYNAMODB_TIMEOUT_SECONDS=TEST_TIMEOUT_SECONDS,
    ):
        interactions_table_create()
    yield table
    with override_settings(DYNAMODB_ENDPOINT_URL=dynamodb_server.url):
        _drop_table(table)


@pytest.fixture
def dynamodb_table(dynamodb_server, _dynamodb_shared_table, settings) -> str:
    """The session's interactions table (GSI, TTL; created by the same code as the command),
    emptied after each test, with the settings pointing at it."""
    from customers.dynamodb import DynamoDBInteractionStore
    from customers.interactions import _store_for

    settings.DYNAMODB_ENDPOINT_URL = dynamodb_server.url
    settings.DYNAMODB_TABLE = _dynamodb_shared_table
    settings.DYNAMODB_TIMEOUT_SECONDS = TEST_TIMEOUT_SECONDS
    _store_for.cache_clear()
    yield _dynamodb_shared_table
    _store_for.cache_clear()
    model = DynamoDBInteractionStore(
        table_name=_dynamodb_shared_table,
        endpoint_url=dynamodb_server.url,
        timeout=TEST_TIMEOUT_SECONDS,
    ).model
    with model.batch_write() as batch:
        for item in model.scan(attributes_to_get=["customer_id", "sk"]):
            batch.delete(item)


def _drop_table(table: str) -> None:
    from helpdesk.aws import dynamodb_client

    client = dynamodb_client()
    # It's not an error if the table does not exist: the test never created it.
    with contextlib.suppress(client.exceptions.ResourceNotFoundException):
        client.delete_table(TableName=table)


def pytest_terminal_summary(terminalreporter):
    for server in _started:
        terminalreporter.write_line(
            f"moto DynamoDB server at {server.url}: "
            f"import + start took {server.startup_seconds:.2f}s"
        )
