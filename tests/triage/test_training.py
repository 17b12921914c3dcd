"""triage_train's service and command on real tickets and the real database."""

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from tests.factories import TicketFactory
from tests.triage.test_classifier import corpus, embed
from triage.classifier import category_text
from triage.models import Category, TriageModel
from triage.selectors import category_for, current_classifier, forget_current
from triage.services import _name_vectors, training_examples, triage_model_train

pytestmark = pytest.mark.django_db


def label_tickets(n_per_label=8, seed=0, source="agent"):
    texts, labels = corpus(n_per_label, seed)
    categories = {name: Category.objects.get_or_create(name=name)[0] for name in set(labels)}
    for text, label in zip(texts, labels, strict=True):
        TicketFactory(
            subject="",
            body=text,
            category=categories[label],
            category_source=source,
        )
    return categories


def train():
    texts, labels, ids = training_examples()
    return triage_model_train(texts=texts, labels=labels, ids=ids, embed=embed)


def test_it_trains_from_labelled_tickets_and_serves_the_new_model():
    categories = label_tickets()
    row = train()
    assert row.current and row.generation == 1 and row.n_examples == 24
    model, current, problem = current_classifier()
    assert problem == "" and current.pk == row.pk
    [prediction] = model.predict(embed(["refund charge invoice"]), ["refund charge invoice"])
    assert category_for(current, prediction.alternatives[0][0]) == categories["billing"]

    second = train()  # another process trained: picked up without a restart
    model2, current2, _ = current_classifier()
    assert current2.pk == second.pk and model2 is not model
    assert TriageModel.objects.filter(current=True).count() == 1


def test_inactive_categories_are_not_trained_on_nor_applied():
    categories = label_tickets()
    row = train()
    categories["billing"].active = False
    categories["billing"].save()
    assert category_for(row, "billing") is None
    _, labels, _ = training_examples()
    assert "billing" not in labels
    categories["delivery"].delete()
    assert category_for(row, "delivery") is None


def test_without_a_model_triage_says_so():
    model, row, problem = current_classifier()
    assert model is None and row is None and "triage_train" in problem


def test_a_corrupt_stored_model_turns_triage_off():
    label_tickets()
    row = train()
    TriageModel.objects.filter(pk=row.pk).update(blob=b"\x00garbage")
    TriageModel.objects.filter(pk=row.pk).update(revision="changed")  # as a restore would
    forget_current()  # another process sees it within RECHECK_SECONDS
    model, current, problem = current_classifier()
    assert model is None and current.pk == row.pk and "unreadable" in problem


@pytest.mark.parametrize("n_categories", [0, 1])
def test_the_command_refuses_too_few_categories_and_keeps_the_model(n_categories):
    if n_categories:
        category = Category.objects.create(name="billing")
        TicketFactory.create_batch(3, category=category, category_source="agent")
    with pytest.raises(CommandError, match="current model is unchanged"):
        call_command("triage_train")
    assert not TriageModel.objects.exists()


def test_the_name_view_reads_each_category_name_and_description():
    categories = label_tickets()
    categories["billing"].description = "Charges, invoices and refunds."
    categories["billing"].save()
    _, _, ids = training_examples()
    vectors = _name_vectors(ids, embed)
    assert set(vectors) == set(ids)
    expected = embed([category_text("billing", "Charges, invoices and refunds.")])[0]
    assert np.array_equal(vectors["billing"], expected)
    assert np.array_equal(vectors["delivery"], embed(["delivery"])[0])


def test_the_command_reports_the_model_and_its_word_view(monkeypatch):
    from io import StringIO

    from triage import services

    label_tickets()
    reads = []
    read = services.training_tickets
    monkeypatch.setattr(services, "training_tickets", lambda: reads.append(1) or read())
    out = StringIO()
    call_command("triage_train", stdout=out)
    assert reads == [1]  # the labelled tickets are read once, for the count and the training
    lines = out.getvalue().splitlines()
    assert lines[0] == "24 labelled tickets, 3 categories"
    assert lines[1].startswith("model 1 is current: threshold ")
    assert lines[2].startswith("word view (for a ticket without a vector)")
    assert lines[2].endswith("word and character n-grams")  # 24 texts: a model of its own
    row = TriageModel.objects.get(current=True)
    assert row.report["lexical"]["chars"] is True


def test_older_models_are_deleted_beyond_triage_models_kept(settings):
    settings.TRIAGE_MODELS_KEPT = 3
    label_tickets()
    for _ in range(5):
        train()
    rows = list(TriageModel.objects.values_list("generation", "current"))
    assert rows == [(5, True), (4, False), (3, False)]


def test_a_kept_model_can_be_made_current_again_and_every_process_serves_it():
    from triage.services import triage_model_make_current

    label_tickets()
    first = train()
    second = train()
    assert current_classifier()[1].pk == second.pk

    triage_model_make_current(model=TriageModel.objects.get(pk=first.pk))

    model, row, _ = current_classifier()
    assert model is not None and row.pk == first.pk and row.generation == 1
    current = TriageModel.objects.filter(current=True)
    assert list(current.values_list("generation", flat=True)) == [1]
    # The next training is current again, and the rolled-back row stays among those kept.
    third = train()
    assert current_classifier()[1].pk == third.pk
    assert set(TriageModel.objects.values_list("generation", flat=True)) == {1, 2, 3}


def test_the_admin_rolls_back_to_one_selected_model(client, django_user_model):
    label_tickets()
    first, second = train(), train()
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    url = "/admin/triage/triagemodel/"

    page = client.get(url)
    assert page.status_code == 200 and b"Make current (roll back to this model)" in page.content
    assert b"Trained on" in page.content and b"local encoder (MiniLM)" in page.content

    both = client.post(
        url, {"action": "make_current", "_selected_action": [first.pk, second.pk]}, follow=True
    )
    assert b"Select exactly one model." in both.content
    assert TriageModel.objects.get(current=True).pk == second.pk

    one = client.post(url, {"action": "make_current", "_selected_action": [first.pk]}, follow=True)
    assert b"Model 1 is current" in one.content
    assert TriageModel.objects.get(current=True).pk == first.pk
    assert current_classifier()[1].pk == first.pk
