"""The Lambda's entry point and its event tasks (`lambda_handler` and `events` in
zappa_settings.json).

Zappa's `LambdaHandler` does the routing: API Gateway requests go to Django, S3 records to the
function mapped to their bucket's ARN, a scheduled event to the function named in its rule, a
`manage` event to a management command. `lambda_handler` puts a guard in front of it: an event
this function was never meant to get (unknown source, malformed records) is logged and dropped,
and a task that fails on an asynchronous event (S3, the schedule) is logged, not raised. Lambda
retries a failed asynchronous invocation, and the same bad event would only fail again; the next
S3 event, the next scheduled drain or `manage.py kb_sync` catches up instead. Invocations an
operator waits for (`zappa manage`, `zappa invoke`) still raise, so the CLI shows the failure.

Importing this module imports Zappa's handler, which builds the `LambdaHandler` (settings,
environment, `django.setup()`) right away when the function's environment has
`INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT=true` (zappa_settings.json sets it): the work then happens
in Lambda's init phase, before the first event, instead of inside it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from django.db import close_old_connections
from zappa.handler import LambdaHandler

logger = logging.getLogger(__name__)

# Event kinds whose caller waits for the answer: a failure there is reported, not swallowed.
SYNCHRONOUS = {"http", "manage", "command"}


def lambda_handler(event: Any, context: Any) -> Any:
    """What Lambda calls for every invocation."""
    kind = event_kind(event)
    if kind is None:
        logger.warning("Ignoring an event this function does not handle: %s", describe(event))
        return None
    try:
        return LambdaHandler.lambda_handler(event, context)
    except Exception:
        if kind in SYNCHRONOUS:
            raise
        logger.exception("Dropping a %s event that failed: %s", kind, describe(event))
        return {"status": "failed"}


def event_kind(event: Any) -> str | None:
    """`http`, `s3`, `schedule`, `manage` or `command`: the events Zappa routes for us. None for
    anything else, including S3 records Zappa could not route (no `configurationId`, no bucket).
    """
    if not isinstance(event, dict):
        return None
    if event.get("version") == "2.0" or event.get("httpMethod"):
        return "http"
    if event.get("detail-type") == "Scheduled Event":
        resources = event.get("resources")
        ok = isinstance(resources, list) and resources and isinstance(resources[0], str)
        return "schedule" if ok else None
    if isinstance(event.get("manage"), str) and event["manage"].strip():
        return "manage"
    if isinstance(event.get("command"), str) or isinstance(event.get("raw_command"), str):
        return "command"
    records = event.get("Records")
    if isinstance(records, list) and records and all(_is_s3_record(r) for r in records):
        return "s3"
    return None


def _is_s3_record(record: Any) -> bool:
    if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
        return False
    s3 = record.get("s3")
    return (
        isinstance(s3, dict)
        and isinstance(s3.get("configurationId"), str)
        and isinstance(s3.get("bucket"), dict)
        and isinstance(s3["bucket"].get("arn"), str)
    )


def describe(event: Any) -> str:
    """Enough to recognise an event in the logs, never its payload (bodies, headers, keys)."""
    if not isinstance(event, dict):
        return f"a {type(event).__name__}, not an object"
    parts = [f"keys={sorted(map(str, event))[:12]}"]
    for key in ("source", "detail-type"):
        if isinstance(event.get(key), str):
            parts.append(f"{key}={event[key][:80]!r}")
    records = event.get("Records")
    if isinstance(records, list):
        sources = sorted({str(r.get("eventSource")) for r in records if isinstance(r, dict)})
        buckets = sorted(
            {
                str(r["s3"].get("bucket", {}).get("name"))
                for r in records
                if isinstance(r, dict) and isinstance(r.get("s3"), dict)
            }
        )
        parts.append(f"records={len(records)} sources={sources} buckets={buckets}")
    return " ".join(parts)


def _run_task(work: Callable[[], dict], failure: str, *args: Any) -> dict:
    """Run an event task on fresh database connections. A failure is logged and answered with
    `{"status": "failed"}`, never raised: the next event or scheduled run catches up."""
    close_old_connections()
    try:
        return work()
    except Exception as exc:
        logger.exception(failure, *args)
        return {"status": "failed", "error": exc.__class__.__name__}
    finally:
        close_old_connections()


def kb_s3_event(event: dict, context: Any = None) -> dict:
    """Zappa event on the KB bucket (ObjectCreated/ObjectRemoved): apply those objects to the
    KB (local backend) or start an ingestion job (Bedrock). Never raises."""
    from knowledge.services import kb_sync_s3_event

    def work() -> dict:
        job = kb_sync_s3_event(event)
        if job is None:
            return {"status": "ignored"}
        logger.info("KB sync %s for an S3 event: %s %s", job.id, job.status, job.message)
        return {"status": str(job.status), "sync_job": job.id, "message": job.message}

    return _run_task(work, "KB sync for an S3 event failed: %s", describe(event))


def inbound_email_s3_event(event: dict, context: Any = None) -> dict:
    """Zappa event on the mail bucket: SES's "store in S3" receipt action wrote a raw message
    under INBOUND_S3_PREFIX; thread it like POST /inbound/email. Never raises: a message that
    failed stays in the bucket (README "E-mail in")."""
    from tickets.inbound import email_receive_s3_event

    def work() -> dict:
        result = email_receive_s3_event(event)
        logger.info("Inbound e-mail from S3: %s", result)
        return result

    return _run_task(work, "Inbound e-mail from S3 failed: %s", describe(event))


def drain_outbox(event: dict | None = None, context: Any = None) -> dict:
    """Zappa schedule: deliver the interactions waiting in the outbox. Never raises: the next
    scheduled run tries again."""
    from customers.outbox import outbox_drain

    def work() -> dict:
        result = asdict(outbox_drain())
        logger.info("Outbox drain: %s", result)
        return {"status": "ok", **result}

    return _run_task(work, "Outbox drain failed; the next scheduled run retries")


def kb_sync_poll(event: dict | None = None, context: Any = None) -> dict:
    """Zappa schedule: read running Bedrock ingestion jobs and start the follow-up ingestion of
    any that finished while an S3 event (or a sync request) was waiting on it. Never raises:
    the next scheduled run tries again."""
    from knowledge.services import kb_sync_poll as poll

    def work() -> dict:
        jobs = poll()
        result = {
            "status": "ok",
            "jobs": [{"id": job.id, "status": str(job.status)} for job in jobs],
            "follow_ups": sorted({job.follow_up_id for job in jobs if job.follow_up_id}),
        }
        logger.info("KB sync poll: %s", result)
        return result

    return _run_task(work, "KB sync poll failed; the next scheduled run retries")


def prune_idempotency(event: dict | None = None, context: Any = None) -> dict:
    """Zappa schedule: forget Idempotency-Keys older than IDEMPOTENCY_TTL_HOURS. Never raises."""
    from tickets.services import idempotency_records_prune

    def work() -> dict:
        result = {"status": "ok", "deleted": idempotency_records_prune()}
        logger.info("Idempotency keys pruned: %s", result)
        return result

    return _run_task(work, "Pruning idempotency keys failed; the next scheduled run retries")


# Of the scheduled minute, what the incident replies may take (the function's timeout is 30 s;
# the e-mail outbox is sent after them).
INCIDENT_REPLIES_SECONDS = 15.0


def send_email_outbox(event: dict | None = None, context: Any = None) -> dict:
    """Zappa schedule: post the problem replies waiting for their incidents (an outage larger
    than INCIDENT_REPLIES_INLINE), then send the agent replies waiting in the e-mail outbox (a
    mail outage delays them; this sends them once it is over). Never raises: the next run
    tries again."""
    from tickets.mail import email_outbox_drain
    from tickets.services import incident_replies_drain

    def work() -> dict:
        incidents = incident_replies_drain(seconds=INCIDENT_REPLIES_SECONDS)
        posted = {
            "incident_replies": len(incidents.sent),
            "incident_replies_refused": len(incidents.failed),
            "incident_replies_to_retry": len(incidents.retry),
        }
        result = {**posted, **asdict(email_outbox_drain())}
        logger.info("Incident replies and e-mail outbox: %s", result)
        return {"status": "ok", **result}

    return _run_task(work, "Sending the e-mail outbox failed; the next scheduled run retries")


def retrain_triage(event: dict | None = None, context: Any = None) -> dict:
    """Zappa schedule: retrain the triage model from the tickets' current labels (agent
    corrections included), as `manage.py triage_train` does. Never raises: too few labels is
    `{"status": "skipped"}` with the reason, and the current model stays. Where triage cannot
    train (a package without numpy, as the Bedrock Lambda is built today) it is skipped and
    says so: there it serves a model trained with `manage.py triage_train` against its
    database (on Titan's vectors: triage.embedded; else its word view: triage.lexical)."""

    def work() -> dict:
        try:
            import numpy  # noqa: F401

            from triage.classifier import TrainingError
            from triage.services import triage_model_train_from_tickets
        except ImportError as exc:
            reason = (
                f"cannot train here: no {exc.name}; run `manage.py triage_train` against this "
                "database from a machine with requirements.txt (this function serves the "
                "model it trains)"
            )
            result = {"status": "skipped", "reason": reason}
            logger.warning("Triage retrain: %s", result)
            return result
        try:
            row = triage_model_train_from_tickets()
        except TrainingError as exc:
            result = {"status": "skipped", "reason": str(exc)}
            logger.warning("Triage retrain: %s", result)
            return result
        result = {"status": "ok", "generation": row.generation, "examples": row.n_examples}
        logger.info("Triage retrain: %s", result)
        return result

    return _run_task(work, "Triage retrain failed; the current model stays")
