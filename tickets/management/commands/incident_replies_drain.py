from django.core.management.base import BaseCommand, CommandError

from tickets.models import IncidentReply
from tickets.services import incident_replies_drain


class Command(BaseCommand):
    help = (
        "Post the problem replies still waiting for their incidents (an outage answered with "
        "more incidents than INCIDENT_REPLIES_INLINE), oldest first, each e-mailed to its "
        "customer. Run it from cron or the per-minute Lambda task; safe to run concurrently "
        "(a reply is posted in the transaction that removes it from the queue)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None, help="at most this many")

    def handle(self, *args, limit: int | None, **options):
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1.")
        result = incident_replies_drain(limit=limit)
        waiting = IncidentReply.objects.filter(failed_at__isnull=True).count()
        message = (
            f"Posted {len(result.sent)}, refused {len(result.failed)}, to retry "
            f"{len(result.retry)}; {waiting} waiting."
        )
        failing = result.failed or result.retry
        self.stdout.write(self.style.WARNING(message) if failing else message)
