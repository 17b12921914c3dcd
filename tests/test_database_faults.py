"""Database faults answer 503 JSON with Retry-After, never a 500 or a hang, and write nothing.

Real sockets stand in for a broken database: a closed port (connection refused) and a server
that accepts connections and never answers. Each test points the `default` connection (or, for
the connect timeout, a whole Django process configured from the environment) at one of them.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver

from customers.models import Customer
from helpdesk import health
from helpdesk.api.middleware import HTML_PREFIXES
from tests.factories import CustomerFactory, TicketFactory
from tests.helpers import assert_error, default_database
from tickets.models import Ticket

BASE_DIR = Path(__file__).resolve().parent.parent
PG = "django.db.backends.postgresql"
TICKET = {"customer": {"email": "down@example.com"}, "subject": "Refund", "body": "Broken jar."}


# --- real sockets -----------------------------------------------------------------------------


def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def silent_server():
    """A TCP server that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:  # closed: done
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        for sock in held:
            sock.close()
        thread.join(timeout=5)


def postgres_at(port: int, **options):
    return default_database(
        ENGINE=PG, HOST="127.0.0.1", PORT=port, NAME="helpdesk", USER="helpdesk", OPTIONS=options
    )


# --- every API endpoint -----------------------------------------------------------------------


def api_routes() -> list[tuple[str, str]]:
    """(method, path) for every API URL pattern, ids filled in: new endpoints join by
    construction."""
    routes = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
                continue
            assert isinstance(pattern, URLPattern)
            path = "/" + prefix + str(pattern.pattern)
            if path.startswith(HTML_PREFIXES) or path == "/schema":
                continue  # HTML pages, and the schema, which reads no data
            if path.startswith(("/inbound/ses", "/inbound/mailgun")):
                continue  # provider webhooks, 404 until configured: test_email_webhooks.py
            for name in ("pk", "job_id", "message_id"):
                path = path.replace(f"<int:{name}>", "1")
            view = getattr(pattern.callback, "view_class", None)
            if view is None:
                continue  # a plain function view: Swagger UI's static files, which read no data
            for method in ("get", "post", "patch", "put", "delete"):
                if hasattr(view, method):
                    routes.append((method, path))

    walk(get_resolver().url_patterns, "")
    return routes


def test_the_route_list_covers_the_api():
    routes = api_routes()

    assert ("post", "/tickets") in routes and ("get", "/health") in routes
    assert ("patch", "/customers/1") in routes and ("get", "/kb/search") in routes
    assert not [path for _, path in routes if "<" in path], routes


@pytest.fixture
def warm_api_key(admin_api, settings):
    """An admin API key (allowed everywhere) this process has already verified: requests pass
    authentication without the database and fail in the view."""
    settings.API_KEY_CACHE_SECONDS = 3600
    assert admin_api.get("/tickets").status_code == 200
    return admin_api


# A valid body for each write, so that the database is the only thing standing in the way.
BODIES = {
    ("post", "/tickets"): TICKET,
    ("patch", "/tickets/1"): {"status": "pending"},
    ("post", "/tickets/1/feedback"): {"suggestion_id": 1, "helpful": True},
    ("post", "/customers"): {"email": "down@example.com", "name": "Down"},
    ("patch", "/customers/1"): {"name": "Down"},
    ("post", "/orders"): {
        "customer_id": 1,
        "number": "DOWN-1",
        "total": "10.00",
        "placed_at": "2026-01-02T03:04:05Z",
    },
    ("patch", "/orders/1"): {"status": "shipped"},
}


QUERIES = {"/kb/search": {"q": "refund"}}


# Raw e-mail, not JSON: a message that would open a ticket.
RAW_BODIES = {
    ("post", "/inbound/email"): (
        b"From: Down <down@example.com>\r\nSubject: Refund\r\nMessage-ID: <down@example.com>"
        b"\r\n\r\nMy blender arrived broken.\r\n"
    )
}


def call(client, method: str, path: str):
    if (method, path) in RAW_BODIES:
        return client.generic(
            method.upper(), path, RAW_BODIES[method, path], content_type="message/rfc822"
        )
    if method in ("post", "patch", "put"):
        return getattr(client, method)(path, BODIES.get((method, path), {}), format="json")
    return getattr(client, method)(path, QUERIES.get(path))


def assert_database_unavailable(response, method, path) -> None:
    if path == "/health":
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "down"
        assert body["checks"]["database"]["status"] == "down"
    else:
        error = assert_error(response, 503, code="database_unavailable")
        assert "127.0.0.1" not in error["message"], error  # no hosts or ports
    assert response["Retry-After"] == "5", (method, path)


