"""The Amazon Bedrock Knowledge Bases backend: `Retrieve` for passages, ingestion jobs for sync.

Bedrock owns the index; we own the request. Retrieval asks for more passages than it shows
(several per document are common) and collapses them to one per document. A sync starts an
ingestion job and returns at once: the job runs in AWS and `refresh` copies its status and
counts onto our `SyncJob` when someone polls it.

Clients are injected (tests pass `Stubber`-wrapped ones) and built by `helpdesk.aws` only when
none is given. Throttling, 5xx and connection errors are retried a few times with exponential
backoff; anything else (bad request, access denied, unknown knowledge base) fails at once.
Either way the caller gets `KnowledgeBackendUnavailable`, which `POST /tickets` turns into a
`degraded` answer.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import time
from collections.abc import Callable, Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlparse

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from django.conf import settings
from django.utils import timezone

from helpdesk.api.exceptions import KnowledgeBackendUnavailable
from helpdesk.api.utils import elapsed_ms
from helpdesk.aws import describe_error, error_code
from knowledge.backends.base import BackendHealth, Passage, snippet
from knowledge.models import KnowledgeState, SyncJob
from knowledge.query import TicketQuery, as_query

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agent import AgentsforBedrockClient
    from mypy_boto3_bedrock_agent_runtime import AgentsforBedrockRuntimeClient

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Patched in tests: the backoff must not make the suite sleep.
_sleep = time.sleep

SEARCH_TYPES = {"HYBRID", "SEMANTIC"}
# Passages asked for per passage shown: Bedrock returns several chunks of one document, and
# collapsing them must still leave k documents. Retrieve allows at most 100.
CANDIDATES_PER_RESULT = 3
MAX_RESULTS = 100
BACKOFF_BASE_S = 0.2
BACKOFF_MAX_S = 2.0

# Worth another try: the service is busy or briefly broken, not refusing the request.
RETRYABLE_CODES = {
    "ThrottlingException",
    "TooManyRequestsException",
    "ServiceUnavailableException",
    "InternalServerException",
    "BadGatewayException",
    "DependencyFailedException",
}
# Metadata Bedrock adds to every chunk; the rest are the document's own attributes.
CHUNK_ID_KEY = "x-amz-bedrock-kb-chunk-id"
SOURCE_URI_KEY = "x-amz-bedrock-kb-source-uri"
SYSTEM_KEY_PREFIX = "x-amz-bedrock-kb-"
TITLE_KEYS = ("title", "Title")

RUNNING_STATES = {"STARTING", "IN_PROGRESS", "STOPPING"}
FAILED_STATES = {"FAILED", "STOPPED"}
# Bedrock's ingestion statistics → our SyncJob counters.
STATISTICS = {
    "numberOfDocumentsScanned": "scanned",
    "numberOfNewDocumentsIndexed": "added",
    "numberOfModifiedDocumentsIndexed": "updated",
    "numberOfDocumentsDeleted": "deleted",
    "numberOfDocumentsFailed": "failed",
}


class BedrockBackend:
    name = "bedrock"
    # Retrieval and the health check are calls to AWS only: they run in a worker, cut at their
    # deadline (helpdesk.deadline).
    remote = True

    def __init__(
        self,
        runtime_client: AgentsforBedrockRuntimeClient | None = None,
        agent_client: AgentsforBedrockClient | None = None,
        *,
        kb_id: str | None = None,
        data_source_id: str | None = None,
        search_type: str | None = None,
        max_attempts: int | None = None,
        health_client: AgentsforBedrockClient | None = None,
        deadline_seconds: float | None = None,
    ) -> None:
        if runtime_client is None or agent_client is None:
            from helpdesk import aws

            runtime_client = runtime_client or aws.bedrock_agent_runtime_client()
            agent_client = agent_client or aws.bedrock_agent_client()
            # /health's GetKnowledgeBase: each try bounded by the health check's timeout.
            health_client = health_client or aws.bedrock_agent_client(
                timeout=settings.HEALTH_CHECK_TIMEOUT_SECONDS
            )
        self.runtime = runtime_client
        self.agent = agent_client
        self.health_agent = health_client or agent_client
        # Retrieve's retries stop when the next try could not finish within this.
        self.deadline_seconds = deadline_seconds or settings.KB_RETRIEVAL_DEADLINE_SECONDS
        self.kb_id = kb_id if kb_id is not None else settings.BEDROCK_KB_ID
        self.data_source_id = (
            data_source_id if data_source_id is not None else settings.BEDROCK_DATA_SOURCE_ID
        )
        self.search_type = (search_type or settings.BEDROCK_SEARCH_TYPE).upper()
        if self.search_type not in SEARCH_TYPES:
            raise ValueError(
                f"BEDROCK_SEARCH_TYPE is {self.search_type!r}; expected one of "
                f"{sorted(SEARCH_TYPES)}."
            )
        self.max_attempts = max(1, max_attempts or settings.BEDROCK_MAX_ATTEMPTS)

    # --- retrieval ----------------------------------------------------------------------------

    def retrieve(
        self, query: TicketQuery | str, *, k: int = 5, filters: dict[str, Any] | None = None
    ) -> list[Passage]:
        # Retrieve takes one text: the ticket's focus (subject + latest customer message,
        # cleaned; well under the API's 20,000 characters, see knowledge.query).
        query = as_query(query).text()
        if not query.strip():
            return []
        self._require("BEDROCK_KB_ID", self.kb_id)
        search: dict[str, Any] = {
            "numberOfResults": min(MAX_RESULTS, max(k, k * CANDIDATES_PER_RESULT)),
            "overrideSearchType": self.search_type,
        }
        if filters:
            # `validate_filter` already produced Bedrock's RetrievalFilter shape.
            search["filter"] = filters
        response = self._call(
            "Retrieve",
            lambda: self.runtime.retrieve(
                knowledgeBaseId=self.kb_id,
                retrievalQuery={"text": query},
                retrievalConfiguration={"vectorSearchConfiguration": search},
            ),
            budget=self.deadline_seconds,
        )
        return collapse(response.get("retrievalResults", []), k=k)

    def retrieval(
        self, query: TicketQuery | str, *, k: int = 5, filters: dict[str, Any] | None = None
    ) -> Callable[[], list[Passage]]:
        """Retrieve uses no database: the whole call can run in a worker thread."""
        return lambda: self.retrieve(query, k=k, filters=filters)

    # --- sync ---------------------------------------------------------------------------------

    def sync(
        self, job: SyncJob, *, progress: Callable[[SyncJob, str], None] | None = None
    ) -> SyncJob:
        """Start an ingestion job for the data source and return with `job` still running.

        There is no per-document progress to report here: Bedrock does the work; `refresh`
        reads its counts.
        """
        try:
            self._require("BEDROCK_KB_ID", self.kb_id)
            self._require("BEDROCK_DATA_SOURCE_ID", self.data_source_id)
            ids = {"knowledgeBaseId": self.kb_id, "dataSourceId": self.data_source_id}
            try:
                response = self._call(
                    "StartIngestionJob",
                    lambda: self.agent.start_ingestion_job(
                        **ids,
                        clientToken=client_token(job, self.kb_id, self.data_source_id),
                        description=f"helpdesk sync {job.id} ({job.trigger})",
                    ),
                    passthrough={"ConflictException"},
                )
            except ClientError:  # ConflictException: one is already running in this data source
                return self._join_running(job, ids)
        except KnowledgeBackendUnavailable as exc:
            return job.fail(str(exc))
        ingestion = response["ingestionJob"]
        apply_ingestion(job, ingestion)
        if job.status == SyncJob.Status.RUNNING:
            job.message = f"Bedrock ingestion job {ingestion['ingestionJobId']} started."
        job.save()
        return job

    def _join_running(self, job: SyncJob, ids: dict[str, str]) -> SyncJob:
        response = self._call(
            "ListIngestionJobs",
            lambda: self.agent.list_ingestion_jobs(
                **ids,
                filters=[
                    {"attribute": "STATUS", "operator": "EQ", "values": ["STARTING", "IN_PROGRESS"]}
                ],
                sortBy={"attribute": "STARTED_AT", "order": "DESCENDING"},
                maxResults=1,
            ),
        )
        summaries = response.get("ingestionJobSummaries", [])
        if not summaries:
            # It finished between our two calls, or it is stopping: nothing to join.
            return job.fail(
                "Bedrock reports an ingestion job already running for this data source, but none "
                "is starting or in progress now; try again shortly.",
            )
        running = summaries[0]
        apply_ingestion(job, running)
        job.message = (
            f"Joined the running Bedrock ingestion job {running['ingestionJobId']} "
            "(one was already in progress for this data source)."
        )
        job.save()
        return job

    def refresh(self, job: SyncJob) -> SyncJob:
        """Bring a running sync job up to date from its ingestion job; on an AWS error, answer
        with what we have."""
        try:
            return self._read_ingestion(job)
        except KnowledgeBackendUnavailable as exc:
            logger.warning("Could not refresh sync job %s: %s", job.id, exc)
            return job

    def _read_ingestion(self, job: SyncJob) -> SyncJob:
        """Copy the ingestion job's status and counts from Bedrock onto `job`, and save it."""
        if not job.external_id:
            return job
        response = self._call(
            "GetIngestionJob",
            lambda: self.agent.get_ingestion_job(
                knowledgeBaseId=self.kb_id,
                dataSourceId=self.data_source_id,
                ingestionJobId=job.external_id,
            ),
        )
        was_running = job.status == SyncJob.Status.RUNNING
        apply_ingestion(job, response["ingestionJob"])
        job.save()
        if was_running and job.status == SyncJob.Status.SUCCEEDED:
            # The index changed in AWS: anything cached by KB generation must be rebuilt.
            KnowledgeState.bump()
        return job

    # --- health -------------------------------------------------------------------------------

    def check(self) -> BackendHealth:
        started = time.perf_counter()
        info = {"knowledge_base_id": self.kb_id, "search_type": self.search_type}
        if not self.kb_id:
            return BackendHealth(False, "BEDROCK_KB_ID is not set", elapsed_ms(started), info)
        try:
            response = self.health_agent.get_knowledge_base(knowledgeBaseId=self.kb_id)
        except (ClientError, BotoCoreError) as exc:
            return BackendHealth(False, describe_error(exc), elapsed_ms(started), info)
        status = response["knowledgeBase"]["status"]
        # Not "status": /health merges `info` into the component's own fields.
        info["knowledge_base_status"] = status
        # UPDATING still serves queries; anything else (CREATING, FAILED, ...) does not.
        ok = status in {"ACTIVE", "UPDATING"}
        return BackendHealth(
            ok, "ok" if ok else f"knowledge base is {status}", elapsed_ms(started), info
        )

    # --- plumbing -----------------------------------------------------------------------------

    @staticmethod
    def _require(setting: str, value: str) -> None:
        if not value:
            raise KnowledgeBackendUnavailable(f"{setting} is not set.")

    def _call(
        self,
        operation: str,
        call: Callable[[], T],
        *,
        passthrough: Collection[str] = (),
        budget: float | None = None,
    ) -> T:
        """Run `call`, retrying what is transient; raise KnowledgeBackendUnavailable otherwise.

        A `ClientError` whose code is in `passthrough` is re-raised for the caller to handle.
        With a `budget` (seconds, for all tries together), no try starts after the backoff
        before it would have used the budget up: a timed-out try is not repeated.
        """
        give_up_at = time.monotonic() + budget if budget else None
        for attempt in range(1, self.max_attempts + 1):
            try:
                return call()
            except ClientError as exc:
                code = error_code(exc)
                if code in passthrough:
                    raise
                if not _retryable(exc) or attempt == self.max_attempts:
                    raise self._unavailable(operation, exc, attempt) from exc
                failure = exc
            except (BotoConnectionError, HTTPClientError) as exc:
                if attempt == self.max_attempts:
                    raise self._unavailable(operation, exc, attempt) from exc
                failure = exc
            except BotoCoreError as exc:  # bad parameters, no credentials: retrying won't help
                raise self._unavailable(operation, exc, attempt) from exc
            delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
            if give_up_at is not None and time.monotonic() + delay >= give_up_at:
                raise self._unavailable(operation, failure, attempt) from failure
            logger.info(
                "Bedrock %s attempt %d failed; retrying in %.2fs", operation, attempt, delay
            )
            _sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    @staticmethod
    def _unavailable(operation: str, exc: Exception, attempts: int) -> KnowledgeBackendUnavailable:
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        detail = describe_error(exc)
        return KnowledgeBackendUnavailable(f"Bedrock {operation} failed{tried}: {detail}")


