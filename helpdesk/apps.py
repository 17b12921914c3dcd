import gc
import logging

from django.apps import AppConfig
from django.core.management import call_command
from django.db.models.signals import post_migrate

logger = logging.getLogger(__name__)


def _create_cache_table(using: str, **kwargs) -> None:
    # The throttle counters' database cache table (CACHE_URL=dbcache://…) comes with every
    # `migrate` (make run, CI, `zappa manage <stage> migrate`, test databases); idempotent, and
    # nothing to do for a Redis or Memcached CACHE_URL.
    call_command("createcachetable", database=using, verbosity=0)
    _unlogged_cache_tables(using)


def _unlogged_cache_tables(using: str) -> None:
    """On Postgres, the database cache's tables are UNLOGGED: a throttle count is an
    autocommitted upsert per request, and a logged one waits for its WAL flush (fdatasync)
    before the request goes on; unlogged, it writes no WAL. What that gives up is what a cache
    may lose: the table is emptied after a crash (counters restart their window) and is not
    copied to replicas. Idempotent (a table already unlogged is left alone); a server that
    refuses UNLOGGED keeps the table logged, with a warning."""
    from django.conf import settings
    from django.core.cache import caches
    from django.core.cache.backends.db import DatabaseCache
    from django.db import DatabaseError, connections, router, transaction

    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    for alias in settings.CACHES:
        cache = caches[alias]
        if not isinstance(cache, DatabaseCache):
            continue
        if not router.allow_migrate_model(using, cache.cache_model_class):
            continue
        table = connection.ops.quote_name(cache._table)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relpersistence FROM pg_class WHERE oid = to_regclass(%s)", [table]
            )
            row = cursor.fetchone()
        if not row or row[0] != "p":
            continue
        try:
            with transaction.atomic(using=using), connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE {table} SET UNLOGGED")
        except DatabaseError as exc:  # a Postgres-compatible server without UNLOGGED
            logger.warning("Cache table %s stays logged: %s", cache._table, exc)


def tune_collector(gen0_threshold: int) -> None:
    """Python's generation-0 collection threshold for this process (GC_GEN0_THRESHOLD; 0
    leaves it); the older generations keep theirs (each still runs after 10 of the younger)."""
    if gen0_threshold:
        gc.set_threshold(gen0_threshold, *gc.get_threshold()[1:])


class HelpdeskConfig(AppConfig):
    name = "helpdesk"
    verbose_name = "Helpdesk platform"

    def ready(self) -> None:
        from django.conf import settings

        tune_collector(settings.GC_GEN0_THRESHOLD)
        post_migrate.connect(
            _create_cache_table, sender=self, dispatch_uid="helpdesk.create_cache_table"
        )
        from django.db.backends.signals import connection_created

        from helpdesk.db import set_statement_timeout

        connection_created.connect(set_statement_timeout, dispatch_uid="helpdesk-statement-timeout")
