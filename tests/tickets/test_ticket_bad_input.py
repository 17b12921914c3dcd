"""POST /tickets: the "bad input" contract (issue 2) and the ingest happy path.

Every rejection is a JSON `{"error": {"code", "message", "fields"}}` with the right status, and
leaves nothing behind: no ticket, suggestion, interaction, idempotency record or new customer.
"""

import json
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from customers.models import Customer, Interaction
from helpdesk.models import ApiKey
from tests.factories import CustomerFactory, OrderFactory
from tests.helpers import assert_error
from tickets.models import IdempotencyRecord, Suggestion, Ticket

pytestmark = pytest.mark.django_db

CUSTOMER_360_KEYS = {"profile", "recent_orders", "recent_interactions", "open_tickets", "lifetime"}


def ticket_payload(**overrides):
    payload = {
        "customer": {"email": "Ada.Lovelace@Example.COM", "name": "Ada Lovelace"},
        "subject": "Refund for damaged blender",
        "body": "My order arrived broken, how do I get my money back?",
    }
    payload.update(overrides)
    return payload


def assert_nothing_written(*, customers_before=0):
    assert not Ticket.objects.exists()
    assert not Suggestion.objects.exists()
    assert not Interaction.objects.exists()
    assert not IdempotencyRecord.objects.exists()
    assert Customer.objects.count() == customers_before


def post_raw(client, text, **extra):
    return client.post("/tickets", data=text, content_type="application/json", **extra)


# --- the happy path ---------------------------------------------------------------------------


