from django.core.management.base import BaseCommand

from customers.outbox import outbox_drain


class Command(BaseCommand):
    help = (
        "Deliver interactions waiting in the outbox to the interaction store, oldest first. "
        "Run it from cron or the scheduled Lambda event; safe to run concurrently."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=500, help="rows per batch")

    def handle(self, *args, batch: int, **options):
        result = outbox_drain(batch=batch)
        message = (
            f"Delivered {result.delivered}, failed {result.failed}, "
            f"{result.remaining} waiting in the outbox."
        )
        self.stdout.write(self.style.WARNING(message) if result.failed else message)
