"""The "Support agent" group: agents work tickets and read customers; they cannot delete
tickets, edit orders or see API keys. Superusers can do everything."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from customers.models import Order
from helpdesk.models import ApiKey
from helpdesk.staff import SUPPORT_AGENT_GROUP, support_agent_group
from tests.factories import OrderFactory, TicketFactory
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def test_the_migration_creates_the_group_with_the_agent_permissions():
    codenames = set(support_agent_group().permissions.values_list("codename", flat=True))
    assert {"view_ticket", "change_ticket", "add_message", "add_feedback"} <= codenames
    assert {"view_customer", "view_order", "view_interaction", "view_article"} <= codenames
    assert not {"delete_ticket", "add_ticket", "change_order", "change_customer"} & codenames
    assert not any(codename.endswith("apikey") for codename in codenames)


def test_an_agent_sees_the_tickets_on_the_admin_index(agent_client):
    response = agent_client.get("/admin/")
    assert response.status_code == 200
    assert b"permission to view or edit anything" not in response.content
    assert b"/admin/tickets/ticket/" in response.content
    assert b"/admin/helpdesk/apikey/" not in response.content


def test_an_agent_cannot_delete_a_ticket(agent_client):
    ticket = TicketFactory()
    assert agent_client.get(f"/admin/tickets/ticket/{ticket.pk}/delete/").status_code == 403
    response = agent_client.post(f"/admin/tickets/ticket/{ticket.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Ticket.objects.filter(pk=ticket.pk).exists()


def test_an_agent_has_no_bulk_delete(agent_client):
    TicketFactory()
    response = agent_client.get("/admin/tickets/ticket/")
    assert response.status_code == 200
    actions = [name for name, _ in response.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in actions
    assert "assign_to_me" in actions


def test_an_agent_cannot_open_api_keys(agent_client):
    ApiKey.objects.create_key(name="crm", scopes="agent")
    assert agent_client.get("/admin/helpdesk/apikey/").status_code == 403
    assert agent_client.get("/admin/helpdesk/apikey/add/").status_code == 403


def test_an_agent_reads_orders_but_cannot_change_them(agent_client):
    order = OrderFactory()
    url = f"/admin/customers/order/{order.pk}/change/"
    response = agent_client.get(url)
    assert response.status_code == 200
    assert b'name="total"' not in response.content  # shown, not a field
    response = agent_client.post(url, {"total": "0.01", "number": order.number})
    assert response.status_code == 403
    order.refresh_from_db()
    assert str(order.total) == "129.00"
    assert not Order.objects.filter(total=0).exists()


def test_a_superuser_can_do_everything(superuser_client):
    ticket = TicketFactory()
    assert superuser_client.get(f"/admin/tickets/ticket/{ticket.pk}/delete/").status_code == 200
    assert superuser_client.get("/admin/helpdesk/apikey/").status_code == 200
    assert superuser_client.get("/admin/customers/order/").status_code == 200


def test_seed_demo_puts_the_demo_agent_in_the_group(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())
    agent = get_user_model().objects.get(username="agent")
    assert agent.groups.filter(name=SUPPORT_AGENT_GROUP).exists()
    assert agent.has_perm("tickets.change_ticket")
    assert not agent.has_perm("tickets.delete_ticket")
    assert get_user_model().objects.get(username="admin").is_superuser


def test_the_group_may_search_the_kb_and_view_attachments_but_not_sync(support_agent):
    assert support_agent.has_perm("knowledge.search_kb")
    assert support_agent.has_perm("tickets.view_attachment")
    assert not support_agent.has_perm("knowledge.start_sync")
    assert not support_agent.has_perm("tickets.change_attachment")


def test_the_group_may_view_queued_incident_replies_but_not_change_them(support_agent):
    assert support_agent.has_perm("tickets.view_incidentreply")
    assert not support_agent.has_perm("tickets.change_incidentreply")


@pytest.mark.parametrize("page", ["change", "delete", "history"])
def test_an_agent_opening_an_api_key_url_directly_gets_403(agent_client, page):
    api_key, _ = ApiKey.objects.create_key(name="crm", scopes="agent")
    url = f"/admin/helpdesk/apikey/{api_key.pk}/{page}/"
    assert agent_client.get(url).status_code == 403
    assert (
        agent_client.post(url, {"post": "yes", "name": "stolen", "revoked": "on"}).status_code
        == 403
    )
    api_key.refresh_from_db()
    assert (api_key.name, api_key.revoked) == ("crm", False)


def test_an_agent_posting_a_bulk_delete_of_tickets_gets_nothing_deleted(agent_client):
    tickets = TicketFactory.create_batch(2)
    response = agent_client.post(
        "/admin/tickets/ticket/",
        {"action": "delete_selected", "_selected_action": [t.pk for t in tickets], "post": "yes"},
    )
    assert response.status_code in (200, 302)
    assert Ticket.objects.filter(pk__in=[t.pk for t in tickets]).count() == 2
