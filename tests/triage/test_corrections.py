"""Agents correcting triage (PATCH, the admin ticket page), and GET /triage/metrics."""

import pytest
from django.contrib.auth import get_user_model

from tests.factories import TicketFactory
from tests.helpers import assert_error, post_ticket
from tests.triage.test_arrival import REFUND
from tickets.models import Ticket
from triage.models import Category, CategoryCorrection
from triage.services import training_examples

pytestmark = pytest.mark.django_db


def test_patch_sets_the_category_as_an_agent_and_records_the_correction(api, categories, settings):
    settings.TRIAGE_APPLY_THRESHOLD = 0.3
    body = post_ticket(api, *REFUND)
    assert body["triage"]["category"] == "Refunds" and body["triage"]["applied"]
    ticket_id = body["ticket"]["id"]
    lead = get_user_model().objects.create_user("dora", is_staff=True)
    Category.objects.filter(name="Delivery").update(default_priority="high", default_assignee=lead)

    response = api.patch(
        f"/tickets/{ticket_id}", {"category_id": categories["Delivery"].pk}, format="json"
    )

    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["category"] == "Delivery" and answer["category_source"] == "agent"
    assert answer["category_confidence"] is None
    assert answer["priority"] == "high" and answer["assignee"] == "dora"  # its defaults
    correction = CategoryCorrection.objects.get(ticket_id=ticket_id)
    assert correction.previous == categories["Refunds"] and correction.previous_source == "model"
    assert correction.category == categories["Delivery"] and correction.actor.startswith("api-key")

    metrics = api.get("/triage/metrics").json()
    assert metrics["applied"] == 1 and metrics["applied_changed_by_agent"] == 1
    assert metrics["applied_accuracy"] == 0.0
    assert metrics["confused_pairs"] == [
        {"predicted": "Refunds", "corrected": "Delivery", "count": 1}
    ]


def test_a_priority_in_the_same_patch_wins_over_the_categorys_default(api, categories):
    Category.objects.filter(name="Delivery").update(default_priority="urgent")
    ticket = TicketFactory()
    response = api.patch(
        f"/tickets/{ticket.pk}",
        {"category_id": categories["Delivery"].pk, "priority": "low"},
        format="json",
    )
    assert response.status_code == 200 and response.json()["priority"] == "low"


def test_clearing_and_bad_categories(api, categories):
    ticket = TicketFactory(category=categories["Account"], category_source="model")
    response = api.patch(f"/tickets/{ticket.pk}", {"category_id": None}, format="json")
    assert response.status_code == 200 and response.json()["category"] is None
    assert CategoryCorrection.objects.get(ticket=ticket).category is None

    Category.objects.filter(name="Refunds").update(active=False)
    for value in (categories["Refunds"].pk, 999999, "x", 0):
        response = api.patch(f"/tickets/{ticket.pk}", {"category_id": value}, format="json")
        assert_error(response, 400, code="validation_error")
        assert "category_id" in response.json()["error"]["fields"]


