import sys

from django.core.management.base import BaseCommand, CommandError

from knowledge.models import SyncJob
from knowledge.services import kb_sync_start


class Command(BaseCommand):
    help = "Index the knowledge-base source (KB_SOURCE) incrementally and print a summary."

    def handle(self, *args, **options):
        interactive = sys.stdout.isatty()

        def progress(job: SyncJob, key: str) -> None:
            line = f"  [{job.scanned}] {key}"
            if interactive:
                self.stdout.write(f"\r\033[K{line}", ending="")
                self.stdout.flush()
            elif job.scanned % 100 == 0:
                self.stdout.write(line)

        job = kb_sync_start(trigger=SyncJob.Trigger.COMMAND, progress=progress)
        if interactive:
            self.stdout.write("")
        for error in job.errors:
            self.stdout.write(self.style.WARNING(f"  skipped {error['key']}: {error['reason']}"))
        summary = f"Sync {job.id} {job.status} in {job.duration_ms} ms: {job.message}"
        if job.status == SyncJob.Status.FAILED:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
