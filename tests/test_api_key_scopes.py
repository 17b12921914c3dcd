"""Scoped API keys: what an intake key may do and see, scope changes and the cache, the
migration of existing keys, and scopes in the admin. (Every endpoint × every kind of caller:
tests/test_auth_matrix.py.)"""

import json

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from customers.models import Customer, Interaction
from helpdesk import auth
from helpdesk.models import ApiKey
from tests.factories import CustomerFactory, OrderFactory, SuggestionFactory, TicketFactory
from tests.helpers import assert_error
from tickets.models import Feedback, Ticket

pytestmark = pytest.mark.django_db

TICKET = {
    "customer": {"email": "ana@example.com", "name": "Somebody Else"},
    "subject": "Refund for damaged blender",
    "body": "My order arrived broken, how do I get my money back?",
}


@pytest.fixture
def ana():
    """A customer with a profile, an order and history that an intake key must never see."""
    customer = CustomerFactory(email="ana@example.com", name="Ana Souza", phone="+55 11 5555-0101")
    OrderFactory(customer=customer, number="BH-SECRET-1")
    TicketFactory(customer=customer, subject="Earlier private matter")
    return customer


def client_for(raw: str) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Api-Key {raw}")


# --- intake -----------------------------------------------------------------------------------


def test_intake_key_creates_a_ticket_and_gets_no_customer_data_back(intake_api, intake_key, ana):
    response = intake_api.post("/tickets", TICKET, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    # `triage` reads only the ticket's own text (category, language, sentiment): no customer data.
    assert set(body) == {"ticket", "suggestions", "triage", "degraded"}
    assert body["suggestions"], "the suggestions are the point of an intake answer"
    text = response.content.decode()
    for secret in ("Ana Souza", "5555-0101", "BH-SECRET-1", "Earlier private matter"):
        assert secret not in text
    ticket = Ticket.objects.get(pk=body["ticket"]["id"])
    assert ticket.customer == ana
    assert ticket.created_by_key_id == intake_key.pk
    assert ticket.suggestions.count() == len(body["suggestions"])
    # The interaction is still written; only the answer leaves the history out.
    assert Interaction.objects.filter(ticket_id=ticket.id, kind="ticket_created").count() == 1
    assert Customer.objects.get(pk=ana.pk).name == "Ana Souza"


def test_agent_key_still_gets_the_customer_context(api, api_key, ana):
    response = api.post("/tickets", TICKET, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["customer"]["profile"]["name"] == "Ana Souza"
    assert Ticket.objects.get(pk=body["ticket"]["id"]).created_by_key_id == api_key.pk


def test_an_intake_replay_carries_no_customer_data_even_if_first_answered_to_an_agent(
    api, api_key, ana
):
    headers = {"HTTP_IDEMPOTENCY_KEY": "form-42"}
    first = api.post("/tickets", TICKET, format="json", **headers)
    assert "customer" in first.json()
    api_key.scopes = "intake"
    api_key.save()

    replay = api.post("/tickets", TICKET, format="json", **headers)

    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert set(replay.json()) == {"ticket", "suggestions", "triage", "degraded"}
    assert replay.json()["ticket"]["id"] == first.json()["ticket"]["id"]
    assert Ticket.objects.filter(subject=TICKET["subject"]).count() == 1


def test_intake_key_sends_feedback_on_its_own_ticket(intake_api):
    created = intake_api.post("/tickets", TICKET, format="json").json()
    ticket_id, suggestion = created["ticket"]["id"], created["suggestions"][0]

    response = intake_api.post(
        f"/tickets/{ticket_id}/feedback",
        {"suggestion_id": suggestion["id"], "helpful": True},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["submitted_by"] == "api-key:web-form"
    feedback = Feedback.objects.get(pk=response.json()["id"])
    assert (feedback.ticket_id, feedback.suggestion_id) == (ticket_id, suggestion["id"])


def test_intake_key_may_not_send_feedback_on_another_clients_ticket(intake_api):
    suggestion = SuggestionFactory()

    response = intake_api.post(
        f"/tickets/{suggestion.ticket_id}/feedback",
        {"suggestion_id": suggestion.id, "helpful": False, "resolved": True},
        format="json",
    )

    error = assert_error(response, 403, code="permission_denied")
    assert "tickets it created" in error["message"]
    assert error["fields"]["scopes"] == ["intake"]
    assert not Feedback.objects.exists()
    assert Ticket.objects.get(pk=suggestion.ticket_id).status == Ticket.Status.NEW


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/tickets"),
        ("get", "/tickets/{ticket}"),
        ("get", "/tickets/{ticket}/context"),
        ("get", "/customers"),
        ("get", "/customers/{customer}"),
        ("get", "/orders"),
        ("get", "/kb/search?q=refund"),
        ("post", "/kb/sync"),
    ],
)
def test_intake_key_reads_nothing_and_the_403_names_the_scope(intake_api, ana, method, path):
    ticket = Ticket.objects.get(customer=ana)
    response = getattr(intake_api, method)(path.format(ticket=ticket.id, customer=ana.id))

    error = assert_error(response, 403, code="permission_denied")
    assert error["fields"]["scopes"] == ["intake"]
    assert "admin" in error["fields"]["required_scopes"]
    assert "'admin'" in error["message"] and "'intake'" in error["message"]
    assert "Ana" not in response.content.decode()


def test_intake_key_may_not_change_a_customers_email(intake_api, ana):
    response = intake_api.patch(
        f"/customers/{ana.id}", {"email": "attacker@example.com"}, format="json"
    )

    error = assert_error(response, 403, code="permission_denied")
    assert error["fields"]["required_scopes"] == ["admin", "agent"]
    assert Customer.objects.get(pk=ana.id).email == "ana@example.com"


def test_inbound_key_may_not_use_the_ticket_api(db):
    _, raw = ApiKey.objects.create_key(name="mail", scopes="inbound")

    response = client_for(raw).post("/tickets", TICKET, format="json")

    assert_error(response, 403, code="permission_denied")
    assert not Ticket.objects.exists()


def test_a_key_with_several_scopes_has_each(db):
    _, raw = ApiKey.objects.create_key(name="both", scopes="agent intake")
    client = client_for(raw)

    assert client.get("/customers").status_code == 200
    assert "customer" in client.post("/tickets", TICKET, format="json").json()


def test_a_key_cannot_be_stored_without_a_scope(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiKey.objects.create_key(name="nothing")
    assert not ApiKey.objects.exists()


# --- scope changes and the verified-key cache -------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(auth, "_clock", lambda: now[0])
    return now


def test_a_scope_change_through_the_model_applies_at_once(api, api_key):
    assert api.get("/customers").status_code == 200  # remembered now
    api_key.scopes = "intake"
    api_key.save()

    assert_error(api.get("/customers"), 403, code="permission_denied")


def test_a_scope_change_elsewhere_applies_within_the_cache_ttl(api, api_key, clock, settings):
    settings.API_KEY_CACHE_SECONDS = 10
    assert api.get("/customers").status_code == 200
    ApiKey.objects.filter(pk=api_key.pk).update(scopes="intake")  # another process: no signal

    clock[0] += 9
    assert api.get("/customers").status_code == 200  # still remembered: the documented bound
    clock[0] += 2
    assert_error(api.get("/customers"), 403, code="permission_denied")


def test_a_widened_scope_applies_within_the_cache_ttl(intake_api, intake_key, clock, settings):
    settings.API_KEY_CACHE_SECONDS = 10
    assert intake_api.get("/customers").status_code == 403
    ApiKey.objects.filter(pk=intake_key.pk).update(scopes="agent")

    clock[0] += 11
    assert intake_api.get("/customers").status_code == 200


# --- staff sessions ---------------------------------------------------------------------------


def test_superuser_session_acts_as_admin_and_staff_as_agent(staff, db):
    root = get_user_model().objects.create_superuser("root", "root@example.com")
    superuser = APIClient()
    superuser.force_login(root)

    assert staff.get("/customers").status_code == 200
    assert superuser.get("/customers").status_code == 200
    error = assert_error(staff.get("/kb/sync/1"), 403, code="permission_denied")
    assert error["fields"] == {"required_scopes": ["admin"], "scopes": ["agent"]}
    assert superuser.get("/kb/sync/999999").status_code == 404  # allowed; no such job


# --- the migration of existing keys -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_existing_keys_migrate_to_agent_and_admin_keys_to_admin():
    executor = MigrationExecutor(connection)
    before = [("helpdesk", "0001_initial")]
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    old_apps = executor.loader.project_state(before).apps
    OldKey = old_apps.get_model("helpdesk", "ApiKey")
    OldKey.objects.create(id="p1.x", prefix="p1", hashed_key="h", name="crm", is_admin=False)
    OldKey.objects.create(id="p2.x", prefix="p2", hashed_key="h", name="ops", is_admin=True)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(latest)

    assert dict(ApiKey.objects.values_list("name", "scopes")) == {"crm": "agent", "ops": "admin"}


# --- the admin --------------------------------------------------------------------------------


@pytest.fixture
def admin_site(db) -> APIClient:
    root = get_user_model().objects.create_superuser("root", "root@example.com")
    client = APIClient()
    client.force_login(root)
    return client


def change_form(api_key: ApiKey, **changes) -> dict:
    data = {"name": api_key.name, "scopes": api_key.scopes.split(), "expiry_date": ""}
    data.update(changes)
    return data


def test_admin_lists_scopes_and_filters_by_scope(admin_site):
    ApiKey.objects.create_key(name="web-form", scopes="intake")
    ApiKey.objects.create_key(name="crm", scopes="agent intake")
    ApiKey.objects.create_key(name="ops", scopes="admin")

    everything = admin_site.get("/admin/helpdesk/apikey/").content.decode()
    intake = admin_site.get("/admin/helpdesk/apikey/?scope=intake").content.decode()

    assert "agent intake" in everything and "ops" in everything
    assert "web-form" in intake and "crm" in intake and ">ops<" not in intake


def test_admin_edits_scopes(admin_site):
    api_key, _ = ApiKey.objects.create_key(name="crm", scopes="agent")

    response = admin_site.post(
        f"/admin/helpdesk/apikey/{api_key.pk}/change/",
        change_form(api_key, scopes=["intake", "agent"]),
    )

    assert response.status_code == 302, response.content.decode()[-2000:]
    assert ApiKey.objects.get(pk=api_key.pk).scopes == "agent intake"


@pytest.mark.parametrize("scopes", [[], ["root"]])
def test_admin_refuses_a_key_without_valid_scopes(admin_site, scopes):
    api_key, _ = ApiKey.objects.create_key(name="crm", scopes="agent")

    response = admin_site.post(
        f"/admin/helpdesk/apikey/{api_key.pk}/change/", change_form(api_key, scopes=scopes)
    )

    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.errors["scopes"]
    assert ApiKey.objects.get(pk=api_key.pk).scopes == "agent"


def test_admin_creates_a_key_with_scopes_and_shows_it_once(admin_site):
    response = admin_site.post(
        "/admin/helpdesk/apikey/add/",
        {"name": "widget", "scopes": ["intake"], "expiry_date": ""},
        follow=True,
    )

    api_key = ApiKey.objects.get(name="widget")
    assert api_key.scopes == "intake"
    shown = [str(m) for m in response.context["messages"]]
    raw = next(m for m in shown if "The API key for widget is" in m).split(": ")[1].split(".")
    key = f"{raw[0]}.{raw[1]}"
    created = client_for(key).post("/tickets", TICKET, format="json")
    assert created.status_code == 201, created.content
    assert "customer" not in json.loads(created.content)


# --- DRF's own permission probes --------------------------------------------------------------


def test_options_lists_only_what_the_key_may_do(intake_api):
    response = intake_api.options("/tickets")

    assert response.status_code == 200
    assert set(response.json()["actions"]) == {"POST"}


def test_the_browsable_api_renders_a_refusal_without_failing(customer_user_client):
    # The HTML renderer probes the other methods' permissions for its forms; a refusal there
    # must read as "no form", not as an error while rendering (a 500).
    response = customer_user_client.get("/tickets", HTTP_ACCEPT="text/html")

    assert_error(response, 403, code="permission_denied")
