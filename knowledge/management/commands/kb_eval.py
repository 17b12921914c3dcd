import json as jsonlib
import time

from django.core.management.base import BaseCommand, CommandError

from knowledge.backends.local import LocalBackend
from knowledge.evaluation import (
    article_id_of,
    corpus_documents,
    eval_query,
    evaluate,
    isolated_database,
    latency_summary,
    load_beir,
    plain_text,
)
from knowledge.indexing import sync_documents
from knowledge.models import Article, SyncJob

RANKERS = {"retriever": "hybrid", "bm25": "bm25", "dense": "dense"}
METRIC_NAMES = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")


class Command(BaseCommand):
    help = (
        "Measure suggestion quality on a BEIR-layout folder (corpus.jsonl, queries.jsonl, "
        "qrels/*.tsv): our retriever vs BM25 alone vs embeddings alone, in one run, on an "
        "isolated index (the live KB is never touched)."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, folder: str, json: bool, **options):
        try:
            evalset = load_beir(folder)
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {folder}: {exc}") from exc
        if not evalset.qrels:
            raise CommandError("No query has a relevance judgement.")
        report = self.run(evalset)
        if json:
            self.stdout.write(_json(report))
        else:
            self.print_table(report)

    def run(self, evalset) -> dict:
        timings = {}
        with isolated_database():
            backend = LocalBackend()
            started = time.perf_counter()
            job = SyncJob.objects.create(
                backend=backend.name, source="kb_eval", trigger=SyncJob.Trigger.COMMAND
            )
            job = sync_documents(job, corpus_documents(evalset.corpus), embed=backend.embedder())
            if job.status != SyncJob.Status.SUCCEEDED or job.failed:
                raise CommandError(f"Indexing failed: {job.message} {job.errors[:3]}")
            backend.index()  # build the in-memory index before timing queries
            timings["index_s"] = round(time.perf_counter() - started, 2)
            ids = {
                pk: article_id_of(key)
                for pk, key in Article.objects.values_list("pk", "source_key")
            }
            report = {"n_queries": len(evalset.qrels), "n_articles": len(ids)}
            for name, mode in RANKERS.items():

                def search(line: dict, mode=mode) -> list[str]:
                    # Ours reads the ticket's structure; the baselines get its words as one text.
                    query = eval_query(line) if mode == "hybrid" else plain_text(line)
                    passages = backend.retrieve(query, k=10, mode=mode)
                    return [ids[p.article_id] for p in passages]

                started = time.perf_counter()
                report[name], latencies = evaluate(evalset, search)
                timings[f"{name}_s"] = round(time.perf_counter() - started, 2)
                timings[f"{name}_latency"] = latency_summary(latencies)
        report["timings"] = timings
        return report

    def print_table(self, report: dict) -> None:
        self.stdout.write(
            f"{report['n_queries']} queries over {report['n_articles']} articles "
            f"(indexed in {report['timings']['index_s']} s)"
        )
        self.stdout.write(f"{'':<10}" + "".join(f"{m:>11}" for m in METRIC_NAMES) + "   median ms")
        for name in RANKERS:
            row = "".join(f"{report[name][m]:>11.3f}" for m in METRIC_NAMES)
            latency = report["timings"][f"{name}_latency"]["median_ms"]
            self.stdout.write(f"{name:<10}{row}{latency:>12.2f}")


def _json(report: dict) -> str:
    return jsonlib.dumps(report, indent=2)
