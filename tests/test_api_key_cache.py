"""API keys are verified once per process and remembered for API_KEY_CACHE_SECONDS."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from helpdesk import auth
from helpdesk.models import ApiKey

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_cache():
    auth.verified_keys.clear()
    yield
    auth.verified_keys.clear()


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(auth, "_clock", lambda: now[0])
    return now


def key_queries(client: APIClient) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/tickets")
    assert response.status_code == 200, response.content
    return sum('"helpdesk_apikey"' in q["sql"] for q in queries.captured_queries)


def client_with(key: str) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Api-Key {key}")


def test_a_verified_key_is_not_read_again(api):
    assert key_queries(api) == 1
    assert key_queries(api) == 0


def test_a_remembered_key_is_read_again_after_the_ttl(api, clock, settings):
    settings.API_KEY_CACHE_SECONDS = 10
    key_queries(api)

    clock[0] += 9
    assert key_queries(api) == 0
    clock[0] += 2
    assert key_queries(api) == 1


def test_ttl_zero_reads_the_key_on_every_request(api, settings):
    settings.API_KEY_CACHE_SECONDS = 0

    assert key_queries(api) == 1
    assert key_queries(api) == 1


def test_a_wrong_secret_for_a_remembered_prefix_is_a_401(api, api_key):
    key_queries(api)
    prefix = api_key.raw.split(".")[0]

    response = client_with(f"{prefix}.wrong-secret").get("/tickets")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_revoking_a_key_through_the_model_applies_at_once(api, api_key):
    key_queries(api)
    key = ApiKey.objects.get(pk=api_key.pk)
    key.revoked = True
    key.save()

    response = api.get("/tickets")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_key_revoked_elsewhere_stops_working_within_the_ttl(api, api_key, clock, settings):
    settings.API_KEY_CACHE_SECONDS = 10
    key_queries(api)
    ApiKey.objects.filter(pk=api_key.pk).update(revoked=True)  # another process: no signal

    clock[0] += 11
    response = api.get("/tickets")

    assert response.status_code == 401


def test_an_expired_key_is_refused_even_when_remembered(api, api_key):
    key_queries(api)
    remembered = auth.verified_keys.get(api_key.raw)
    remembered.expiry_date = remembered.created  # expired since its creation

    response = api.get("/tickets")

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "API key has expired."


def test_the_cache_keeps_at_most_its_size(db):
    cache = auth._VerifiedKeys(size=2)
    keys = []
    for name in "abc":
        api_key, raw = ApiKey.objects.create_key(name=name, scopes="agent")
        cache.put(api_key, ttl=60)
        keys.append(raw)

    assert cache.get(keys[0]) is None
    assert cache.get(keys[1]) is not None
    assert cache.get(keys[2]) is not None
