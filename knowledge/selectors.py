"""Reads of the knowledge base for requests: retrieval within one total deadline."""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from helpdesk.api.exceptions import KnowledgeBackendUnavailable
from helpdesk.deadline import DeadlineExceeded, start, wait
from knowledge.backends.base import Passage, get_backend
from knowledge.models import KnowledgeState, SyncJob

if TYPE_CHECKING:
    from knowledge.query import TicketQuery


def kb_retrieve(
    query: TicketQuery | str, *, k: int, filters: dict[str, Any] | None = None
) -> list[Passage]:
    """The configured backend's passages for `query`, or `KnowledgeBackendUnavailable` once
    KB_RETRIEVAL_DEADLINE_SECONDS have passed (POST /tickets degrades, /kb/search is a 503).

    What needs the database (the local index's revision) is read here, in the request thread;
    the search (a Bedrock call, the local encoder and index) runs in a worker and is given up on
    at the deadline. Bedrock's socket timeouts and retries are sized from the same deadline, so
    the abandoned call ends soon after too.
    """
    return kb_retrieval_start(query, k=k, filters=filters).result()


@dataclass
class PendingRetrieval:
    """A search started in a worker (`kb_retrieval_start`); `result()` waits for its passages
    within what is left of the deadline, which runs from the start."""

    future: Future
    started: float
    seconds: float
    backend: str
    remote: bool  # a network call (Bedrock): never awaited inside a database transaction

    def result(self) -> list[Passage]:
        remaining = self.seconds - (time.monotonic() - self.started)
        try:
            return wait(self.future, seconds=remaining, what="KB retrieval")
        except DeadlineExceeded as exc:
            raise _unavailable(self.backend, self.seconds) from exc


def kb_retrieval_start(
    query: TicketQuery | str, *, k: int, filters: dict[str, Any] | None = None
) -> PendingRetrieval:
    """`kb_retrieve` in two steps, so the caller can do other work (its own database reads)
    while the search runs: the database part now, the search started in a worker."""
    backend = get_backend()
    search = backend.retrieval(query, k=k, filters=filters)
    seconds = settings.KB_RETRIEVAL_DEADLINE_SECONDS
    started = time.monotonic()
    try:
        future = start(search, what="KB retrieval")
    except DeadlineExceeded as exc:
        raise _unavailable(backend.name, seconds) from exc
    return PendingRetrieval(future, started, seconds, backend.name, backend.remote)


def _unavailable(backend: str, seconds: float) -> KnowledgeBackendUnavailable:
    return KnowledgeBackendUnavailable(
        f"The knowledge base ({backend}) did not answer within {seconds:g} s."
    )


# How long a process trusts the KB revision it read when its backend keeps no index in memory
# (Bedrock): a sync elsewhere is seen within this.
REVISION_RECHECK_SECONDS = 30.0
_revision_read: tuple[float, str] | None = None  # (monotonic time, revision)


def kb_revision() -> str:
    """The KB's revision (KnowledgeState; a fresh token per sync that changed the index) as
    this process knows it, for whatever is cached per KB generation, without a query per
    request: the local backend's in-memory index's (every retrieval re-reads it, and rebuilds
    the index when a sync changed it); for a backend with no index here (Bedrock, whose
    ingestion bumps KnowledgeState when it succeeds), KnowledgeState read at most once per
    REVISION_RECHECK_SECONDS."""
    global _revision_read
    known = getattr(get_backend(), "known_revision", None)
    revision = known() if known is not None else None
    if revision is not None:
        return revision
    now = time.monotonic()
    read = _revision_read
    if read is None or now - read[0] >= REVISION_RECHECK_SECONDS:
        read = _revision_read = (now, KnowledgeState.current()[1])
    return read[1]


def sync_job_running() -> SyncJob | None:
    """The sync of the configured source that is in progress now (its heartbeat recent), if
    any. A running job whose process died is not "in progress": the next start replaces it
    (knowledge.services._claim)."""
    from knowledge.services import STALE_AFTER

    return (
        SyncJob.objects.filter(
            backend=get_backend().name,
            source=settings.KB_SOURCE,
            status=SyncJob.Status.RUNNING,
            heartbeat_at__gt=timezone.now() - STALE_AFTER,
        )
        .order_by("-id")
        .first()
    )


def sync_job_last_finished() -> SyncJob | None:
    """The latest sync that ended (succeeded or failed), any source."""
    return (
        SyncJob.objects.filter(
            status__in=[SyncJob.Status.SUCCEEDED, SyncJob.Status.FAILED],
            finished_at__isnull=False,
        )
        .order_by("-finished_at", "-id")
        .first()
    )
