"""An agent's decision that no category fits a ticket: recorded like any correction, trained on
as the model's out-of-scope label, so triage learns to leave tickets that say nothing of what
they are about ("Help") for an agent instead of applying the nearest category."""

from io import StringIO

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from tests import mailshapes
from tests.factories import TicketFactory
from tests.helpers import post_follow_up, post_ticket
from tests.tickets.test_email_in import deliver
from tests.triage.test_classifier import corpus, embed
from tickets.models import Ticket
from triage.classifier import TriageClassifier
from triage.models import NO_CATEGORY, Category, CategoryCorrection
from triage.services import training_examples

pytestmark = pytest.mark.django_db


def test_clearing_the_category_is_an_agents_decision_that_none_fits(api, categories):
    applied = TicketFactory(category=categories["Refunds"], category_source="model")
    untouched = TicketFactory(subject="Hello", body="Is anybody there?")
    waiting = TicketFactory(subject="Parcel", body="Where is my parcel?")

    for ticket in (applied, untouched):
        response = api.patch(f"/tickets/{ticket.pk}", {"category_id": None}, format="json")
        assert response.status_code == 200, response.content
        answer = response.json()
        assert answer["category"] is None and answer["category_source"] == "agent"
        assert CategoryCorrection.objects.get(ticket=ticket).category is None
    # Deciding it again records nothing more.
    api.patch(f"/tickets/{untouched.pk}", {"category_id": None}, format="json")
    assert CategoryCorrection.objects.filter(ticket=untouched).count() == 1

    # Decided tickets are neither "with a category" nor "not categorised yet".
    listed = api.get("/tickets", {"has_category": "false"}).json()["results"]
    assert waiting.pk in {t["id"] for t in listed}
    assert not {applied.pk, untouched.pk} & {t["id"] for t in listed}
    with_category = api.get("/tickets", {"has_category": "true"}).json()["results"]
    assert not {applied.pk, untouched.pk} & {t["id"] for t in with_category}

    texts, labels, ids = training_examples()
    assert labels.count(NO_CATEGORY) == 2 and NO_CATEGORY not in ids
    assert texts[labels.index(NO_CATEGORY)].startswith(applied.subject)


def test_an_out_of_scope_answer_agrees_with_an_agents_none_in_the_metrics(api, categories):
    body = post_ticket(api, "Hi", "Thanks again for everything, have a nice weekend!")
    assert body["triage"]["status"] == "out_of_scope"
    api.patch(f"/tickets/{body['ticket']['id']}", {"category_id": None}, format="json")

    metrics = api.get("/triage/metrics").json()
    assert metrics["not_applied_reviewed"] == 1 and metrics["not_applied_agreement"] == 1.0


def test_no_category_is_ever_offered_as_an_alternative():
    texts, labels = corpus(10, seed=0)
    keep = [i for i, label in enumerate(labels) if label != "account"]
    texts = [texts[i] for i in keep] + ["hi there thanks", "thanks again hi", "why hi again"]
    labels = [labels[i] for i in keep] + [NO_CATEGORY] * 3
    model = TriageClassifier.fit(texts, labels, embed(texts), oos_label=NO_CATEGORY)

    for text in ("refund charge", "hi there thanks again", "parcel late"):
        [prediction] = model.predict(embed([text]), [text], top=3)
        assert [name for name, _ in prediction.alternatives] in (
            ["billing", "delivery"],
            ["delivery", "billing"],
        )
    [thanks] = model.predict(embed(["thanks hi again"]), ["thanks hi again"])
    assert thanks.label is None


def test_no_category_can_be_called_what_triage_calls_none():
    category = Category(name=" (None of the categories) ")
    with pytest.raises(ValidationError):
        category.full_clean()


# The demo store (seed_demo: 5 categories × 6 tickets, and 7 tickets its agents decided no
# category fits), with tickets as customers write them. None of these texts is a demo example.
SAYS_NOTHING = [
    ("Help", "Help"),
    ("Hello?", "Hello?"),
    ("Help", "Can you help me please?"),
    ("hi", "Hi, can someone call me back? Thanks"),
]
SAYS_WHAT = [
    ("Refund?", "Refund?", "Returns & refunds"),
    ("Password reset", "I can't reset my password", "Account & payment"),
    ("Where is my order", "Where is my order", "Delivery & tracking"),
    (
        "Kettle",
        "Hi,\n\nmy new kettle won't turn on. Can you help?\n\nCheers,\nTom\n\n--\n"
        "Tom Baker\n+44 20 7946 0000\n\nSent from my iPhone",
        "Damaged or faulty product",
    ),
]


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())


