"""Throttling: counters shared by every process (Django's database cache by default), failed
authentication throttled per client address without key lookups, /health in its own bucket."""

import datetime
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.cache import cache, caches
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
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
import time
import django
django.setup()
from helpdesk import throttling
now = time.time()
print([throttling.count("failed_auth", "203.0.113.7") for _ in range(2)])
print(now)
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
    counted, then = done.stdout.strip().splitlines()[-2:]
    assert counted == "[None, None]"

    # Counted in the other process's window (a fixed minute): on a loaded machine the process
    # can take long enough to start that this one would count in the next window.
    with time_machine.travel(float(then), tick=False):
        assert throttling.count("failed_auth", ADDRESS) is None  # the third
        assert throttling.count("failed_auth", ADDRESS) is not None  # the fourth: over
        assert_error(client_from(ADDRESS).get("/tickets"), 429, code="throttled")


def _statements(queries) -> list[str]:
    return [q["sql"].split()[0].upper() for q in queries.captured_queries]


def _counter_rows() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT cache_key, value FROM helpdesk_cache WHERE cache_key LIKE %s", ["%throttle%"]
        )
        return sorted(cursor.fetchall())


@pytest.mark.django_db
def test_a_counted_request_costs_one_statement_on_the_database_cache(rates):
    """After a window's first request, one upsert that adds 1 while under the rate; the count
    is exact and the request over the rate updates nothing."""
    assert throttling.count("failed_auth", ADDRESS) is None
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert throttling.count("failed_auth", ADDRESS) is None
        assert _statements(queries) == ["INSERT"]
    rows = _counter_rows()
    with CaptureQueriesContext(connection) as queries:
        assert 0 < throttling.count("failed_auth", ADDRESS) <= 60
    assert _statements(queries) == ["INSERT"]
    assert _counter_rows() == rows
    assert [value for _, value in rows] == ["3"]
    assert throttling.hits("failed_auth", ADDRESS)[0] == 3
    assert throttling.over_rate("failed_auth", ADDRESS) is not None
    assert throttling.over_rate("failed_auth", "198.51.100.1") is None


@pytest.mark.django_db
def test_a_windows_first_request_culls_as_cache_add_does(rates):
    """The first request of a window inserts the counter and counts the table's rows (Django's
    `cache.add` culls past MAX_ENTRIES the same way); the next ones only upsert."""
    with CaptureQueriesContext(connection) as queries:
        assert throttling.count("failed_auth", ADDRESS) is None
    assert _statements(queries) == ["INSERT", "SELECT"]


@pytest.mark.django_db
def test_past_max_entries_the_first_request_deletes_expired_rows(rates, monkeypatch):
    monkeypatch.setattr(caches["default"], "_max_entries", 2)
    past = timezone.now() - datetime.timedelta(minutes=5)
    for n in range(3):
        cache.set(f"old{n}", n, timeout=60)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE helpdesk_cache SET expires = %s",
            [connection.ops.adapt_datetimefield_value(past.replace(microsecond=0))],
        )

    assert throttling.count("failed_auth", ADDRESS) is None

    assert [cache.get(f"old{n}") for n in range(3)] == [None, None, None]
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM helpdesk_cache")
        assert cursor.fetchone()[0] == 1  # the counter alone


@pytest.mark.django_db
def test_an_expired_counter_row_starts_again_at_one(rates):
    """A row left from an earlier window with the same key (e.g. after a clock step) does not
    count against this one."""
    for _ in range(3):
        assert throttling.count("failed_auth", ADDRESS) is None
    assert throttling.count("failed_auth", ADDRESS) is not None
    past = (timezone.now() - datetime.timedelta(seconds=5)).replace(microsecond=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE helpdesk_cache SET expires = %s",
            [connection.ops.adapt_datetimefield_value(past)],
        )
    assert throttling.hits("failed_auth", ADDRESS)[0] == 0

    assert throttling.count("failed_auth", ADDRESS) is None

    assert throttling.hits("failed_auth", ADDRESS)[0] == 1
    assert [value for _, value in _counter_rows()] == ["1"]


@pytest.mark.django_db
def test_counter_rows_are_not_django_cache_entries(rates):
    """The counters are decimal text under keys of their own: `cache.get` on the window's key
    (what a process of the earlier pickled format reads) finds nothing, and nothing breaks."""
    assert throttling.count("failed_auth", ADDRESS) is None
    key = throttling._window("failed_auth", ADDRESS, 60)[0]
    assert cache.get(key) is None
    cache.set(key, 99, timeout=60)  # an earlier process's pickled counter
    assert throttling.count("failed_auth", ADDRESS) is None
    assert throttling.hits("failed_auth", ADDRESS)[0] == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_are_counted_exactly(rates, settings):
    """8 threads, each on its own connection, count 40 requests against a rate of 25: exactly
    25 get through and the counter says 25."""
    if connection.vendor == "sqlite":
        pytest.skip("SQLite has one writer: nothing to race")
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "failed_auth": "25/hour",
        },
    }
    start = threading.Barrier(8)

    def five() -> list[float | None]:
        try:
            start.wait()
            return [throttling.count("failed_auth", ADDRESS) for _ in range(5)]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(8) as pool:
        results = [r for batch in pool.map(lambda _: five(), range(8)) for r in batch]

    assert sum(r is None for r in results) == 25
    assert throttling.hits("failed_auth", ADDRESS)[0] == 25


@pytest.mark.django_db
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="UNLOGGED is Postgres'; SQLite has no WAL flush"
)
def test_the_cache_table_is_unlogged_on_postgres_and_migrate_keeps_it_so(rates):
    """A throttle count writes no WAL (nothing to wait for before the request goes on), and
    counting still works; a second `migrate` leaves the table as it is."""
    from helpdesk.apps import _create_cache_table

    def persistence():
        with connection.cursor() as cursor:
            cursor.execute("SELECT relpersistence FROM pg_class WHERE relname = 'helpdesk_cache'")
            return cursor.fetchone()[0]

    assert persistence() == "u"
    _create_cache_table(using="default")
    assert persistence() == "u"
    with connection.cursor() as cursor:  # a table made logged (by hand, an older migrate) …
        cursor.execute("ALTER TABLE helpdesk_cache SET LOGGED")
    _create_cache_table(using="default")  # … is made unlogged by the next migrate
    assert persistence() == "u"
    # Counted exactly as before: 2 per minute for /health, the third waits.
    assert [throttling.count("health", ADDRESS) is None for _ in range(3)] == [True, True, False]
