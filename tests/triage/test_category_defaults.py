"""A category's default priority and assignee follow one rule (triage/defaults.py) whichever
way the category is set: on arrival, on a customer's follow-up, by an agent (PATCH, the admin
ticket page). A priority given in the same change (a client's in POST /tickets, an agent's
with the category) wins; otherwise the default replaces a priority the ticket still has by
default, else only raises it. The priority rule (sentiment) applies only where a customer's
message is read, on arrival and on a follow-up, never when an agent sets a category. Real
database, lingua, VADER (and encoder and model where a test needs triage to apply one)."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from tests.factories import TicketFactory
from tests.helpers import post_follow_up, post_ticket
from tests.triage.test_arrival import REFUND
from tests.triage.test_follow_ups import REFUND_FOLLOW_UP, vague_ticket
from tickets.models import Ticket
from triage.defaults import category_defaults, priority_rule
from triage.models import Category, CategoryCorrection

pytestmark = pytest.mark.django_db

FURIOUS = (
    "This is the worst service ever. I am furious and disgusted, nobody helps me! "
    "I returned the coffee machine and I still have not been refunded."
)
MILDLY_UNHAPPY = "I returned the kettle weeks ago and still no refund, this is really bad."


def categorize(api, ticket_id: int, category: Category | None, **extra) -> dict:
    response = api.patch(
        f"/tickets/{ticket_id}",
        {"category_id": category.pk if category is not None else None, **extra},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def stored(ticket_id: int) -> tuple[str, str]:
    ticket = Ticket.objects.get(pk=ticket_id)
    return ticket.priority, ticket.defaulted_priority


# --- The rule itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "defaulted", "default", "expected"),
    [
        ("normal", "normal", "low", ("low", "low")),  # still the default: replaced
        ("normal", "", "low", ("normal", "")),  # a client's: never lowered
        ("low", "", "high", ("high", "")),  # a higher default raises it
        ("urgent", "normal", "low", ("urgent", "normal")),  # set since: kept
        ("high", "normal", "low", ("high", "normal")),  # the priority rule's: kept
        ("normal", "normal", "", ("normal", "normal")),  # no default: nothing
        ("high", "low", "normal", ("high", "low")),  # raised over a default: kept
        ("normal", "high", "urgent", ("urgent", "")),  # raised over a set one
    ],
)
def test_the_rule(priority, defaulted, default, expected):
    result = category_defaults(
        category=Category(name="x", default_priority=default),
        priority=priority,
        defaulted_priority=defaulted,
        assignee_id=None,
    )
    assert (result.priority, result.defaulted_priority) == expected


def test_a_priority_given_in_the_same_change_wins_and_is_no_longer_the_defaulted_one():
    result = category_defaults(
        category=Category(name="x", default_priority="urgent"),
        priority="normal",
        defaulted_priority="normal",
        assignee_id=None,
        priority_given=True,
    )
    assert (result.priority, result.defaulted_priority) == ("normal", "")


@pytest.mark.parametrize(
    ("priority", "score", "expected"),
    [
        ("normal", -0.9, ("high", True)),
        ("low", -0.8, ("high", True)),  # at the threshold
        ("urgent", -0.9, ("urgent", False)),  # never lowered
        ("normal", -0.7, ("normal", False)),
        ("low", None, ("low", False)),  # not scored
    ],
)
def test_the_priority_rule(settings, priority, score, expected):
    settings.TRIAGE_NEGATIVE_SENTIMENT = -0.8
    raised, note = priority_rule(priority, score)
    assert (raised, bool(note)) == expected


def test_the_default_assignee_goes_only_to_a_ticket_without_one_unless_given():
    lead = get_user_model().objects.create_user("lea", is_staff=True)
    category = Category(name="x", default_assignee=lead)

    def assignee(assignee_id, **given):
        return category_defaults(
            category=category,
            priority="normal",
            defaulted_priority="normal",
            assignee_id=assignee_id,
            **given,
        ).assignee_id

    assert assignee(None) == lead.pk
    assert assignee(12345) is None
    assert assignee(None, assignee_given=True) is None


# --- An agent sets the category (PATCH /tickets/{id}) -------------------------------------------


def test_an_agent_keeps_the_high_priority_the_sentiment_rule_gave(api):
    arrived = post_ticket(api, "Refund", FURIOUS)
    assert arrived["ticket"]["priority"] == "high" and arrived["triage"]["priority_rule"]
    questions = Category.objects.create(name="Questions", default_priority="low")

    answer = categorize(api, arrived["ticket"]["id"], questions)

    assert answer["category"] == "Questions" and answer["priority"] == "high"
    assert CategoryCorrection.objects.get(ticket_id=arrived["ticket"]["id"]).category == questions


def test_an_agent_confirming_the_models_category_keeps_the_rules_priority(
    api, categories, settings
):
    settings.TRIAGE_APPLY_THRESHOLD = 0.3
    Category.objects.filter(name="Refunds").update(default_priority="low")
    arrived = post_ticket(api, "My refund", FURIOUS)
    assert arrived["ticket"]["category"] == "Refunds"
    assert arrived["ticket"]["priority"] == "high"  # the default low, then the rule

    answer = categorize(api, arrived["ticket"]["id"], categories["Refunds"])

    assert answer["category_source"] == "agent" and answer["priority"] == "high"


def test_an_urgent_ticket_stays_urgent(api):
    arrived = post_ticket(api, *REFUND, priority="urgent")
    questions = Category.objects.create(name="Questions", default_priority="low")

    assert categorize(api, arrived["ticket"]["id"], questions)["priority"] == "urgent"


def test_an_agent_setting_a_category_does_not_apply_the_priority_rule_again(api, settings):
    settings.TRIAGE_NEGATIVE_SENTIMENT = -0.8
    questions = Category.objects.create(name="Questions", default_priority="low")
    # Scored below the threshold but never raised (from before the rule, or a threshold
    # lowered since): the rule applied when the message was read; the category's default
    # replaces the defaulted `normal` as it would on any ticket.
    older = TicketFactory(sentiment="negative", sentiment_score=-0.91, defaulted_priority="normal")

    assert categorize(api, older.pk, questions)["priority"] == "low"
    assert stored(older.pk) == ("low", "low")


def test_a_default_normal_ticket_gets_a_low_category_default_as_arrival_would(api):
    questions = Category.objects.create(name="Questions", default_priority="low")
    # Negative but above the threshold: arrival leaves `normal`, and would give the
    # category's low.
    mild = post_ticket(api, "Refund", MILDLY_UNHAPPY)
    assert mild["triage"]["sentiment"]["label"] == "negative"
    assert mild["ticket"]["priority"] == "normal" and not mild["triage"]["priority_rule"]

    assert categorize(api, mild["ticket"]["id"], questions)["priority"] == "low"
    assert stored(mild["ticket"]["id"]) == ("low", "low")


def test_a_priority_an_agent_lowered_after_the_rule_stands(api):
    arrived = post_ticket(api, "Refund", FURIOUS)
    ticket_id = arrived["ticket"]["id"]
    assert arrived["ticket"]["priority"] == "high"
    lowered = api.patch(f"/tickets/{ticket_id}", {"priority": "normal"}, format="json")
    assert lowered.status_code == 200 and lowered.json()["priority"] == "normal"
    assert stored(ticket_id) == ("normal", "")  # the agent's, though `normal` was the default
    questions = Category.objects.create(name="Questions", default_priority="low")
    damaged = Category.objects.create(name="Damaged", default_priority="urgent")

    assert categorize(api, ticket_id, questions)["priority"] == "normal"  # not lowered
    assert categorize(api, ticket_id, damaged)["priority"] == "urgent"  # a higher one raises


def test_the_same_ticket_gets_the_same_priority_from_triage_or_an_agent(api, categories, settings):
    Category.objects.filter(name="Refunds").update(default_priority="low")
    for text, expected in ((FURIOUS, "high"), (REFUND[1], "low")):
        settings.TRIAGE_APPLY_THRESHOLD = 0.3
        by_triage = post_ticket(api, "My refund", text)
        assert by_triage["ticket"]["category"] == "Refunds"
        settings.TRIAGE_APPLY_THRESHOLD = 1.0  # left for an agent
        left = post_ticket(api, "My refund", text)
        assert left["ticket"]["category"] is None

        by_agent = categorize(api, left["ticket"]["id"], categories["Refunds"])

        assert by_triage["ticket"]["priority"] == by_agent["priority"] == expected


def test_a_low_ticket_rises_to_a_higher_default(api):
    arrived = post_ticket(api, *REFUND, priority="low")
    damaged = Category.objects.create(name="Damaged", default_priority="high")

    assert categorize(api, arrived["ticket"]["id"], damaged)["priority"] == "high"


def test_a_priority_an_agent_set_is_never_lowered_by_a_default(api):
    arrived = post_ticket(api, *REFUND)
    ticket_id = arrived["ticket"]["id"]
    assert stored(ticket_id) == ("normal", "normal")
    api.patch(f"/tickets/{ticket_id}", {"priority": "high"}, format="json")
    questions = Category.objects.create(name="Questions", default_priority="low")

    assert categorize(api, ticket_id, questions)["priority"] == "high"


def test_a_priority_the_client_gave_is_never_lowered_by_a_default(api):
    arrived = post_ticket(api, *REFUND, priority="normal")
    assert stored(arrived["ticket"]["id"]) == ("normal", "")
    questions = Category.objects.create(name="Questions", default_priority="low")

    assert categorize(api, arrived["ticket"]["id"], questions)["priority"] == "normal"


def test_a_default_priority_follows_the_category_while_nobody_set_one(api):
    arrived = post_ticket(api, *REFUND)
    ticket_id = arrived["ticket"]["id"]
    questions = Category.objects.create(name="Questions", default_priority="low")
    damaged = Category.objects.create(name="Damaged", default_priority="high")
    orders = Category.objects.create(name="Orders", default_priority="normal")

    assert categorize(api, ticket_id, questions)["priority"] == "low"  # replaces `normal`
    assert categorize(api, ticket_id, damaged)["priority"] == "high"
    assert categorize(api, ticket_id, orders)["priority"] == "normal"  # the wrong one's undone
    assert stored(ticket_id) == ("normal", "normal")


def test_a_priority_given_in_the_same_change_wins_over_the_default(api):
    arrived = post_ticket(api, *REFUND)
    ticket_id = arrived["ticket"]["id"]
    damaged = Category.objects.create(name="Damaged", default_priority="urgent")
    questions = Category.objects.create(name="Questions", default_priority="low")

    answer = categorize(api, ticket_id, damaged, priority="normal")

    assert answer["category"] == "Damaged" and answer["priority"] == "normal"
    assert stored(ticket_id) == ("normal", "")  # the agent's now: a later default never lowers it
    assert categorize(api, ticket_id, questions)["priority"] == "normal"


# --- The admin ticket page -----------------------------------------------------------------------


def admin_client() -> Client:
    staff = get_user_model().objects.create_user("agnes", is_staff=True, password="pw-123456")
    staff.user_permissions.add(*Permission.objects.filter(codename__endswith="_ticket"))
    client = Client()
    client.force_login(staff)
    return client


def set_on_the_page(client: Client, ticket_id: int, category: Category, **controls) -> Ticket:
    ticket = Ticket.objects.get(pk=ticket_id)
    response = client.post(
        f"/admin/tickets/ticket/{ticket_id}/change/",
        {
            "_action": "update",
            "controls-status": ticket.status,
            "controls-priority": ticket.priority,
            "controls-assignee": "",
            "controls-category": category.pk,
            **{f"controls-{name}": value for name, value in controls.items()},
        },
    )
    assert response.status_code == 302, response.content
    ticket.refresh_from_db()
    assert ticket.category == category and ticket.category_source == "agent"
    return ticket


def test_the_admin_ticket_page_follows_the_same_rule(api):
    client = admin_client()
    questions = Category.objects.create(name="Questions", default_priority="low")
    furious = post_ticket(api, "Refund", FURIOUS)["ticket"]["id"]
    calm = post_ticket(api, *REFUND)["ticket"]["id"]
    chosen = post_ticket(api, *REFUND, email="bo@example.com")["ticket"]["id"]

    assert set_on_the_page(client, furious, questions).priority == "high"
    assert set_on_the_page(client, calm, questions).priority == "low"
    assert set_on_the_page(client, chosen, questions, priority="urgent").priority == "urgent"


# --- A customer's follow-up ------------------------------------------------------------------


def test_a_follow_up_gives_a_vague_tickets_category_its_default_as_arrival_would(
    api, categories, settings
):
    settings.TRIAGE_APPLY_THRESHOLD = 0.7
    Category.objects.filter(name="Refunds").update(default_priority="low")
    ticket_id = vague_ticket(api, settings)["ticket"]["id"]
    assert stored(ticket_id) == ("normal", "normal")

    answer = post_follow_up(api, ticket_id, REFUND_FOLLOW_UP)

    assert answer["triage"]["applied"] and answer["ticket"]["category"] == "Refunds"
    assert answer["ticket"]["priority"] == "low"  # `normal` was only the default
    assert stored(ticket_id) == ("low", "low")


# --- On arrival --------------------------------------------------------------------------------


def test_arrival_keeps_what_defaults_gave_the_ticket(api, categories, settings):
    settings.TRIAGE_APPLY_THRESHOLD = 0.3
    Category.objects.filter(name="Refunds").update(default_priority="low")

    applied = post_ticket(api, *REFUND)
    furious = post_ticket(api, "My refund", FURIOUS)
    given = post_ticket(api, *REFUND, priority="high")

    assert applied["ticket"]["category"] == "Refunds"
    assert stored(applied["ticket"]["id"]) == ("low", "low")
    assert stored(furious["ticket"]["id"]) == ("high", "low")  # the rule's, not a default's
    assert stored(given["ticket"]["id"]) == ("high", "")


def test_on_arrival_a_clients_priority_skips_the_default_but_not_the_priority_rule(
    api, categories, settings
):
    settings.TRIAGE_APPLY_THRESHOLD = 0.3
    Category.objects.filter(name="Refunds").update(default_priority="urgent")

    calm = post_ticket(api, *REFUND, priority="low")
    furious = post_ticket(api, "My refund", FURIOUS, priority="low")

    assert calm["triage"]["applied"] and calm["ticket"]["priority"] == "low"
    assert furious["triage"]["applied"] and furious["ticket"]["category"] == "Refunds"
    assert furious["ticket"]["priority"] == "high"  # the rule's, not the default's urgent
    assert furious["triage"]["priority_rule"].endswith("priority raised to high")
    assert stored(furious["ticket"]["id"]) == ("high", "")
