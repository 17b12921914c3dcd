"""GET /health: liveness plus each dependency's status and latency."""

import time

from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.interactions import get_interaction_store
from customers.outbox import outbox_depth
from knowledge.backends.base import get_backend


def _database() -> dict:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        ok, detail = True, "ok"
    except Exception as exc:  # any driver error means the database is down
        ok, detail = False, f"unreachable: {exc.__class__.__name__}"
    return {
        "status": "ok" if ok else "down",
        "detail": detail,
        "vendor": connection.vendor,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }


def _component(check) -> dict:
    try:
        health = check()
    except Exception as exc:
        return {"status": "down", "detail": f"{exc.__class__.__name__}: {exc}", "latency_ms": None}
    body = {
        "status": "ok" if health.ok else "degraded",
        "detail": health.detail,
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


STATUSES = ["ok", "degraded", "down"]


class HealthCheckOutput(serializers.Serializer):
    """One dependency. The optional fields appear for the components they belong to."""

    status = serializers.ChoiceField(choices=STATUSES)
    detail = serializers.CharField(allow_blank=True)
    latency_ms = serializers.FloatField(allow_null=True)
    name = serializers.CharField(required=False, help_text="Which store or backend is configured.")
    vendor = serializers.CharField(required=False, help_text="database: `postgresql`, `sqlite`.")
    outbox_depth = serializers.IntegerField(
        required=False, min_value=0, help_text="interaction_store: interactions waiting."
    )
    chunks = serializers.IntegerField(
        required=False, min_value=0, help_text="knowledge_base (local): passages indexed."
    )
    generation = serializers.IntegerField(
        required=False, help_text="knowledge_base (local): the index's KB generation."
    )
    query_precision = serializers.CharField(
        required=False, help_text="knowledge_base (local): `int8` or `fp32`."
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


class HealthOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=STATUSES)
    checks = HealthChecksOutput()


class HealthApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

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
            checks["interaction_store"] = _with_outbox(
                {"name": store.name, **_component(store.check)}
            )
            checks["knowledge_base"] = {"name": backend.name, **_component(backend.check)}
        statuses = {check["status"] for check in checks.values()}
        overall = "ok" if statuses == {"ok"} else "degraded"
        if database["status"] != "ok":
            overall = "down"
        return Response(
            {"status": overall, "checks": checks}, status=503 if overall == "down" else 200
        )
