"""POST /tickets answers `triage` and applies it: real encoder, real model, real database."""

import pytest
from django.contrib.auth import get_user_model

from knowledge.backends.local import shared_encoder
from tests.helpers import count_encoder_passes, post_ticket
from tickets.models import Ticket
from triage.models import Category, TriageModel
from triage.services import forget_current

pytestmark = pytest.mark.django_db


REFUND = ("My refund", "I returned the coffee machine and I still have not been refunded.")


def test_without_a_model_triage_says_so_and_changes_nothing(api):
    body = post_ticket(api, *REFUND)
    triage = body["triage"]
    assert triage["status"] == "no_model" and "triage_train" in triage["reason"]
    assert triage["applied"] is False and triage["category"] is None
    assert triage["language"] == "en"
    ticket = Ticket.objects.get(pk=body["ticket"]["id"])
    assert ticket.category_id is None and ticket.priority == "normal"
    assert ticket.language == "en" and ticket.sentiment in {"negative", "neutral", "positive"}


def test_above_the_threshold_the_category_and_its_defaults_are_applied(api, categories, settings):
    settings.TRIAGE_APPLY_THRESHOLD = 0.3
    lead = get_user_model().objects.create_user("rita", is_staff=True)
    Category.objects.filter(name="Refunds").update(default_priority="urgent", default_assignee=lead)

    body = post_ticket(api, *REFUND)

    triage = body["triage"]
    assert triage["status"] == "applied", triage
    assert triage["category"] == "Refunds" and triage["applied"] is True
    assert triage["confidence"] >= 0.3
    assert [a["category"] for a in triage["alternatives"]][0] == "Refunds"
    assert body["ticket"]["category"] == "Refunds"
    assert body["ticket"]["category_source"] == "model"
    assert body["ticket"]["priority"] == "urgent" and body["ticket"]["assignee"] == "rita"
    detail = api.get(f"/tickets/{body['ticket']['id']}").json()
    assert detail["category"] == "Refunds" and detail["category_source"] == "model"
    assert detail["category_confidence"] == triage["confidence"]
    assert detail["language"] == "en"
    decision = Ticket.objects.get(pk=body["ticket"]["id"]).triage
    assert decision["applied"] and decision["label"] == "Refunds"
    assert decision["category_id"] == categories["Refunds"].pk


def test_a_priority_given_by_the_client_is_kept(api, categories, settings):
    settings.TRIAGE_APPLY_THRESHOLD = 0.3
    Category.objects.filter(name="Refunds").update(default_priority="urgent")
    body = post_ticket(api, *REFUND, priority="low")
    assert body["triage"]["applied"] and body["ticket"]["priority"] == "low"


def test_below_the_threshold_it_is_left_for_an_agent(api, categories, settings):
    settings.TRIAGE_APPLY_THRESHOLD = 1.0
    body = post_ticket(api, *REFUND)
    triage = body["triage"]
    assert triage["status"] == "suggested" and triage["applied"] is False
    assert triage["category"] == "Refunds"
    assert body["ticket"]["category"] is None


def test_a_category_made_inactive_is_not_applied(api, categories, settings):
    settings.TRIAGE_APPLY_THRESHOLD = 0.0
    Category.objects.filter(name="Refunds").update(active=False)
    body = post_ticket(api, *REFUND)
    assert body["triage"]["status"] in {"category_unavailable", "out_of_scope"}
    assert body["triage"]["applied"] is False
    assert body["ticket"]["category"] is None


@pytest.mark.parametrize("text", ["😀🙏🔥", "?!... —", "👍\n\n🙏"])
def test_emoji_or_empty_text_is_out_of_scope(api, categories, text):
    body = post_ticket(api, "🙂", text)
    assert body["triage"]["status"] == "out_of_scope"
    assert body["triage"]["applied"] is False and body["ticket"]["category"] is None


def test_a_corrupt_model_turns_triage_off_and_health_warns(api, categories):
    TriageModel.objects.filter(current=True).update(blob=b"\x00garbage", revision="restored")
    forget_current()  # another process would see it within RECHECK_SECONDS
    body = post_ticket(api, *REFUND)
    assert body["triage"]["status"] == "off" and "unreadable" in body["triage"]["reason"]
    assert body["ticket"]["category"] is None
    health = api.get("/health").json()
    assert health["checks"]["triage"]["status"] == "degraded"
    assert health["status"] == "degraded"


