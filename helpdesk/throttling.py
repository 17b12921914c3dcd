"""Request throttling with counters every server process shares.

Counters live in Django's default cache (`CACHE_URL`; by default the database cache table
`helpdesk_cache`, created by `migrate`), so 4 gunicorn workers or 100 Lambda instances count
one budget per client, not one each. Each counter is a fixed window: `scope:ident:window` →
requests so far, expiring with the window.

Buckets:
- `api_key`, `user`, `anon`: every DRF endpoint, per API key, staff user or client address;
- `health`: `GET /health` per client address (it is public and touches every dependency);
- `failed_auth`: requests that fail authentication (no credentials on a protected endpoint, an
  invalid or revoked key) per client address. Past the rate they get 429 instead of 401, and a
  request with an unknown key is answered without looking the key up.

The client address is DRF's `get_ident` with NUM_PROXIES: REMOTE_ADDR when 0, else the address
that many proxies back in X-Forwarded-For (behind API Gateway: 1).

With the database cache (on Postgres or SQLite), a request is counted with one statement of its
own: an upsert (`INSERT … ON CONFLICT (cache_key) DO UPDATE SET value = value + 1 WHERE value <
limit … RETURNING value`) that starts the window's counter at 1 or adds 1 to it while it is under
the rate; a request over the rate gets no row back and updates nothing. The upsert's row lock
(Postgres) or SQLite's one writer keeps counts exact under concurrency, with no retries. Those
rows hold the count as decimal text, not Django's pickled value, under keys of their own. A
window's first request also culls the table as Django's `cache.add` does (a COUNT, and past
MAX_ENTRIES a DELETE of expired rows). Earlier: a read and a compare-and-set UPDATE (2
statements); Django's get and set, 6. A cache with atomic increments
(Redis, Memcached through `CACHE_URL`) counts exactly too. If the cache fails (the database is
down), requests are let through: the rest of the request answers for the outage (e.g.
/health's 503), not the throttle.
"""

from __future__ import annotations

import datetime
import logging
import time

from django.core.cache import cache, caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router
from django.utils import timezone
from rest_framework import throttling
from rest_framework.settings import api_settings

from helpdesk.models import ApiKey

logger = logging.getLogger(__name__)

_clock = time.time


def _rate(scope: str) -> tuple[int, int] | None:
    # Read per request (not bound at import), so changed settings (tests) take effect.
    rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
    if not rate:
        return None
    return throttling.SimpleRateThrottle.parse_rate(None, rate)