def test_create_upserts_customer_by_lowercased_email_and_answers_with_context(api):
    response = api.post("/tickets", ticket_payload(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= {"ticket", "customer", "suggestions", "degraded"}
    assert body["degraded"] == []

    customer = Customer.objects.get()
    assert customer.email == "ada.lovelace@example.com"
    assert customer.name == "Ada Lovelace"

    ticket = Ticket.objects.get()
    assert body["ticket"]["id"] == ticket.id
    assert body["ticket"]["number"] == f"HD-{ticket.id:06d}"
    assert body["ticket"]["customer_id"] == customer.id
    assert body["ticket"]["status"] == "new"
    assert body["ticket"]["channel"] == "api"
    assert body["ticket"]["priority"] == "normal"

    assert set(body["customer"]) == CUSTOMER_360_KEYS
    assert body["customer"]["profile"]["email"] == "ada.lovelace@example.com"
    assert body["customer"]["open_tickets"][0]["id"] == ticket.id
    assert body["customer"]["lifetime"]["tickets"] == 1
    assert body["customer"]["lifetime"]["open_tickets"] == 1
    assert body["customer"]["recent_orders"] == []
    [interaction] = body["customer"]["recent_interactions"]
    assert interaction["kind"] == "ticket_created"
    assert interaction["ticket_id"] == ticket.id


def test_create_ranks_refund_or_damaged_item_article_first_for_the_readme_example(api):
    response = api.post("/tickets", ticket_payload(), format="json")

    assert response.status_code == 201, response.content
    suggestions = response.json()["suggestions"]
    assert suggestions
    assert suggestions[0]["title"] in {
        "Refunds: How and When You Get Your Money Back",
        "Damaged or Broken Item on Arrival",
    }
    assert [s["rank"] for s in suggestions] == list(range(1, len(suggestions) + 1))
    for suggestion in suggestions:
        assert set(suggestion) >= {"id", "rank", "score", "title", "snippet", "source"}
    stored = list(Suggestion.objects.order_by("rank").values_list("id", "title"))
    assert stored == [(s["id"], s["title"]) for s in suggestions]


def test_create_reuses_existing_customer_matched_case_insensitively(api):
    existing = CustomerFactory(email="ada.lovelace@example.com", name="")

    response = api.post("/tickets", ticket_payload(), format="json")

    assert response.status_code == 201, response.content
    assert Customer.objects.get() == existing
    existing.refresh_from_db()
    assert existing.name == "Ada Lovelace"  # a missing name is filled in
    assert response.json()["ticket"]["customer_id"] == existing.id


def test_create_with_customer_id_and_order_number_links_both(api):
    order = OrderFactory()

    response = api.post(
        "/tickets",
        {
            "customer_id": order.customer_id,
            "order_number": order.number,
            "subject": "Where is my blender?",
            "body": "Tracking has not moved for days.",
            "channel": "email",
            "priority": "high",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    ticket = Ticket.objects.get()
    assert (ticket.customer_id, ticket.order_id) == (order.customer_id, order.id)
    assert (ticket.channel, ticket.priority) == ("email", "high")
    assert response.json()["customer"]["recent_orders"][0]["number"] == order.number


def test_staff_session_can_create_a_ticket(staff):
    response = staff.post("/tickets", ticket_payload(), format="json")

    assert response.status_code == 201, response.content
    assert Ticket.objects.count() == 1


@pytest.mark.parametrize(
    "text",
    [
        "Blender 😀🔥 broken 👍🏽",
        "המוצר הגיע שבור",  # Hebrew, right-to-left
        "الخلاط لا يعمل",  # Arabic, right-to-left
        "Cafe\u0301 mode\u0300le n\u0303o",  # combining marks (not normalised away)
        "\u202eRTL override and \u200d zero-width joiner",
    ],
)
def test_unicode_subject_and_body_are_stored_and_returned_intact(api, text):
    response = api.post("/tickets", ticket_payload(subject=text, body=text), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["ticket"]["subject"] == text
    assert response.json()["ticket"]["body"] == text
    ticket = Ticket.objects.get()
    assert (ticket.subject, ticket.body) == (text, text)
    read_back = api.get(f"/tickets/{ticket.id}").json()
    assert (read_back["subject"], read_back["body"]) == (text, text)


def test_body_of_exactly_the_byte_limit_is_accepted(api):
    body = "x" * (64 * 1024)

    response = api.post("/tickets", ticket_payload(body=body), format="json")

    assert response.status_code == 201, response.content
    assert len(Ticket.objects.get().body) == 64 * 1024


# --- malformed bodies -------------------------------------------------------------------------


def test_non_json_body_is_rejected_with_400(api):
    response = post_raw(api, "subject=hello&body=world")

    assert_error(response, 400, code="parse_error")
    assert_nothing_written()


def test_truncated_json_is_rejected_with_400(api):
    response = post_raw(api, '{"subject": "Broken", "body": ')

    assert_error(response, 400, code="parse_error")
    assert_nothing_written()


def test_invalid_utf8_bytes_are_rejected_with_400(api):
    response = post_raw(api, b'{"subject": "caf\xe9", "body": "x"}')

    assert_error(response, 400)
    assert_nothing_written()


@pytest.mark.parametrize("text", ["[]", '[{"subject": "a", "body": "b"}]', '"a ticket"', "42"])
def test_json_that_is_not_an_object_is_rejected_with_400(api, text):
    response = post_raw(api, text)

    assert_error(response, 400, code="validation_error", fields=["non_field_errors"])
    assert_nothing_written()


def test_empty_body_is_rejected_with_400(api):
    response = post_raw(api, "")

    assert_error(response, 400)
    assert_nothing_written()


# --- required fields and lengths --------------------------------------------------------------


def test_missing_subject_and_body_are_named_in_fields(api):
    response = api.post("/tickets", {"customer": {"email": "ada@example.com"}}, format="json")

    error = assert_error(response, 400, code="validation_error", fields=["subject", "body"])
    assert error["fields"]["subject"]
    assert_nothing_written()


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_empty_subject_and_body_are_named_in_fields(api, blank):
    response = api.post("/tickets", ticket_payload(subject=blank, body=blank), format="json")

    assert_error(response, 400, code="validation_error", fields=["subject", "body"])
    assert_nothing_written()


def test_null_subject_is_rejected_with_400(api):
    response = api.post("/tickets", ticket_payload(subject=None), format="json")

    assert_error(response, 400, fields=["subject"])
    assert_nothing_written()


def test_missing_customer_and_customer_id_is_rejected(api):
    payload = ticket_payload()
    del payload["customer"]

    response = api.post("/tickets", payload, format="json")

    assert_error(response, 400, fields=["customer"])
    assert_nothing_written()


def test_subject_over_255_characters_is_rejected_with_400(api):
    response = api.post("/tickets", ticket_payload(subject="s" * 256), format="json")

    assert_error(response, 400, code="validation_error", fields=["subject"])
    assert_nothing_written()


def test_subject_of_255_multibyte_characters_is_accepted(api):
    subject = "😀" * 255

    response = api.post("/tickets", ticket_payload(subject=subject), format="json")

    assert response.status_code == 201, response.content
    assert Ticket.objects.get().subject == subject


def test_body_over_the_byte_limit_is_rejected_with_413(api):
    body = "x" * (64 * 1024 + 1)

    response = api.post("/tickets", ticket_payload(body=body), format="json")

    assert_error(response, 413, code="payload_too_large", fields=["body"])
    assert_nothing_written()


def test_body_limit_counts_utf8_bytes_not_characters(api):
    body = "😀" * (16 * 1024 + 1)  # 16,385 characters, 65,540 bytes

    response = api.post("/tickets", ticket_payload(body=body), format="json")

    assert_error(response, 413, code="payload_too_large", fields=["body"])
    assert_nothing_written()


@override_settings(TICKET_BODY_MAX_BYTES=100)
def test_body_limit_follows_the_setting(api):
    response = api.post("/tickets", ticket_payload(body="é" * 51), format="json")

    assert_error(response, 413, code="payload_too_large")
    assert_nothing_written()


def test_request_over_the_api_limit_is_rejected_with_413_before_parsing(api):
    text = json.dumps(ticket_payload(body="x" * (256 * 1024)))

    response = post_raw(api, text)

    assert_error(response, 413, code="payload_too_large")
    assert_nothing_written()


@override_settings(API_MAX_REQUEST_BYTES=1024)
def test_request_limit_follows_the_setting(api):
    response = api.post("/tickets", ticket_payload(body="x" * 2000), format="json")

    assert_error(response, 413, code="payload_too_large")
    assert_nothing_written()


# --- field values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email", ["not-an-email", "ada@", "@example.com", "ada@example..com", "", "a" * 250 + "@x.io"]
)
def test_invalid_email_is_rejected_with_400(api, email):
    response = api.post("/tickets", ticket_payload(customer={"email": email}), format="json")

    error = assert_error(response, 400, code="validation_error", fields=["customer"])
    assert "email" in error["fields"]["customer"]
    assert_nothing_written()


def test_email_with_a_lone_surrogate_in_the_domain_is_rejected_with_400(api):
    response = post_raw(
        api,
        '{"customer": {"email": "ada@exa\\ud800mple.com"}, "subject": "s", "body": "b"}',
    )

    assert_error(response, 400, fields=["customer"])
    assert_nothing_written()


def test_unknown_customer_id_is_rejected_with_400(api):
    response = api.post(
        "/tickets", {"customer_id": 999_999, "subject": "s", "body": "b"}, format="json"
    )

    assert_error(response, 400, code="validation_error", fields=["customer_id"])
    assert_nothing_written()


@pytest.mark.parametrize("value", [0, -1, "abc", 2**63, 10**30])
def test_out_of_range_customer_id_is_rejected_with_400(api, value):
    response = api.post(
        "/tickets", {"customer_id": value, "subject": "s", "body": "b"}, format="json"
    )

    assert_error(response, 400, fields=["customer_id"])
    assert_nothing_written()


def test_order_of_another_customer_is_rejected_with_400(api):
    customer = CustomerFactory()
    someone_elses = OrderFactory()

    response = api.post(
        "/tickets",
        {"customer_id": customer.id, "order_id": someone_elses.id, "subject": "s", "body": "b"},
        format="json",
    )

    assert_error(response, 400, fields=["order_id"])
    assert_nothing_written(customers_before=2)


def test_unknown_order_number_does_not_leave_a_new_customer_behind(api):
    response = api.post("/tickets", ticket_payload(order_number="BH-NOPE"), format="json")

    assert_error(response, 400, fields=["order_number"])
    assert_nothing_written()


@pytest.mark.parametrize("field", ["channel", "priority"])
@pytest.mark.parametrize("value", ["carrier-pigeon", "", "URGENT", 1, None])
def test_unknown_channel_or_priority_is_rejected_with_400(api, field, value):
    response = api.post("/tickets", ticket_payload(**{field: value}), format="json")

    assert_error(response, 400, code="validation_error", fields=[field])
    assert_nothing_written()


def test_a_field_the_request_does_not_take_is_named_not_dropped(api):
    response = api.post(
        "/tickets", ticket_payload(prority="urgent", category="Refunds"), format="json"
    )

    fields = assert_error(response, 400, code="validation_error")["fields"]
    assert sorted(fields) == ["category", "prority"]
    assert "priority" in fields["prority"][0] and "metadata" in fields["prority"][0]
    assert_nothing_written()


def test_a_field_a_nested_object_does_not_take_is_named_with_its_path(api):
    customer = {"email": "ada@example.com", "nmae": "Ada"}

    response = api.post("/tickets", ticket_payload(customer=customer), format="json")

    fields = assert_error(response, 400, code="validation_error")["fields"]
    assert list(fields) == ["customer"] and list(fields["customer"]) == ["nmae"]
    assert_nothing_written()


def test_unknown_fields_and_refused_values_come_in_one_answer(api):
    customer = {"email": "not-an-address", "nmae": "Ada"}
    payload = ticket_payload(customer=customer, prority="urgent", channel="carrier pigeon")

    response = api.post("/tickets", payload, format="json")

    fields = assert_error(response, 400, code="validation_error")["fields"]
    assert sorted(fields) == ["channel", "customer", "prority"]
    assert sorted(fields["customer"]) == ["email", "nmae"]
    assert_nothing_written()


def test_custom_data_rides_in_metadata_with_any_keys(api):
    metadata = {"prority": "x", "nested": {"anything": [1, 2]}}

    response = api.post("/tickets", ticket_payload(metadata=metadata), format="json")

    assert response.status_code == 201, response.content
    assert Ticket.objects.get().metadata == metadata


# --- text the database cannot store -----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"customer": {"email": "a@example.com"}, "subject": "a\\u0000b", "body": "b"}',
        '{"customer": {"email": "a@example.com"}, "subject": "s", "body": "b\\u0000"}',
        '{"customer": {"email": "a@example.com", "name": "A\\u0000"}, "subject": "s", "body": "b"}',
    ],
)
def test_nul_characters_are_rejected_with_400(api, text):
    response = post_raw(api, text)

    assert_error(response, 400, code="validation_error")
    assert_nothing_written()


@pytest.mark.parametrize(
    "text",
    [
        '{"customer": {"email": "a@example.com"}, "subject": "\\ud800", "body": "b"}',
        '{"customer": {"email": "a@example.com"}, "subject": "s", "body": "x\\udfffy"}',
        '{"customer": {"email": "a@example.com", "name": "\\ud83d"}, "subject": "s", "body": "b"}',
    ],
)
def test_lone_surrogates_are_rejected_with_400(api, text):
    response = post_raw(api, text)

    assert_error(response, 400, code="validation_error")
    assert_nothing_written()


def test_escaped_surrogate_pair_is_a_valid_character(api):
    response = post_raw(
        api, '{"customer": {"email": "a@example.com"}, "subject": "\\ud83d\\ude00", "body": "b"}'
    )

    assert response.status_code == 201, response.content
    assert Ticket.objects.get().subject == "😀"


# --- metadata and KB filters ------------------------------------------------------------------


def test_metadata_object_is_stored(api):
    metadata = {"source": "shopify", "tags": ["vip", "émoji 😀"], "nested": {"depth": 2}}

    response = api.post("/tickets", ticket_payload(metadata=metadata), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["ticket"]["metadata"] == metadata
    assert Ticket.objects.get().metadata == metadata


@pytest.mark.parametrize("metadata", [["a", "b"], "text", 42, True])
def test_metadata_that_is_not_an_object_is_rejected_with_400(api, metadata):
    response = api.post("/tickets", ticket_payload(metadata=metadata), format="json")

    assert_error(response, 400, code="validation_error", fields=["metadata"])
    assert_nothing_written()


def test_oversized_metadata_is_rejected_with_400(api):
    metadata = {"blob": "x" * (16 * 1024 + 1)}

    response = api.post("/tickets", ticket_payload(metadata=metadata), format="json")

    assert_error(response, 400, code="validation_error", fields=["metadata"])
    assert_nothing_written()


def test_deeply_nested_metadata_is_rejected_with_400(api):
    metadata = {}
    for _ in range(30):
        metadata = {"a": metadata}

    response = api.post("/tickets", ticket_payload(metadata=metadata), format="json")

    assert_error(response, 400, fields=["metadata"])
    assert_nothing_written()


@pytest.mark.parametrize(
    "metadata_json",
    ['{"note": "a\\u0000b"}', '{"a\\u0000": 1}', '{"list": ["ok", "\\u0000"]}', '{"k": "\\ud800"}'],
)
def test_metadata_with_nul_or_lone_surrogate_is_rejected_with_400(api, metadata_json):
    text = (
        '{"customer": {"email": "a@example.com"}, "subject": "s", "body": "b", '
        f'"metadata": {metadata_json}}}'
    )

    response = post_raw(api, text)

    assert_error(response, 400, code="validation_error", fields=["metadata"])
    assert_nothing_written()


@pytest.mark.parametrize(
    "kb_filters", [[], "blender", {}, {"like": {"key": "product", "value": "x"}}]
)
def test_invalid_kb_filters_are_rejected_with_400(api, kb_filters):
    response = api.post("/tickets", ticket_payload(kb_filters=kb_filters), format="json")

    assert_error(response, 400, fields=["kb_filters"])
    assert_nothing_written()


@pytest.mark.parametrize(
    "kb_filters_json", ['{"product": "\\ud800"}', '{"product\\u0000": "blender"}']
)
def test_kb_filters_with_unstorable_text_are_rejected_with_400(api, kb_filters_json):
    text = (
        '{"customer": {"email": "a@example.com"}, "subject": "s", "body": "b", '
        f'"kb_filters": {kb_filters_json}}}'
    )

    response = post_raw(api, text)

    assert_error(response, 400, fields=["kb_filters"])
    assert_nothing_written()


# --- content type and credentials -------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_wrong_content_type_is_rejected_with_415(api, content_type):
    response = api.post("/tickets", data=json.dumps(ticket_payload()), content_type=content_type)

    assert_error(response, 415, code="unsupported_media_type")
    assert_nothing_written()


def test_multipart_form_is_rejected_with_415(api):
    response = api.post("/tickets", {"subject": "s", "body": "b"}, format="multipart")

    assert_error(response, 415)
    assert_nothing_written()


def test_missing_api_key_is_rejected_with_401(outsider):
    response = outsider.post("/tickets", ticket_payload(), format="json")

    assert_error(response, 401, code="not_authenticated")
    assert response["WWW-Authenticate"] == "Api-Key"
    assert_nothing_written()


def test_invalid_api_key_is_rejected_with_401(outsider):
    outsider.credentials(HTTP_AUTHORIZATION="Api-Key nope.not-a-key")

    response = outsider.post("/tickets", ticket_payload(), format="json")

    assert_error(response, 401, code="authentication_failed")
    assert response["WWW-Authenticate"] == "Api-Key"
    assert_nothing_written()


def test_revoked_api_key_is_rejected_with_401(api, api_key):
    ApiKey.objects.filter(pk=api_key.pk).update(revoked=True)

    response = api.post("/tickets", ticket_payload(), format="json")

    assert_error(response, 401)
    assert_nothing_written()


def test_non_staff_session_is_forbidden(customer_user_client):
    response = customer_user_client.post("/tickets", ticket_payload(), format="json")

    assert_error(response, 403, code="permission_denied")
    assert_nothing_written()


# --- idempotency ------------------------------------------------------------------------------


def test_same_idempotency_key_and_body_replays_the_first_response(api):
    first = api.post("/tickets", ticket_payload(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    retry = api.post("/tickets", ticket_payload(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first
    assert retry.status_code == 201, retry.content
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert Ticket.objects.count() == 1
    assert Customer.objects.count() == 1
    assert Suggestion.objects.count() == len(first.json()["suggestions"]) > 0
    assert Interaction.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1


def test_an_idempotency_key_past_its_ttl_is_forgotten(api, settings):
    settings.IDEMPOTENCY_TTL_HOURS = 24
    first = api.post("/tickets", ticket_payload(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        later = api.post("/tickets", ticket_payload(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
        again = api.post("/tickets", ticket_payload(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == later.status_code == 201
    assert "Idempotent-Replayed" not in later
    assert later.json()["ticket"]["id"] != first.json()["ticket"]["id"]
    assert again["Idempotent-Replayed"] == "true"  # the key now means the second ticket
    assert again.json()["ticket"]["id"] == later.json()["ticket"]["id"]
    assert Ticket.objects.count() == 2
    assert IdempotencyRecord.objects.count() == 1


def test_idempotency_prune_forgets_only_expired_keys(api, settings):
    settings.IDEMPOTENCY_TTL_HOURS = 24
    api.post("/tickets", ticket_payload(), format="json", HTTP_IDEMPOTENCY_KEY="old")
    with time_machine.travel(timezone.now() + timedelta(hours=20)):
        api.post("/tickets", ticket_payload(), format="json", HTTP_IDEMPOTENCY_KEY="new")
    out = StringIO()

    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        call_command("idempotency_prune", stdout=out)

    assert "Forgot 1 idempotency key(s) older than 24 h." in out.getvalue()
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_same_idempotency_key_with_another_body_is_a_conflict(api):
    first = api.post("/tickets", ticket_payload(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201, first.content
    counts = (Ticket.objects.count(), Suggestion.objects.count(), Interaction.objects.count())

    other = ticket_payload(body="Actually it is the kettle.")
    response = api.post("/tickets", other, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert_error(response, 409, code="idempotency_key_reused")
    assert "Idempotent-Replayed" not in response
    assert (
        Ticket.objects.count(),
        Suggestion.objects.count(),
        Interaction.objects.count(),
    ) == counts
    assert Ticket.objects.get().body == ticket_payload()["body"]


def test_idempotency_keys_are_scoped_per_api_key(api, admin_api):
    first = api.post("/tickets", ticket_payload(), format="json", HTTP_IDEMPOTENCY_KEY="shared")
    second = admin_api.post(
        "/tickets", ticket_payload(), format="json", HTTP_IDEMPOTENCY_KEY="shared"
    )

    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in second
    assert first.json()["ticket"]["id"] != second.json()["ticket"]["id"]
    assert Ticket.objects.count() == 2


def test_idempotency_keys_are_scoped_per_key_even_when_key_names_match(api, api_key):
    _, raw = ApiKey.objects.create_key(name=api_key.name, scopes="agent")
    twin = APIClient()
    twin.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")

    first = api.post("/tickets", ticket_payload(), format="json", HTTP_IDEMPOTENCY_KEY="shared")
    second = twin.post(
        "/tickets",
        ticket_payload(body="Another body"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="shared",
    )

    assert first.status_code == 201, first.content
    assert second.status_code == 201, second.content
    assert Ticket.objects.count() == 2


def test_requests_without_idempotency_key_create_a_ticket_each(api):
    api.post("/tickets", ticket_payload(), format="json")
    api.post("/tickets", ticket_payload(), format="json")

    assert Ticket.objects.count() == 2


def test_rejected_request_does_not_burn_the_idempotency_key(api):
    bad = api.post(
        "/tickets", ticket_payload(subject=""), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    good = api.post("/tickets", ticket_payload(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert bad.status_code == 400
    assert good.status_code == 201, good.content
    assert "Idempotent-Replayed" not in good


def test_idempotency_key_over_255_characters_is_rejected_with_400(api):
    response = api.post("/tickets", ticket_payload(), format="json", HTTP_IDEMPOTENCY_KEY="k" * 256)

    assert_error(response, 400, fields=["Idempotency-Key"])
    assert_nothing_written()


def test_idempotency_key_with_a_nul_character_is_rejected_with_400(api):
    response = api.post("/tickets", ticket_payload(), format="json", HTTP_IDEMPOTENCY_KEY="k\x00ey")

    assert_error(response, 400, fields=["Idempotency-Key"])
    assert_nothing_written()


def test_retry_that_only_changes_the_email_case_replays(api):
    first = api.post("/tickets", ticket_payload(), format="json", HTTP_IDEMPOTENCY_KEY="k-case")
    lower = ticket_payload(customer={"email": "ada.lovelace@example.com", "name": "Ada Lovelace"})
    retry = api.post("/tickets", lower, format="json", HTTP_IDEMPOTENCY_KEY="k-case")

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert Ticket.objects.count() == 1
