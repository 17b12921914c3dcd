"""Who may call what: every URL pattern × every kind of caller, against the documented table.

The URL resolver is walked at collection, so a new endpoint is in the matrix by construction:
without an entry in EXPECTED (or, for the Django admin, under its prefix rule) its test fails.
The statuses asserted are the README's scopes table ("Reliability and security"):

- a caller that may not call it: 401 without (valid) credentials, else 403 in our JSON envelope
  naming the scopes, and nothing written;
- a caller that may: the endpoint's own answer — 2xx, or a 4xx that is about the input or the
  object (400, 404, 405, 409), never 401/403, never 5xx.
"""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.core.cache import caches
from django.urls import URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from customers.models import Customer, Interaction, Order
from helpdesk.models import ApiKey
from knowledge.models import SyncJob
from tests.factories import OrderFactory, SuggestionFactory
from tickets import satisfaction
from tickets.models import Feedback, IdempotencyRecord, Message, Suggestion, Ticket

KEYS = ["intake", "agent", "admin", "inbound"]
NO_CREDENTIALS = ["anonymous", "invalid_key", "revoked_key"]
SESSIONS = ["user", "staff", "superuser"]  # a non-staff user, a staff agent, a superuser
PRINCIPALS = NO_CREDENTIALS + KEYS + SESSIONS

# Who gets through (by principal); everyone else is refused (401 or 403).
AGENT = {"agent", "admin", "staff", "superuser"}
ADMIN = {"admin", "superuser"}
EVERYONE = set(PRINCIPALS)

# (route, method) → who may call it. Routes as the resolver spells them.
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("tickets", "GET"): AGENT,
    ("tickets", "POST"): AGENT | {"intake"},
    ("tickets/<int:pk>", "GET"): AGENT,
    ("tickets/<int:pk>", "PATCH"): AGENT,
    ("tickets/<int:pk>/context", "GET"): AGENT,
    ("tickets/<int:pk>/history", "GET"): AGENT,
    ("tickets/<int:pk>/messages", "GET"): AGENT,
    ("tickets/<int:pk>/messages", "POST"): AGENT,
    ("tickets/<int:pk>/messages/<int:message_id>/resend", "POST"): AGENT,
    # An intake key only on tickets it created; this ticket was created by none.
    ("tickets/<int:pk>/feedback", "POST"): AGENT,
    ("tickets/<int:pk>/similar", "GET"): AGENT,
    ("tickets/<int:pk>/merge", "POST"): AGENT,
    ("customers", "GET"): AGENT,
    ("customers", "POST"): AGENT,
    ("customers/<int:pk>", "GET"): AGENT,
    ("customers/<int:pk>", "PATCH"): AGENT,
    ("customers/<int:pk>/interactions", "GET"): AGENT,
    ("orders", "GET"): AGENT,
    ("orders", "POST"): AGENT,
    ("orders/<int:pk>", "GET"): AGENT,
    ("orders/<int:pk>", "PATCH"): AGENT,
    ("kb/search", "GET"): AGENT,
    ("kb/sync", "POST"): ADMIN,
    ("kb/sync/<int:job_id>", "GET"): ADMIN,
    ("inbound/email", "POST"): ADMIN | {"inbound"},
    ("triage/metrics", "GET"): AGENT,
    # Provider webhooks: the provider's own secret (basic auth, a signature), not API keys;
    # unconfigured here, so 404 for everyone (tests/tickets/test_email_webhooks.py).
    ("inbound/ses", "POST"): EVERYONE,
    ("inbound/mailgun/mime", "POST"): EVERYONE,
    # The customer's satisfaction page: public, the signed token in the link is the key
    # (tests/tickets/test_satisfaction.py): here the world's ticket's, the form.
    ("survey/<str:token>", "GET"): EVERYONE,
    # Public: liveness, the schema and its UI, the browsable API's login form.
    ("health", "GET"): EVERYONE,
    ("schema", "GET"): EVERYONE,
    ("docs", "GET"): EVERYONE,
    # Swagger UI's own files (drf-spectacular-sidecar), for /docs
    (r"^static/(?P<path>drf_spectacular_sidecar/swagger-ui-dist/[\w.-]+)$", "GET"): EVERYONE,
    ("api-auth/login/", "GET"): EVERYONE,
    ("api-auth/login/", "POST"): EVERYONE,
    ("api-auth/login/", "PUT"): EVERYONE,  # Django's LoginView treats PUT as POST
    ("admin/login/", "GET"): EVERYONE,
    ("admin/logout/", "GET"): EVERYONE,  # 405: logging out is a POST
    ("api-auth/logout/", "POST"): EVERYONE,
}
# The Django admin does its own checks (staff only; then per-model permissions) and ignores API
# keys: every pattern under admin/ follows ADMIN_SITE_RULE below, except its public pages.
ADMIN_SITE = "admin/"
ADMIN_SITE_PUBLIC = {"admin/login/", "admin/logout/"}

BODIES = {
    # Valid where that shows most (an accepted ticket), else empty: a validation error is not auth.
    ("tickets", "POST"): {
        "customer": {"email": "matrix@example.com"},
        "subject": "Blender will not start",
        "body": "It hums and stops.",
    },
}
WRITES = {"POST", "PATCH", "PUT", "DELETE"}


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def _methods(route: str, pattern) -> list[str]:
    view = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
    if route.startswith(ADMIN_SITE) and route not in ADMIN_SITE_PUBLIC:
        return ["GET"]  # admin pages: staff-only on any method; GET renders them
    if view is None:
        return ["GET"]
    names = [m for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)]
    return [m.upper() for m in names if m in view.http_method_names]


