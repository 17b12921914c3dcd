"""Postgres: parameters bound by the server and the statements every POST /tickets sends
prepared once per connection (DATABASE_PREPARED_STATEMENTS, DATABASE_PREPARE_THRESHOLD)."""

import pytest
from django.conf import settings as django_settings
from django.db import connection

from tests.helpers import post_ticket

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="prepared statements: Postgres"
)


def prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_the_connection_binds_on_the_server_and_prepares_after_the_threshold(db):
    options = django_settings.DATABASES["default"]["OPTIONS"]
    assert options["server_side_binding"] is True
    assert options["prepare_threshold"] == django_settings.DATABASE_PREPARE_THRESHOLD == 5


def test_repeated_ticket_creates_run_as_prepared_statements(api):
    answers = [
        post_ticket(api, "Where is my parcel?", "It has not arrived yet, please check.")
        for _ in range(django_settings.DATABASE_PREPARE_THRESHOLD + 2)
    ]

    statements = prepared()
    # The ticket's rows are one statement (tickets.services._insert_new_ticket).
    tables = ("tickets_ticket", "tickets_message", "tickets_suggestion", "triage_ticketembedding")
    assert any(
        s.lstrip().upper().startswith("WITH") and all(f'INTO "{t}"' in s for t in tables)
        for s in statements
    ), statements
    assert any('FROM "customers_customer"' in s for s in statements), statements
    # The answers are what they always were: a ticket of its own each, one customer, and the
    # same five suggestions for the same question.
    assert len({a["ticket"]["id"] for a in answers}) == len(answers)
    assert len({a["customer"]["profile"]["id"] for a in answers}) == 1
    titles = {tuple(s["title"] for s in a["suggestions"]) for a in answers}
    assert len(titles) == 1 and len(next(iter(titles))) == 5
