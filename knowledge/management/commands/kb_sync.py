import sys

from django.core.management.base import BaseCommand, CommandError

from knowledge.models import SyncJob
from knowledge.services import kb_sync_poll, kb_sync_start


class Command(BaseCommand):
    help = "Index the knowledge-base source (KB_SOURCE) incrementally and print a summary."

    def add_arguments(self, parser):
        parser.add_argument(
            "--poll",
            action="store_true",
            help="Start no sync: read running Bedrock ingestion jobs and start the follow-ups "
            "that are due (what the scheduled Lambda task does).",
        )

    def handle(self, *args, **options):
        if options["poll"]:
            jobs = kb_sync_poll()
            for job in jobs:
                follow_up = f", follow-up {job.follow_up_id}" if job.follow_up_id else ""
                self.stdout.write(f"Sync {job.id} {job.status}{follow_up}: {job.message}")
            self.stdout.write(f"{len(jobs)} sync job(s) polled.")
            return
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
        # Asked for again while it ran (an upload, an API call): its follow-ups ran after it.
        seen = {job.id}
        while job.follow_up_id and job.follow_up_id not in seen:
            job = SyncJob.objects.get(pk=job.follow_up_id)
            seen.add(job.id)
            line = f"Follow-up sync {job.id} {job.status} in {job.duration_ms} ms: {job.message}"
            style = self.style.ERROR if job.status == SyncJob.Status.FAILED else self.style.SUCCESS
            self.stdout.write(style(line))
