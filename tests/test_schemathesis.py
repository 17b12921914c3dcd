"""Every operation of the OpenAPI schema fuzzed by schemathesis, through its WSGI integration
(the real Django app, middleware and database; no server process).

Checks: no 5xx, a documented status, the documented content type, and a body of the documented
shape, strictly (`tests.openapi.strict_schema`: no undeclared key, none missing). Valid and
invalid inputs both (schemathesis' positive and negative modes), a bounded number of examples
per operation, derandomized so CI runs the same cases every time. Half of the generated path
ids are swapped for objects that exist, so the 2xx answers are exercised too.
"""

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from helpdesk.models import ApiKey
from helpdesk.wsgi import application
from knowledge.models import SyncJob
from tests.factories import OrderFactory, SuggestionFactory, TicketFactory
from tests.openapi import strict_schema

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Per operation, phase and mode: about 1,600 requests over the schema's operations, ≈ 45 s of CPU on
# top of the suite's start-up (README, "The schema").
MAX_EXAMPLES = 30

# The fuzzing runs once with a key of each scope that calls the JSON API (`inbound` is for the
# inbound e-mail endpoint only): every answer, 403s included, must be documented.
KEY_KINDS = ["intake", "agent", "admin"]


# POST /inbound/email takes a raw e-mail: generated as bytes, sent as they are.
schemathesis.serializer.alias("message/rfc822", "application/octet-stream")

schema = schemathesis.openapi.from_dict(strict_schema())
schema.app = application


@pytest.fixture(autouse=True)
def wsgi_host(settings):
    settings.ALLOWED_HOSTS = ["localhost"]  # the host schemathesis' WSGI client sends


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """What Django's own test client does: the WSGI handler would close the connection at each
    request's start and end, and with it the test's transaction (Postgres)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(params=KEY_KINDS)
def fuzz_key(request, db) -> str:
    kind = request.param
    _, key = ApiKey.objects.create_key(name=f"fuzz-{kind}", scopes=kind)
    return key


@pytest.fixture
def existing(db) -> dict[str, int]:
    """An object for each kind of path id."""
    ticket = TicketFactory(order=OrderFactory())
    SuggestionFactory(ticket=ticket, rank=1)
    return {
        "/tickets": ticket.id,
        "/customers": ticket.customer_id,
        "/orders": ticket.order_id,
        "/kb/sync": SyncJob.objects.order_by("id").values_list("id", flat=True).first(),
    }


def use_existing_ids(case, existing: dict[str, int]) -> None:
    for name, value in case.path_parameters.items():
        if isinstance(value, int) and value % 2 == 0:
            prefix = next(p for p in existing if case.path.startswith(p + "/"))
            case.path_parameters[name] = existing[prefix]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_answers_as_documented(case, fuzz_key, existing):
    use_existing_ids(case, existing)

    case.call_and_validate(headers={"Authorization": f"Api-Key {fuzz_key}"}, checks=CHECKS)
