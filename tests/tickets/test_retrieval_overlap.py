"""POST /tickets runs the KB search in a worker while the request thread resolves the customer
and reads their history (tickets.services.ticket_create); a remote search (Bedrock) is awaited
before the ticket's transaction opens, never inside it."""

import threading

import pytest
from django.db import connection

from knowledge.backends.local import LocalBackend
from tickets import services

pytestmark = pytest.mark.django_db

PAYLOAD = {
    "customer": {"email": "ana@example.com", "name": "Ana"},
    "subject": "Refund for damaged blender",
    "body": "My order arrived broken, how do I get my money back?",
}


@pytest.fixture
def traced(monkeypatch):
    """Events in order: `search started`/`search done` (in the worker), `customer resolved` and
    whether the request thread was inside a transaction when the search finished being waited
    for. `customer_resolved` is set once the request thread has the customer."""
    events, customer_resolved, search_started = [], threading.Event(), threading.Event()
    search_of = LocalBackend.retrieval

    def retrieval(self, query, **kwargs):
        search = search_of(self, query, **kwargs)

        def traced_search():
            events.append("search started")
            search_started.set()
            # Without the overlap this waits out its 5 s and the answer is degraded.
            overlapped = customer_resolved.wait(timeout=5)
            events.append("search done" if overlapped else "search waited alone")
            return search()

        return traced_search

    # The customer and their history (one read on Postgres with the database store).
    resolve = services._customer_and_history

    def resolve_customer(payload, degraded, **kwargs):
        # The worker may not be scheduled yet when a fast read is done: give it the time it
        # would have while the request thread waits on the database (if the search only ran
        # after the customer, this waits out its 5 s and the order below is wrong).
        search_started.wait(timeout=5)
        resolved = resolve(payload, degraded, **kwargs)
        events.append("customer resolved")
        customer_resolved.set()
        return resolved

    monkeypatch.setattr(LocalBackend, "retrieval", retrieval)
    monkeypatch.setattr(services, "_customer_and_history", resolve_customer)
    return events


def test_the_search_runs_while_the_customer_is_resolved(api, traced):
    response = api.post("/tickets", PAYLOAD, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["degraded"] == []
    assert len(body["suggestions"]) == 5
    assert traced.index("search started") < traced.index("customer resolved")
    assert "search done" in traced


def test_a_remote_search_is_awaited_before_the_transaction(api, traced, monkeypatch, settings):
    settings.KB_RETRIEVAL_DEADLINE_SECONDS = 0.5
    monkeypatch.setattr(LocalBackend, "remote", True)
    depth_when_waited = []
    result_of = services.PendingRetrieval.result

    def result(self):
        depth_when_waited.append(len(connection.savepoint_ids))
        return result_of(self)

    monkeypatch.setattr(services.PendingRetrieval, "result", result)

    response = api.post("/tickets", PAYLOAD, format="json")

    assert response.status_code == 201, response.content
    # Awaited outside the ticket's transaction: at the savepoint depth of pytest-django's test
    # transaction, which is the depth the view starts at (inside, it would be one deeper).
    assert depth_when_waited == [len(connection.savepoint_ids)]
    # Not overlapped: the customer is resolved only after the search gave up waiting for it.
    assert traced.index("search started") < traced.index("customer resolved")
    assert response.json()["degraded"] == ["knowledge_base"]
