"""A ticket's history holds every change of its priority, assignee, category and order: who,
what from, what to (tickets.changes), whether made through the API, the ticket page, a queue
action or a merge."""

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from customers.models import Interaction
from tests.factories import OrderFactory, TicketFactory
from tests.openapi import assert_conforms
from tickets.models import Ticket
from triage.models import Category

pytestmark = pytest.mark.django_db


def changes_logged(ticket) -> list[Interaction]:
    return list(
        Interaction.objects.filter(ticket_id=ticket.pk, kind="ticket_changed").order_by("id")
    )


@pytest.fixture
def dora(db):
    return get_user_model().objects.create_user("dora", is_staff=True)


def test_one_patch_logs_its_priority_assignee_and_order_changes_in_one_record(api, dora):
    ticket = TicketFactory()
    order = OrderFactory(customer=ticket.customer, number="BH-4821702")

    response = api.patch(
        f"/tickets/{ticket.pk}",
        {"priority": "urgent", "assignee": "dora", "order_number": "BH-4821702", "status": "open"},
        format="json",
    )

    assert response.status_code == 200, response.content
    [logged] = changes_logged(ticket)
    assert logged.actor.startswith("api-key:")
    assert logged.data == {
        "changes": {
            "priority": {"from": "normal", "to": "urgent"},
            "assignee": {"from": None, "to": "dora", "from_id": None, "to_id": dora.pk},
            "order": {"from": None, "to": "BH-4821702", "from_id": None, "to_id": order.pk},
        }
    }
    assert logged.summary == (
        f"{ticket.number}: priority normal → urgent; assignee — → dora; order — → BH-4821702"
    )
    # The status keeps its own record, as integrations read it.
    status = Interaction.objects.get(ticket_id=ticket.pk, kind="status_changed")
    assert status.data == {"from": "new", "to": "open"}

    # What GET /tickets/{id}/context answers as the ticket's history.
    context = api.get(f"/tickets/{ticket.pk}/context")
    assert_conforms(context, "GET", "/tickets/{id}/context")
    history = {row["kind"]: row for row in context.json()["history"]}
    assert history["ticket_changed"]["data"] == logged.data


def test_unassigning_and_unlinking_log_what_was_there(api, dora):
    order = OrderFactory()
    ticket = TicketFactory(customer=order.customer, assignee=dora, order=order, order_source="text")

    api.patch(f"/tickets/{ticket.pk}", {"assignee": None, "order_id": None}, format="json")

    [logged] = changes_logged(ticket)
    assert logged.data["changes"]["assignee"] == {
        "from": "dora",
        "to": None,
        "from_id": dora.pk,
        "to_id": None,
    }
    assert logged.data["changes"]["order"]["from"] == order.number
    assert logged.data["changes"]["order"]["to"] is None


def test_a_patch_that_changes_nothing_logs_nothing(api, dora):
    ticket = TicketFactory(priority="high", assignee=dora)

    response = api.patch(
        f"/tickets/{ticket.pk}", {"priority": "high", "assignee": "dora"}, format="json"
    )

    assert response.status_code == 200
    assert not Interaction.objects.filter(ticket_id=ticket.pk).exists()


def test_a_refused_patch_logs_nothing(api):
    ticket = TicketFactory(status=Ticket.Status.CLOSED, resolved_at=timezone.now())

    response = api.patch(
        f"/tickets/{ticket.pk}", {"priority": "urgent", "status": "new"}, format="json"
    )

    assert response.status_code == 409
    assert not Interaction.objects.filter(ticket_id=ticket.pk).exists()
    ticket.refresh_from_db()
    assert ticket.priority == "normal"


def test_a_category_is_logged_with_the_defaults_it_brought(api, dora):
    refunds = Category.objects.create(name="Refunds")
    delivery = Category.objects.create(
        name="Delivery", default_priority="high", default_assignee=dora
    )
    ticket = TicketFactory(category=refunds, category_source="model")

    api.patch(f"/tickets/{ticket.pk}", {"category_id": delivery.pk}, format="json")

    [logged] = changes_logged(ticket)
    assert logged.data["changes"] == {
        "category": {
            "from": "Refunds",
            "to": "Delivery",
            "from_id": refunds.pk,
            "to_id": delivery.pk,
        },
        "priority": {"from": "normal", "to": "high", "by": "category"},
        "assignee": {
            "from": None,
            "to": "dora",
            "from_id": None,
            "to_id": dora.pk,
            "by": "category",
        },
    }
    assert logged.summary == (
        f"{ticket.number}: category Refunds → Delivery; "
        "priority normal → high (by the category's default); "
        "assignee — → dora (by the category's default)"
    )


def test_a_category_and_a_priority_in_one_patch_log_whose_each_is(api):
    delivery = Category.objects.create(name="Delivery", default_priority="urgent")
    ticket = TicketFactory()

    api.patch(
        f"/tickets/{ticket.pk}", {"category_id": delivery.pk, "priority": "low"}, format="json"
    )

    category, priority = changes_logged(ticket)
    assert category.data["changes"] == {
        "category": {"from": None, "to": "Delivery", "from_id": None, "to_id": delivery.pk}
    }
    # The agent's own priority (the category's default did not apply): no `by`.
    assert priority.data["changes"] == {"priority": {"from": "normal", "to": "low"}}


def test_confirming_what_the_model_or_the_words_set_changes_no_value_and_logs_nothing(api):
    refunds = Category.objects.create(name="Refunds")
    order = OrderFactory()
    ticket = TicketFactory(
        customer=order.customer,
        category=refunds,
        category_source="model",
        order=order,
        order_source="text",
    )

    response = api.patch(
        f"/tickets/{ticket.pk}",
        {"category_id": refunds.pk, "order_id": ticket.order_id},
        format="json",
    )

    assert response.status_code == 200
    assert (response.json()["category_source"], response.json()["order_source"]) == (
        "agent",
        "agent",
    )
    assert changes_logged(ticket) == []


def test_a_merge_logs_the_assignee_and_order_the_target_took(api, dora):
    order = OrderFactory()
    source = TicketFactory(customer=order.customer, assignee=dora, order=order, order_source="text")
    target = TicketFactory(customer=order.customer)

    response = api.post(f"/tickets/{source.pk}/merge", {"into": target.pk}, format="json")

    assert response.status_code == 200, response.content
    [logged] = changes_logged(target)
    assert set(logged.data["changes"]) == {"assignee", "order"}
    assert logged.data["changes"]["order"]["to"] == order.number


def test_an_agents_decision_that_no_category_fits_is_logged(api):
    refunds = Category.objects.create(name="Refunds")
    applied = TicketFactory(category=refunds, category_source="model")
    untouched = TicketFactory()

    for ticket in (applied, untouched):
        api.patch(f"/tickets/{ticket.pk}", {"category_id": None}, format="json")

    [logged] = changes_logged(applied)
    assert logged.data["changes"] == {
        "category": {
            "from": "Refunds",
            "to": "(none of the categories)",
            "from_id": refunds.pk,
            "to_id": None,
        }
    }
    [logged] = changes_logged(untouched)
    assert logged.summary == f"{untouched.number}: category — → (none of the categories)"
