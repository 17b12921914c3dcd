"""The operator commands: create_api_key, kb_sync, seed_demo."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from customers.models import Customer, Interaction, Order
from helpdesk.models import ApiKey
from knowledge.models import SyncJob
from tickets.models import Suggestion, Ticket

pytestmark = pytest.mark.django_db


def run(*args, **options) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def test_create_api_key_prints_a_working_key_once_and_stores_only_its_hash():
    key = run("create_api_key", "crm-integration", "--scope", "agent").strip()

    api_key = ApiKey.objects.get(name="crm-integration")
    assert key.startswith(api_key.prefix + ".")
    assert key not in api_key.hashed_key
    assert api_key.hashed_key.startswith("sha512$$")
    assert api_key.scopes == "agent"
    client = APIClient(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert client.get("/tickets").status_code == 200
    assert client.post("/kb/sync").status_code == 403


def test_create_api_key_admin_scope_may_start_a_sync():
    key = run("create_api_key", "ops", "--scope", "admin").strip()

    assert ApiKey.objects.get(name="ops").scopes == "admin"
    response = APIClient(HTTP_AUTHORIZATION=f"Api-Key {key}").post("/kb/sync")
    assert response.status_code == 202
    assert response.json()["trigger"] == "api"


@pytest.mark.parametrize(
    "args",
    [
        ["--scope", "intake", "--scope", "agent"],
        ["--scope", "intake,agent"],
        ["--scope", "agent, intake", "--scope", "intake"],
    ],
)
def test_create_api_key_takes_repeated_or_comma_separated_scopes(args):
    run("create_api_key", "web-form", *args)

    assert ApiKey.objects.get(name="web-form").scopes == "agent intake"


def test_create_api_key_without_a_scope_is_refused_and_creates_nothing():
    with pytest.raises(CommandError, match="--scope"):
        run("create_api_key", "no-scope")

    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("scope", ["superuser", "agent,root", ",", "--admin"])
def test_create_api_key_with_an_unknown_scope_names_the_valid_ones_and_creates_nothing(scope):
    with pytest.raises(CommandError, match="intake, agent, admin, inbound"):
        run("create_api_key", "bad", f"--scope={scope}")

    assert not ApiKey.objects.exists()


def test_revoked_key_is_refused():
    key = run("create_api_key", "old", "--scope", "agent").strip()
    ApiKey.objects.filter(name="old").update(revoked=True)

    response = APIClient(HTTP_AUTHORIZATION=f"Api-Key {key}").get("/tickets")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_kb_sync_command_prints_a_summary():
    output = run("kb_sync")

    job = SyncJob.objects.latest("id")
    assert job.trigger == SyncJob.Trigger.COMMAND
    assert job.status == SyncJob.Status.SUCCEEDED
    assert f"Sync {job.id} succeeded" in output
    assert "unchanged" in output


def test_kb_sync_command_fails_loudly_on_a_missing_source(settings, tmp_path):
    settings.KB_SOURCE = str(tmp_path / "missing")

    with pytest.raises(CommandError, match="does not exist"):
        run("kb_sync")


def test_seed_demo_is_idempotent(settings):
    settings.DEBUG = True
    run("seed_demo")
    counts = [
        Customer.objects.count(),
        Order.objects.count(),
        Ticket.objects.count(),
        Suggestion.objects.count(),
        Interaction.objects.count(),
    ]

    output = run("seed_demo")

    assert counts[2] >= 10 and counts[3] >= 30
    assert [
        Customer.objects.count(),
        Order.objects.count(),
        Ticket.objects.count(),
        Suggestion.objects.count(),
        Interaction.objects.count(),
    ] == counts
    assert "(0 new)" in output
    assert "Staff login: http://127.0.0.1:8000/admin/" in output
    assert "http://127.0.0.1:8765/admin/" in run("seed_demo", "--url", "http://127.0.0.1:8765/")
    assert Ticket.objects.filter(status="closed", resolved_at__isnull=False).exists()
    client = APIClient()
    assert client.login(username="admin", password="helpdesk-demo")
    assert client.get("/admin/").status_code == 200


def test_seed_demo_refuses_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG"):
        run("seed_demo")
    assert not Customer.objects.exists()