CASES = [
    (route, pattern, method)
    for route, pattern in _walk(get_resolver().url_patterns)
    for method in _methods(route, pattern)
]


@pytest.fixture(autouse=True)
def fresh_counters(db):
    """Throttle counters live in the cache: each case starts from zero."""
    for cache in caches.all():
        cache.clear()


@pytest.fixture
def world(db):
    order = OrderFactory()
    suggestion = SuggestionFactory(ticket__customer=order.customer, ticket__order=order)
    job = SyncJob.objects.latest("id")
    person = get_user_model().objects.create(username="matrix-person", is_staff=True)
    return {
        "customer": order.customer,
        "order": order,
        "ticket": suggestion.ticket,
        "job": job,
        "person": person,
    }


def _client(principal: str) -> APIClient:
    client = APIClient()
    if principal in KEYS:
        _, raw = ApiKey.objects.create_key(name=f"matrix-{principal}", scopes=principal)
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    elif principal == "invalid_key":
        client.credentials(HTTP_AUTHORIZATION="Api-Key nothing.here")
    elif principal == "revoked_key":
        _, raw = ApiKey.objects.create_key(name="matrix-revoked", scopes="admin", revoked=True)
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    elif principal in SESSIONS:
        user = get_user_model()(
            username=f"matrix-{principal}",
            is_staff=principal != "user",
            is_superuser=principal == "superuser",
        )
        user.set_unusable_password()  # no password hasher: the matrix has ~1,000 cases
        user.save()
        client.force_login(user)
    return client


def _url(route: str, pattern, world) -> str:
    """A URL for the pattern, with ids of objects that exist (an admin object page: the first
    object of its model)."""
    if route == "admin/(?P<url>.*)$":
        return "/admin/no-such-page/"
    samples = {
        "pk": {
            "tickets": world["ticket"].pk,
            "customers": world["customer"].pk,
            "orders": world["order"].pk,
        }.get(route.split("/")[0]),
        "job_id": world["job"].pk,
        "app_label": "tickets",
        "content_type_id": ContentType.objects.get_for_model(Ticket).pk,
        "object_id": world["ticket"].pk,
        "id": world["person"].pk,
        "path": "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
        "token": signing.dumps(world["ticket"].pk, salt=satisfaction.SALT),
        "message_id": world["ticket"].messages.first().pk,
    }
    if match := re.match(r"admin/(\w+)/(\w+)/<path:object_id>/", route):
        model = ContentType.objects.get_by_natural_key(*match.groups()).model_class()
        first = model.objects.first()
        samples["object_id"] = first.pk if first is not None else 1
    if "(?P<" in route:  # a regex pattern (the admin's app index): reverse it by name
        names = re.findall(r"\(\?P<(\w+)>", route)
        viewname = f"admin:{pattern.name}" if route.startswith(ADMIN_SITE) else pattern.name
        return reverse(viewname, kwargs={name: samples[name] for name in names})
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(samples[m.group(1)]), route)


def _snapshot(world) -> tuple:
    models = (Ticket, Message, Suggestion, Feedback, Customer, Order, Interaction, SyncJob)
    counts = tuple(model.objects.count() for model in (*models, IdempotencyRecord))
    customer = Customer.objects.get(pk=world["customer"].pk)
    ticket = Ticket.objects.get(pk=world["ticket"].pk)
    order = Order.objects.get(pk=world["order"].pk)
    return counts, customer.email, customer.name, ticket.status, ticket.priority, order.status


def _admin_site_rule(principal: str, response) -> None:
    login = response.status_code == 302 and "/admin/login/" in response["Location"]
    if principal in {"staff", "superuser"}:
        # Past the login: then the model's own permissions (a staff agent has none here, and
        # some pages are closed to everyone, e.g. adding a sync job by hand).
        assert not login, "staff are not sent to the login page"
    else:
        assert login, "everyone else is sent to the login page"


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize(
    "route, pattern, method",
    CASES,
    ids=[f"{method} /{route}" for route, _, method in CASES],
)
def test_every_endpoint_answers_each_caller_as_documented(route, pattern, method, principal, world):
    client = _client(principal)
    url = _url(route, pattern, world)
    before = _snapshot(world)

    response = client.generic(
        method,
        url,
        data=json.dumps(BODIES.get((route, method), {})),
        content_type="application/json",
    )

    assert response.status_code < 500, response.content[:500]
    if route.startswith(ADMIN_SITE) and route not in ADMIN_SITE_PUBLIC:
        _admin_site_rule(principal, response)
        return
    allowed = EXPECTED.get((route, method))
    assert allowed is not None, f"{method} /{route} has no entry in EXPECTED: add who may call it"
    if principal in allowed:
        assert response.status_code not in (401, 403), response.content[:500]
        return
    expected = 401 if principal in NO_CREDENTIALS else 403
    assert response.status_code == expected, response.content[:500]
    error = response.json()["error"]
    assert error["code"] in {"not_authenticated", "authentication_failed", "permission_denied"}
    if expected == 401:
        assert response["WWW-Authenticate"] == "Api-Key"
    else:  # the 403 names the scopes that would do
        assert error["fields"]["required_scopes"], error
        assert all(f"'{scope}'" in error["message"] for scope in error["fields"]["required_scopes"])
    if method in WRITES:
        assert _snapshot(world) == before, "a refused write changed nothing"


def test_the_table_names_no_endpoint_that_does_not_exist():
    routes = {(route, method) for route, _, method in CASES}
    stale = set(EXPECTED) - routes
    assert not stale
