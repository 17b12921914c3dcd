"""Snippets an agent can send (plain text, whole sentences, the passage's own) and links that
work outside the server (sidecar `url`, KB_PUBLIC_BASE_URL, else a relative path)."""

import json
import re

import pytest

from knowledge import indexing
from knowledge.backends.base import SNIPPET_CHARS, get_backend, snippet
from knowledge.chunking import chunk_text
from knowledge.models import Article, Chunk, KnowledgeState, SyncJob
from knowledge.services import kb_sync_start
from knowledge.snippets import markdown_to_text
from tests.conftest import SAMPLE_KB_BASE_URL

pytestmark = pytest.mark.django_db

SENTENCE_OPENING = re.compile(r"^[\"'“(A-Z0-9$]")
SENTENCE_ENDING = re.compile(r"([.!?][\"'”’)]*|…)$")


def assert_readable(text: str) -> None:
    assert text, "empty snippet"
    assert "**" not in text and "](" not in text and "|" not in text, text
    assert not text.startswith("#"), text
    assert SENTENCE_OPENING.match(text), text
    assert SENTENCE_ENDING.search(text), text
    assert len(text) <= SNIPPET_CHARS + 1, text
    assert len(text.split()) >= 6, text


def sync() -> SyncJob:
    return kb_sync_start(trigger=SyncJob.Trigger.COMMAND)


# --- Markdown → text --------------------------------------------------------------------------


def test_markdown_is_rendered_to_plain_sentences():
    text = markdown_to_text(
        "# Title\n\n"
        "Start a **return** at [our returns page](https://brightside.example/returns).\n\n"
        "In short:\n\n1. **Send it back**\n2. We refund you\n\n"
        "| Payment method | Time |\n|---|---|\n| PayPal | 1-3 days |\n\n"
        "- Check the seal\n- Check the blades.\n"
    )

    assert text.split("\n\n") == [
        "# Title",
        "Start a return at our returns page.",
        "In short: Send it back, We refund you.",
        "PayPal: 1-3 days.",
        "Check the seal.",
        "Check the blades.",
    ]


def test_a_table_with_more_columns_names_each_cell():
    text = markdown_to_text(
        "| Option | Time | Price |\n|---|---|---|\n| Express | 1-2 days | $14.95 |"
    )

    assert text == "Express — Time: 1-2 days; Price: $14.95."


def test_a_bold_label_line_introduces_its_text():
    text = markdown_to_text("**Gift cards**\nThey never expire.")

    assert text == "Gift cards:\nThey never expire."  # a paragraph keeps its lines


# --- snippets of the sample KB ----------------------------------------------------------------


def test_every_sample_kb_snippet_is_readable_plain_text():
    chunks = list(Chunk.objects.select_related("article"))
    assert len(chunks) > 100

    for chunk in chunks:
        assert_readable(chunk.snippet)
        assert "**" not in chunk.text and "](" not in chunk.text and "|" not in chunk.text


def test_no_sample_kb_passage_is_a_heading_or_an_introduction_alone():
    for chunk in Chunk.objects.all():
        assert len(chunk.text.split()) >= 12 or not chunk.text.endswith(":"), chunk.text
    refunds = Chunk.objects.filter(article__source_key__startswith="refunds-")
    assert not refunds.filter(text="In short:").exists()
    assert refunds.filter(text__startswith="In short: Start a return").exists()


def test_a_snippet_after_an_overlap_starts_with_the_passages_own_sentences():
    previous = None
    overlapping = 0
    for chunk in Chunk.objects.order_by("article_id", "position"):
        same_section = previous and (previous.article_id, previous.heading_path) == (
            chunk.article_id,
            chunk.heading_path,
        )
        if same_section:
            overlapping += 1
            first_words = " ".join(chunk.snippet.split()[:6])
            assert first_words not in previous.text, (previous.text, chunk.snippet)
        previous = chunk
    assert overlapping > 20


