"""Request throttling with counters every server process shares.

Counters live in Django's default cache (`CACHE_URL`; by default the database cache table
`helpdesk_cache`, created by `migrate`), so 4 gunicorn workers or 100 Lambda instances count
one budget per client, not one each. Each counter is a fixed window: `scope:ident:window` →
requests so far, expiring with the window. A client over its rate costs one cache read.

Buckets:
- `api_key`, `user`, `anon`: every DRF endpoint, per API key, staff user or client address;
- `health`: `GET /health` per client address (it is public and touches every dependency);
- `failed_auth`: requests that fail authentication (no credentials on a protected endpoint, an
  invalid or revoked key) per client address. Past the rate they get 429 instead of 401, and a
  request with an unknown key is answered without looking the key up.

The client address is DRF's `get_ident` with NUM_PROXIES: REMOTE_ADDR when 0, else the address
that many proxies back in X-Forwarded-For (behind API Gateway: 1).

With the database cache, a request is counted with two statements of its own: it reads the
counter's row and writes the next count with a compare-and-set UPDATE (`... WHERE value = <the
value read>`), retried if another process counted in between; so counts are exact, at 2
statements instead of Django's get and set (6, one a table-wide COUNT for culling). Only a
window's first request goes through `cache.add` (which culls). A cache with atomic increments
(Redis, Memcached through `CACHE_URL`) counts exactly too. If the cache fails (the database is
down), requests are let through: the rest of the request answers for the outage (e.g.
/health's 503), not the throttle.
"""

from __future__ import annotations

import base64
import logging
import pickle
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
    if isinstance(backend, DatabaseCache):
        try:
            return _count_in_database(backend, key, limit, remaining, timeout)
        except Exception:
            logger.warning("Throttle cache unavailable; not counting", exc_info=True)
            return None
    try:
        current = cache.get(key)
        if current is not None and current >= limit:
            return remaining
        if current is None and cache.add(key, 1, timeout=timeout):
            return None  # the window's first request
        if type(caches["default"]).incr is BaseCache.incr:
            # The generic incr is a get and a set that resets the expiry (database cache):
            # set with the window's expiry instead.
            cache.set(key, (current or 1) + 1, timeout=timeout)
        else:
            cache.incr(key)  # atomic, and keeps the expiry (Redis, Memcached, local memory)
    except ValueError:  # expired between the read and the increment: a new window
        cache.add(key, 1, timeout=timeout)
    except Exception:
        logger.warning("Throttle cache unavailable; not counting", exc_info=True)
    return None


CAS_ATTEMPTS = 3


def _count_in_database(
    backend: DatabaseCache, key: str, limit: int, remaining: float, timeout: int
) -> float | None:
    """`count` on the database cache: read the row, then compare-and-set the next count."""
    db_key = backend.make_and_validate_key(key)
    db = router.db_for_write(backend.cache_model_class)
    connection = connections[db]
    table = connection.ops.quote_name(backend._table)
    for _ in range(CAS_ATTEMPTS):
        now = connection.ops.adapt_datetimefield_value(timezone.now().replace(microsecond=0))
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT value FROM {table} WHERE cache_key = %s AND expires > %s", [db_key, now]
            )
            row = cursor.fetchone()
            if row is None:
                if backend.add(key, 1, timeout=timeout):
                    return None  # the window's first request
                continue  # another process started the window a moment ago: count on it
            stored = row[0]
            current = pickle.loads(base64.b64decode(stored.encode()))
            if current >= limit:
                return remaining
            value = base64.b64encode(pickle.dumps(current + 1, backend.pickle_protocol))
            cursor.execute(
                f"UPDATE {table} SET value = %s WHERE cache_key = %s AND value = %s",
                [value.decode("latin1"), db_key, stored],
            )
            if cursor.rowcount == 1:
                return None
    # Counted by others CAS_ATTEMPTS times in a row: let this one through uncounted.
    return None


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
