"""A KB or interaction-store outage degrades POST /tickets; it never loses the ticket."""

import pytest

from customers.interactions import DatabaseInteractionStore
from customers.models import Interaction
from helpdesk.api.exceptions import KnowledgeBackendUnavailable
from knowledge.backends.local import LocalBackend
from tickets.models import Suggestion, Ticket

pytestmark = pytest.mark.django_db

PAYLOAD = {
    "customer": {"email": "ana@example.com", "name": "Ana"},
    "subject": "Refund for damaged blender",
    "body": "My order arrived broken, how do I get my money back?",
    "channel": "email",
}


def test_kb_outage_answers_degraded_without_suggestions(api, monkeypatch):
    def unavailable(self, query, *, k=5, filters=None, mode="hybrid"):
        raise KnowledgeBackendUnavailable("index unavailable")

    monkeypatch.setattr(LocalBackend, "retrieval", unavailable)

    response = api.post("/tickets", PAYLOAD, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["degraded"] == ["knowledge_base"]
    assert body["suggestions"] == []
    ticket = Ticket.objects.get()
    assert ticket.subject == PAYLOAD["subject"]
    assert not Suggestion.objects.exists()
    assert Interaction.objects.filter(ticket_id=ticket.id, kind="ticket_created").count() == 1


def test_unexpected_kb_error_also_degrades(api, monkeypatch):
    def broken(self, query, **kwargs):
        def search():  # raised in the deadline worker, mid-search
            raise RuntimeError("boom")

        return search

    monkeypatch.setattr(LocalBackend, "retrieval", broken)

    response = api.post("/tickets", PAYLOAD, format="json")

    assert response.status_code == 201
    assert response.json()["degraded"] == ["knowledge_base"]
    assert response.json()["suggestions"] == []
    ticket = Ticket.objects.get()
    assert not Suggestion.objects.exists()
    assert Interaction.objects.filter(ticket_id=ticket.id, kind="ticket_created").count() == 1


def test_interaction_store_outage_keeps_ticket_and_suggestions(api, monkeypatch):
    def down(self, record):
        raise ConnectionError("store down")

    monkeypatch.setattr(DatabaseInteractionStore, "append", down)

    response = api.post("/tickets", PAYLOAD, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["degraded"] == ["interactions"]
    assert len(body["suggestions"]) == 5
    assert Ticket.objects.count() == 1
    assert Suggestion.objects.count() == 5
    assert not Interaction.objects.exists()


def test_answer_is_not_degraded_when_everything_works(api):
    response = api.post("/tickets", PAYLOAD, format="json")

    body = response.json()
    assert response.status_code == 201
    assert body["degraded"] == []
    assert body["suggestions"][0]["title"] in {
        "Refunds: How and When You Get Your Money Back",
        "Damaged or Broken Item on Arrival",
    }
    assert [s["rank"] for s in body["suggestions"]] == [1, 2, 3, 4, 5]
    stored = list(Suggestion.objects.order_by("rank").values_list("id", "title"))
    assert stored == [(s["id"], s["title"]) for s in body["suggestions"]]