@pytest.mark.parametrize("who", ["verified_key", "unknown_key", "staff_session"])
def test_refused_connection_is_a_503_with_retry_after_on_every_endpoint(
    db, who, warm_api_key, staff, request
):
    client = {"verified_key": warm_api_key, "staff_session": staff}.get(who)
    if client is None:
        client = request.getfixturevalue("outsider")
        client.credentials(HTTP_AUTHORIZATION="Api-Key unknown.secret")
    TicketFactory(subject="Before the outage")
    before = list(Ticket.objects.values_list("id", "subject", "status"))

    with postgres_at(closed_port(), connect_timeout=2):
        for method, path in api_routes():
            assert_database_unavailable(call(client, method, path), method, path)

    # The database is back: nothing was written, and the same client is served again.
    assert list(Ticket.objects.values_list("id", "subject", "status")) == before
    assert not Customer.objects.filter(email="down@example.com").exists()
    assert client.get("/tickets").status_code == (401 if who == "unknown_key" else 200)


def test_a_database_that_never_answers_times_out_into_a_503_from_the_settings(db):
    """The whole stack in a Django process configured only by the environment, as deployed.
    The time bound only catches the old hang (no connect timeout: 130 s per attempt)."""
    script = """
import json, sys, time, django
django.setup()
from django.test import Client
client = Client(HTTP_AUTHORIZATION="Api-Key unknown.secret")
results = []
for method, path in [("get", "/tickets"), ("post", "/tickets"), ("get", "/health")]:
    started = time.monotonic()
    response = getattr(client, method)(path, data={}, content_type="application/json") \\
        if method == "post" else client.get(path)
    results.append({"path": path, "status": response.status_code,
                    "retry_after": response.get("Retry-After"),
                    "body": json.loads(response.content),
                    "seconds": time.monotonic() - started})
print(json.dumps(results))
"""
    with silent_server() as port:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
            "DATABASE_URL": f"postgres://helpdesk@127.0.0.1:{port}/helpdesk",
            "DATABASE_CONNECT_TIMEOUT": "2",
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "false",
            "DEBUG": "false",
        }
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    tickets, post, health_check = json.loads(result.stdout.strip().splitlines()[-1])
    for answer in (tickets, post):
        assert answer["status"] == 503, answer
        assert answer["retry_after"] == "5"
        assert answer["body"]["error"]["code"] == "database_unavailable"
    assert health_check["status"] == 503 and health_check["retry_after"] == "5"
    assert health_check["body"]["checks"]["database"]["status"] == "down"
    assert all(answer["seconds"] < 60 for answer in (tickets, post, health_check)), result.stdout
    assert elapsed < 240


# --- a statement that takes too long (Postgres) --------------------------------------------


needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="statement_timeout is Postgres"
)


@needs_postgres
def test_statement_timeout_comes_from_the_settings(db):
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        (value,) = cursor.fetchone()

    assert value == f"{django_settings.DATABASE_STATEMENT_TIMEOUT_MS // 1000}s" == "10s"
    assert django_settings.DATABASES["default"]["OPTIONS"]["connect_timeout"] == 3


@needs_postgres
def test_a_statement_over_the_timeout_is_a_503_and_changes_nothing(transactional_db, api, settings):
    import psycopg

    settings.DATABASE_STATEMENT_TIMEOUT_MS = 300

    ticket = TicketFactory(subject="Locked", status=Ticket.Status.OPEN)
    customer = CustomerFactory(name="Locked Customer")
    db = connection.settings_dict
    with psycopg.connect(
        dbname=db["NAME"],
        host=db["HOST"],
        port=db["PORT"],
        user=db["USER"],
        password=db["PASSWORD"],
    ) as holder:
        # Another session holds the tables: every statement on them waits, then times out.
        holder.execute("LOCK TABLE tickets_ticket, customers_customer IN ACCESS EXCLUSIVE MODE")
        with default_database():  # a new connection, which takes the setting
            listing = api.get("/tickets")
            patch = api.patch(f"/tickets/{ticket.id}", {"status": "pending"}, format="json")
            rename = api.patch(f"/customers/{customer.id}", {"name": "Changed"}, format="json")
        holder.rollback()

    for response in (listing, patch, rename):
        assert_error(response, 503, code="database_unavailable")
        assert response["Retry-After"] == "5"
    ticket.refresh_from_db()
    customer.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN and customer.name == "Locked Customer"


# --- an unmigrated database -------------------------------------------------------------------


def test_health_reports_pending_migrations_as_a_failing_check(db, outsider, tmp_path, monkeypatch):
    monkeypatch.setattr(health, "_migrated", False)
    sqlite = "django.db.backends.sqlite3"

    with default_database(ENGINE=sqlite, NAME=str(tmp_path / "empty.sqlite3"), OPTIONS={}):
        response = outsider.get("/health")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    body = response.json()
    database = body["checks"]["database"]
    assert body["status"] == "down"
    assert database["status"] == "down" and database["detail"] == "migrations pending"
    assert database["pending_migrations"] > 20
    assert set(body["checks"]) == {"database"}  # the others read tables that do not exist yet
    # The real, migrated database is healthy again (and now remembered as migrated).
    assert outsider.get("/health").status_code == 200
    assert health._migrated is True
