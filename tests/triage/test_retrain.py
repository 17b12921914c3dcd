"""The scheduled retrain (helpdesk.lambda_tasks.retrain_triage, a zappa_settings.json event)."""

import json
import sys
from pathlib import Path

import pytest

from helpdesk import lambda_tasks
from triage.models import TriageModel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def keep_the_test_connection(monkeypatch):
    monkeypatch.setattr(lambda_tasks, "close_old_connections", lambda: None)


def test_it_retrains_from_the_current_labels(categories):
    first = TriageModel.objects.get(current=True)

    outcome = lambda_tasks.retrain_triage({"source": "aws.events"})

    assert outcome == {"status": "ok", "generation": first.generation + 1, "examples": 18}
    assert TriageModel.objects.get(current=True).generation == first.generation + 1


def test_too_few_labels_is_skipped_and_says_why():
    outcome = lambda_tasks.retrain_triage({"source": "aws.events"})
    assert outcome["status"] == "skipped" and "label" in outcome["reason"]
    assert not TriageModel.objects.exists()


def test_it_is_scheduled_nightly():
    settings = json.loads((Path(__file__).parents[2] / "zappa_settings.json").read_text())
    stages = [stage for stage in settings.values() if "events" in stage]
    functions = {e["function"]: e for stage in stages for e in stage["events"]}
    event = functions["helpdesk.lambda_tasks.retrain_triage"]
    assert event["expression"].startswith("cron(")


def test_without_numpy_it_is_skipped_says_where_to_train_and_keeps_the_model(
    categories, monkeypatch
):
    first = TriageModel.objects.get(current=True)
    monkeypatch.setitem(sys.modules, "numpy", None)  # as in the Lambda package

    outcome = lambda_tasks.retrain_triage({"source": "aws.events"})

    assert outcome["status"] == "skipped" and "no numpy" in outcome["reason"]
    assert "manage.py triage_train" in outcome["reason"]
    assert TriageModel.objects.get(current=True).pk == first.pk
