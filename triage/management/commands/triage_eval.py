import json as jsonlib

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from triage.evaluation import METRICS, evaluate, load_jsonl, mean_reports, sample_shots


class Command(BaseCommand):
    help = (
        "Train triage on TRAIN_JSONL ({text, label} lines) through triage_train's code path and "
        "score TEST_JSONL, with TF-IDF+LR and MiniLM+LR baselines in the same run."
    )

    def add_arguments(self, parser):
        parser.add_argument("train")
        parser.add_argument("test")
        parser.add_argument("--shots", type=int, help="K training examples per label")
        parser.add_argument("--seeds", default="0", help="comma-separated, e.g. 0,1,2")
        parser.add_argument("--oos-label", help="the test label meaning out of scope")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument(
            "--no-names", action="store_true", help="ours without the category-name view"
        )

    def handle(self, *args, train, test, shots, seeds, oos_label, json, no_names, **options):
        try:
            train_rows, test_rows = load_jsonl(train), load_jsonl(test)
            seed_list = [int(s) for s in seeds.split(",") if s.strip()]
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if not train_rows or not test_rows or not seed_list:
            raise CommandError("Both files need rows, and --seeds at least one seed.")
        from knowledge.backends.local import shared_encoder
        from triage.embeddings import embed_texts

        encoder = shared_encoder()
        cache = settings.TRIAGE_EVAL_CACHE_DIR

        def embed(texts):
            return embed_texts(texts, encoder=encoder, cache_dir=cache)

        reports = []
        for seed in seed_list:
            rows = sample_shots(train_rows, shots, seed, oos_label) if shots else train_rows
            try:
                reports.append(
                    evaluate(
                        rows,
                        test_rows,
                        embed=embed,
                        oos_label=oos_label,
                        seed=seed,
                        names=not no_names,
                    )
                )
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        report = reports[0] if len(reports) == 1 else mean_reports(reports)
        if json:
            self.stdout.write(jsonlib.dumps(report))
            return
        self.stdout.write(f"n_test {report['n_test']}")
        self.stdout.write(f"{'':14}" + "".join(f"{m:>20}" for m in METRICS))
        for name in ("ours", "ours_lexical", "tfidf_lr", "minilm_lr"):
            cells = "".join(
                f"{'-' if report[name][m] is None else report[name][m]:>20}" for m in METRICS
            )
            self.stdout.write(f"{name:14}{cells}")
