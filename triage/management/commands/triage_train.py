from django.core.management.base import BaseCommand, CommandError

from triage.classifier import TrainingError
from triage.services import triage_model_train_from_tickets


class Command(BaseCommand):
    help = (
        "Train the triage model from tickets with a category (agent-set labels win over "
        "model-set ones) and make it current; every process picks it up without a restart."
    )

    def handle(self, *args, **options):
        def started(texts: int, categories: int, no_fit: int) -> None:
            self.stdout.write(
                f"{texts} labelled tickets, {categories} categories"
                + (f"; on {no_fit} of them an agent decided no category fits" if no_fit else "")
            )

        def progress(done: int, total: int) -> None:
            if done == total or done % 100 == 0:
                self.stdout.write(f"embedded {done} of {total} labelled tickets with Titan")

        try:
            row = triage_model_train_from_tickets(progress=progress, started=started)
        except TrainingError as exc:
            raise CommandError(f"{exc} The current model is unchanged.") from exc
        report = row.report
        encoder = report.get("encoder")
        self.stdout.write(
            f"model {row.generation} is current: threshold {report.get('threshold')}, "
            f"cross-validated in-scope accuracy {report.get('cv_in_scope_accuracy')}"
            + (f"; trained on {encoder} vectors (SIMILAR_ENCODER=bedrock)" if encoder else "")
        )
        words = report.get("lexical") or {}
        self.stdout.write(
            f"word view (for a ticket without a vector): threshold "
            f"{words.get('threshold')}, cross-validated in-scope accuracy "
            f"{words.get('cv_in_scope_accuracy')}"
            + (", word and character n-grams" if words.get("chars") else ", word n-grams")
        )
