"""The OpenAPI schema is part of the contract: generated without a warning, every operation
typed and documenting its errors, and every real answer exactly the documented shape (the
output serializers are the declaration; the dict builders are checked against them here).
The fuzzing of every operation is tests/test_schemathesis.py."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from customers.interactions import InteractionRecord, Kind, get_interaction_store
from customers.models import Customer, Order
from tests.factories import CustomerFactory, OrderFactory, TicketFactory
from tests.openapi import assert_conforms, openapi_schema
from tickets.models import Feedback, Ticket

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


def operations():
    for path, item in openapi_schema()["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def ref_name(response: dict) -> str | None:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return schema.get("$ref", "").rpartition("/")[2] or None


# --- the schema itself ------------------------------------------------------------------------


def test_schema_validates_with_no_warning(tmp_path):
    out = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))

    assert out.read_text().startswith("openapi: 3.0.3")


def test_schema_is_served_at_schema(outsider):
    response = outsider.get("/schema", {"format": "json"})

    assert response.status_code == 200
    assert response.json()["paths"].keys() == openapi_schema()["paths"].keys()


def test_operation_ids_are_unique():
    ids = [op["operationId"] for _, _, op in operations()]

    assert len(ids) == len(set(ids)), sorted(ids)


def test_every_answer_is_a_named_shape_not_a_free_form_object():
    untyped = {
        (method, path, status)
        for method, path, op in operations()
        for status, response in op["responses"].items()
        if ref_name(response) is None
    }

    assert untyped == set()


def test_every_error_is_the_envelope_with_the_statuses_the_operation_can_give():
    problems = []
    for method, path, op in operations():
        responses = op["responses"]
        public = path in {"/health"}
        for status, response in responses.items():
            error = status >= "400" and not (public and status == "503")
            if error and ref_name(response) != "ErrorOutput":
                problems.append((method, path, status, "not the envelope"))
        expected = set() if public else {"401", "403", "429"}
        if "{" in path:
            expected.add("404")
        if "requestBody" in op:
            expected |= {"400", "413", "415"}
        if any(p["in"] == "query" for p in op.get("parameters", [])):
            expected.add("400")
        missing = expected - set(responses)
        if missing:
            problems.append((method, path, sorted(missing), "missing"))

    assert problems == []


def test_operations_that_conflict_or_depend_on_the_kb_document_it():
    statuses = {(m, p): set(op["responses"]) for m, p, op in operations()}

    for key in [("post", "/tickets"), ("patch", "/tickets/{id}"), ("post", "/customers")]:
        assert "409" in statuses[key], key
    for key in [("patch", "/customers/{id}"), ("post", "/orders")]:
        assert "409" in statuses[key], key
    for key in [("get", "/kb/search"), ("post", "/kb/sync"), ("get", "/kb/sync/{job_id}")]:
        assert "503" in statuses[key], key
    assert statuses[("get", "/health")] == {"200", "429", "503"}  # its own throttle bucket
    # The database may be down under any operation: 503 database_unavailable everywhere.
    assert all("503" in codes for codes in statuses.values())


def test_api_key_scheme_is_declared_and_required_by_every_private_operation():
    schema = openapi_schema()

    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Api-Key <key>`, the key `manage.py create_api_key` printed.",
    }
    for method, path, op in operations():
        schemes = {name for requirement in op["security"] for name in requirement}
        if path == "/health":
            assert op["security"] == [{}]
        else:
            assert schemes == {"ApiKeyAuth", "cookieAuth"}, (method, path)


def test_lists_document_their_filters_and_pagination():
    def params(path):
        return {
            p["name"]: p["schema"] for p in openapi_schema()["paths"][path]["get"]["parameters"]
        }

    assert params("/customers").keys() == {
        "email", "external_id", "tier", "search", "page", "page_size"
    }  # fmt: skip
    assert params("/orders").keys() == {
        "customer", "status", "number", "placed_after", "placed_before", "page", "page_size"
    }  # fmt: skip
    tickets = params("/tickets")
    assert tickets.keys() >= {"status", "priority", "customer", "created_after", "search"}
    assert tickets["status"]["type"] == "array"
    assert tickets["created_after"] == {"type": "string", "format": "date-time"}
    for path in ("/customers", "/orders", "/tickets"):
        answer = openapi_schema()["paths"][path]["get"]["responses"]["200"]
        assert ref_name(answer).startswith("Paginated"), path


# --- real answers are exactly the documented shapes -------------------------------------------


@pytest.fixture
def customer_with_history():
    customer = CustomerFactory(email="ana@example.com", name="Ana", external_id="crm-7")
    OrderFactory(customer=customer, number="BH-1", total=Decimal("129.00"))
    OrderFactory(customer=customer, number="BH-2", status=Order.Status.CANCELLED, currency="EUR")
    OrderFactory(customer=customer, number="BH-3", total=Decimal("10.50"), currency="EUR")
    get_interaction_store().append(
        InteractionRecord(customer_id=customer.id, kind=Kind.TICKET_CREATED, summary="earlier")
    )
    TicketFactory(customer=customer, subject="An open one")
    return customer


def post_ticket(api, **extra):
    payload = {
        "customer": {"email": "ana@example.com", "name": "Ana"},
        "subject": "Refund for damaged blender",
        "body": "My order arrived broken, how do I get my money back?\n\nThanks,\nAna",
        "order_number": "BH-1",
        "metadata": {"source": "web-form", "tags": ["refund"]},
        **extra,
    }
    return api.post("/tickets", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")


def test_ticket_creation_and_its_replay_are_the_documented_shape(api, customer_with_history):
    created = post_ticket(api)
    replayed = post_ticket(api)

    body = assert_conforms(created, "POST", "/tickets")
    assert created.status_code == 201
    assert body["suggestions"] and body["customer"]["recent_orders"]
    assert body["customer"]["lifetime"]["spent"] == [
        {"currency": "EUR", "total": "10.50"},
        {"currency": "USD", "total": "129.00"},
    ]
    assert len(body["customer"]["recent_interactions"]) == 2
    assert assert_conforms(replayed, "POST", "/tickets") == body
    assert Ticket.objects.filter(customer=customer_with_history).count() == 2


def test_context_is_the_documented_shape(api, customer_with_history):
    ticket_id = post_ticket(api).json()["ticket"]["id"]

    body = assert_conforms(api.get(f"/tickets/{ticket_id}/context"), "GET", "/tickets/{id}/context")

    assert body["suggestions"] and body["history"]
    assert body["customer"]["open_tickets"] and body["customer"]["profile"]["external_id"]


def test_ticket_reads_updates_and_feedback_are_the_documented_shape(api, customer_with_history):
    get_user_model().objects.create_user("agent", is_staff=True)
    created = post_ticket(api).json()
    ticket_id, suggestion = created["ticket"]["id"], created["suggestions"][0]

    listed = assert_conforms(api.get("/tickets", {"status": ["new"]}), "GET", "/tickets")
    read = assert_conforms(api.get(f"/tickets/{ticket_id}"), "GET", "/tickets/{id}")
    patched = assert_conforms(
        api.patch(f"/tickets/{ticket_id}", {"status": "open", "assignee": "agent"}, format="json"),
        "PATCH",
        "/tickets/{id}",
    )
    feedback = assert_conforms(
        api.post(
            f"/tickets/{ticket_id}/feedback",
            {"suggestion_id": suggestion["id"], "helpful": True, "resolved": True},
            format="json",
        ),
        "POST",
        "/tickets/{id}/feedback",
    )

    assert listed["count"] == 2 and read["order_id"] is not None
    assert (patched["assignee"], patched["first_response_at"] is not None) == ("agent", True)
    assert feedback["ticket_status"] == "resolved"
    assert Feedback.objects.get(pk=feedback["id"]).helpful is True


def test_conversation_answers_are_the_documented_shape(api, customer_with_history):
    ticket_id = post_ticket(api).json()["ticket"]["id"]
    path = f"/tickets/{ticket_id}/messages"

    reply = assert_conforms(
        api.post(path, {"kind": "reply", "body": "Sorry to hear that."}, format="json"),
        "POST",
        "/tickets/{id}/messages",
    )
    follow_up = assert_conforms(
        api.post(
            path,
            {"kind": "reply", "role": "customer", "body": "It still will not start."},
            format="json",
        ),
        "POST",
        "/tickets/{id}/messages",
    )
    listed = assert_conforms(api.get(path), "GET", "/tickets/{id}/messages")
    context = assert_conforms(
        api.get(f"/tickets/{ticket_id}/context"), "GET", "/tickets/{id}/context"
    )

    assert (
        reply["message"]["email_status"] == "queued" or reply["message"]["email_status"] == "sent"
    )
    assert follow_up["suggestions"] and follow_up["suggestions"][0]["round"] == 2
    assert [m["role"] for m in listed["results"]] == ["customer", "agent", "customer"]
    assert len(context["conversation"]) == 3
    assert all(s["superseded_at"] is None for s in context["suggestions"])


def test_customer_and_order_answers_are_the_documented_shape(api, customer_with_history):
    created = api.post(
        "/customers",
        {"email": "Bo@Example.com", "tier": "premium", "metadata": {"a": 1}},
        format="json",
    )
    customer_id = assert_conforms(created, "POST", "/customers")["id"]
    order = api.post(
        "/orders",
        {
            "customer_id": customer_id,
            "number": "BH-77",
            "total": "12.30",
            "placed_at": timezone.now().isoformat(),
            "line_items": [{"sku": "K-1", "name": "Kettle", "quantity": 2, "unit_price": "6.15"}],
        },
        format="json",
    )
    order_id = assert_conforms(order, "POST", "/orders")["id"]

    answers = [
        (api.get("/customers", {"email": "bo@example.com"}), "GET", "/customers"),
        (api.get(f"/customers/{customer_id}"), "GET", "/customers/{id}"),
        (
            api.patch(f"/customers/{customer_id}", {"name": "Bo"}, format="json"),
            "PATCH",
            "/customers/{id}",
        ),
        (api.get("/orders", {"customer": customer_id}), "GET", "/orders"),
        (api.get(f"/orders/{order_id}"), "GET", "/orders/{id}"),
        (
            api.patch(f"/orders/{order_id}", {"status": "shipped"}, format="json"),
            "PATCH",
            "/orders/{id}",
        ),
    ]

    for response, method, path in answers:
        assert response.status_code == 200, (method, path, response.content)
        assert_conforms(response, method, path)
    assert Customer.objects.get(pk=customer_id).name == "Bo"
    assert Order.objects.get(pk=order_id).status == "shipped"


def test_kb_answers_are_the_documented_shape(api, admin_api):
    search = api.get("/kb/search", {"q": "how do I clean the air fryer", "k": 3})
    started = admin_api.post("/kb/sync")
    job_id = assert_conforms(started, "POST", "/kb/sync")["id"]
    polled = admin_api.get(f"/kb/sync/{job_id}")

    results = assert_conforms(search, "GET", "/kb/search")["results"]
    job = assert_conforms(polled, "GET", "/kb/sync/{job_id}")
    assert len(results) == 3 and results[0]["heading_path"] is not None
    assert job["status"] == "succeeded" and job["counts"]["unchanged"] >= 25


def test_health_is_the_documented_shape(outsider):
    body = assert_conforms(outsider.get("/health"), "GET", "/health")

    checks = {"database", "interaction_store", "knowledge_base", "email", "triage"}
    assert body["checks"].keys() == checks


@pytest.mark.parametrize(
    ("client_name", "method", "path", "url", "payload", "status"),
    [
        ("api", "POST", "/tickets", "/tickets", {"subject": ""}, 400),
        ("outsider", "GET", "/tickets", "/tickets", None, 401),
        ("customer_user_client", "GET", "/tickets/{id}", "/tickets/1", None, 403),
        ("api", "POST", "/kb/sync", "/kb/sync", None, 403),
        ("api", "GET", "/orders/{id}", "/orders/999999", None, 404),
        ("api", "GET", "/customers", "/customers?page=99", None, 404),
    ],
)
def test_errors_are_the_documented_envelope(
    request, client_name, method, path, url, payload, status
):
    client = request.getfixturevalue(client_name)
    send = getattr(client, method.lower())
    response = send(url) if payload is None else send(url, payload, format="json")

    body = assert_conforms(response, method, path)
    assert response.status_code == status and body["error"]["code"]


def test_a_conflict_and_a_wrong_media_type_are_the_documented_envelope(api, customer_with_history):
    duplicate = api.post("/customers", {"email": "ana@example.com"}, format="json")
    as_text = api.generic("POST", "/orders", "number=1", content_type="text/plain")

    assert assert_conforms(duplicate, "POST", "/customers")["error"]["code"] == "conflict"
    assert assert_conforms(as_text, "POST", "/orders")["error"]["code"] == "unsupported_media_type"
    assert Customer.objects.filter(email="ana@example.com").count() == 1


# --- /docs ------------------------------------------------------------------------------------


def test_docs_load_swagger_ui_from_the_app_not_a_cdn(outsider, settings):
    settings.DEBUG = False  # what production serves: no runserver static handler
    page = outsider.get("/docs")
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)

    assert page.status_code == 200
    assert not re.search(r"https?://", html)
    assert {a.rsplit("/", 1)[1] for a in assets} >= {
        "swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"
    }  # fmt: skip
    for asset in assets:
        response = outsider.get(asset)
        assert response.status_code == 200, asset
        assert len(b"".join(response.streaming_content)) > 100, asset


def test_docs_assets_serve_only_swagger_ui_files(outsider):
    outside = outsider.get("/static/drf_spectacular_sidecar/swagger-ui-dist/..%2F..%2F__init__.py")

    assert outside.status_code == 404