def test_the_demo_model_leaves_a_ticket_that_says_nothing_for_an_agent(demo, api, inbound):
    assert Ticket.objects.filter(category__isnull=True, category_source="agent").count() == 7
    for subject, body in SAYS_NOTHING:
        answer = post_ticket(api, subject, body)
        triage = answer["triage"]
        assert triage["status"] == "out_of_scope", (body, triage)
        assert triage["reason"].startswith(
            "none of the categories fits: it reads like the tickets where no category fits"
        )
        assert not triage["applied"] and triage["category"] is None
        assert answer["ticket"]["category"] is None
        assert NO_CATEGORY not in [a["category"] for a in triage["alternatives"]]

    for subject, body, category in SAYS_WHAT:
        triage = post_ticket(api, subject, body)["triage"]
        assert triage["applied"] and triage["category"] == category, (body, triage)

    # The customer then says what it is about: the model reads the whole story.
    first = post_ticket(api, "Help", "Hi,\n\ncan someone help me please?\n\nThanks,\nLena")
    assert first["triage"]["status"] == "out_of_scope"
    story = post_follow_up(
        api,
        first["ticket"]["id"],
        "Sorry, I should have said: I sent the air fryer back ten days ago and I still have not "
        "got my money back.\n\nCheers,\nLena",
    )["triage"]
    assert story["applied"] and story["category"] == "Returns & refunds", story

    mail = mailshapes.gmail(sender="Ana <ana@example.com>", subject="Help", text="Help")
    ticket = deliver(inbound, mail, status=201).json()["ticket"]
    assert ticket["category"] is None
    assert Ticket.objects.get(pk=ticket["id"]).triage["status"] == "out_of_scope"


def test_the_demo_models_confidence_in_a_real_category_is_unchanged_by_the_none_label(demo):
    """The out-of-scope label takes nothing from the categories' own examples: each demo
    example still reads as its own category."""
    from knowledge.backends.local import shared_encoder
    from triage.demo import labelled_texts
    from triage.selectors import current_classifier

    model, _, problem = current_classifier()
    assert problem == ""
    texts, labels = labelled_texts()
    encoder = shared_encoder()
    vectors = np.stack([encoder.encode_queries([t, t])[0] for t in texts])
    predictions = model.predict(vectors, texts)
    assert all(p.label == label for p, label in zip(predictions, labels, strict=True))


def test_the_word_view_where_no_encoder_runs_learns_it_too(demo):
    """The Lambda (Bedrock KB, no local encoder) triages with the model's word view alone."""
    from triage.arrival import ticket_text
    from triage.selectors import current_lexical

    model, _, problem = current_lexical()
    assert problem == "" and model.oos_label == NO_CATEGORY
    for subject, body in SAYS_NOTHING:
        prediction = model.predict(ticket_text(subject, body))
        assert prediction.label is None, (body, prediction)
        assert NO_CATEGORY not in [name for name, _ in prediction.alternatives]
    refund = model.predict(ticket_text("Refund?", "Where is my refund for the blender?"))
    assert refund.label == "Returns & refunds"


def test_the_out_of_scope_label_winning_abstains_whatever_the_threshold():
    texts, labels = corpus(10, seed=0)
    texts += ["hi there thanks", "thanks again hi", "why hi again"]
    labels += [NO_CATEGORY] * 3
    model = TriageClassifier.fit(texts, labels, embed(texts), oos_label=NO_CATEGORY)
    model.threshold = 0.0
    [thanks] = model.predict(embed(["thanks hi again"]), ["thanks hi again"])
    assert thanks.label is None and thanks.confidence == 0.0
    [refund] = model.predict(embed(["refund charge"]), ["refund charge"])
    assert refund.label == "billing"


def test_deleting_a_category_does_not_turn_its_labels_into_no_category(categories):
    labelled = Ticket.objects.filter(category=categories["Delivery"]).count()
    assert labelled == 6
    categories["Delivery"].delete()

    texts, labels, ids = training_examples()
    assert NO_CATEGORY not in labels and "Delivery" not in ids
    assert not Ticket.objects.filter(category__isnull=True, category_source="agent").exists()


def test_the_category_list_counts_each_categorys_labels(categories, client, django_user_model):
    TicketFactory(category=categories["Refunds"], category_source="model")  # not a label
    admin_user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin_user)

    page = client.get("/admin/triage/category/")

    assert page.status_code == 200
    rows = {obj.name: obj.labelled for obj in page.context["cl"].result_list}
    assert rows == {"Account": 6, "Delivery": 6, "Refunds": 6}
    assert "Labelled tickets" in page.content.decode()
