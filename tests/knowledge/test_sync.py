"""KB sync into articles and chunks: incremental by content hash, deletions, bad files."""

import pytest

from knowledge.backends.base import get_backend
from knowledge.models import Article, Chunk, KnowledgeState, SyncJob
from knowledge.services import kb_sync_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def kb_folder(tmp_path, settings):
    settings.KB_SOURCE = str(tmp_path)
    (tmp_path / "returns.md").write_text(
        "# Returns policy\n\nYou can return any item within 30 days of delivery.\n\n"
        "## Refunds\n\nRefunds go back to the original payment method in 5-10 days.\n"
    )
    (tmp_path / "shipping.md").write_text(
        "# Shipping options\n\nStandard shipping takes 3-5 business days.\n"
    )
    return tmp_path


def sync() -> SyncJob:
    return kb_sync_start(trigger=SyncJob.Trigger.COMMAND)


def titles(query: str) -> list[str]:
    return [p.title for p in get_backend().retrieve(query, k=5)]


def top(query: str) -> str | None:
    return next(iter(titles(query)), None)


def test_first_sync_indexes_every_document(kb_folder):
    job = sync()

    assert job.status == SyncJob.Status.SUCCEEDED
    assert (job.scanned, job.added, job.updated, job.failed) == (2, 2, 0, 0)
    assert set(Article.objects.values_list("source_key", flat=True)) == {
        "returns.md",
        "shipping.md",
    }
    refunds = Chunk.objects.get(article__source_key="returns.md", text__contains="original")
    assert refunds.heading_path == ["Returns policy", "Refunds"]
    assert top("how long does standard shipping take") == "Shipping options"


def test_unchanged_resync_changes_nothing(kb_folder):
    sync()
    generation = KnowledgeState.current()[0]
    chunk_ids = set(Chunk.objects.values_list("id", flat=True))

    job = sync()

    assert (job.scanned, job.unchanged, job.added, job.updated, job.deleted) == (2, 2, 0, 0, 0)
    assert KnowledgeState.current()[0] == generation
    assert set(Chunk.objects.values_list("id", flat=True)) == chunk_ids


def test_changed_document_is_rechunked_and_served_at_once(kb_folder):
    sync()
    assert not any("overnight" in p.snippet for p in get_backend().retrieve("express overnight"))

    (kb_folder / "shipping.md").write_text(
        "# Shipping options\n\nExpress delivery arrives overnight.\n"
    )
    job = sync()

    assert (job.updated, job.unchanged) == (1, 1)
    (best,) = get_backend().retrieve("express overnight", k=1)
    assert (best.title, best.snippet) == ("Shipping options", "Express delivery arrives overnight.")
    assert not Chunk.objects.filter(text__contains="3-5 business days").exists()


def test_deleted_document_disappears_from_results(kb_folder):
    sync()
    (kb_folder / "shipping.md").unlink()

    job = sync()

    assert job.deleted == 1
    assert not Article.objects.filter(source_key="shipping.md").exists()
    assert "Shipping options" not in titles("standard shipping business days")


def test_unreadable_files_are_reported_and_the_rest_is_indexed(kb_folder):
    (kb_folder / "empty.md").write_bytes(b"")
    (kb_folder / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me".encode("latin-1"))
    (kb_folder / "binary.md").write_bytes(b"\x00\x01\x02binary\x00")

    job = sync()

    assert job.status == SyncJob.Status.SUCCEEDED
    assert job.added == 2
    assert job.failed == 3
    reasons = {error["key"]: error["reason"] for error in job.errors}
    assert set(reasons) == {"empty.md", "latin1.txt", "binary.md"}
    assert "UTF-8" in reasons["latin1.txt"]
    assert Article.objects.count() == 2


def test_missing_source_fails_the_job_and_keeps_the_index(kb_folder, settings):
    sync()
    settings.KB_SOURCE = str(kb_folder / "does-not-exist")

    job = sync()

    assert job.status == SyncJob.Status.FAILED
    assert "does not exist" in job.message
    assert Article.objects.count() == 2
    assert top("standard shipping") == "Shipping options"