# --- mapping ----------------------------------------------------------------------------------


def collapse(results: list[dict[str, Any]], *, k: int) -> list[Passage]:
    """Map Retrieve results to passages, best first, keeping the best one per document."""
    ranked = sorted(enumerate(results), key=lambda item: -(item[1].get("score") or 0.0))
    passages: list[Passage] = []
    seen: set[str] = set()
    for position, result in ranked:
        metadata = result.get("metadata") or {}
        source = _source(result)
        document = source or result.get("documentId") or f"result-{position}"
        if document in seen:
            continue
        seen.add(document)
        passages.append(
            Passage(
                title=_title(metadata, source),
                snippet=snippet((result.get("content") or {}).get("text") or ""),
                score=round(float(result.get("score") or 0.0), 4),
                source=_public_url(metadata) or source,
                passage_ref=str(metadata.get(CHUNK_ID_KEY) or f"{document}#{position}")[:512],
                metadata={
                    key: value
                    for key, value in metadata.items()
                    if not key.startswith(SYSTEM_KEY_PREFIX)
                },
            )
        )
        if len(passages) == k:
            break
    return passages


def _source(result: dict[str, Any]) -> str:
    location = result.get("location") or {}
    for kind, value in location.items():
        if kind == "type" or not isinstance(value, dict):
            continue
        for field in ("uri", "url", "id"):
            if value.get(field):
                return str(value[field])
    return str((result.get("metadata") or {}).get(SOURCE_URI_KEY) or "")


