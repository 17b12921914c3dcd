"""Postgres: a reused connection's health check sends nothing to a quiet connection, and still
replaces one the server has ended (helpdesk/postgresql/base.py).

The request cycle is Django's own: `close_old_connections()` runs when a request starts and
when it ends (the test client leaves it out, so it is called here), and the first query of a
request runs the health check."""

import select
import time

import psycopg
import pytest
from django.db import close_old_connections, connection

from tests.helpers import default_database

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="Postgres connections"),
    pytest.mark.django_db,
]


def persistent_default():
    """`default` as a fresh persistent connection with health checks, as in production."""
    return default_database(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True)


def request(wrapper) -> int:
    """One request's database work: the backend's pid."""
    close_old_connections()
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    close_old_connections()
    return pid


def counting_usable_checks(wrapper) -> list:
    calls = []
    check = wrapper.is_usable

    def spy():
        calls.append(1)
        return check()

    wrapper.is_usable = spy
    return calls


def test_the_backend_is_ours_and_still_postgres():
    assert connection.settings_dict["ENGINE"] == "helpdesk.postgresql"
    assert connection.vendor == "postgresql"


def test_a_quiet_connection_is_reused_without_a_round_trip():
    with persistent_default() as wrapper:
        first = request(wrapper)
        checks = counting_usable_checks(wrapper)
        pids = [request(wrapper) for _ in range(5)]
        assert pids == [first] * 5  # the same connection every time
        assert checks == []  # and no SELECT 1 before any of them


def test_a_connection_the_server_ended_is_replaced_before_the_request_uses_it():
    with persistent_default() as wrapper:
        first = request(wrapper)
        checks = counting_usable_checks(wrapper)
        with psycopg.connect(**wrapper.get_connection_params(), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [first])
        socket = wrapper.connection.pgconn.socket
        deadline = time.monotonic() + 5
        while not select.select([socket], [], [], 0.05)[0] and time.monotonic() < deadline:
            pass  # the server's goodbye arrives
        assert request(wrapper) != first  # a new connection, and the query ran on it
        assert checks == [1]  # the readable socket sent the check to Django's SELECT 1
        assert request(wrapper) == request(wrapper)  # quiet again


def test_a_connection_closed_on_our_side_is_replaced():
    with persistent_default() as wrapper:
        first = request(wrapper)
        wrapper.connection.close()  # as a broken socket leaves psycopg's connection
        assert request(wrapper) != first
