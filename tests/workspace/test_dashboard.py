"""The dashboard: the figures on a small known set, the charts on the page, a bounded cost."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import SuggestionFactory, TicketFactory
from tickets.admin.dashboard import dashboard_figures
from tickets.models import Feedback, Ticket

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/dashboard/"


def ticket(*, days_ago: int, answered_after: timedelta | None = None, **fields) -> Ticket:
    created = timezone.now() - timedelta(days=days_ago)
    made = TicketFactory(**fields)
    Ticket.objects.filter(pk=made.pk).update(
        created_at=created,
        first_response_at=created + answered_after if answered_after else None,
    )
    made.refresh_from_db()
    return made


def rate(suggestion, *verdicts: str) -> None:
    for n, verdict in enumerate(verdicts):
        Feedback.objects.create(
            ticket=suggestion.ticket,
            suggestion=suggestion,
            helpful=verdict in ("helped", "resolved"),
            resolved=verdict == "resolved",
            submitted_by=f"user:agent{n}",
        )


@pytest.fixture
def known():
    """Today 2 tickets, 3 days ago 2, 40 days ago 1 (outside the 30 days); feedback on three
    articles: Damaged 2 of 3 helped (one resolved), Warranty 0 of 2, Descaling 1 of 1."""
    new = ticket(days_ago=0, status="new", priority="urgent", answered_after=timedelta(minutes=10))
    ticket(days_ago=0, status="open", priority="low", answered_after=timedelta(hours=2))
    ticket(days_ago=3, status="pending", priority="high", answered_after=timedelta(minutes=30))
    ticket(days_ago=3, status="resolved", priority="urgent", resolved_at=timezone.now())
    ticket(
        days_ago=40,
        status="closed",
        resolved_at=timezone.now(),
        answered_after=timedelta(minutes=1),
    )
    rate(SuggestionFactory(ticket=new, title="Damaged on arrival"), "helped", "resolved", "no")
    rate(SuggestionFactory(ticket=new, title="Warranty claims"), "no", "no")
    rate(SuggestionFactory(ticket=new, title="Descaling"), "helped")


def test_the_figures_on_a_small_known_set(known):
    figures = dashboard_figures()

    per_day = figures["per_day"]
    assert len(per_day) == 30
    assert per_day[-1] == (timezone.localdate(), 2)
    assert per_day[-4] == (timezone.localdate() - timedelta(days=3), 2)
    assert sum(n for _, n in per_day) == figures["per_day_total"] == 4
    assert figures["open_by_status"] == [
        ("New", "new", 1),
        ("Open", "open", 1),
        ("Pending", "pending", 1),
    ]
    assert figures["open_by_priority"] == [
        ("Urgent", "urgent", 1),
        ("High", "high", 1),
        ("Normal", "normal", 0),
        ("Low", "low", 1),
    ]
    assert figures["open_total"] == 3
    # 10 min, 30 min, 2 h answered in the window (the 40-day-old one is not counted).
    assert figures["median_first_response"] == timedelta(minutes=30)
    assert figures["answered"] == 3
    assert figures["feedback"] == {"total": 6, "helped": 3, "resolved": 1, "helpful_rate": 0.5}
    most = [(a.title, a.helped, a.total) for a in figures["articles_most"]]
    least = [(a.title, a.helped, a.total) for a in figures["articles_least"]]
    assert most == [("Damaged on arrival", 2, 3), ("Descaling", 1, 1)]
    assert least == [("Warranty claims", 0, 2), ("Damaged on arrival", 2, 3)]


def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two():
    ticket(days_ago=1, answered_after=timedelta(minutes=10))
    ticket(days_ago=1, answered_after=timedelta(minutes=20))
    ticket(days_ago=1, answered_after=timedelta(minutes=40))
    ticket(days_ago=1, answered_after=timedelta(hours=5))
    assert dashboard_figures()["median_first_response"] == timedelta(minutes=30)


def test_an_empty_helpdesk_has_a_dashboard_too(agent_client):
    Ticket.objects.all().delete()
    response = agent_client.get(DASHBOARD)
    assert response.status_code == 200
    text = response.content.decode()
    assert 'id="kpi-first-response">—' in text and 'id="kpi-helpful">—' in text


def test_the_page_shows_the_figures_as_svg_charts(agent_client, known):
    response = agent_client.get(DASHBOARD)

    assert response.status_code == 200
    text = response.content.decode()
    assert text.count('<svg class="hd-chart"') == 5
    assert 'id="kpi-created">4<' in text and 'id="kpi-open">3<' in text
    assert 'id="kpi-first-response">30 min<' in text and 'id="kpi-helpful">50%<' in text
    assert f"<title>{timezone.localdate().isoformat()}: 2 tickets</title>" in text
    assert "<title>did not help: 2</title>" in text  # Warranty claims
    assert "<script" not in text.split('id="kpis"')[1]  # server-drawn, no chart library


def test_the_index_links_to_the_dashboard(agent_client):
    text = agent_client.get("/admin/").content.decode()
    assert 'href="/admin/dashboard/"' in text
    assert 'href="/admin/knowledge/article/search/"' in text


def test_the_dashboard_is_bounded(agent_client, known, django_assert_max_num_queries):
    with django_assert_max_num_queries(18):  # 14, and triage_metrics' 4
        assert agent_client.get(DASHBOARD).status_code == 200
    with CaptureQueriesContext(connection) as small:
        agent_client.get(DASHBOARD)
    for days_ago in range(30):
        made = ticket(days_ago=days_ago, answered_after=timedelta(minutes=days_ago + 1))
        rate(SuggestionFactory(ticket=made, title=f"Article {days_ago}"), "helped", "no")
    with CaptureQueriesContext(connection) as large:
        agent_client.get(DASHBOARD)
    assert len(large) == len(small)


def test_staff_outside_the_groups_cannot_open_it(staff, client):
    assert staff.get(DASHBOARD).status_code == 403
    response = client.get(DASHBOARD)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_an_admin_opens_it(superuser_client, known):
    assert superuser_client.get(DASHBOARD).status_code == 200


def test_the_dashboard_shows_what_triage_applied_and_the_agents_kept(agent_client):
    from triage.models import Category, CategoryCorrection

    refunds = Category.objects.create(name="Refunds")
    delivery = Category.objects.create(name="Delivery")

    def decided(category, applied, corrected_to=None):
        made = TicketFactory(
            triage={"status": "applied" if applied else "suggested", "label": category.name,
                    "category_id": category.pk, "confidence": 0.9 if applied else 0.4,
                    "applied": applied},
        )  # fmt: skip
        if corrected_to is not None:
            CategoryCorrection.objects.create(ticket=made, category=corrected_to, actor="user:a")

    decided(refunds, True)
    decided(refunds, True, corrected_to=delivery)
    decided(delivery, True)
    decided(delivery, True)
    decided(delivery, False, corrected_to=refunds)

    text = agent_client.get(DASHBOARD).content.decode()

    assert "Applied (4 of 5 read, at 0.8)" in text and 'id="triage-coverage">80%<' in text
    assert "Kept by the agents (1 changed)" in text and 'id="triage-kept">75%<' in text
    confused = text.split('id="triage-confused">')[1].split("</ul>")[0]
    assert "Refunds → Delivery" in confused and "Delivery → Refunds" in confused


def test_without_a_triage_model_the_dashboard_says_how_to_train_one(agent_client):
    text = agent_client.get(DASHBOARD).content.decode()

    assert "No ticket was read by a triage model" in text and "manage.py triage_train" in text
