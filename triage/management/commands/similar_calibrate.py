import json

from django.core.management.base import BaseCommand, CommandError

from triage.similar_calibration import CONFIRMED_KEPT, MIN_CONFIRMED, calibrate


class Command(BaseCommand):
    help = (
        "Check SIMILAR_TICKETS_THRESHOLD against this helpdesk's own tickets: the similarity of "
        "the pairs agents confirmed (duplicates merged, incidents linked to their problem) "
        "against random pairs, from the configured encoder's stored embeddings, and the highest "
        f"threshold keeping {CONFIRMED_KEPT:.0%} of the confirmed pairs. Reads only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--pairs", type=int, default=2000, help="random pairs (2000)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print the figures as JSON"
        )

    def handle(self, *args, pairs: int, seed: int, as_json: bool, **options):
        if pairs < 1:
            raise CommandError("--pairs must be at least 1.")
        result = calibrate(random_pairs=pairs, seed=seed)
        if as_json:
            self.stdout.write(json.dumps(result.as_dict(), indent=2))
            return
        write = self.stdout.write
        write(
            f"embeddings: {result.model}; confirmed pairs: {len(result.merged)} merged, "
            f"{len(result.incidents)} incidents ({result.without_embedding} more without an "
            f"embedding: manage.py similar_backfill); random pairs: {len(result.random)}"
        )
        write("threshold  confirmed kept  random above")
        for row in result.rows():
            mark = "  <- SIMILAR_TICKETS_THRESHOLD" if row["configured"] else ""
            write(
                f"{row['threshold']:>9.2f}  {_pct(row['confirmed_kept']):>14}  "
                f"{_pct(row['random_above']):>12}{mark}"
            )
        suggested = result.suggestion()
        if suggested is None:
            write(
                f"No suggestion: {len(result.confirmed)} confirmed pairs, fewer than "
                f"{MIN_CONFIRMED}. Merge duplicates and link incidents as agents work, then run "
                "this again."
            )
        else:
            write(
                f"Suggested SIMILAR_TICKETS_THRESHOLD={suggested:.2f}: the highest that keeps "
                f"{CONFIRMED_KEPT:.0%} of the confirmed pairs (configured: {result.threshold:g})."
            )


def _pct(value) -> str:
    return "-" if value is None else f"{value:.1%}"
