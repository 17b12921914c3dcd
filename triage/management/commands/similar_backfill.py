from django.core.management.base import BaseCommand, CommandError

from knowledge.encoder import EncoderUnavailable
from triage.similar import backfill


class Command(BaseCommand):
    help = (
        "Store the embedding of every ticket that has none (tickets from before similar "
        "tickets, or ingested while the KB was not the local one), for GET /tickets/{id}/similar. "
        "Idempotent; safe while tickets arrive."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=256)

    def handle(self, *args, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")

        def progress(done: int) -> None:
            self.stdout.write(f"{done} tickets embedded")

        try:
            done = backfill(batch_size=batch_size, progress=progress)
        except EncoderUnavailable as exc:
            raise CommandError(f"The encoder is unavailable: {exc}") from exc
        self.stdout.write(f"done: {done} tickets embedded")
