"""The queue: open work by default, most severe then oldest first; search by number; filters;
bulk actions through the services (a forbidden transition reported per ticket)."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Interaction
from tests.factories import CustomerFactory, TicketFactory
from tickets.models import Message, Satisfaction, Ticket

pytestmark = pytest.mark.django_db

QUEUE = "/admin/tickets/ticket/"


def listed(response) -> list[int]:
    return [ticket.pk for ticket in response.context["cl"].result_list]


def aged(days: float, **fields) -> Ticket:
    ticket = TicketFactory(**fields)
    when = timezone.now() - timedelta(days=days)
    Ticket.objects.filter(pk=ticket.pk).update(created_at=when)
    Message.objects.filter(ticket=ticket).update(created_at=when)  # its first message
    return ticket


def test_the_queue_shows_open_work_most_severe_then_oldest_first(agent_client):
    low_old = aged(9, priority="low", status="open")
    urgent_new = aged(1, priority="urgent")
    normal_old = aged(5, priority="normal", status="pending")
    urgent_old = aged(3, priority="urgent", status="open")
    high = aged(2, priority="high")
    aged(4, priority="urgent", status="resolved", resolved_at=timezone.now())
    aged(4, priority="urgent", status="closed", resolved_at=timezone.now())

    response = agent_client.get(QUEUE)

    assert response.status_code == 200
    assert listed(response) == [
        urgent_old.pk,
        urgent_new.pk,
        high.pk,
        normal_old.pk,
        low_old.pk,
    ]
    assert b"Open work (new, open, pending)" in response.content


def test_all_shows_resolved_and_closed_tickets_too(agent_client):
    TicketFactory()
    closed = TicketFactory(status="closed", resolved_at=timezone.now())
    response = agent_client.get(QUEUE, {"status": "all"})
    assert closed.pk in listed(response) and len(listed(response)) == 2
    assert listed(agent_client.get(QUEUE, {"status": "closed"})) == [closed.pk]


def test_the_queue_shows_number_age_and_last_customer_message(agent_client):
    ticket = aged(3, subject="Blender jar cracked")
    Message.objects.create(
        ticket=ticket,
        role=Message.Role.CUSTOMER,
        body="Any news?",
        created_at=timezone.now() - timedelta(hours=2),
    )
    Message.objects.create(ticket=ticket, role=Message.Role.AGENT, body="Looking into it.")

    response = agent_client.get(QUEUE)

    row = response.context["cl"].result_list[0]
    assert row.last_customer_message_at < timezone.now() - timedelta(hours=1)
    text = response.content.decode()
    assert ticket.number in text and "Blender jar cracked" in text
    assert "3\xa0days" in text  # the age column


@pytest.mark.parametrize("term", ["HD-000{pk}", "hd-{pk}", "#{pk}", "{pk}"])
def test_search_finds_a_ticket_by_number(agent_client, term):
    # No digits in the others' subjects or e-mails: a factory's sequence number ("Question
    # 1004", "customer1004@…") would match the number's digits as text.
    for name in ("ana", "ben", "cleo"):
        TicketFactory(subject="Another question", customer__email=f"{name}@example.com")
    wanted = TicketFactory(subject="The one", customer__email="dora@example.com")
    response = agent_client.get(QUEUE, {"q": term.format(pk=f"{wanted.pk:03d}")})
    assert listed(response) == [wanted.pk]


def test_search_finds_by_subject_and_customer_email(agent_client):
    ana = CustomerFactory(email="ana@example.com")
    by_email = TicketFactory(customer=ana)
    by_subject = TicketFactory(subject="Kettle recall")
    TicketFactory(subject="Something else")
    assert listed(agent_client.get(QUEUE, {"q": "ana@example.com"})) == [by_email.pk]
    assert listed(agent_client.get(QUEUE, {"q": "recall"})) == [by_subject.pk]


def test_the_assignee_filter_knows_mine_and_unassigned(agent_client, support_agent, superuser):
    mine = TicketFactory(assignee=support_agent)
    theirs = TicketFactory(assignee=superuser)
    nobodys = TicketFactory()
    assert listed(agent_client.get(QUEUE, {"assignee": "mine"})) == [mine.pk]
    assert listed(agent_client.get(QUEUE, {"assignee": "unassigned"})) == [nobodys.pk]
    assert listed(agent_client.get(QUEUE, {"assignee": str(superuser.pk)})) == [theirs.pk]


def test_filters_by_priority_channel_and_created_date(agent_client):
    chat = TicketFactory(channel="chat", priority="high")
    TicketFactory(channel="email", priority="high")
    old = aged(40, channel="chat", priority="high")
    response = agent_client.get(QUEUE, {"channel": "chat", "priority": "high"})
    assert set(listed(response)) == {chat.pk, old.pk}
    # What the "Past 7 days" link sends.
    since = (timezone.now() - timedelta(days=7)).isoformat()
    until = (timezone.now() + timedelta(days=1)).isoformat()
    response = agent_client.get(
        QUEUE, {"channel": "chat", "created_at__gte": since, "created_at__lt": until}
    )
    assert listed(response) == [chat.pk]


def _act(client, action, tickets, **params):
    return client.post(
        QUEUE + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""),
        {"action": action, "_selected_action": [t.pk for t in tickets]},
        follow=True,
    )


def test_assign_to_me_assigns_through_the_service(agent_client, support_agent):
    tickets = TicketFactory.create_batch(2)
    response = _act(agent_client, "assign_to_me", tickets)
    assert response.status_code == 200
    assert set(Ticket.objects.values_list("assignee", flat=True)) == {support_agent.pk}
    assert "2 tickets assigned to you." in [str(m) for m in get_messages(response.wsgi_request)]


def test_set_status_reports_a_forbidden_transition_per_ticket(agent_client):
    fresh = TicketFactory()
    closed = TicketFactory(status="closed", resolved_at=timezone.now())

    response = _act(agent_client, "set_status_open", [fresh, closed], status="all")

    notes = [str(m) for m in get_messages(response.wsgi_request)]
    assert f"{closed.number}: A closed ticket cannot become open." in notes
    assert "1 ticket set to open." in notes
    fresh.refresh_from_db()
    closed.refresh_from_db()
    assert (fresh.status, closed.status) == ("open", "closed")
    # The same effects as PATCH /tickets/{id}: the first response time and the log.
    assert fresh.first_response_at is not None
    logged = Interaction.objects.get(ticket_id=fresh.pk, kind="status_changed")
    assert logged.actor == "user:sam" and logged.data == {"from": "new", "to": "open"}
    assert not Interaction.objects.filter(ticket_id=closed.pk).exists()


def test_set_priority_changes_each_ticket(agent_client):
    tickets = TicketFactory.create_batch(2)
    _act(agent_client, "set_priority_urgent", tickets)
    assert set(Ticket.objects.values_list("priority", flat=True)) == {"urgent"}


def test_an_outages_tickets_are_linked_to_their_problem_in_one_action(agent_client):
    problem = TicketFactory(subject="Error 502 on login")
    outage = TicketFactory.create_batch(3, subject="Cannot log in: error 502")
    closed = TicketFactory(subject="Error 502", status="closed", resolved_at=timezone.now())

    response = agent_client.post(
        QUEUE + "?status=all",
        {
            "action": "link_as_incidents",
            "_selected_action": [t.pk for t in [problem, *outage, closed]],
            "problem": f"#{problem.pk}",
        },
        follow=True,
    )

    notes = [str(m) for m in get_messages(response.wsgi_request)]
    assert f"3 tickets linked to problem {problem.number}." in notes
    assert any(n.startswith(f"{closed.number}: {closed.number} is closed") for n in notes)
    linked = dict(Ticket.objects.values_list("pk", "problem_id"))
    assert [linked[t.pk] for t in outage] == [problem.pk] * 3
    assert linked[problem.pk] is None and linked[closed.pk] is None  # itself; refused
    assert 'name="problem"' in agent_client.get(QUEUE).content.decode()  # the box beside


def test_linking_as_incidents_without_naming_the_problem_changes_nothing(agent_client):
    tickets = TicketFactory.create_batch(2)
    response = _act(agent_client, "link_as_incidents", tickets)
    notes = [str(m) for m in get_messages(response.wsgi_request)]
    assert notes == ["Name the problem ticket (HD-000123) in the Problem box beside the action."]
    assert not Ticket.objects.filter(problem__isnull=False).exists()


def _bulk_tickets(count: int) -> None:
    customers = CustomerFactory.create_batch(5)
    tickets = Ticket.objects.bulk_create(
        Ticket(
            customer=customers[n % 5],
            subject=f"Question {n}",
            body="Help",
            priority=["low", "normal", "high", "urgent"][n % 4],
            status=["new", "open", "pending"][n % 3],
        )
        for n in range(count)
    )
    Message.objects.bulk_create(
        Message(ticket=ticket, role=Message.Role.CUSTOMER, body="Help") for ticket in tickets
    )


def test_the_queue_costs_the_same_queries_for_ten_or_a_thousand_tickets(agent_client):
    _bulk_tickets(10)
    with CaptureQueriesContext(connection) as few:
        assert agent_client.get(QUEUE).status_code == 200
    _bulk_tickets(990)
    with CaptureQueriesContext(connection) as many:
        response = agent_client.get(QUEUE, {"q": "question"})
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 50
    assert len(many) <= len(few)


def test_the_queue_stays_within_a_query_budget(agent_client, django_assert_max_num_queries):
    _bulk_tickets(200)
    with django_assert_max_num_queries(12):
        assert agent_client.get(QUEUE, {"assignee": "mine", "status": "all"}).status_code == 200
    with django_assert_max_num_queries(12):
        assert agent_client.get(QUEUE).status_code == 200


def test_a_ticket_whose_last_reply_did_not_arrive_is_marked_and_filtered(agent_client):
    bounced = aged(2, subject="Parcel missing", status="open")
    answered = aged(1, subject="Refund question", status="pending")
    fixed = aged(3, subject="Wrong size", status="open")
    failed_at = timezone.now()
    for ticket, failures in (
        (bounced, [failed_at]),
        (answered, [None]),
        (fixed, [failed_at, None]),
    ):
        for when in failures:  # oldest first: `fixed` was answered again, and that one arrived
            Message.objects.create(
                ticket=ticket,
                role=Message.Role.AGENT,
                body="Hello",
                email_message_id=f"<{ticket.pk}.{len(str(when))}@helpdesk.localhost>",
                email_failed_at=when,
                email_error="550 5.1.1 User unknown" if when else "",
            )

    everything = agent_client.get(QUEUE)
    only = agent_client.get(QUEUE, {"email": "not_delivered"})

    assert set(listed(everything)) == {bounced.pk, answered.pk, fixed.pk}
    assert everything.content.decode().count(">reply not delivered<") == 1
    assert listed(only) == [bounced.pk]
    assert "Last reply not delivered" in only.content.decode()


def test_the_rating_filter_finds_what_customers_rated_bad(agent_client):
    bad = aged(2, subject="Slow answer", status="resolved", resolved_at=timezone.now())
    good = aged(1, subject="Quick answer", status="closed", resolved_at=timezone.now())
    aged(1, subject="Not rated", status="resolved", resolved_at=timezone.now())
    Satisfaction.objects.create(ticket=bad, rating="bad", comment="Took a week.")
    Satisfaction.objects.create(ticket=good, rating="good")

    assert listed(agent_client.get(QUEUE, {"status": "all", "rating": "bad"})) == [bad.pk]
    assert listed(agent_client.get(QUEUE, {"status": "all", "rating": "good"})) == [good.pk]
    assert "Bad, I&#x27;m unsatisfied" in agent_client.get(QUEUE).content.decode()


def test_the_category_filter_tells_waiting_tickets_from_those_no_category_fits(agent_client):
    from triage.models import Category

    refunds = Category.objects.create(name="Refunds")
    categorised = aged(3, subject="Refund", category=refunds, category_source="model")
    waiting = aged(2, subject="Help")
    decided = aged(1, subject="Thanks!", category_source="agent")

    def by(value):
        return listed(agent_client.get(QUEUE, {"category": value}))

    assert by(str(refunds.pk)) == [categorised.pk]
    assert by("none_yet") == [waiting.pk]
    assert by("no_fit") == [decided.pk]
    html = agent_client.get(QUEUE).content.decode()
    assert "Not categorised yet" in html and "None of these (agent)" in html
    assert set(by("x")) == {categorised.pk, waiting.pk, decided.pk}  # unknown: all
