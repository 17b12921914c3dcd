"""A chunked request body (Transfer-Encoding: chunked, no Content-Length) is read within the
size limit, or refused with 411 by a server that cannot deliver it; never read as empty (which
was a misleading 400 "subject required").

The test client cannot send chunked bodies, so these go through real servers: gunicorn (which
decodes chunked input) on its own SQLite database, and Django's live server (which does not).
"""

import http.client
import io
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tickets.models import Ticket

BASE_DIR = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
LIMIT = 4096  # the gunicorn server's API_MAX_REQUEST_BYTES

# "é" is two bytes in UTF-8; the chunks below split one of them across a chunk boundary.
TICKET = {
    "customer": {"email": "chunked@example.com", "name": "Chunk Ed"},
    "subject": "Sent in chunks",
    "body": "My kettle stopped working. Café order 1042. " * 20,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Received:
    """Bytes read off a socket, for http.client's response parser."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode):
        return io.BytesIO(self.data)


def post_chunked(port: int, path: str, chunks: list[bytes], headers: dict):
    """POST with Transfer-Encoding: chunked and no Content-Length, framed by hand and sent in
    one write (so a server that answers early cannot cut the request off), then read to EOF."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    request += b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(request)
        try:
            while data := sock.recv(65536):
                received += data
        except ConnectionResetError:  # a server that did not read the body resets: answer kept
            assert received, "no answer before the reset"
    response = http.client.HTTPResponse(_Received(received))
    response.begin()
    return response.status, dict(response.getheaders()), response.read()


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    """gunicorn serving the project on a migrated SQLite file, with one API key."""
    tmp = tmp_path_factory.mktemp("gunicorn")
    database = tmp / "db.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "SECRET_KEY": "chunked-body-test-only",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "API_MAX_REQUEST_BYTES": str(LIMIT),
        "KB_BACKEND": "bedrock",  # not configured: suggestions degrade, the ticket is kept
        "BEDROCK_KB_ID": "",
        "INTERACTION_STORE": "database",
        "LOG_LEVEL": "WARNING",
    }

    def manage(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        ).stdout

    manage("migrate", "--no-input")
    key = manage("create_api_key", "chunked", "--scope", "agent").strip()
    port = free_port()
    log = open(tmp / "gunicorn.log", "wb")  # noqa: SIM115 (lives with the server)
    server = subprocess.Popen(
        [str(GUNICORN), "helpdesk.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "--timeout", "120"],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(600):  # up to a minute for the first import on a busy machine
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/health")
                if conn.getresponse().status in (200, 503):
                    break
            except OSError:
                time.sleep(0.1)
            assert server.poll() is None, (tmp / "gunicorn.log").read_text()
        else:
            pytest.fail("gunicorn did not answer /health within a minute")
        headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
        yield {"port": port, "headers": headers, "database": database}
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def tickets_in(database: Path) -> list[tuple]:
    with sqlite3.connect(database) as db:
        return db.execute("SELECT id, subject, body FROM tickets_ticket ORDER BY id").fetchall()


def test_a_chunked_ticket_is_read_and_stored_through_gunicorn(gunicorn):
    data = json.dumps(TICKET, ensure_ascii=False).encode()
    chunks = split(data, 7)  # small odd chunks: some split "é" between two chunks
    assert any(chunk.endswith(b"\xc3") for chunk in chunks)

    status, headers, body = post_chunked(gunicorn["port"], "/tickets", chunks, gunicorn["headers"])

    assert status == 201, body
    answer = json.loads(body)
    assert answer["ticket"]["subject"] == "Sent in chunks"
    assert answer["customer"]["profile"]["email"] == "chunked@example.com"
    assert answer["degraded"] == ["knowledge_base"]
    stored = [row for row in tickets_in(gunicorn["database"]) if row[0] == answer["ticket"]["id"]]
    assert stored == [(answer["ticket"]["id"], "Sent in chunks", TICKET["body"].strip())]


def test_a_chunked_body_over_the_limit_is_a_413_and_nothing_is_stored(gunicorn):
    before = tickets_in(gunicorn["database"])
    data = json.dumps({**TICKET, "subject": "Too big", "body": "x" * (LIMIT * 2)}).encode()

    status, headers, body = post_chunked(
        gunicorn["port"], "/tickets", split(data, 1000), gunicorn["headers"]
    )

    assert status == 413, body
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    assert tickets_in(gunicorn["database"]) == before


def test_a_server_that_cannot_read_chunked_bodies_answers_411(live_server, api_key):
    port = int(live_server.url.rsplit(":", 1)[1])
    data = json.dumps(TICKET).encode()
    headers = {"Authorization": f"Api-Key {api_key.raw}", "Content-Type": "application/json"}

    status, response_headers, body = post_chunked(port, "/tickets", split(data, 100), headers)

    assert status == 411, body
    assert response_headers["Content-Type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "length_required" and "Content-Length" in error["message"]
    assert not Ticket.objects.exists()
