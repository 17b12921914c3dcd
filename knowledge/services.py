"""Writes for the knowledge base: sync jobs (start or join, follow-ups, polling) and S3 events.

One sync at a time per source: starting one while another runs returns the running job (a job
whose heartbeat stopped — its process was killed — is marked failed and replaced). The backend
does a job's work (the local one indexes with knowledge.indexing, Bedrock ingests in AWS); a job
that runs elsewhere is brought up to date by its backend's `refresh` when it is read or polled.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone

from helpdesk.aws import describe_error
from knowledge.backends.base import get_backend
from knowledge.indexing import Progress, sync_documents
from knowledge.models import KnowledgeState, SyncJob
from knowledge.sources import (
    SIDECAR_SUFFIX,
    DocumentError,
    SourceDocument,
    SourceUnavailable,
    is_supported,
)

logger = logging.getLogger(__name__)

# A running job that has not written a heartbeat for this long was interrupted.
STALE_AFTER = timedelta(minutes=10)


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
            backend.refresh(running)
    job, created = _claim(backend=backend.name, source=settings.KB_SOURCE, trigger=trigger)
    if not created:
        return job
    if background:
        threading.Thread(
            target=_run_in_thread, args=(backend, job), name=f"kb-sync-{job.id}", daemon=True
        ).start()
        return job
    return _run(backend, job, progress)


def _run(backend, job: SyncJob, progress: Progress | None, *, first=None) -> SyncJob:
    """Run `job` (with `first(job)` instead of a full sync, for an S3 event's objects), then
    (in this thread) any follow-ups requested while it ran; return `job`."""
    current = job = _run_one(backend, job, progress, work=first)
    while (follow_up := _claim_follow_up(current)) is not None:
        logger.info("KB sync %s was asked for again: follow-up %s", current.id, follow_up.id)
        current = _run_one(backend, follow_up, progress)
    job.refresh_from_db()
    return job


def _run_one(backend, job: SyncJob, progress: Progress | None, *, work=None) -> SyncJob:
    try:
        if work is not None:
            return work(job)
        return backend.sync(job, progress=progress)
    except Exception as exc:
        logger.exception("KB sync %s failed", job.id)
        return job.fail(describe_error(exc))


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


def _refresh(job: SyncJob) -> SyncJob:
    """`job` as the backend it runs on reports it: the configured one, or the one it was
    started with if the configuration has moved on since."""
    return get_backend(job.backend).refresh(job)


def sync_job_status(job: SyncJob) -> SyncJob:
    """A sync job as it stands now. A Bedrock ingestion job is read from AWS first, and if it
    is over with a rerun asked for, its follow-up ingestion is started (a local sync's own
    thread runs its follow-ups)."""
    if job.backend != "bedrock":
        return job
    if job.status == SyncJob.Status.RUNNING:
        job = _refresh(job)
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


def kb_sync_s3_event(event: dict, *, progress: Progress | None = None) -> SyncJob | None:
    """Apply an S3 notification (put/delete of objects) to the KB: what the Lambda S3 trigger
    calls. Only the named objects are read; an object that no longer exists is a delete.
    Records for other buckets or prefixes are ignored. Returns the job, or None if nothing in
    the event concerns the configured source.

    It takes the same one-running-sync claim as `POST /kb/sync` and `manage.py kb_sync`: while
    another sync of the source runs, the event gets that job back, marked `rerun_requested`
    (its follow-up, a full sync, covers these objects), and nothing else is written. Once this
    event's sync is over, the follow-ups requested meanwhile run here, as after any sync.
    """
    from knowledge.sources.s3 import S3Location, parse_s3_event

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
    job, created = _claim(
        backend=backend.name, source=settings.KB_SOURCE, trigger=SyncJob.Trigger.S3_EVENT
    )
    if not created:
        logger.info("S3 event joins the running KB sync %s (a follow-up will run)", job.id)
        return job

    def apply_changes(job: SyncJob) -> SyncJob:
        return _sync_s3_changes(job, backend, location, changes, progress)

    return _run(backend, job, progress, first=apply_changes)


def _sync_s3_changes(job: SyncJob, backend, location, changes, progress) -> SyncJob:
    from helpdesk.aws import s3_client
    from knowledge.sources.s3 import head_document

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
        except SourceUnavailable as exc:
            return job.fail(f"{exc}; nothing was changed.")
        except DocumentError as exc:
            job.failed += 1
            job.errors.append({"key": key, "reason": str(exc)})
            continue
        if document is None:
            deleted.add(key)
        else:
            documents.append(document)
    return sync_documents(
        job,
        documents,
        complete=False,
        deleted_keys=deleted,
        embed=backend.embedder(),
        progress=progress,
    )
