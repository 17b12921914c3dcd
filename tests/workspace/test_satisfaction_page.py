"""The customers' ratings (tickets/satisfaction.py) where agents look: the ticket page and the
dashboard."""

import re

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import TicketFactory
from tests.tickets.test_satisfaction import PUBLIC, path_of, resolved_with_links
from tickets.models import Satisfaction

pytestmark = pytest.mark.django_db


def test_the_ticket_page_and_the_dashboard_show_the_ratings(
    api, agent_client, settings, django_capture_on_commit_callbacks
):
    settings.HELPDESK_PUBLIC_URL = PUBLIC
    ticket, links = resolved_with_links(api, django_capture_on_commit_callbacks)
    url = path_of(links["good"]).split("?")[0]
    Client().post(url, {"rating": "bad", "comment": "Took a week to answer."})
    other = TicketFactory(status="resolved", resolved_at=timezone.now())
    Satisfaction.objects.create(ticket=other, rating="good")

    page = agent_client.get(f"/admin/tickets/ticket/{ticket.pk}/change/").content.decode()
    assert "rated bad by the customer" in page and "“Took a week to answer.”" in page
    assert "satisfaction_rated" in page  # the history

    dashboard = agent_client.get("/admin/dashboard/").content.decode()
    # The bad ones are a click away: the queue's rating filter.
    link = re.search(r'href="([^"]+)" id="kpi-rated-bad"', dashboard).group(1).replace("&amp;", "&")
    assert [t.pk for t in agent_client.get(link).context["cl"].result_list] == [ticket.pk]
    assert re.search(
        r"Customers satisfied \(1 of 2 ratings; <a[^>]*>the bad ones</a>\)</dt>"
        r"<dd id=\"kpi-satisfied\">50%",
        dashboard,
    )
