import pytest
from django.db import OperationalError

pytestmark = pytest.mark.django_db


def test_health_is_public_and_reports_each_dependency(outsider):
    response = outsider.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    checks = {"database", "interaction_store", "knowledge_base", "email", "triage"}
    assert set(body["checks"]) == checks
    assert body["checks"]["interaction_store"]["name"] == "database"
    kb = body["checks"]["knowledge_base"]
    assert kb["name"] == "local" and kb["status"] == "ok" and kb["chunks"] > 100
    assert kb["query_precision"] == "int8"
    assert all(check["latency_ms"] is not None for check in body["checks"].values())


def test_health_is_503_when_the_database_is_down(outsider, monkeypatch):
    from django.db import connection

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", down)

    response = outsider.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["checks"]["database"]["status"] == "down"
