"""API-wide errors: authentication, permissions, unknown URLs, methods, media types, body
limits, throttling and unhandled errors all answer `{"error": {...}}` JSON, never HTML."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from helpdesk.models import ApiKey
from tests.factories import TicketFactory
from tests.helpers import assert_error
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

API_READS = ["/tickets", "/customers", "/orders", "/kb/search?q=refund"]


def client_with(authorization: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=authorization)
    return client


# --- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", API_READS)
def test_missing_api_key_is_a_401_with_www_authenticate(outsider, path):
    response = outsider.get(path)

    assert_error(response, 401, code="not_authenticated")
    assert response["WWW-Authenticate"] == "Api-Key"


@pytest.mark.parametrize(
    "authorization",
    [
        "Api-Key not.a-real-key",
        "Api-Key garbage",
        "Api-Key ",
        "api-key wrong.key",
        "Api-Key clé.invalide",
    ],
)
def test_invalid_api_key_is_a_401_with_www_authenticate(db, authorization):
    response = client_with(authorization).get("/tickets")

    assert_error(response, 401, code="authentication_failed")
    assert response["WWW-Authenticate"] == "Api-Key"


def test_other_authorization_scheme_is_a_401(db):
    response = client_with("Bearer some-token").get("/tickets")

    assert_error(response, 401, code="not_authenticated")
    assert response["WWW-Authenticate"] == "Api-Key"


def test_secret_of_another_key_with_a_valid_prefix_is_a_401(api_key):
    prefix = api_key.raw.split(".")[0]

    response = client_with(f"Api-Key {prefix}.wrong-secret").get("/tickets")

    assert_error(response, 401, code="authentication_failed")


def test_expired_api_key_is_a_401(api, api_key):
    ApiKey.objects.filter(pk=api_key.pk).update(expiry_date=timezone.now() - timedelta(days=1))

    assert_error(api.get("/tickets"), 401, code="authentication_failed")


def test_valid_api_key_is_accepted(api):
    assert api.get("/tickets").status_code == 200


def test_401_stays_json_when_the_client_asks_for_html(outsider):
    response = outsider.get("/tickets", HTTP_ACCEPT="text/html")

    assert_error(response, 401)
    assert response["WWW-Authenticate"] == "Api-Key"


# --- permissions ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", API_READS)
def test_non_staff_session_is_a_403(customer_user_client, path):
    assert_error(customer_user_client.get(path), 403, code="permission_denied")


def test_inactive_staff_session_is_rejected(staff, agent):
    agent.is_active = False
    agent.save()

    response = staff.get("/tickets")

    assert response.status_code in {401, 403}
    assert_error(response, response.status_code)


def test_staff_session_is_accepted(staff):
    assert staff.get("/tickets").status_code == 200


# --- the browsable API (browsers send Accept: text/html) -----------------------------------------


def test_browsable_api_renders_ticket_endpoints_for_staff(staff):
    ticket = TicketFactory()

    for path in ["/tickets", f"/tickets/{ticket.id}", f"/tickets/{ticket.id}/context"]:
        response = staff.get(path, HTTP_ACCEPT="text/html")
        assert response.status_code == 200, (path, response.content[:200])
        assert response["Content-Type"].startswith("text/html")


def test_errors_stay_json_when_the_browser_asks_for_html(staff):
    ticket = TicketFactory()

    assert_error(staff.get("/tickets/999999", HTTP_ACCEPT="text/html"), 404, code="not_found")
    assert_error(
        staff.get(f"/tickets/{ticket.id}/feedback", HTTP_ACCEPT="text/html"),
        405,
        code="method_not_allowed",
    )
    assert_error(staff.get("/kb/search", HTTP_ACCEPT="text/html"), 400, code="validation_error")


# --- unknown URLs, methods, media types -------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/tickets/", "/tickets/abc", "/api/v1/tickets", "/"])
def test_unknown_url_is_a_json_404(api, path):
    assert_error(api.get(path), 404, code="not_found")


def test_unknown_url_is_a_json_404_for_anonymous_clients(outsider):
    assert_error(outsider.post("/nope", {"a": 1}, format="json"), 404, code="not_found")


def test_unknown_url_is_a_json_404_with_debug_on(api, settings):
    settings.DEBUG = True

    response = api.get("/definitely/not/here", HTTP_ACCEPT="text/html")

    assert_error(response, 404, code="not_found")
    assert b"<html" not in response.content.lower()


def test_html_pages_stay_html(outsider):
    response = outsider.get("/admin/login/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("delete", "/tickets", {"GET", "POST"}),
        ("put", "/tickets/{id}", {"GET", "PATCH"}),
        ("delete", "/tickets/{id}", {"GET", "PATCH"}),
        ("post", "/tickets/{id}/context", {"GET"}),
        ("get", "/tickets/{id}/feedback", {"POST"}),
        ("delete", "/customers", {"GET", "POST"}),
        ("put", "/kb/search", {"GET"}),
    ],
)
def test_unsupported_method_is_a_405_with_allow(api, method, path, allowed):
    ticket = TicketFactory()

    response = getattr(api, method)(path.format(id=ticket.id), {}, format="json")

    assert_error(response, 405, code="method_not_allowed")
    listed = {m.strip() for m in response["Allow"].split(",")}
    assert allowed <= listed
    assert method.upper() not in listed
    assert Ticket.objects.get().status == "new"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "text/csv"]
)
def test_unsupported_content_type_is_a_415(api, content_type):
    response = api.post("/tickets", data="subject=x", content_type=content_type)

    assert_error(response, 415, code="unsupported_media_type")
    assert not Ticket.objects.exists()


def test_invalid_content_length_is_a_400(api):
    response = api.post(
        "/tickets", data="{}", content_type="application/json", CONTENT_LENGTH="lots"
    )

    assert_error(response, 400, code="bad_request")


def test_request_over_the_limit_is_a_413_on_every_api_path(api, settings):
    settings.API_MAX_REQUEST_BYTES = 100

    for path in ["/customers", "/orders", "/nope"]:
        response = api.post(path, data="x" * 101, content_type="application/json")
        assert_error(response, 413, code="payload_too_large")


# --- unhandled errors -------------------------------------------------------------------------


def test_unhandled_error_is_a_json_500(api, monkeypatch):
    def boom(**kwargs):
        raise RuntimeError("database exploded")

    monkeypatch.setattr("tickets.selectors.ticket_get", boom)

    response = api.get("/tickets/1")

    error = assert_error(response, 500, code="server_error")
    assert "exploded" not in error["message"]


def test_unhandled_error_is_a_json_500_with_debug_on(api, monkeypatch, settings):
    settings.DEBUG = True

    def boom(**kwargs):
        raise RuntimeError("database exploded")

    monkeypatch.setattr("tickets.selectors.ticket_get", boom)

    response = api.get("/tickets/1", HTTP_ACCEPT="text/html")

    error = assert_error(response, 500, code="server_error")
    assert "exploded" not in error["message"]


# --- throttling -------------------------------------------------------------------------------


@pytest.fixture
def low_throttle_rates(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "2/min", "user": "2/min", "anon": "2/min"},
    }
    cache.clear()
    yield
    cache.clear()


def test_api_key_over_its_rate_is_a_json_429(api, admin_api, low_throttle_rates):
    statuses = [api.get("/tickets").status_code for _ in range(2)]
    response = api.get("/tickets")

    assert statuses == [200, 200]
    assert_error(response, 429, code="throttled")
    assert int(response["Retry-After"]) > 0
    assert admin_api.get("/tickets").status_code == 200  # another key has its own bucket


def test_throttled_post_writes_nothing(api, low_throttle_rates):
    api.get("/tickets")
    api.get("/tickets")

    response = api.post(
        "/tickets",
        {"customer": {"email": "a@example.com"}, "subject": "s", "body": "b"},
        format="json",
    )

    assert_error(response, 429, code="throttled")
    assert not Ticket.objects.exists()


def test_staff_user_over_the_rate_is_a_json_429(staff, low_throttle_rates):
    staff.get("/tickets")
    staff.get("/tickets")

    response = staff.get("/tickets", HTTP_ACCEPT="text/html")

    assert_error(response, 429, code="throttled")
    assert "Retry-After" in response


# --- public and documentation endpoints -------------------------------------------------------


def test_health_is_public(outsider):
    response = outsider.get("/health")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] in {"ok", "degraded"}
    assert body["checks"]["database"]["status"] == "ok"
    assert {"database", "interaction_store", "knowledge_base"} <= set(body["checks"])


def test_health_has_its_own_bucket_not_the_anonymous_one(outsider, low_throttle_rates):
    statuses = {outsider.get("/health").status_code for _ in range(5)}

    assert statuses == {200}


def test_schema_is_reachable_without_credentials(outsider):
    response = outsider.get("/schema")

    assert response.status_code == 200
    text = response.content.decode()
    assert "openapi:" in text
    for path in ["/tickets:", "/tickets/{id}/feedback:", "/kb/search:", "/customers:"]:
        assert path in text


def test_schema_lists_only_the_methods_each_endpoint_has(outsider):
    response = outsider.get("/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/tickets/{id}/feedback"]) == {"post"}
    assert set(paths["/tickets/{id}/context"]) == {"get"}


def test_docs_page_is_reachable(outsider):
    response = outsider.get("/docs")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"swagger" in response.content.lower()