def test_chunker_merges_an_introduction_with_the_list_it_introduces():
    items = "\n\n".join(f"Step {n} is a sentence with several words in it." for n in range(12))
    chunks = chunk_text(f"# T\n\nIn short:\n\n{items}", max_words=60, overlap_words=30)

    assert chunks[0].text.startswith("In short: Step 0")
    assert all(len(c.text.split()) >= 12 for c in chunks)
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert_readable(after.snippet)
        assert not before.text.endswith(" ".join(after.snippet.split()[:3]))
        assert after.snippet.split()[0] == "Step"


def test_a_snippet_is_cut_at_a_sentence_within_the_limit():
    sentence = "The refund reaches your card within ten business days of our inspection. "
    text = snippet(sentence * 20)

    assert len(text) <= SNIPPET_CHARS
    assert text.endswith("inspection.")


def test_a_single_long_sentence_is_cut_at_a_word_with_an_ellipsis():
    text = snippet("Refunds go back " + "and back " * 100 + "to your card.")

    assert len(text) <= SNIPPET_CHARS
    assert text.startswith("Refunds go back and back")
    assert text.endswith("…")


def test_bedrock_style_passage_text_becomes_a_snippet_of_whole_sentences():
    passage = (
        "the base. Do not use a cracked jar.\n\n## Jar is leaking\n\n"
        "- **Check the seal** and [order a new one](https://x.example/parts).\n\n"
        "| Part | Price |\n|---|---|\n| Seal | $4 |"
    )

    assert snippet(passage) == (
        "Do not use a cracked jar. Check the seal and order a new one. Seal: $4."
    )


# --- re-chunking when the chunker changes -----------------------------------------------------


def test_a_chunker_version_change_rechunks_every_article_once(settings, tmp_path, monkeypatch):
    settings.KB_SOURCE = str(tmp_path)
    (tmp_path / "a.md").write_text("# A\n\nAn **old** way to chunk this article.\n")
    (tmp_path / "b.md").write_text("# B\n\nAnother article about refunds and returns.\n")
    assert sync().added == 2
    assert sync().unchanged == 2

    monkeypatch.setattr(indexing, "CHUNKER_VERSION", indexing.CHUNKER_VERSION + 1)
    job = sync()

    assert (job.updated, job.unchanged) == (2, 0)
    assert (again := sync()).unchanged == 2 and again.updated == 0


def test_chunks_stored_without_a_snippet_still_get_a_readable_one(settings, tmp_path):
    settings.KB_SOURCE = str(tmp_path)
    (tmp_path / "a.md").write_text(
        "# Refund times\n\nYour refund arrives within ten business days.\n"
    )
    (tmp_path / "b.md").write_text("# Shipping times\n\nShipping takes three to five days.\n")
    sync()
    Chunk.objects.update(snippet="")  # as stored before the field existed
    KnowledgeState.bump()  # so the index is rebuilt from the rows

    (best,) = get_backend().retrieve("refund ten business days", k=1)
    assert best.snippet == "Your refund arrives within ten business days."


# --- links ------------------------------------------------------------------------------------


def test_sidecar_url_wins_over_the_base_url(api):
    response = api.get("/kb/search", {"q": "my refund has not arrived", "k": 5})

    results = {r["title"]: r["source"] for r in response.json()["results"]}
    refunds = "Refunds: How and When You Get Your Money Back"
    assert results[refunds] == "https://brightside.example/help/refunds"
    returns = Article.objects.get(source_key="returns-policy.md")
    assert returns.uri == SAMPLE_KB_BASE_URL + "returns-policy"


def test_every_search_result_links_to_a_public_url(api):
    for query in ["refund", "card declined", "blender jar cracked", "descale", "invoice"]:
        response = api.get("/kb/search", {"q": query, "k": 10})

        assert response.status_code == 200, response.content
        for result in response.json()["results"]:
            assert result["source"].startswith("https://brightside.example/help/"), result
    assert not Article.objects.filter(uri__startswith="file:").exists()


