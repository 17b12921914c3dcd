"""Shared fixtures: one cast (an integration key (scope `agent`), an admin key, an intake key,
staff, a non-staff user, an outsider with no credentials), factories, and the sample KB indexed
once per test session."""

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from rest_framework.test import APIClient

from helpdesk import auth
from helpdesk.models import ApiKey

pytest_plugins = ["tests.dynamodb_server"]

SAMPLE_KB_BASE_URL = "https://brightside.example/help/"


# --- SQLite: a file test database -------------------------------------------------------------
# An in-memory test database is one connection that pytest-django's live server shares between
# its request threads; a file gives each thread its own connection, as gunicorn workers have,
# so the concurrency tests exercise SQLite's locking (IMMEDIATE transactions, busy timeout).
@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3" and not database["TEST"].get("NAME"):
        database["TEST"]["NAME"] = str(tmp_path_factory.mktemp("sqlite") / "test.sqlite3")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Index the sample KB into the test database once; tests roll back around it."""
    from knowledge.models import SyncJob
    from knowledge.services import kb_sync_start

    # Links as `make run` serves them (sidecar `url`s, else this base + the file's path).
    with django_db_blocker.unblock(), override_settings(KB_PUBLIC_BASE_URL=SAMPLE_KB_BASE_URL):
        job = kb_sync_start(trigger=SyncJob.Trigger.COMMAND)
        assert job.status == SyncJob.Status.SUCCEEDED, job.message
        assert job.added >= 25
    yield
    # A live-server request thread can still hold a Postgres connection when the session ends
    # (seen after the browser test: pytest-django then cannot drop the test database and CI
    # machines keep one per run). End those sessions so the teardown drops the database.
    from django.db import connection

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture(autouse=True)
def foreground_kb_sync(settings):
    """A background sync thread cannot see a test's uncommitted rows; tests of the background
    path use transactional tests and turn it back on."""
    settings.KB_SYNC_BACKGROUND = False


@pytest.fixture(autouse=True)
def plain_http(settings):
    """The test client speaks plain HTTP with DEBUG off, where production redirects to HTTPS
    (tests/test_production_settings.py covers the redirect)."""
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture(autouse=True)
def forget_the_current_triage_model():
    """Each test reads which triage model is current afresh (triage.services caches it for
    RECHECK_SECONDS): a model from a rolled-back test never answers for another."""
    from triage.services import forget_current

    forget_current()


@pytest.fixture(autouse=True)
def forget_the_open_ticket_matrix():
    """Each test's tickets are rolled back after it (and their ids reused): no process matrix
    of open tickets' vectors (triage.similar, read by GET /tickets/{id}/similar and the ticket
    page) outlives a test."""
    from triage import similar

    similar.forget_matrix()
    yield
    similar.forget_matrix()


@pytest.fixture(autouse=True)
def forget_verified_api_keys():
    """Each test starts with no key remembered (helpdesk.auth caches verified keys per process),
    so a key or scope changed by one test never answers for another."""
    auth.verified_keys.clear()
    yield
    auth.verified_keys.clear()


def _client(**credentials) -> APIClient:
    client = APIClient()
    if credentials:
        client.credentials(**credentials)
    return client


@pytest.fixture
def api_key(db):
    api_key, key = ApiKey.objects.create_key(name="crm-integration", scopes="agent")
    api_key.raw = key
    return api_key


@pytest.fixture
def api(api_key) -> APIClient:
    """An integration authenticated with a plain API key."""
    return _client(HTTP_AUTHORIZATION=f"Api-Key {api_key.raw}")


@pytest.fixture
def admin_api(db) -> APIClient:
    _, key = ApiKey.objects.create_key(name="ops", scopes="admin")
    return _client(HTTP_AUTHORIZATION=f"Api-Key {key}")


@pytest.fixture
def inbound(db) -> APIClient:
    """The mail relay: a key with the `inbound` scope only."""
    _, key = ApiKey.objects.create_key(name="mail-relay", scopes="inbound")
    return _client(HTTP_AUTHORIZATION=f"Api-Key {key}")


@pytest.fixture
def intake_key(db):
    """A key for a web form or chat widget: creates tickets, sees no customer data."""
    api_key, key = ApiKey.objects.create_key(name="web-form", scopes="intake")
    api_key.raw = key
    return api_key


@pytest.fixture
def intake_api(intake_key) -> APIClient:
    return _client(HTTP_AUTHORIZATION=f"Api-Key {intake_key.raw}")


@pytest.fixture
def agent(db):
    return get_user_model().objects.create_user("agent", "agent@example.com", "pw", is_staff=True)


@pytest.fixture
def staff(agent) -> APIClient:
    client = APIClient()
    client.force_login(agent)
    return client


@pytest.fixture
def customer_user_client(db) -> APIClient:
    """A logged-in user who is not staff."""
    user = get_user_model().objects.create_user("shopper", "shopper@example.com", "pw")
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def outsider() -> APIClient:
    return APIClient()


@pytest.fixture
def titan(settings, monkeypatch):
    """SIMILAR_ENCODER=bedrock with a stubbed Titan (tests/titan_stub.py): queue its answers."""
    from helpdesk import aws
    from tests.dynamodb_server import use_fake_aws
    from tests.titan_stub import Titan, stubbed_client

    use_fake_aws(monkeypatch)
    settings.SIMILAR_ENCODER = "bedrock"
    client, stub = stubbed_client()
    monkeypatch.setattr(aws, "bedrock_runtime_client", lambda: client)
    yield Titan(stub, settings)
    stub.deactivate()
    stub.assert_no_pending_responses()
