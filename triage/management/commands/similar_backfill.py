from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from triage.similar_base import EmbeddingUnavailable


class Command(BaseCommand):
    help = (
        "Store the embedding of every ticket that has none from the configured encoder "
        "(SIMILAR_ENCODER: tickets from before similar tickets, ingested while the embedding "
        "could not be had, or embedded by another encoder), for GET /tickets/{id}/similar. "
        "Idempotent; safe while tickets arrive; after a failure a rerun carries on."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=256)

    def handle(self, *args, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")

        def progress(done: int) -> None:
            self.stdout.write(f"{done} tickets embedded")

        try:
            if settings.SIMILAR_ENCODER == "bedrock":
                from triage.similar_bedrock import backfill
            else:
                from triage.similar import backfill
        except ImportError as exc:
            raise CommandError(f"The local encoder is not installed here: {exc}") from exc
        try:
            done = backfill(batch_size=batch_size, progress=progress)
        except EmbeddingUnavailable as exc:
            raise CommandError(f"The encoder is unavailable: {exc}") from exc
        self.stdout.write(f"done: {done} tickets embedded ({settings.SIMILAR_ENCODER})")
