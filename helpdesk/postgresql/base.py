"""Django's Postgres backend, with a connection health check that costs no round trip when
nothing can have happened to the connection.

With persistent connections (`CONN_MAX_AGE`) and `CONN_HEALTH_CHECKS`, Django checks a reused
connection at the first query of every request by sending `SELECT 1` (`is_usable`): a round
trip per request, on every endpoint, that `bench/statements.py` never saw (it bypasses
Django's cursor wrappers). Here the check first looks at the connection's socket, without
blocking: a server that ended the connection (a restart, a failover, `pg_terminate_backend`,
an idle timeout) has sent its goodbye or closed the socket, so the socket is readable; a
connection whose socket has nothing to read is as the last request left it, and is reused as
is. Anything readable (the server's goodbye, or a message it sent unasked) falls back to
Django's `SELECT 1`, which reads it and decides. A connection that fails silently (a network
path gone without a reset) is not caught by either: `SELECT 1` would wait for it as long as
the request's first query does.

Used when DATABASE_URL is a Postgres URL (helpdesk/settings.py); `connection.vendor` is still
"postgresql".
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self):
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and not self.pool
            and _quiet(self.connection)
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()


def _quiet(connection) -> bool:
    """True when the connection is open, idle and its socket has nothing to read."""
    try:
        if connection.closed or connection.broken:
            return False
        poller = select.poll()
        poller.register(connection.pgconn.socket, select.POLLIN | select.POLLPRI)
        return not poller.poll(0)  # POLLHUP and POLLERR are reported too: not quiet
    except Exception:  # no socket to look at: let Django's check decide
        return False
