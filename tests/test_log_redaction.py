"""LOG_LEVEL=DEBUG never logs what customers and clients send: ticket text, e-mail addresses,
API keys, signed AWS Authorization headers.

A full POST /tickets runs with the logging configuration LOG_LEVEL=DEBUG gives, every record
at every level captured, against a local Bedrock-protocol server (real HTTP, real SigV4
signing, so botocore and urllib3 do everything they do in production), with SQL logging on.
A control run with the library loggers unpinned shows the same request does leak.
"""

import copy
import json
import logging
import logging.config
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from django.conf import settings as django_settings
from django.db import connection

from customers.models import Customer
from knowledge.backends import base
from knowledge.backends.bedrock import BedrockBackend
from tickets.models import Suggestion, Ticket

pytestmark = pytest.mark.django_db

BODY_MARKER = "ZEBRA7731 my blender jar cracked"
EMAIL = "leak.check.7731@example.com"
AWS_ACCESS_KEY = "AKIALEAKCHECK7731XYZ"
PINNED = list(django_settings.LOGGING["loggers"])


class BedrockRetrieve(BaseHTTPRequestHandler):
    """Answers bedrock-agent-runtime Retrieve (POST /knowledgebases/{id}/retrieve)."""

    requests: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests.append(
            {"path": self.path, "body": body.decode(), "auth": self.headers["Authorization"]}
        )
        answer = json.dumps(
            {
                "retrievalResults": [
                    {
                        "content": {
                            "text": "Refunds for damaged items: send a photo.",
                            "type": "TEXT",
                        },
                        "location": {"type": "S3", "s3Location": {"uri": "s3://kb/refunds.md"}},
                        "metadata": {"x-amz-bedrock-kb-source-uri": "s3://kb/refunds.md"},
                        "score": 0.91,
                    }
                ]
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):  # the test's own server stays quiet
        pass


@pytest.fixture
def bedrock_server(settings, monkeypatch):
    BedrockRetrieve.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), BedrockRetrieve)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    session = boto3.session.Session(
        aws_access_key_id=AWS_ACCESS_KEY,
        aws_secret_access_key="leak-check-secret-7731",
        region_name="eu-west-2",
    )
    url = f"http://127.0.0.1:{server.server_address[1]}"
    backend = BedrockBackend(
        session.client("bedrock-agent-runtime", endpoint_url=url),
        session.client("bedrock-agent", endpoint_url=url),
        kb_id="KB12345678",
        data_source_id="DS12345678",
        max_attempts=1,
    )
    settings.KB_BACKEND = "bedrock"
    real = base._backend_for
    monkeypatch.setattr(
        base, "_backend_for", lambda name: backend if name == "bedrock" else real(name)
    )
    yield BedrockRetrieve.requests
    server.shutdown()
    server.server_close()


class Capture(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(f"{record.levelname} {record.name} {record.getMessage()}")


@contextmanager
def logging_at_debug(*, unpin: bool = False):
    """The logging configuration settings.py builds for LOG_LEVEL=DEBUG, SQL logging on (as
    DEBUG=true would), and a handler on the root that keeps every record."""
    config = copy.deepcopy(django_settings.LOGGING)
    config["root"]["level"] = "DEBUG"
    if unpin:  # the control: what the same request logs without the pins
        config["loggers"] = {name: {"level": "DEBUG"} for name in [*PINNED, "django"]}
    logging.config.dictConfig(config)
    capture = Capture()
    root = logging.getLogger()
    root.addHandler(capture)
    connection.force_debug_cursor = True
    try:
        yield capture.lines
    finally:
        connection.force_debug_cursor = False
        root.removeHandler(capture)
        logging.config.dictConfig(django_settings.LOGGING)


def post_ticket(api):
    return api.post(
        "/tickets",
        {
            "customer": {"email": EMAIL, "name": "Leak Check"},
            "subject": "Cracked jar",
            "body": BODY_MARKER,
        },
        format="json",
    )


def secrets_in(lines: list[str], api_key) -> dict[str, list[str]]:
    markers = {
        "ticket text": "ZEBRA7731",
        "e-mail": EMAIL,
        "API key": api_key.raw,
        "API key secret": api_key.raw.partition(".")[2],
        "AWS access key": AWS_ACCESS_KEY,
        "AWS signature": "AWS4-HMAC-SHA256",
    }
    return {
        name: [line[:200] for line in lines if marker in line]
        for name, marker in markers.items()
        if any(marker in line for line in lines)
    }


def test_debug_logging_of_a_full_ticket_leaks_nothing(api, api_key, bedrock_server):
    with logging_at_debug() as lines:
        response = post_ticket(api)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["degraded"] == []
    assert [s["title"] for s in body["suggestions"]] and body["suggestions"][0]["score"] == 0.91
    ticket = Ticket.objects.get()
    assert ticket.body == BODY_MARKER and ticket.customer.email == EMAIL
    assert Suggestion.objects.filter(ticket=ticket).count() == 1
    # The call really went over HTTP, signed with the key, carrying the ticket text.
    (call,) = bedrock_server
    assert call["path"] == "/knowledgebases/KB12345678/retrieve"
    assert "ZEBRA7731" in call["body"] and AWS_ACCESS_KEY in call["auth"]
    assert any(line.startswith("DEBUG ") for line in lines)  # DEBUG records were kept
    assert secrets_in(lines, api_key) == {}


def test_control_without_the_pins_the_same_request_leaks(api, api_key, bedrock_server):
    with logging_at_debug(unpin=True) as lines:
        response = post_ticket(api)

    assert response.status_code == 201, response.content
    assert Customer.objects.filter(email=EMAIL).exists()
    leaks = secrets_in(lines, api_key)
    assert {"ticket text", "e-mail", "AWS access key", "AWS signature"} <= set(leaks), leaks
