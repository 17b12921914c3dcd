from django.apps import AppConfig
from django.core.management import call_command
from django.db.models.signals import post_migrate


def _create_cache_table(using: str, **kwargs) -> None:
    # The throttle counters' database cache table (CACHE_URL=dbcache://…) comes with every
    # `migrate` (make run, CI, `zappa manage <stage> migrate`, test databases); idempotent, and
    # nothing to do for a Redis or Memcached CACHE_URL.
    call_command("createcachetable", database=using, verbosity=0)


class HelpdeskConfig(AppConfig):
    name = "helpdesk"
    verbose_name = "Helpdesk platform"

    def ready(self) -> None:
        post_migrate.connect(
            _create_cache_table, sender=self, dispatch_uid="helpdesk.create_cache_table"
        )
        from django.db.backends.signals import connection_created

        from helpdesk.db import set_statement_timeout

        connection_created.connect(set_statement_timeout, dispatch_uid="helpdesk-statement-timeout")
