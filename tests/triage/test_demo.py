"""seed_demo leaves triage working: categories, labelled examples, a current model."""

from io import StringIO

import pytest
from django.core.management import call_command

from tickets.models import Ticket
from triage.models import Category, TriageModel

pytestmark = pytest.mark.django_db


def test_seed_demo_trains_a_model_and_the_demo_tickets_are_triaged(settings, api):
    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", stdout=out)

    assert Category.objects.count() == 5
    model = TriageModel.objects.get(current=True)
    labelled = Ticket.objects.filter(category_source="agent")
    assert labelled.filter(category__isnull=False).count() == 30
    assert labelled.filter(category__isnull=True).count() == 7  # no category fits
    assert model.report["n_train"] == 37 and model.report["n_labels"] == 6
    assert "is current" in out.getvalue()
    assert "37 labelled tickets, 5 categories; on 7 of them an agent decided no category fits" in (
        out.getvalue()
    )
    demo = Ticket.objects.exclude(category_source="agent")
    statuses = [ticket.triage["status"] for ticket in demo]
    assert len(statuses) == 12 and "no_model" not in statuses
    assert set(statuses) & {"applied", "suggested"}

    response = api.post(
        "/tickets",
        {
            "customer": {"email": "new@example.com"},
            "subject": "Where is my refund",
            "body": "I returned the kettle ten days ago and the money is not back yet.",
        },
        format="json",
    )
    triage = response.json()["triage"]
    assert triage["model"] == model.generation
    assert triage["alternatives"][0]["category"] == "Returns & refunds"

    call_command("seed_demo", stdout=StringIO())  # idempotent: no second model
    assert TriageModel.objects.count() == 1
