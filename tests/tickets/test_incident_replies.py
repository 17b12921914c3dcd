"""An outage answered once (services.problem_reply) with more incidents than
INCIDENT_REPLIES_INLINE: the reply and one queued row per incident are stored together, the
first ones are posted in the request, the rest by `incident_replies_drain` (the command, or the
per-minute Lambda task). Nothing is lost or posted twice; a refusal is kept with its reason."""

from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import OperationalError

from tests.helpers import post_ticket
from tests.openapi import assert_conforms
from tickets import services
from tickets.models import IncidentReply, Message, Ticket

pytestmark = pytest.mark.django_db

DOWN = "I cannot log in to my account since this morning, the page just says error 502."
FIXED = "Our login service failed this morning. It is fixed now: please try again."
NAMES = ("ana", "ben", "chloe", "dan", "eve", "finn")


@pytest.fixture
def outage(api, settings):
    """Six customers write about one outage; the first ticket is the problem. Two incident
    replies go out in the request."""
    settings.INCIDENT_REPLIES_INLINE = 2
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    tickets = [
        post_ticket(api, "Cannot log in", DOWN, email=f"{name}@example.com")["ticket"]
        for name in NAMES
    ]
    problem, *incidents = tickets
    Ticket.objects.filter(pk__in=[i["id"] for i in incidents]).update(problem_id=problem["id"])
    return problem, [i["id"] for i in incidents]


def reply(api, problem, **extra):
    response = api.post(
        f"/tickets/{problem['id']}/messages",
        {"kind": "reply", "body": FIXED, "incidents": True, **extra},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert_conforms(response, "POST", "/tickets/{id}/messages")
    return response.json()


def replied(incident_id: int) -> int:
    return Message.objects.filter(ticket_id=incident_id, role="agent", body=FIXED).count()


def drain(*args) -> str:
    out = StringIO()
    call_command("incident_replies_drain", *args, stdout=out)
    return out.getvalue()


def test_past_the_inline_count_the_replies_are_queued_then_drained_once_each(
    api, outage, django_capture_on_commit_callbacks
):
    problem, incidents = outage

    with django_capture_on_commit_callbacks(execute=True):
        answer = reply(api, problem, status="resolved")

    assert answer["incidents"] == incidents[:2]
    assert answer["incidents_queued"] == incidents[2:] and answer["incidents_failed"] == []
    assert [replied(i) for i in incidents] == [1, 1, 0, 0, 0]
    queued = IncidentReply.objects.order_by("pk")
    assert [q.incident_id for q in queued] == incidents[2:]
    assert {q.reply.ticket_id for q in queued} == {problem["id"]}
    assert {q.status for q in queued} == {"resolved"}

    with django_capture_on_commit_callbacks(execute=True):
        text = drain()

    assert text.strip() == "Posted 3, refused 0, to retry 0; 0 waiting."
    assert [replied(i) for i in incidents] == [1, 1, 1, 1, 1]
    assert not IncidentReply.objects.exists()
    # Every customer got the answer once, on their own ticket's thread, and is resolved.
    assert sorted(m.to[0] for m in mail.outbox) == sorted(f"{n}@example.com" for n in NAMES)
    assert set(Ticket.objects.filter(pk__in=incidents).values_list("status", flat=True)) == {
        "resolved"
    }
    assert drain().strip() == "Posted 0, refused 0, to retry 0; 0 waiting."


def test_an_incident_closed_before_the_drain_is_refused_and_kept_with_the_reason(api, outage):
    problem, incidents = outage
    reply(api, problem)
    closed = incidents[3]
    Ticket.objects.filter(pk=closed).update(status="closed", resolved_at="2026-12-07T00:00Z")

    text = drain()

    assert "Posted 2, refused 1" in text
    kept = IncidentReply.objects.get()
    assert kept.incident_id == closed and kept.failed_at is not None
    assert "is closed" in kept.last_error and kept.attempts == 1
    assert replied(closed) == 0
    assert "Posted 0, refused 0" in drain()  # not tried again


def test_a_database_error_leaves_the_reply_queued_for_the_next_run(api, outage, monkeypatch):
    problem, incidents = outage
    reply(api, problem)
    real = services.message_create
    failing = {incidents[2]}

    def flaky(*, ticket, **kwargs):
        if ticket.pk in failing:
            raise OperationalError("server closed the connection unexpectedly")
        return real(ticket=ticket, **kwargs)

    monkeypatch.setattr(services, "message_create", flaky)
    assert "Posted 2, refused 0, to retry 1; 1 waiting." in drain()
    job = IncidentReply.objects.get()
    assert job.failed_at is None and job.attempts == 1 and "OperationalError" in job.last_error

    failing.clear()
    assert "Posted 1, refused 0, to retry 0; 0 waiting." in drain()
    assert [replied(i) for i in incidents] == [1, 1, 1, 1, 1]


def test_the_drain_takes_a_limit(api, outage):
    problem, incidents = outage
    reply(api, problem)

    assert "Posted 1, refused 0, to retry 0; 2 waiting." in drain("--limit", "1")
    assert replied(incidents[2]) == 1 and replied(incidents[3]) == 0


def test_within_the_inline_count_nothing_is_queued(api, outage, settings):
    settings.INCIDENT_REPLIES_INLINE = 25
    problem, incidents = outage

    answer = reply(api, problem)

    assert answer["incidents"] == incidents and answer["incidents_queued"] == []
    assert not IncidentReply.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_drains_at_once_post_each_reply_once(settings):
    """Cron and the Lambda schedule overlapping, or two workers: on Postgres each takes the
    rows the other has not locked (SKIP LOCKED), so every incident gets the reply once."""
    import threading

    from django.db import connection, connections

    from tests.factories import TicketFactory

    if connection.vendor != "postgresql":
        pytest.skip("row locks: Postgres (SQLite serialises writers)")
    settings.INCIDENT_REPLIES_INLINE = 0
    problem = TicketFactory()
    incidents = [TicketFactory(problem=problem).pk for _ in range(12)]
    services.problem_reply(problem=problem, body=FIXED, actor="agent:test")
    assert IncidentReply.objects.count() == 12
    barrier = threading.Barrier(2)
    posted: list[int] = []

    def run():
        try:
            barrier.wait()
            posted.extend(m.ticket_id for m in services.incident_replies_drain().sent)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(posted) == incidents
    assert [replied(i) for i in incidents] == [1] * 12
    assert not IncidentReply.objects.exists()


def test_staff_see_waiting_and_refused_replies_in_the_admin(api, outage, admin_client):
    problem, incidents = outage
    reply(api, problem)
    Ticket.objects.filter(pk=incidents[4]).update(status="closed", resolved_at="2026-12-07T00:00Z")
    services.incident_replies_drain(limit=1)  # incidents[2] posted; 3 waiting, 4 not yet tried
    drain()  # incidents[3] posted, incidents[4] refused

    page = admin_client.get("/admin/tickets/incidentreply/").content.decode()

    assert Ticket.number_for(incidents[4]) in page and "is closed" in page
    assert admin_client.get("/admin/tickets/incidentreply/add/").status_code == 403
