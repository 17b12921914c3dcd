from django.core.management.base import BaseCommand, CommandError

from triage.classifier import TrainingError
from triage.services import training_examples, triage_model_train_from_tickets


class Command(BaseCommand):
    help = (
        "Train the triage model from tickets with a category (agent-set labels win over "
        "model-set ones) and make it current; every process picks it up without a restart."
    )

    def handle(self, *args, **options):
        from knowledge.backends.local import shared_encoder

        texts, labels, _ = training_examples()
        self.stdout.write(f"{len(texts)} labelled tickets, {len(set(labels))} categories")
        try:
            row = triage_model_train_from_tickets(encoder=shared_encoder())
        except TrainingError as exc:
            raise CommandError(f"{exc} The current model is unchanged.") from exc
        report = row.report
        self.stdout.write(
            f"model {row.generation} is current: threshold {report.get('threshold')}, "
            f"cross-validated in-scope accuracy {report.get('cv_in_scope_accuracy')}"
        )
        words = report.get("lexical") or {}
        self.stdout.write(
            f"word view (where no encoder runs: KB_BACKEND=bedrock, the Lambda): threshold "
            f"{words.get('threshold')}, cross-validated in-scope accuracy "
            f"{words.get('cv_in_scope_accuracy')}"
            + (", word and character n-grams" if words.get("chars") else ", word n-grams")
        )
