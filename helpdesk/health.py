"""GET /health: liveness plus each dependency's status and latency."""

import time

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.interactions import get_interaction_store
from customers.outbox import outbox_depth
from helpdesk.api.exceptions import DatabaseUnavailable
from helpdesk.api.utils import elapsed_ms
from helpdesk.deadline import DeadlineExceeded, start, wait
from helpdesk.redact import redact
from helpdesk.throttling import HealthThrottle
from knowledge.backends.base import get_backend

# Once a process has seen every migration applied, it stays so: new migrations arrive with new
# code, in a new process. Until then each check reads the migration table again.
_migrated = False


def _pending_migrations() -> int:
    global _migrated
    if _migrated:
        return 0
    executor = MigrationExecutor(connection)
    pending = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    _migrated = pending == 0
    return pending


def _database() -> dict:
    started = time.perf_counter()
    pending = None
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        pending = _pending_migrations()
        ok, detail = pending == 0, "ok" if pending == 0 else "migrations pending"
    except Exception as exc:  # any driver error means the database is down
        ok, detail = False, f"unreachable: {exc.__class__.__name__}"
    check = {
        "status": "ok" if ok else "down",
        "detail": detail,
        "vendor": connection.vendor,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    if pending:
        # The tables the other checks read may not exist yet: `manage.py migrate` first.
        check["pending_migrations"] = pending
    return check


def _start(check, *, remote: bool):
    """Start a remote dependency's check (DynamoDB, Bedrock) in a worker, so the checks run side
    by side; one that reads the database runs later, in this thread (`_component`)."""
    if not remote:
        return check
    answer_by = time.perf_counter() + settings.HEALTH_CHECK_TIMEOUT_SECONDS
    try:
        future = start(check, what="check")
    except DeadlineExceeded as exc:
        return exc
    return lambda: wait(future, seconds=answer_by - time.perf_counter(), what="check")


def _component(check, started: float) -> dict:
    """One dependency's check, as started by `_start`: a remote one counts as down when it has
    not answered within HEALTH_CHECK_TIMEOUT_SECONDS of the start of the checks."""
    seconds = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    try:
        if isinstance(check, Exception):
            raise check
        health = check()
    except DeadlineExceeded:
        return {
            "status": "down",
            "detail": f"no answer within {seconds:g} s",
            "latency_ms": elapsed_ms(started),
        }
    except Exception as exc:
        return {
            "status": "down",
            "detail": redact(f"{exc.__class__.__name__}: {exc}"),
            "latency_ms": elapsed_ms(started),
        }
    body = {
        "status": "ok" if health.ok else "degraded",
        "detail": redact(health.detail),
        "latency_ms": health.latency_ms,
    }
    body.update(getattr(health, "info", {}) or {})
    return body


def _with_outbox(check: dict) -> dict:
    """Interactions accepted but not yet in the store: a backlog means degraded."""
    depth = outbox_depth()
    check["outbox_depth"] = depth
    if depth and check["status"] == "ok":
        check["status"] = "degraded"
        check["detail"] = f"{depth} interaction(s) waiting in the outbox"
    return check


def _email() -> dict:
    """Agent replies waiting in the e-mail outbox (the mail service itself is not called: an
    SES or SMTP round trip per health check costs more than it tells). Rows that failed at
    least once mean the mail service is refusing: degraded."""
    from tickets.mail import email_outbox_depth

    started = time.perf_counter()
    counts = email_outbox_depth()
    failing = counts["failing"]
    return {
        "name": settings.EMAIL_BACKEND.rpartition(".backends.")[2] or settings.EMAIL_BACKEND,
        "status": "degraded" if failing else "ok",
        "detail": f"{failing} e-mail(s) failed and wait for a retry" if failing else "ok",
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        "outbox_depth": counts["depth"],
        "failing": failing,
    }


def _triage() -> dict:
    from triage.arrival import triage_health

    started = time.perf_counter()
    try:
        check = triage_health()
    except Exception as exc:
        check = {"status": "degraded", "detail": redact(f"{exc.__class__.__name__}: {exc}")}
    return {**check, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


STATUSES = ["ok", "degraded", "down"]


class HealthCheckOutput(serializers.Serializer):
    """One dependency. The optional fields appear for the components they belong to."""

    status = serializers.ChoiceField(choices=STATUSES)
    detail = serializers.CharField(allow_blank=True)
    latency_ms = serializers.FloatField(allow_null=True)
    name = serializers.CharField(required=False, help_text="Which store or backend is configured.")
    vendor = serializers.CharField(required=False, help_text="database: `postgresql`, `sqlite`.")
    outbox_depth = serializers.IntegerField(
        required=False, min_value=0, help_text="interaction_store, email: what waits to go out."
    )
    failing = serializers.IntegerField(
        required=False, min_value=0, help_text="email: replies that failed and wait for a retry."
    )
    pending_migrations = serializers.IntegerField(
        required=False, min_value=1, help_text="database: `manage.py migrate` first."
    )
    chunks = serializers.IntegerField(
        required=False, min_value=0, help_text="knowledge_base (local): passages indexed."
    )
    generation = serializers.IntegerField(
        required=False,
        help_text="knowledge_base (local): the index's KB generation; triage: the model's.",
    )
    query_precision = serializers.CharField(
        required=False, help_text="knowledge_base (local): `int8` or `fp32`."
    )
    method = serializers.ChoiceField(
        choices=["full", "lexical"],
        required=False,
        help_text="triage: `full` where the local KB backend embeds tickets, `lexical` (the "
        "model's word view alone) elsewhere.",
    )
    knowledge_base_id = serializers.CharField(required=False, allow_blank=True)
    search_type = serializers.CharField(required=False)
    knowledge_base_status = serializers.CharField(required=False)


class HealthChecksOutput(serializers.Serializer):
    database = HealthCheckOutput()
    interaction_store = HealthCheckOutput(
        required=False, help_text="Not checked while the database is down."
    )
    knowledge_base = HealthCheckOutput(
        required=False, help_text="Not checked while the database is down."
    )
    email = HealthCheckOutput(
        required=False, help_text="The e-mail outbox. Not checked while the database is down."
    )
    triage = HealthCheckOutput(
        required=False,
        help_text="The triage model: `degraded` when the stored model is unreadable, or, "
        "without the local encoder, was trained before its word view had a threshold of its "
        "own (triage is off; tickets are unaffected). Not checked while the database is down.",
    )


class HealthOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=STATUSES)
    checks = HealthChecksOutput()


class HealthApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    # Its own bucket per client address (THROTTLE_RATE_HEALTH): public, and it touches every
    # dependency.
    throttle_classes = [HealthThrottle]

    @extend_schema(
        responses={
            200: OpenApiResponse(HealthOutput, description="Up; `degraded` if a dependency is."),
            503: OpenApiResponse(HealthOutput, description="The database is down."),
        }
    )
    def get(self, request):
        database = _database()
        checks = {"database": database}
        if database["status"] == "ok":
            store = get_interaction_store()
            backend = get_backend()
            started = time.perf_counter()
            store_check = _start(store.check, remote=store.remote)
            backend_check = _start(backend.check, remote=backend.remote)
            checks["interaction_store"] = _with_outbox(
                {"name": store.name, **_component(store_check, started)}
            )
            checks["knowledge_base"] = {
                "name": backend.name,
                **_component(backend_check, started),
            }
            checks["email"] = _email()
            checks["triage"] = _triage()
        statuses = {check["status"] for check in checks.values()}
        overall = "ok" if statuses == {"ok"} else "degraded"
        if database["status"] != "ok":
            overall = "down"
        if overall == "down":
            return Response(
                {"status": overall, "checks": checks},
                status=503,
                headers={"Retry-After": str(DatabaseUnavailable.retry_after_seconds)},
            )
        return Response({"status": overall, "checks": checks})
