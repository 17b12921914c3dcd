"""A folder sync never reads outside KB_SOURCE: links out of it are skipped and reported.

Issue 10 item 7: a link to /etc/passwd in the KB folder was indexed and returned by
/kb/search. Here the "outside" is a sibling folder of the test's own, holding a secret marker;
whatever links lead there, the marker must never reach the index or a search result.
"""

import json
import os

import pytest

from knowledge.models import Article, Chunk, SyncJob
from knowledge.services import kb_sync_start
from knowledge.sources import OUTSIDE_SOURCE

pytestmark = pytest.mark.django_db

SECRET = "zorblax-secret-marker"


@pytest.fixture
def layout(tmp_path, settings):
    """kb/ (the source) with one real article, and outside/ next to it with secrets."""
    kb, outside = tmp_path / "kb", tmp_path / "outside"
    kb.mkdir()
    (outside / "private").mkdir(parents=True)
    (kb / "returns.md").write_text("# Returns\n\nSend the parcel back within 30 days.\n")
    (outside / "passwd.md").write_text(f"# Accounts\n\nroot:x:0:0 {SECRET}\n")
    (outside / "private" / "keys.md").write_text(f"# Keys\n\nThe vault code is {SECRET}.\n")
    (outside / "meta.json").write_text(json.dumps({"metadataAttributes": {"leak": SECRET}}))
    settings.KB_SOURCE = str(kb)
    return kb, outside


def sync() -> SyncJob:
    return kb_sync_start(trigger=SyncJob.Trigger.COMMAND)


def assert_secret_not_indexed():
    assert not Chunk.objects.filter(text__contains=SECRET).exists()
    assert not Article.objects.filter(title__in=["Accounts", "Keys"]).exists()
    assert SECRET not in str(list(Article.objects.values_list("metadata", flat=True)))


def test_a_link_to_a_file_outside_is_skipped_and_reported(layout, api):
    kb, outside = layout
    os.symlink(outside / "passwd.md", kb / "passwd.md")

    job = sync()

    assert job.status == SyncJob.Status.SUCCEEDED
    assert {"key": "passwd.md", "reason": OUTSIDE_SOURCE, "skipped": True} in job.errors
    assert "1 skipped (outside the source)" in job.message
    assert set(Article.objects.values_list("source_key", flat=True)) == {"returns.md"}
    assert_secret_not_indexed()
    response = api.get("/kb/search", {"q": "root accounts passwd", "k": 10})
    assert response.status_code == 200
    results = response.json()["results"]
    assert "passwd.md" not in json.dumps(results) and SECRET not in json.dumps(results)


def test_a_linked_directory_outside_is_not_walked(layout):
    kb, outside = layout
    os.symlink(outside / "private", kb / "private", target_is_directory=True)
    os.symlink(outside, kb / "everything", target_is_directory=True)

    job = sync()

    assert job.status == SyncJob.Status.SUCCEEDED
    skipped = sorted(e["key"] for e in job.errors if e.get("skipped"))
    assert skipped == ["everything", "private"]
    assert job.scanned == 1  # nothing under the linked directories was even listed
    assert_secret_not_indexed()


def test_a_sidecar_linked_outside_is_ignored_and_its_document_indexed(layout):
    kb, outside = layout
    os.symlink(outside / "meta.json", kb / "returns.md.metadata.json")

    job = sync()

    assert job.status == SyncJob.Status.SUCCEEDED
    assert any(e["key"] == "returns.md.metadata.json" and e["skipped"] for e in job.errors)
    assert Article.objects.get(source_key="returns.md").metadata == {}
    assert_secret_not_indexed()


def test_links_that_stay_inside_the_source_are_followed(layout):
    kb, _ = layout
    (kb / "guides").mkdir()
    (kb / "guides" / "shipping.md").write_text("# Shipping\n\nParcels leave in a day.\n")
    os.symlink(kb / "returns.md", kb / "returns-link.md")
    os.symlink(kb / "guides", kb / "handbook", target_is_directory=True)
    os.symlink(kb, kb / "guides" / "loop", target_is_directory=True)  # a loop back to the root
    (kb / "extra").mkdir()
    (kb / "extra" / "care.md").write_text("# Care\n\nWipe it with a damp cloth.\n")
    os.symlink(kb / "extra" / "care.md", kb / "guides" / "care-link.md")

    job = sync()

    assert job.status == SyncJob.Status.SUCCEEDED
    assert not [e for e in job.errors if e.get("skipped")]
    keys = set(Article.objects.values_list("source_key", flat=True))
    # guides/ is walked once, under its own name; the loop back to the root ends there.
    assert keys == {
        "returns.md",
        "returns-link.md",
        "guides/shipping.md",
        "guides/care-link.md",
        "extra/care.md",
    }


def test_a_file_swapped_for_an_outside_link_after_indexing_is_removed(layout):
    """Indexed while it was a real file; once it is a link out, the next sync drops it."""
    kb, outside = layout
    (kb / "notes.md").write_text("# Notes\n\nOrdinary notes.\n")
    assert sync().added == 2
    (kb / "notes.md").unlink()
    os.symlink(outside / "passwd.md", kb / "notes.md")

    job = sync()

    assert job.deleted == 1
    assert set(Article.objects.values_list("source_key", flat=True)) == {"returns.md"}
    assert_secret_not_indexed()
