"""Writes for the knowledge base: syncing the source into articles and chunks.

One sync at a time per source: starting one while another runs returns the running job (a job
whose heartbeat stopped — its process was killed — is marked failed and replaced). Syncs are
incremental: a document whose version (size+mtime, S3 ETag) is unchanged is not even read; one
whose bytes hash the same is not parsed; changed ones are re-chunked; vanished ones deleted.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from knowledge.backends.base import Embedder, get_backend
from knowledge.chunking import ChunkText, chunk_text, passage_text
from knowledge.models import Article, Chunk, KnowledgeState, SyncJob
from knowledge.sources import (
    SIDECAR_SUFFIX,
    DocumentError,
    ParsedDocument,
    SourceDocument,
    is_supported,
    iter_folder,
    parse,
)

logger = logging.getLogger(__name__)

Progress = Callable[[SyncJob, str], None]

# A running job that has not written a heartbeat for this long was interrupted.
STALE_AFTER = timedelta(minutes=10)
HEARTBEAT_EVERY = 25  # documents
EMBED_BATCH = 256  # passages embedded per encoder call during a sync


def kb_sync_start(
    *, trigger: str, progress: Progress | None = None, background: bool = False
) -> SyncJob:
    """Start (or join) a sync of the configured source with the configured backend.

    Returns the job: finished when run in the foreground; `running` when it was started in a
    background thread or another sync of the same source was already running. Joining a running
    sync asks for a follow-up: that sync may have listed the source before the change this
    request is about, so another one runs when it finishes (`SyncJob.follow_up`). A foreground
    run runs its follow-ups too before returning.
    """
    backend = get_backend()
    if backend.name == "bedrock":
        # Ingestion jobs finish in AWS: learn which of ours are over before joining one.
        for running in _running(backend.name, settings.KB_SOURCE):
            _refresh_remote(running)
    job, created = _claim(backend=backend.name, source=settings.KB_SOURCE, trigger=trigger)
    if not created:
        return job
    if background:
        threading.Thread(
            target=_run_in_thread, args=(backend, job), name=f"kb-sync-{job.id}", daemon=True
        ).start()
        return job
    return _run(backend, job, progress)


def _run(backend, job: SyncJob, progress: Progress | None) -> SyncJob:
    """Run `job`, then (in this thread) any follow-ups requested while it ran; return `job`."""
    current = job = _run_one(backend, job, progress)
    while (follow_up := _claim_follow_up(current)) is not None:
        logger.info("KB sync %s was asked for again: follow-up %s", current.id, follow_up.id)
        current = _run_one(backend, follow_up, progress)
    job.refresh_from_db()
    return job


def _run_one(backend, job: SyncJob, progress: Progress | None) -> SyncJob:
    try:
        return backend.sync(job, progress=progress)
    except Exception as exc:
        logger.exception("KB sync %s failed", job.id)
        return job.fail(f"{exc.__class__.__name__}: {exc}")


def _run_in_thread(backend, job: SyncJob) -> None:
    try:
        _run(backend, job, None)
    finally:
        close_old_connections()


def _running(backend: str, source: str) -> list[SyncJob]:
    return list(
        SyncJob.objects.filter(backend=backend, source=source, status=SyncJob.Status.RUNNING)
    )


def _claim(
    *, backend: str, source: str, trigger: str, request_rerun: bool = True
) -> tuple[SyncJob, bool]:
    """The running sync of `source` (False), or a new running job (True): never two.

    Joining a running sync marks it `rerun_requested` (unless the caller is that follow-up).
    Either way, finished syncs still waiting for a follow-up are linked to the returned job,
    which started after they ended and so covers whatever they may have missed.
    """
    now = timezone.now()
    with transaction.atomic():
        # Serialise claims on the state row (a real lock on Postgres).
        state = KnowledgeState.objects.select_for_update().filter(pk=1).first()
        if state is None:
            KnowledgeState.objects.get_or_create(pk=1)
        running = (
            SyncJob.objects.select_for_update()
            .filter(source=source, backend=backend, status=SyncJob.Status.RUNNING)
            .order_by("-id")
            .first()
        )
        if running and running.heartbeat_at and running.heartbeat_at > now - STALE_AFTER:
            if request_rerun and not running.rerun_requested:
                running.rerun_requested = True
                running.save(update_fields=["rerun_requested"])
            _link_waiting(backend, source, running)
            return running, False
        if running:
            running.fail(
                "Interrupted: no progress since " + running.heartbeat_at.isoformat(),
                at=now,
                fields=["status", "message", "finished_at"],
            )
        job = _new_running_job(backend, source, trigger, now)
        _link_waiting(backend, source, job)
        return job, True


def _new_running_job(backend: str, source: str, trigger: str, now) -> SyncJob:
    return SyncJob.objects.create(
        backend=backend,
        source=source,
        trigger=trigger,
        status=SyncJob.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
    )


def _link_waiting(backend: str, source: str, follow_up: SyncJob) -> None:
    SyncJob.objects.filter(backend=backend, source=source, rerun_requested=True).exclude(
        status=SyncJob.Status.RUNNING
    ).exclude(pk=follow_up.pk).update(rerun_requested=False, follow_up=follow_up)


def _claim_follow_up(job: SyncJob) -> SyncJob | None:
    """The new job that follows `job`, if `job` is over and a rerun was asked for while it
    ran; None if not, or if another sync is already running (it covers the changes)."""
    if job.status == SyncJob.Status.RUNNING:
        return None
    if not SyncJob.objects.filter(pk=job.pk, rerun_requested=True).exists():
        return None
    follow_up, created = _claim(
        backend=job.backend, source=job.source, trigger=job.trigger, request_rerun=False
    )
    return follow_up if created else None


def _refresh_remote(job: SyncJob) -> SyncJob:
    from knowledge.backends.bedrock import refresh  # only Bedrock jobs run elsewhere

    return refresh(job)


def sync_job_status(job: SyncJob) -> SyncJob:
    """A sync job as it stands now. A Bedrock ingestion job is read from AWS first, and if it
    is over with a rerun asked for, its follow-up ingestion is started (a local sync's own
    thread runs its follow-ups)."""
    if job.backend != "bedrock":
        return job
    if job.status == SyncJob.Status.RUNNING:
        job = _refresh_remote(job)
    backend = get_backend()
    if backend.name != job.backend or job.source != settings.KB_SOURCE:
        return job  # the configuration moved on: nothing to follow up with
    follow_up = _claim_follow_up(job)
    if follow_up is not None:
        follow_up = _run_one(backend, follow_up, None)
        if follow_up.status == SyncJob.Status.FAILED:
            # Could not start (Bedrock unavailable): ask again, for the next poll to retry.
            SyncJob.objects.filter(follow_up=follow_up).update(rerun_requested=True)
        job.refresh_from_db()
    return job


def kb_sync_poll() -> list[SyncJob]:
    """Bring the configured source's Bedrock ingestion jobs up to date and start the follow-ups
    that are due: what the scheduled Lambda task runs. Nothing to do for the local backend."""
    waiting = SyncJob.objects.filter(
        Q(status=SyncJob.Status.RUNNING) | Q(rerun_requested=True),
        backend="bedrock",
        source=settings.KB_SOURCE,
    ).order_by("id")
    return [sync_job_status(job) for job in waiting]


def source_documents(source: str) -> Iterable[SourceDocument]:
    """The documents of a KB source: a folder path or `s3://bucket/prefix`."""
    if source.startswith("s3://"):
        from helpdesk.aws import s3_client
        from knowledge.sources.s3 import S3Location, iter_s3

        return iter_s3(S3Location.parse(source), s3_client())
    return iter_folder(source)


def kb_sync_s3_event(event: dict) -> SyncJob | None:
    """Apply an S3 notification (put/delete of objects) to the KB: what the Lambda S3 trigger
    calls. Only the named objects are read; an object that no longer exists is a delete.
    Records for other buckets or prefixes are ignored. Returns the job, or None if nothing in
    the event concerns the configured source."""
    from helpdesk.aws import s3_client
    from knowledge.sources.s3 import S3Location, head_document, parse_s3_event

    if not settings.KB_SOURCE.startswith("s3://"):
        logger.warning("Ignoring an S3 event: KB_SOURCE is not an S3 location")
        return None
    location = S3Location.parse(settings.KB_SOURCE)
    announced = parse_s3_event(event)
    changes = [c for c in announced if location.contains(c.bucket, c.object_key)]
    ignored = len(announced) - len(changes)
    if ignored:
        logger.warning("Ignoring %s S3 record(s) outside %s", ignored, settings.KB_SOURCE)
    if not changes:
        return None
    backend = get_backend()
    if backend.name != "local":  # Bedrock re-ingests its data source incrementally itself
        return kb_sync_start(trigger=SyncJob.Trigger.S3_EVENT)
    job = _new_running_job(
        backend.name, settings.KB_SOURCE, SyncJob.Trigger.S3_EVENT, timezone.now()
    )
    client = s3_client()
    documents: list[SourceDocument] = []
    deleted: set[str] = set()
    for change in changes:
        if change.object_key.endswith(SIDECAR_SUFFIX):  # metadata edited: re-read its document
            change = replace(change, object_key=change.object_key[: -len(SIDECAR_SUFFIX)])
            if not is_supported(change.object_key):
                continue
        elif not is_supported(change.object_key):
            continue
        key = location.key_of(change.object_key)
        try:
            document = (
                None if change.removed else head_document(location, change.object_key, client)
            )
        except DocumentError as exc:
            job.failed += 1
            job.errors.append({"key": key, "reason": str(exc)})
            continue
        if document is None:
            deleted.add(key)
        else:
            documents.append(document)
    return sync_documents(
        job, documents, complete=False, deleted_keys=deleted, embed=backend.embedder()
    )


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


@dataclass
class _Prepared:
    """A changed document, parsed and chunked, waiting for its embeddings."""

    document: SourceDocument
    parsed: ParsedDocument
    digest: str
    pieces: list[ChunkText]
    outcome: str  # "added" | "updated"


class _Batch:
    """Changed documents collected until EMBED_BATCH passages are waiting, then embedded in
    one call (a batch across documents keeps the encoder busy) and stored."""

    def __init__(self, job: SyncJob, embed: Embedder | None) -> None:
        self.job, self.embed = job, embed
        self.items: list[_Prepared] = []

    def add(self, item: _Prepared) -> None:
        self.items.append(item)
        if sum(len(i.pieces) for i in self.items) >= EMBED_BATCH:
            self.flush()

    def flush(self) -> None:
        items, self.items = self.items, []
        if not items:
            return
        texts = [
            passage_text(i.parsed.title, p.heading_path, p.text) for i in items for p in i.pieces
        ]
        vectors = self.embed(texts) if self.embed else [None] * len(texts)
        offset = 0
        for item in items:
            _store_article(item, vectors[offset : offset + len(item.pieces)])
            offset += len(item.pieces)
            setattr(self.job, item.outcome, getattr(self.job, item.outcome) + 1)


def sync_documents(
    job: SyncJob,
    documents: Iterable[SourceDocument],
    *,
    complete: bool = True,
    deleted_keys: Iterable[str] = (),
    embed: Embedder | None = None,
    progress: Progress | None = None,
) -> SyncJob:
    """Index `documents` into articles and chunks, recording counts and failures in `job`.

    `complete`: the documents are the whole source, so articles not among them are deleted.
    Otherwise (an S3 event for one object) only `deleted_keys` are removed. A document that
    fails is recorded and skipped; its previous version (if any) keeps serving. Each article is
    replaced in its own transaction, so an interrupted sync leaves whole articles, old or new,
    and the next sync completes it.
    """
    known = {
        row[0]: row[1:]
        for row in Article.objects.values_list("source_key", "version", "content_hash")
    }
    seen: set[str] = set()
    batch = _Batch(job, embed)
    try:
        for document in documents:
            job.scanned += 1
            seen.add(document.key)
            try:
                prepared = _prepare(document, known.get(document.key))
            except DocumentError as exc:
                job.failed += 1
                job.errors.append({"key": document.key, "reason": str(exc)})
            else:
                if prepared is None:
                    job.unchanged += 1
                else:
                    batch.add(prepared)
            if progress:
                progress(job, document.key)
            if job.scanned % HEARTBEAT_EVERY == 0:
                _heartbeat(job)
        batch.flush()
        gone = (set(known) - seen) if complete else (set(deleted_keys) & set(known))
        if gone:
            job.deleted += (
                Article.objects.filter(source_key__in=gone).delete()[1].get("knowledge.Article", 0)
            )
    except DocumentError as exc:  # the source as a whole is unreadable: keep the old index
        job.status = SyncJob.Status.FAILED
        job.message = str(exc)
    else:
        job.status = SyncJob.Status.SUCCEEDED
        job.message = (
            f"{job.scanned} scanned: {job.added} added, {job.updated} updated, "
            f"{job.deleted} deleted, {job.unchanged} unchanged, {job.failed} failed"
        )
    if job.added or job.updated or job.deleted:
        _bump_generation()
    job.finished_at = timezone.now()
    job.save()
    return job


def _prepare(document: SourceDocument, known: tuple[str, str] | None) -> _Prepared | None:
    """None when the document is unchanged; raises DocumentError when it cannot be indexed."""
    if known and known[0] == document.version:
        return None
    content = document.read()
    digest = content.content_hash
    if known and known[1] == digest:  # touched, not changed
        Article.objects.filter(source_key=document.key).update(version=document.version)
        return None
    parsed = parse(document, content)
    pieces = chunk_text(
        parsed.text,
        max_words=settings.KB_CHUNK_WORDS,
        overlap_words=settings.KB_CHUNK_OVERLAP_WORDS,
    )
    if not pieces:
        raise DocumentError("no text to index")
    return _Prepared(document, parsed, digest, pieces, "updated" if known else "added")


def _heartbeat(job: SyncJob) -> None:
    job.heartbeat_at = timezone.now()
    job.save(
        update_fields=[
            "heartbeat_at",
            "scanned",
            "added",
            "updated",
            "unchanged",
            "failed",
            "errors",
        ]
    )


@transaction.atomic
def _store_article(item: _Prepared, vectors: list[bytes | None]) -> Article:
    article, _ = Article.objects.update_or_create(
        source_key=item.document.key,
        defaults={
            "uri": item.document.uri,
            "title": item.parsed.title,
            "content_hash": item.digest,
            "version": item.document.version,
            "metadata": item.parsed.metadata,
        },
    )
    article.chunks.all().delete()
    Chunk.objects.bulk_create(
        Chunk(
            article=article,
            position=p.position,
            heading_path=p.heading_path,
            text=p.text,
            embedding=vector,
        )
        for p, vector in zip(item.pieces, vectors, strict=True)
    )
    return article
