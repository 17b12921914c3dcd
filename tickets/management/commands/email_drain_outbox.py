from django.core.management.base import BaseCommand

from tickets.mail import email_outbox_drain


class Command(BaseCommand):
    help = (
        "Send the agent replies waiting in the e-mail outbox, oldest first, through "
        "EMAIL_BACKEND. Run it from cron or the scheduled Lambda task; safe to run concurrently "
        "(a reply is claimed before it is sent, so it is never sent twice)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=100, help="e-mails per batch")

    def handle(self, *args, batch: int, **options):
        result = email_outbox_drain(batch=batch)
        message = (
            f"Sent {result.sent}, failed {result.failed}, "
            f"{result.remaining} waiting in the e-mail outbox."
        )
        if result.refused:
            message += (
                f" {result.refused} refused for good by the mail server (not retried; their "
                "tickets say so)."
            )
        failing = result.failed or result.refused
        self.stdout.write(self.style.WARNING(message) if failing else message)
