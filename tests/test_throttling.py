"""Throttling: counters shared by every process (Django's database cache by default), failed
authentication throttled per client address without key lookups, /health in its own bucket."""

import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from helpdesk import auth, throttling
from tests.helpers import assert_error

ADDRESS = "203.0.113.7"


@pytest.fixture
def rates(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "failed_auth": "3/min",
            "health": "2/min",
        },
    }
    auth.verified_keys.clear()
    auth.rejected_keys.clear()
    cache.clear()
    yield
    auth.verified_keys.clear()
    auth.rejected_keys.clear()
    cache.clear()


def client_from(address: str, key: str | None = None, **extra) -> APIClient:
    client = APIClient(REMOTE_ADDR=address, **extra)
    if key:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def key_lookups(client: APIClient, path: str = "/tickets"):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    return response, sum('"helpdesk_apikey"' in q["sql"] for q in queries.captured_queries)


@pytest.mark.django_db
def test_anonymous_and_bad_key_requests_from_one_address_get_429_after_the_rate(rates, api_key):
    anonymous, bad_key = client_from(ADDRESS), client_from(ADDRESS, "nope.nope")

    statuses = [anonymous.get("/tickets").status_code for _ in range(2)]
    statuses.append(bad_key.get("/customers").status_code)
    over = [anonymous.get("/tickets"), bad_key.get("/tickets")]

    assert statuses == [401, 401, 401]
    for response in over:
        assert_error(response, 429, code="throttled")
        assert 0 < int(response["Retry-After"]) <= 60
    assert client_from("198.51.100.1").get("/tickets").status_code == 401  # another address
    assert client_from("198.51.100.1", api_key.raw).get("/tickets").status_code == 200


@pytest.mark.django_db
def test_a_rejected_key_is_not_looked_up_again(rates):
    client = client_from(ADDRESS, "abcdefgh.wrong-secret")

    first, first_lookups = key_lookups(client)
    again, again_lookups = key_lookups(client)

    assert_error(first, 401, code="authentication_failed")
    assert_error(again, 401, code="authentication_failed")
    assert (first_lookups, again_lookups) == (1, 0)


@pytest.mark.django_db
def test_an_address_over_the_failed_auth_rate_costs_no_key_lookup(rates, api_key):
    for n in range(3):
        client_from(ADDRESS, f"guess{n}.secret").get("/tickets")

    response, lookups = key_lookups(client_from(ADDRESS, "guess9.secret"))
    valid, _ = key_lookups(client_from(ADDRESS, api_key.raw))

    assert_error(response, 429, code="throttled")
    assert lookups == 0
    # A key this process has not verified yet waits for the window too (no lookup at all).
    assert_error(valid, 429, code="throttled")


@pytest.mark.django_db
def test_a_saved_key_is_no_longer_remembered_as_rejected(rates, api_key):
    auth.rejected_keys.add(api_key.raw, 60)
    assert client_from(ADDRESS, api_key.raw).get("/tickets").status_code == 401

    api_key.save()  # e.g. un-revoked in the admin

    assert client_from(ADDRESS, api_key.raw).get("/tickets").status_code == 200


@pytest.mark.django_db
def test_behind_a_proxy_the_address_is_the_one_it_appended(rates, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}

    def from_behind(spoofed: str):
        return client_from("10.0.0.2", HTTP_X_FORWARDED_FOR=f"{spoofed}, {ADDRESS}")

    statuses = [from_behind(f"192.0.2.{n}").get("/tickets").status_code for n in range(4)]

    assert statuses == [401, 401, 401, 429]
    assert (
        client_from("10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.99").get("/tickets").status_code
        == 401
    )


@pytest.mark.django_db
def test_health_is_throttled_per_address_in_its_own_bucket(rates):
    statuses = [client_from(ADDRESS).get("/health").status_code for _ in range(2)]
    over = client_from(ADDRESS).get("/health")

    assert statuses == [200, 200]
    assert_error(over, 429, code="throttled")
    assert "Retry-After" in over
    assert client_from("198.51.100.1").get("/health").status_code == 200


def test_counters_live_in_the_database_cache_by_default():
    assert django_settings.CACHES["default"]["BACKEND"] == (
        "django.core.cache.backends.db.DatabaseCache"
    )


COUNT_IN_ANOTHER_PROCESS = """
import django
django.setup()
from helpdesk import throttling
print([throttling.count("failed_auth", "203.0.113.7") for _ in range(2)])
"""


@pytest.mark.django_db(transaction=True)
def test_two_processes_share_one_counter(rates):
    """Another server process (a second gunicorn worker, another Lambda instance) counts
    against the same budget: 2 failures there and 1 here use up a rate of 3."""
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{database['NAME']}"
    else:
        url = (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}"
        )
    done = subprocess.run(
        [sys.executable, "-c", COUNT_IN_ANOTHER_PROCESS],
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
            "SECRET_KEY": "test-only",
            "DATABASE_URL": url,
            "THROTTLE_RATE_FAILED_AUTH": "3/min",
        },
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[None, None]"

    assert throttling.count("failed_auth", ADDRESS) is None  # the third
    assert throttling.count("failed_auth", ADDRESS) is not None  # the fourth: over
    assert_error(client_from(ADDRESS).get("/tickets"), 429, code="throttled")


@pytest.mark.django_db
def test_a_counted_request_costs_two_statements_on_the_database_cache(rates):
    """After a window's first request, one read and one compare-and-set UPDATE; the count is
    exact and the request over the rate writes nothing."""
    assert throttling.count("failed_auth", ADDRESS) is None
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert throttling.count("failed_auth", ADDRESS) is None
        statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
        assert statements == ["SELECT", "UPDATE"]
    with CaptureQueriesContext(connection) as queries:
        assert throttling.count("failed_auth", ADDRESS) is not None
    assert [q["sql"].split()[0].upper() for q in queries.captured_queries] == ["SELECT"]
    assert throttling.hits("failed_auth", ADDRESS)[0] == 3


@pytest.mark.django_db
def test_a_count_changed_by_another_process_is_read_again(rates, monkeypatch):
    """The compare-and-set fails when another process counted between the read and the write;
    the request then reads the new count and counts on it."""
    assert throttling.count("failed_auth", ADDRESS) is None
    real_loads = throttling.pickle.loads
    raced = []

    def loads_then_race(data):
        value = real_loads(data)
        if not raced:  # another process counts right after this read
            raced.append(value)
            key = throttling._window("failed_auth", ADDRESS, 60)[0]
            cache.set(key, value + 1, timeout=60)
        return value

    monkeypatch.setattr(throttling.pickle, "loads", loads_then_race)
    assert throttling.count("failed_auth", ADDRESS) is None
    monkeypatch.setattr(throttling.pickle, "loads", real_loads)
    assert throttling.hits("failed_auth", ADDRESS)[0] == 3
    assert throttling.count("failed_auth", ADDRESS) is not None