def test_strongly_negative_tickets_get_at_least_high_priority(api):
    body = post_ticket(
        api,
        "Terrible, furious",
        "This is the worst service ever. I am furious and disgusted, nobody helps me!",
    )
    assert body["triage"]["sentiment"]["label"] == "negative"
    assert body["triage"]["sentiment"]["score"] <= -0.8
    assert body["ticket"]["priority"] == "high" and body["triage"]["priority_rule"]
    calm = post_ticket(api, "Question", "Could you tell me the opening hours? Thanks a lot.")
    assert calm["ticket"]["priority"] == "normal" and calm["triage"]["priority_rule"] == ""


def test_triage_adds_no_encoder_pass(api, categories, settings, monkeypatch):
    """The ticket's vector is retrieval's, from the encoder's cache: with a model, POST
    /tickets makes exactly the passes it makes without one."""
    settings.TRIAGE_APPLY_THRESHOLD = 0.3
    passes = count_encoder_passes(monkeypatch, shared_encoder())
    body = post_ticket(api, "Parcel", "My parcel from last week is still not here, where is it?")
    assert body["triage"]["status"] in {"applied", "suggested"}
    assert body["triage"]["category"] == "Delivery"
    assert len(passes) == 1  # retrieval's one pass for a one-message ticket

    TriageModel.objects.all().delete()
    forget_current()
    passes.clear()
    body = post_ticket(api, "Parcel 2", "My second parcel is also not here, where is it?")
    assert body["triage"]["status"] == "no_model"
    assert len(passes) == 1


def test_no_suggestion_in_another_language_than_the_kb_says_why(api):
    body = post_ticket(
        api,
        "Paket nicht angekommen",
        "Mein Paket ist seit zwei Wochen unterwegs und immer noch nicht angekommen. Wo ist es?",
        kb_filters={"equals": {"key": "product", "value": "no-such-product"}},
    )
    assert body["suggestions"] == []
    assert body["triage"]["language"] == "de" and body["ticket"]["language"] == "de"
    note = body["triage"]["suggestions_note"]
    assert "'de'" in note and "'en'" in note

    english = post_ticket(
        api, *REFUND, kb_filters={"equals": {"key": "product", "value": "no-such-product"}}
    )
    assert english["suggestions"] == [] and english["triage"]["suggestions_note"] == ""


def test_the_text_is_read_while_the_search_runs(api, monkeypatch):
    """Language and sentiment need no passages: they are read before the KB search is
    awaited (off the request's critical path), and the answer is the same."""
    from tickets import services
    from triage import reading

    events = []
    read_language, get = reading.read_language, services._Passages.get

    def recorded_read(text):
        events.append("language")
        return read_language(text)

    def recorded_get(self):
        events.append("passages")
        return get(self)

    monkeypatch.setattr(reading, "read_language", recorded_read)
    monkeypatch.setattr(services._Passages, "get", recorded_get)
    body = post_ticket(api, *REFUND)
    assert events == ["language", "passages"]
    assert body["triage"]["language"] == "en" and body["triage"]["sentiment"] is not None
    assert len(body["suggestions"]) == 5


@pytest.mark.parametrize("broken", ["reading", "deciding"])
def test_a_failing_triage_step_leaves_the_ticket_as_without_triage(
    api, categories, settings, monkeypatch, caplog, broken
):
    from triage import arrival, reading

    settings.TRIAGE_APPLY_THRESHOLD = 0.3

    def fail(*args, **kwargs):
        raise RuntimeError("boom")

    if broken == "reading":
        monkeypatch.setattr(reading, "read_language", fail)
    else:
        monkeypatch.setattr(arrival, "_predict", fail)
    body = post_ticket(api, "Parcel", "My parcel from last week is still not here, where is it?")
    assert body["triage"]["status"] == "error" and body["triage"]["applied"] is False
    assert "triage failed" in body["triage"]["reason"]
    assert len(body["suggestions"]) == 5
    ticket = Ticket.objects.get(pk=body["ticket"]["id"])
    assert ticket.category_id is None and ticket.priority == "normal"
    assert ticket.triage["status"] == "error"
    assert "Triage failed" in caplog.text