def _window(scope: str, ident: str, duration: int) -> tuple[str, float]:
    now = _clock()
    window = int(now // duration)
    return f"throttle:{scope}:{ident}:{window}", (window + 1) * duration - now


def hits(scope: str, ident: str) -> tuple[int, float]:
    """(requests counted so far in this window, seconds until it ends); (0, 0) if unlimited."""
    rate = _rate(scope)
    if rate is None:
        return 0, 0.0
    key, remaining = _window(scope, ident, rate[1])
    try:
        backend = caches["default"]
        if _counts_in_sql(backend):
            return _read_in_database(backend, key), remaining
        return cache.get(key, 0), remaining
    except Exception:
        logger.warning("Throttle cache unavailable; not counting", exc_info=True)
        return 0, 0.0


def over_rate(scope: str, ident: str) -> float | None:
    """Seconds to wait if this client has used up its rate, else None. Counts nothing."""
    rate = _rate(scope)
    if rate is None:
        return None
    count, remaining = hits(scope, ident)
    return remaining if count >= rate[0] else None


def count(scope: str, ident: str) -> float | None:
    """Count one request; seconds to wait if it is over the rate (then it is not counted)."""
    rate = _rate(scope)
    if rate is None:
        return None
    limit, duration = rate
    key, remaining = _window(scope, ident, duration)
    timeout = int(remaining) + 1
    backend = caches["default"]
    try:
        if _counts_in_sql(backend):
            counted = _count_in_database(backend, key, limit, timeout)
            return None if counted else remaining
        current = cache.get(key)
        if current is not None and current >= limit:
            return remaining
        if current is None and cache.add(key, 1, timeout=timeout):
            return None  # the window's first request
        if type(caches["default"]).incr is BaseCache.incr:
            # The generic incr is a get and a set that resets the expiry: set with the
            # window's expiry instead.
            cache.set(key, (current or 1) + 1, timeout=timeout)
        else:
            cache.incr(key)  # atomic, and keeps the expiry (Redis, Memcached, local memory)
    except ValueError:  # expired between the read and the increment: a new window
        cache.add(key, 1, timeout=timeout)
    except Exception:
        logger.warning("Throttle cache unavailable; not counting", exc_info=True)
    return None


# The database cache's rows for counters: the count as decimal text (not Django's pickled
# value, so SQL can add to it), under keys of their own (`:1:throttle#:…`) that `cache.get`
# never reads; a process of the earlier pickled format counts in its own rows.
_SQL_VENDORS = frozenset({"postgresql", "sqlite"})


def _counts_in_sql(backend: BaseCache) -> bool:
    if not isinstance(backend, DatabaseCache):
        return False
    return connections[router.db_for_write(backend.cache_model_class)].vendor in _SQL_VENDORS


def _row(backend: DatabaseCache, key: str):
    db_key = backend.make_and_validate_key(key.replace("throttle:", "throttle#:", 1))
    connection = connections[router.db_for_write(backend.cache_model_class)]
    return db_key, connection, connection.ops.quote_name(backend._table)


def _read_in_database(backend: DatabaseCache, key: str) -> int:
    db_key, connection, table = _row(backend, key)
    now = connection.ops.adapt_datetimefield_value(timezone.now().replace(microsecond=0))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT value FROM {table} WHERE cache_key = %s AND expires > %s", [db_key, now]
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _count_in_database(backend: DatabaseCache, key: str, limit: int, timeout: int) -> bool:
    """`count` on the database cache in one statement: insert the window's counter at 1, or
    add 1 to it while it is under `limit` (an expired row starts again at 1). True if counted;
    a request over the rate gets no row back and writes nothing. The row lock the upsert takes
    (Postgres) or the database's one writer (SQLite) keeps counts exact under concurrency."""
    db_key, connection, table = _row(backend, key)
    moment = timezone.now().replace(microsecond=0)
    now = connection.ops.adapt_datetimefield_value(moment)
    expires = connection.ops.adapt_datetimefield_value(moment + datetime.timedelta(seconds=timeout))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (cache_key, value, expires) VALUES (%s, '1', %s) "
            f"ON CONFLICT (cache_key) DO UPDATE SET "
            f"value = CASE WHEN {table}.expires <= %s THEN '1' "
            f"ELSE CAST(CAST({table}.value AS INTEGER) + 1 AS TEXT) END, "
            f"expires = CASE WHEN {table}.expires <= %s THEN excluded.expires "
            f"ELSE {table}.expires END "
            f"WHERE {table}.expires <= %s OR CAST({table}.value AS INTEGER) < %s "
            f"RETURNING value",
            [db_key, expires, now, now, now, limit],
        )
        row = cursor.fetchone()
        if row is not None and row[0] == "1":
            _cull(backend, connection, cursor, moment)
    return row is not None


def _cull(backend: DatabaseCache, connection, cursor, now) -> None:
    # A window's first request culls as Django's `cache.add` would: past MAX_ENTRIES rows,
    # expired rows go, then a share of the rest (CULL_FREQUENCY).
    cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(backend._table)}")
    entries = cursor.fetchone()[0]
    if entries > backend._max_entries:
        backend._cull(connection.alias, cursor, now, entries)


def client_address(request) -> str:
    return throttling.BaseThrottle().get_ident(request) or "unknown"


class _CountingThrottle(throttling.BaseThrottle):
    scope = ""

    def ident(self, request) -> tuple[str, str]:
        return self.scope, client_address(request)

    def allow_request(self, request, view) -> bool:
        scope, ident = self.ident(request)
        self._wait = count(scope, ident)
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait


class ClientRateThrottle(_CountingThrottle):
    """One bucket per API key, per staff user, or per anonymous client address."""

    def ident(self, request) -> tuple[str, str]:
        if isinstance(request.auth, ApiKey):
            return "api_key", request.auth.prefix
        if request.user and request.user.is_authenticated:
            return "user", str(request.user.pk)
        return "anon", client_address(request)


class HealthThrottle(_CountingThrottle):
    scope = "health"


FAILED_AUTH = "failed_auth"
