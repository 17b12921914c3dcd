from django.conf import settings
from django.core.management.base import BaseCommand

from tickets.services import idempotency_records_prune


class Command(BaseCommand):
    help = (
        "Forget Idempotency-Keys older than IDEMPOTENCY_TTL_HOURS (cron, or the scheduled "
        "Lambda event). Expired keys are ignored anyway; this keeps the table small."
    )

    def handle(self, *args, **options):
        deleted = idempotency_records_prune()
        self.stdout.write(
            f"Forgot {deleted} idempotency key(s) older than {settings.IDEMPOTENCY_TTL_HOURS} h."
        )