def _public_url(metadata: dict[str, Any]) -> str:
    """The document's `url` metadata attribute (from its sidecar), when it is an http(s) URL:
    a link an agent can send, where the S3 location is not."""
    url = metadata.get("url")
    if isinstance(url, str) and urlparse(url.strip()).scheme in ("http", "https"):
        return url.strip()
    return ""


def _title(metadata: dict[str, Any], source: str) -> str:
    for key in TITLE_KEYS:
        if isinstance(metadata.get(key), str) and metadata[key].strip():
            return metadata[key].strip()
    name = posixpath.basename(unquote(urlparse(source).path).rstrip("/"))
    return name or source or "Untitled"


def apply_ingestion(job: SyncJob, ingestion: dict[str, Any]) -> SyncJob:
    """Copy an ingestion job (or its summary) onto `job`; the caller saves."""
    job.external_id = ingestion["ingestionJobId"]
    statistics = ingestion.get("statistics") or {}
    for theirs, ours in STATISTICS.items():
        if theirs in statistics:
            setattr(job, ours, int(statistics[theirs]))
    status = ingestion["status"]
    now = timezone.now()
    if status in RUNNING_STATES:
        job.status = SyncJob.Status.RUNNING
        # Polling is our only sign of life for a job running in AWS: keep it from looking stale.
        job.heartbeat_at = now
    elif status == "COMPLETE":
        job.status = SyncJob.Status.SUCCEEDED
        job.message = (
            f"Bedrock ingestion job {job.external_id} complete: {job.scanned} scanned, "
            f"{job.added} added, {job.updated} updated, {job.deleted} deleted, "
            f"{job.failed} failed."
        )
    elif status in FAILED_STATES:
        job.status = SyncJob.Status.FAILED
        reasons = "; ".join(ingestion.get("failureReasons") or []) or "no reason given"
        job.message = f"Bedrock ingestion job {job.external_id} {status.lower()}: {reasons}"
        job.errors = [
            {"key": job.external_id, "reason": reason}
            for reason in ingestion.get("failureReasons") or []
        ]
    if job.status != SyncJob.Status.RUNNING and not job.finished_at:
        updated = ingestion.get("updatedAt")
        job.finished_at = updated if isinstance(updated, datetime) else now
    return job


def client_token(job: SyncJob, kb_id: str, data_source_id: str) -> str:
    """StartIngestionJob's idempotency token: the same for a retry of one job, new per job.

    Bedrock wants 33–256 characters of letters, digits and inner dashes. The hash includes the
    job's creation time so a fresh database that reuses id 1 does not replay an old ingestion.
    """
    created = job.created_at.isoformat() if job.created_at else ""
    digest = hashlib.sha256(f"{kb_id}:{data_source_id}:{job.id}:{created}".encode()).hexdigest()
    return f"helpdesk-sync-{job.id}-{digest[:32]}"


def _retryable(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return error_code(exc) in RETRYABLE_CODES or status == 429 or status >= 500