def test_patch_takes_the_category_by_the_name_tickets_show(api, categories):
    ticket = TicketFactory(category=categories["Refunds"], category_source="model")
    shown = api.get(f"/tickets/{ticket.pk}").json()["category"]
    assert shown == "Refunds"

    response = api.patch(f"/tickets/{ticket.pk}", {"category": "delivery"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["category"] == "Delivery"
    assert response.json()["category_source"] == "agent"
    correction = CategoryCorrection.objects.get(ticket=ticket)
    assert (correction.previous, correction.category) == (
        categories["Refunds"],
        categories["Delivery"],
    )
    both = {"category": "Delivery", "category_id": categories["Delivery"].pk}
    assert api.patch(f"/tickets/{ticket.pk}", both, format="json").status_code == 200
    assert (
        api.patch(f"/tickets/{ticket.pk}", {"category": None}, format="json").json()["category"]
        is None
    )


def test_a_category_name_that_names_nothing_or_disagrees_is_refused(api, categories):
    ticket = TicketFactory(category=categories["Refunds"], category_source="model")
    Category.objects.filter(name="Account").update(active=False)
    for body in (
        {"category": "Returns & refunds"},  # no such category
        {"category": "Account"},  # inactive
        {"category": ""},
        {"category": "Delivery", "category_id": categories["Refunds"].pk},
    ):
        response = api.patch(f"/tickets/{ticket.pk}", body, format="json")
        assert_error(response, 400, code="validation_error")
        assert "category" in response.json()["error"]["fields"], body
    message = api.patch(f"/tickets/{ticket.pk}", {"category": "Nope"}, format="json")
    assert "Delivery, Refunds" in message.json()["error"]["fields"]["category"][0]
    ticket.refresh_from_db()
    assert ticket.category == categories["Refunds"] and ticket.category_source == "model"
    assert not CategoryCorrection.objects.exists()


def test_an_update_names_the_fields_it_does_not_take_instead_of_ignoring_them(api, categories):
    ticket = TicketFactory(priority="normal")
    response = api.patch(
        f"/tickets/{ticket.pk}", {"priority": "high", "statuss": "closed", "id": 7}, format="json"
    )
    assert_error(response, 400, code="validation_error")
    fields = response.json()["error"]["fields"]
    assert sorted(fields) == ["id", "statuss"]
    assert "status" in fields["statuss"][0] and "category_id" in fields["statuss"][0]
    ticket.refresh_from_db()
    assert ticket.priority == "normal"  # nothing of a refused update is applied


def test_agent_labels_come_first_in_training(categories):
    model_set = TicketFactory(
        subject="Order late", body="late parcel", category=categories["Delivery"]
    )
    Ticket.objects.filter(pk=model_set.pk).update(category_source="model")
    texts, labels, _ = training_examples()
    assert texts[-1].endswith("late parcel")  # after every agent-set label
    assert len(texts) == 19


def test_a_category_the_model_applied_on_a_follow_up_trains_only_once_an_agent_confirms_it(
    api, categories
):
    read_on_follow_up = TicketFactory(
        subject="Help",
        body="can someone help me please?",
        category=categories["Refunds"],
        triage={"status": "applied", "read_on": "follow_up"},
    )
    Ticket.objects.filter(pk=read_on_follow_up.pk).update(category_source="model")
    texts, _, _ = training_examples()
    assert len(texts) == 18 and not any("help me please" in t for t in texts)

    confirmed = api.patch(
        f"/tickets/{read_on_follow_up.pk}", {"category_id": categories["Refunds"].pk}, format="json"
    )
    assert confirmed.status_code == 200, confirmed.content

    texts, labels, _ = training_examples()
    assert (
        len(texts) == 19 and labels[texts.index("Help\ncan someone help me please?")] == "Refunds"
    )


def test_metrics_count_coverage_accuracy_and_confusions(api, categories):
    refunds, delivery = categories["Refunds"], categories["Delivery"]

    def decided(label, applied, corrected_to=None, status=None):
        ticket = TicketFactory(
            triage={
                "status": status or ("applied" if applied else "suggested"),
                "label": label,
                "category_id": Category.objects.get(name=label).pk,
                "confidence": 0.9 if applied else 0.4,
                "applied": applied,
            }
        )
        if corrected_to is not None:
            CategoryCorrection.objects.create(
                ticket=ticket, category=corrected_to, actor="user:ana"
            )

    decided("Refunds", True)  # applied, never touched: counts as right
    decided("Refunds", True, corrected_to=refunds)  # confirmed
    decided("Refunds", True, corrected_to=delivery)  # wrong
    decided("Delivery", False, corrected_to=delivery)  # below threshold, agent agreed
    decided("Delivery", False, corrected_to=refunds)  # below threshold, agent disagreed
    TicketFactory(triage={"status": "no_model"})  # not read by a model

    body = api.get("/triage/metrics", {"days": 30}).json()

    assert body["tickets_read"] == 5 and body["applied"] == 3
    assert body["coverage"] == 0.6
    assert body["applied_accuracy"] == round(2 / 3, 4)
    assert body["applied_reviewed"] == 2 and body["applied_reviewed_accuracy"] == 0.5
    assert body["not_applied_reviewed"] == 2 and body["not_applied_agreement"] == 0.5
    pairs = {(p["predicted"], p["corrected"]): p["count"] for p in body["confused_pairs"]}
    assert pairs == {("Refunds", "Delivery"): 1, ("Delivery", "Refunds"): 1}


def test_metrics_keep_the_full_model_and_its_word_view_apart(api, categories):
    refunds, delivery = categories["Refunds"], categories["Delivery"]

    def applied(method, corrected_to):
        decision = {"status": "applied", "label": "Refunds", "category_id": refunds.pk}
        decision.update(confidence=0.9, applied=True, **({"method": method} if method else {}))
        ticket = TicketFactory(triage=decision)
        CategoryCorrection.objects.create(ticket=ticket, category=corrected_to, actor="user:ana")

    applied(None, refunds)  # stored before the word view existed: the full model's
    applied("full", refunds)
    applied("lexical", delivery)

    def figures(**params):
        body = api.get("/triage/metrics", params).json()
        return body["method"], body["tickets_read"], body["applied_reviewed_accuracy"]

    assert figures() == (None, 3, round(2 / 3, 4))
    assert figures(method="full") == ("full", 2, 1.0)
    assert figures(method="lexical") == ("lexical", 1, 0.0)
    assert_error(api.get("/triage/metrics", {"method": "words"}), 400, code="validation_error")


def test_a_new_ticket_keeps_which_method_read_it(api, categories):
    body = post_ticket(api, "Refund", "I returned the blender and I am waiting for my refund.")
    assert body["triage"]["method"] == "full"
    assert Ticket.objects.get(pk=body["ticket"]["id"]).triage["method"] == "full"


def test_metrics_refuse_bad_input_and_intake_keys(api, intake_api):
    assert_error(api.get("/triage/metrics", {"days": 0}), 400, code="validation_error")
    assert_error(api.get("/triage/metrics", {"days": "x"}), 400, code="validation_error")
    assert intake_api.get("/triage/metrics").status_code == 403
    empty = api.get("/triage/metrics").json()
    assert empty["tickets_read"] == 0 and empty["coverage"] is None


def test_the_admin_ticket_page_records_a_correction(categories):
    from django.test import Client

    staff = get_user_model().objects.create_user("agnes", is_staff=True, password="pw-123456")
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(*Permission.objects.filter(codename__endswith="_ticket"))
    client = Client()
    client.force_login(staff)
    ticket = TicketFactory(category=categories["Refunds"], category_source="model")
    response = client.post(
        f"/admin/tickets/ticket/{ticket.pk}/change/",
        {
            "_action": "update",
            "controls-status": ticket.status,
            "controls-priority": ticket.priority,
            "controls-assignee": "",
            "controls-category": categories["Account"].pk,
        },
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.category == categories["Account"] and ticket.category_source == "agent"
    correction = CategoryCorrection.objects.get(ticket=ticket)
    assert correction.previous == categories["Refunds"] and correction.actor == "user:agnes"
