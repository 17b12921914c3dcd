"""`manage.py similar_calibrate`: the similarities of the pairs agents confirmed (merges,
incidents) against random pairs, and a threshold read off them. Real encoder (local) and
stored Titan-shaped vectors (bedrock); real database."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.factories import CustomerFactory, TicketFactory
from tests.helpers import post_ticket
from tests.titan_stub import titan_vector
from tickets import services
from tickets.models import Ticket
from triage import similar_bedrock
from triage.similar_calibration import MIN_CONFIRMED, calibrate

pytestmark = pytest.mark.django_db

JAR = "My blender jar arrived cracked and it leaks everywhere. How do I get a replacement jar?"
OTHER = [
    ("Password reset", "The password reset e-mail never arrives, I checked spam too."),
    ("Invoice address", "Please change the billing address on my last invoice to our office."),
    ("Gift card", "Can I pay part of my order with a gift card and the rest by card?"),
    ("Opening hours", "Is the store in Leeds open on Sunday afternoons?"),
]


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("similar_calibrate", *args, stdout=out)
    return out.getvalue()


def test_merged_and_linked_pairs_are_compared_with_random_pairs(api):
    first = post_ticket(api, "Cracked jar", JAR, email="lena@example.com")["ticket"]
    again = post_ticket(api, "Jar broken", f"{JAR} Please hurry.", email="lena@example.com")
    omar = post_ticket(api, "Cracked jar", JAR, email="omar@example.com")["ticket"]
    for subject, body in OTHER:
        post_ticket(api, subject, body, email="someone@example.com")
    ticket = Ticket.objects.get(pk=again["ticket"]["id"])
    services.ticket_merge(ticket=ticket, into_id=first["id"], actor="test")
    services.ticket_link_problem(
        ticket=Ticket.objects.get(pk=omar["id"]), problem_id=first["id"], actor="test"
    )

    result = calibrate(random_pairs=50)

    assert len(result.merged) == 1 and len(result.incidents) == 1
    assert result.without_embedding == 0
    assert min(result.confirmed) > 0.8  # the same words, nearly
    assert result.random and max(result.random) < min(result.confirmed)
    assert result.suggestion() is None  # 2 confirmed pairs: too few to say
    text = run("--pairs", "50")
    assert "confirmed pairs: 1 merged, 1 incidents" in text
    assert "0.60  " in text and "<- SIMILAR_TICKETS_THRESHOLD" in text
    assert f"No suggestion: 2 confirmed pairs, fewer than {MIN_CONFIRMED}" in text


def test_a_suggestion_keeps_nine_in_ten_confirmed_pairs(titan):
    """Titan-shaped vectors (SIMILAR_ENCODER=bedrock): 12 problems, each with an incident that
    shares most of its words, and a crowd of unrelated tickets."""
    words = [
        "refund",
        "parcel",
        "screen",
        "battery",
        "login",
        "invoice",
        "strap",
        "filter",
        "lid",
        "motor",
        "cable",
        "hinge",
    ]
    crowd = [TicketFactory(subject=f"Unrelated {i}") for i in range(30)]
    for i, ticket in enumerate(crowd):
        text = f"question {i} about {words[i % 12]} colour {i * 7} size {i * 3}"
        similar_bedrock.store(ticket_id=ticket.pk, vector=titan_vector(text))
    for i, word in enumerate(words):
        problem = TicketFactory(subject=f"{word} broken")
        incident = TicketFactory(subject=f"{word} broken too", customer=CustomerFactory())
        base = f"my {word} stopped working after the update number {i}"
        similar_bedrock.store(ticket_id=problem.pk, vector=titan_vector(base))
        similar_bedrock.store(ticket_id=incident.pk, vector=titan_vector(f"{base} again"))
        Ticket.objects.filter(pk=incident.pk).update(problem=problem)
    no_vector = TicketFactory(subject="never embedded")
    Ticket.objects.filter(pk=no_vector.pk).update(problem=crowd[0])

    data = json.loads(run("--json", "--pairs", "100"))

    assert data["model"] == "bedrock:amazon.titan-embed-text-v2:0:1024"
    assert (data["incident_pairs"], data["pairs_without_embedding"]) == (12, 1)
    suggested = data["suggested_threshold"]
    row = next(r for r in data["rows"] if r["threshold"] == suggested)
    assert row["confirmed_kept"] >= 0.9
    higher = [r for r in data["rows"] if r["threshold"] > suggested]
    assert all(r["confirmed_kept"] < 0.9 for r in higher)
    assert row["random_above"] <= 0.05
    assert [r["threshold"] for r in data["rows"] if r["configured"]] == [0.6]


def test_bad_pairs_are_refused():
    with pytest.raises(CommandError, match="--pairs"):
        run("--pairs", "0")


def test_an_empty_helpdesk_says_so():
    text = run()

    assert "confirmed pairs: 0 merged, 0 incidents" in text and "random pairs: 0" in text
    assert "No suggestion" in text
