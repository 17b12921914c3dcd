"""kb_eval: BEIR loading, the metrics, and a run that never touches the live KB."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from knowledge.evaluation import load_beir, metrics
from knowledge.models import Article


def test_metrics_of_a_ranking():
    ranked = ["a", "b", "c", "d"]

    result = metrics(ranked, {"b": 1})

    assert result["recall@1"] == 0
    assert result["recall@5"] == result["recall@10"] == 1
    assert result["mrr@10"] == 0.5
    assert result["ndcg@10"] == pytest.approx(1 / 1.5849625, rel=1e-6)  # 1 / log2(3)


def test_graded_ndcg_and_recall_over_several_relevant_documents():
    assert metrics(["x", "y"], {"x": 2, "y": 1})["ndcg@10"] == pytest.approx(1.0)
    swapped = metrics(["y", "x"], {"x": 2, "y": 1})
    assert swapped["ndcg@10"] < 1.0
    assert metrics(["x", "q"], {"x": 1, "y": 1})["recall@5"] == 0.5
    assert metrics([], {"x": 1}) == {
        "recall@1": 0,
        "recall@5": 0,
        "recall@10": 0,
        "mrr@10": 0.0,
        "ndcg@10": 0.0,
    }


@pytest.fixture
def beir(tmp_path):
    corpus = [
        {"_id": "d1", "title": "Reset your password", "text": "Use the forgot password link."},
        {"_id": "d2", "title": "Shipping costs", "text": "Standard shipping is free over $50."},
        {"_id": "d3", "title": "Refunds", "text": "Money goes back to your card in 5 days."},
    ]
    queries = [
        {"_id": "q1", "text": "I forgot my password"},
        {"_id": "q2", "text": "how much does shipping cost"},
        {"_id": "q3", "text": "when do I get my money back"},
        {"_id": "q4", "text": "a query without judgements"},
    ]
    (tmp_path / "corpus.jsonl").write_text("\n".join(map(json.dumps, corpus)) + "\n")
    (tmp_path / "queries.jsonl").write_text("\n".join(map(json.dumps, queries)) + "\n")
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t1\n"
    )
    return tmp_path


def test_load_beir_reads_any_qrels_file(beir):
    evalset = load_beir(beir)

    assert len(evalset.corpus) == 3
    assert evalset.qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 1}}


@pytest.mark.django_db
def test_kb_eval_reports_every_ranker_and_leaves_the_live_kb_alone(beir):
    live = list(Article.objects.values_list("id", "title"))
    out = StringIO()

    call_command("kb_eval", str(beir), "--json", stdout=out)

    report = json.loads(out.getvalue())
    assert report["n_queries"] == 3
    assert set(report) >= {"retriever", "bm25", "dense", "n_queries", "timings"}
    for ranker in ("retriever", "bm25", "dense"):
        assert set(report[ranker]) == {"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"}
    assert report["retriever"]["recall@1"] == 1.0
    assert report["bm25"]["mrr@10"] == 1.0
    assert list(Article.objects.values_list("id", "title")) == live
    assert not Article.objects.filter(source_key__in=["d1.md", "d2.md", "d3.md"]).exists()


def test_kb_eval_rejects_a_folder_that_is_not_beir(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("kb_eval", str(tmp_path), stdout=StringIO())
