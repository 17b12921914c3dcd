"""Writes for the knowledge base: syncing the source into articles and chunks."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from knowledge.backends.base import get_backend
from knowledge.chunking import chunk_text
from knowledge.models import Article, Chunk, KnowledgeState, SyncJob
from knowledge.sources import DocumentError, SourceDocument, parse

logger = logging.getLogger(__name__)

Progress = Callable[[SyncJob, str], None]


def kb_sync_start(*, trigger: str, progress: Progress | None = None) -> SyncJob:
    """Create a sync job for the configured backend and source, and run it."""
    backend = get_backend()
    job = SyncJob.objects.create(backend=backend.name, source=settings.KB_SOURCE, trigger=trigger)
    return backend.sync(job, progress=progress)


def kb_revision() -> tuple[int, str]:
    """(generation, revision) of the KB as last changed by a sync; (0, "") before any."""
    state = KnowledgeState.objects.filter(pk=1).values_list("generation", "revision").first()
    return state or (0, "")


def kb_generation() -> int:
    return kb_revision()[0]


def _bump_generation() -> None:
    revision = uuid.uuid4().hex
    updated = KnowledgeState.objects.filter(pk=1).update(
        generation=F("generation") + 1, revision=revision
    )
    if not updated:
        KnowledgeState.objects.create(pk=1, generation=1, revision=revision)


def sync_documents(
    job: SyncJob, documents: Iterable[SourceDocument], *, progress: Progress | None = None
) -> SyncJob:
    """Index `documents` as the complete content of the source, incrementally by content hash.

    Unchanged documents cost a hash comparison; changed ones are re-parsed and re-chunked;
    articles whose documents are gone are deleted. A document that fails to parse is recorded
    in the job and skipped, and its previous version (if any) keeps serving.
    """
    job.status = SyncJob.Status.RUNNING
    job.started_at = timezone.now()
    job.save(update_fields=["status", "started_at"])

    known = dict(Article.objects.values_list("source_key", "content_hash"))
    seen: set[str] = set()
    changed = False
    try:
        for document in documents:
            job.scanned += 1
            seen.add(document.key)
            digest = document.content_hash
            if known.get(document.key) == digest:
                job.unchanged += 1
            else:
                try:
                    parsed = parse(document)
                except DocumentError as exc:
                    job.failed += 1
                    job.errors.append({"key": document.key, "reason": str(exc)})
                else:
                    _store_article(document, parsed.title, parsed.text, digest)
                    changed = True
                    if document.key in known:
                        job.updated += 1
                    else:
                        job.added += 1
            if progress:
                progress(job, document.key)
        gone = set(known) - seen
        if gone:
            job.deleted = (
                Article.objects.filter(source_key__in=gone).delete()[1].get("knowledge.Article", 0)
            )
            changed = True
    except DocumentError as exc:  # the source as a whole is unreadable: keep the old index
        job.status = SyncJob.Status.FAILED
        job.message = str(exc)
    else:
        job.status = SyncJob.Status.SUCCEEDED
        job.message = (
            f"{job.scanned} scanned: {job.added} added, {job.updated} updated, "
            f"{job.deleted} deleted, {job.unchanged} unchanged, {job.failed} failed"
        )
    if changed:
        _bump_generation()
    job.finished_at = timezone.now()
    job.save()
    return job


@transaction.atomic
def _store_article(document: SourceDocument, title: str, text: str, digest: str) -> Article:
    article, _ = Article.objects.update_or_create(
        source_key=document.key,
        defaults={"uri": document.uri, "title": title, "content_hash": digest},
    )
    article.chunks.all().delete()
    pieces = chunk_text(
        text, max_words=settings.KB_CHUNK_WORDS, overlap_words=settings.KB_CHUNK_OVERLAP_WORDS
    )
    Chunk.objects.bulk_create(
        Chunk(article=article, position=p.position, heading_path=p.heading_path, text=p.text)
        for p in pieces
    )
    return article
