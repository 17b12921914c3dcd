"""Per-connection database settings that a connection string cannot express.

Postgres connections get `SET statement_timeout` (DATABASE_STATEMENT_TIMEOUT_MS) when they are
opened, rather than `-c statement_timeout` in the connection options, so that it binds the
application's connections and not Django's maintenance connection (`CREATE`/`DROP DATABASE`
for the test database, which wait for a checkpoint that a busy machine can take well over the
timeout to finish).
"""

from django.conf import settings
from django.db.backends.base.base import NO_DB_ALIAS


def set_statement_timeout(sender, connection, **kwargs) -> None:
    timeout_ms = settings.DATABASE_STATEMENT_TIMEOUT_MS
    if connection.vendor != "postgresql" or timeout_ms <= 0 or connection.alias == NO_DB_ALIAS:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SET statement_timeout = {int(timeout_ms)}")