def test_every_ticket_suggestion_links_to_a_public_url(api):
    response = api.post(
        "/tickets",
        {
            "customer": {"email": "ada@example.com"},
            "subject": "Blender arrived with a cracked jar",
            "body": "My card keeps getting declined and my refund has not arrived.",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    suggestions = response.json()["suggestions"]
    assert suggestions
    for suggestion in suggestions:
        assert re.match(r"^https?://", suggestion["source"]), suggestion
        assert_readable(suggestion["snippet"])


def test_without_a_base_url_the_source_is_the_relative_path(settings, tmp_path):
    settings.KB_SOURCE = str(tmp_path)
    settings.KB_PUBLIC_BASE_URL = ""
    (tmp_path / "guides").mkdir()
    (tmp_path / "guides" / "my refund.md").write_text("# Refund\n\nIt takes ten days.\n")

    sync()

    assert Article.objects.get().uri == "guides/my%20refund.md"


def test_base_url_gets_the_quoted_path_without_the_markdown_extension(settings, tmp_path):
    settings.KB_SOURCE = str(tmp_path)
    settings.KB_PUBLIC_BASE_URL = "https://help.example.com/articles"
    (tmp_path / "guides").mkdir()
    (tmp_path / "guides" / "my refund.md").write_text("# Refund\n\nIt takes ten days.\n")
    (tmp_path / "terms.pdf.txt").write_text("Terms apply to every order.\n")

    sync()

    assert dict(Article.objects.values_list("source_key", "uri")) == {
        "guides/my refund.md": "https://help.example.com/articles/guides/my%20refund",
        "terms.pdf.txt": "https://help.example.com/articles/terms.pdf.txt",
    }


def test_a_changed_base_url_relinks_articles_without_rechunking(settings, tmp_path):
    settings.KB_SOURCE = str(tmp_path)
    (tmp_path / "a.md").write_text(
        "# Refund times\n\nYour refund arrives within ten business days.\n"
    )
    (tmp_path / "b.md").write_text("# Shipping times\n\nShipping takes three to five days.\n")
    settings.KB_PUBLIC_BASE_URL = "https://old.example/help/"
    sync()
    chunk_ids = set(Chunk.objects.values_list("id", flat=True))

    settings.KB_PUBLIC_BASE_URL = "https://new.example/help/"
    job = sync()

    assert (job.unchanged, job.updated) == (2, 0)
    assert set(Chunk.objects.values_list("id", flat=True)) == chunk_ids
    (best,) = get_backend().retrieve("refund ten business days", k=1)
    assert best.source == "https://new.example/help/a"


def test_a_sidecar_url_that_is_not_a_web_link_fails_the_document(settings, tmp_path):
    settings.KB_SOURCE = str(tmp_path)
    (tmp_path / "a.md").write_text("# A\n\nText.\n")
    (tmp_path / "a.md.metadata.json").write_text(
        json.dumps({"metadataAttributes": {"url": "file:///srv/kb/a.md"}})
    )

    job = sync()

    assert job.failed == 1
    assert "url must be an http(s) URL" in job.errors[0]["reason"]
    assert not Article.objects.filter(source_key="a.md").exists()


# --- the README's metadata filter example -----------------------------------------------------


def test_readme_filter_example_returns_the_care_articles(api):
    flt = {
        "andAll": [
            {"category": "care"},
            {"in": {"key": "product", "value": ["air-fryer", "coffee-machine"]}},
        ]
    }

    response = api.get("/kb/search", {"q": "how do I clean it", "filter": json.dumps(flt)})

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert {r["source"] for r in results} == {
        "https://brightside.example/help/air-fryer-care",
        "https://brightside.example/help/coffee-machine-descaling",
    }
    assert all(r["metadata"]["category"] == "care" for r in results if "metadata" in r)
