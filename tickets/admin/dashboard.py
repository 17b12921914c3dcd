"""The dashboard's figures: each one aggregate query in the database (a handful in all, however
many tickets and feedback rows there are), but triage's, which are GET /triage/metrics'.

Over the last DAYS days: tickets per day, the median time to the first response, the share of
suggestion feedback that says "helped", the share of customers' ratings that are good, the
articles that help most and least, and what triage applied and the agents kept; now: the open
work by status and by priority.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q
from django.db.models.functions import TruncDate
from django.template.response import TemplateResponse
from django.utils import timezone

from tickets.admin import charts
from tickets.admin.queue import OPEN_WORK, SEVERITY
from tickets.models import Feedback, Satisfaction, Ticket
from triage.metrics import triage_metrics

DAYS = 30
# Articles listed as helping most / least.
ARTICLES_SHOWN = 5
# Category pairs listed as triage's most confused (predicted, then the agent's).
TRIAGE_PAIRS_SHOWN = 3


@dataclass(frozen=True)
class ArticleScore:
    article_id: int | None
    title: str
    helped: int
    total: int

    @property
    def not_helped(self) -> int:
        return self.total - self.helped

    @property
    def rate(self) -> float:
        return self.helped / self.total if self.total else 0.0


def window_start(now: datetime, days: int = DAYS) -> datetime:
    """Midnight (in the current time zone) `days - 1` days before today: `days` whole days."""
    today = timezone.localtime(now).date()
    first = today - timedelta(days=days - 1)
    return timezone.make_aware(datetime.combine(first, datetime.min.time()))


def tickets_per_day(*, since: datetime, days: int = DAYS) -> list[tuple[date, int]]:
    counted = dict(
        Ticket.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    first = timezone.localtime(since).date()
    return [
        (first + timedelta(days=i), counted.get(first + timedelta(days=i), 0)) for i in range(days)
    ]


def open_by(field: str) -> dict[str, int]:
    """Open work (new, open, pending) counted by `field` (status or priority)."""
    return dict(
        Ticket.objects.filter(status__in=OPEN_WORK)
        .values(field)
        .annotate(n=Count("id"))
        .order_by()
        .values_list(field, "n")
    )


def median_first_response(*, since: datetime) -> tuple[timedelta | None, int]:
    """The median wait from a ticket's creation to its first agent reply, over the tickets
    created since `since` that have one, and how many those are. Two queries: the count, then
    the middle one or two rows in wait order (the database sorts; nothing is loaded in bulk)."""
    answered = (
        Ticket.objects.filter(created_at__gte=since, first_response_at__isnull=False)
        .annotate(
            wait=ExpressionWrapper(
                F("first_response_at") - F("created_at"), output_field=DurationField()
            )
        )
        .order_by("wait", "id")
    )
    n = answered.count()
    if not n:
        return None, 0
    middle = list(answered.values_list("wait", flat=True)[(n - 1) // 2 : n // 2 + 1])
    return sum(middle, timedelta()) / len(middle), n


def feedback_rates(*, since: datetime) -> dict[str, Any]:
    figures = Feedback.objects.filter(created_at__gte=since).aggregate(
        total=Count("id"),
        helped=Count("id", filter=Q(helpful=True)),
        resolved=Count("id", filter=Q(resolved=True)),
    )
    total = figures["total"]
    figures["helpful_rate"] = figures["helped"] / total if total else None
    return figures


def satisfaction_rates(*, since: datetime) -> dict[str, Any]:
    """The customers' ratings given since `since` (tickets/satisfaction.py): how many, how
    many good, and the share of good ones."""
    figures = Satisfaction.objects.filter(rated_at__gte=since).aggregate(
        rated=Count("id"), good=Count("id", filter=Q(rating=Satisfaction.Rating.GOOD))
    )
    figures["good_rate"] = figures["good"] / figures["rated"] if figures["rated"] else None
    return figures


def article_scores(*, since: datetime) -> tuple[list[ArticleScore], list[ArticleScore]]:
    """(helping most, helping least): by feedback "helped" count, and by "did not help"."""
    scored = (
        Feedback.objects.filter(created_at__gte=since)
        .values("suggestion__article_id", "suggestion__title")
        .annotate(helped=Count("id", filter=Q(helpful=True)), total=Count("id"))
        .annotate(not_helped=F("total") - F("helped"))
    )

    def rows(queryset) -> list[ArticleScore]:
        return [
            ArticleScore(
                row["suggestion__article_id"], row["suggestion__title"], row["helped"], row["total"]
            )
            for row in queryset[:ARTICLES_SHOWN]
        ]

    most = rows(scored.filter(helped__gt=0).order_by("-helped", "not_helped", "suggestion__title"))
    least = rows(
        scored.filter(not_helped__gt=0).order_by("-not_helped", "helped", "suggestion__title")
    )
    return most, least


def dashboard_figures(*, now: datetime | None = None, days: int = DAYS) -> dict[str, Any]:
    now = now or timezone.now()
    since = window_start(now, days)
    by_status = open_by("status")
    by_priority = open_by("priority")
    median, answered = median_first_response(since=since)
    most, least = article_scores(since=since)
    return {
        "days": days,
        "since": since,
        "per_day": (per_day := tickets_per_day(since=since, days=days)),
        "per_day_total": sum(n for _, n in per_day),
        "open_by_status": [
            (s.label, s.value, by_status.get(s.value, 0))
            for s in Ticket.Status
            if s.value in OPEN_WORK
        ],
        "open_by_priority": [
            (p.label, p.value, by_priority.get(p.value, 0))
            for p in sorted(Ticket.Priority, key=SEVERITY.get)
        ],
        "open_total": sum(by_status.values()),
        "median_first_response": median,
        "answered": answered,
        "feedback": feedback_rates(since=since),
        "satisfaction": satisfaction_rates(since=since),
        "articles_most": most,
        "articles_least": least,
        # GET /triage/metrics' figures, the same function: what the model applied and how
        # much of it the agents kept (four queries; the decisions are read, not aggregated).
        "triage": triage_metrics(days=days, top=TRIAGE_PAIRS_SHOWN),
    }


def _duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    if value.total_seconds() < 60:
        return f"{value.total_seconds():.0f} s"
    minutes = value.total_seconds() / 60
    if minutes < 60:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


def _triage_shown(metrics: dict[str, Any]) -> dict[str, Any]:
    def percent(value: float | None) -> str:
        return "—" if value is None else f"{value:.0%}"

    return {
        **metrics,
        "coverage_shown": percent(metrics["coverage"]),
        "kept_shown": percent(metrics["applied_accuracy"]),
    }


def dashboard_view(request):
    """/admin/dashboard/: for anyone who may see the queue (agents and admins)."""
    if not request.user.has_perm("tickets.view_ticket"):
        raise PermissionDenied
    figures = dashboard_figures()
    rate = figures["feedback"]["helpful_rate"]
    satisfied = figures["satisfaction"]["good_rate"]
    return TemplateResponse(
        request,
        "admin/tickets/dashboard.html",
        {
            **admin.site.each_context(request),
            "title": "Dashboard",
            "subtitle": None,
            "figures": figures,
            "median_first_response": _duration(figures["median_first_response"]),
            "helpful_rate": "—" if rate is None else f"{rate:.0%}",
            "satisfied_rate": "—" if satisfied is None else f"{satisfied:.0%}",
            "triage": _triage_shown(figures["triage"]),
            "per_day_chart": charts.columns(
                figures["per_day"], title=f"Tickets created per day, last {figures['days']} days"
            ),
            "status_chart": charts.bars(
                [(label, value, n) for label, value, n in figures["open_by_status"]],
                title="Open tickets by status",
            ),
            "priority_chart": charts.bars(
                [(label, value, n) for label, value, n in figures["open_by_priority"]],
                title="Open tickets by priority",
            ),
            "most_chart": charts.split_bars(
                [(a.title, a.helped, a.not_helped) for a in figures["articles_most"]],
                title="Articles that help most",
            ),
            "least_chart": charts.split_bars(
                [(a.title, a.helped, a.not_helped) for a in figures["articles_least"]],
                title="Articles that help least",
            ),
        },
    )
