"""A ticket in a language the labels do not cover is never applied, and VADER does not score
it: seed_demo's categories and model (English labels), real encoder, POST /tickets."""

from io import StringIO

import pytest
from django.core.management import call_command

from tests.helpers import post_follow_up, post_ticket
from tickets.models import Ticket
from triage.classifier import TriageClassifier
from triage.models import TriageModel

pytestmark = pytest.mark.django_db

SPANISH = (
    "Pedido",
    "Hola, mi pedido no ha llegado todavía y ya pasaron dos semanas, ¿pueden ayudarme?",
)
GERMAN = (
    "Rücksendung",
    "Hallo, ich möchte meine Bestellung zurückschicken, die Schuhe sind zu klein. "
    "Wie geht das? Viele Grüße, Lena",
)
ANGRY_SPANISH = (
    "Terrible",
    "Es el peor servicio, estoy furioso, nadie me ayuda y nadie contesta mis correos. "
    "Horrible, terrible, odio esta tienda.",
)


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())
    settings.TRIAGE_APPLY_THRESHOLD = 0.5  # low, so only the language can keep it from applying
    return TriageModel.objects.get(current=True)


def test_the_model_records_the_languages_of_its_labels(demo):
    # 30 English examples; lingua's trigrams call one of them Danish, below COVERED_SHARE.
    # (The report is a JSON column: Postgres's jsonb keeps its keys in its own order.)
    languages = demo.report["languages"]
    assert max(languages, key=languages.get) == "en" and languages["en"] >= 0.9
    model = TriageClassifier.from_bytes(bytes(demo.blob))
    assert model.languages == languages and model.covered_languages() == {"en"}


@pytest.mark.parametrize(("ticket", "language"), [(SPANISH, "es"), (GERMAN, "de")])
def test_a_ticket_in_another_language_is_suggested_never_applied(api, demo, ticket, language):
    answer = post_ticket(api, *ticket, email="lena@example.com")
    triage = answer["triage"]
    assert triage["language"] == language
    # Suggested; or out of scope when the model abstains as well (no category is shown then).
    assert triage["status"] in {"suggested", "out_of_scope"} and triage["applied"] is False
    assert f"'{language}'" in triage["reason"] and "'en'" in triage["reason"]
    ticket_row = Ticket.objects.get(pk=answer["ticket"]["id"])
    assert ticket_row.category_id is None  # no category, so no default priority or assignee
    assert ticket_row.priority == "normal" and ticket_row.assignee_id is None
    assert triage["sentiment"] is None and "English" in triage["sentiment_note"]
    assert ticket_row.sentiment == "" and ticket_row.sentiment_score is None


def test_vader_does_not_raise_the_priority_of_another_language(api, demo, monkeypatch):
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    scored = []
    polarity_scores = SentimentIntensityAnalyzer.polarity_scores
    monkeypatch.setattr(
        SentimentIntensityAnalyzer,
        "polarity_scores",
        lambda self, text: scored.append(text) or polarity_scores(self, text),
    )
    answer = post_ticket(api, *ANGRY_SPANISH, email="lena@example.com")
    assert scored == []  # not run at all on a language its lexicon cannot read
    assert answer["triage"]["language"] == "es"
    assert answer["triage"]["sentiment"] is None and answer["triage"]["priority_rule"] == ""
    assert answer["ticket"]["priority"] == "normal"


def test_an_english_ticket_is_still_applied(api, demo):
    answer = post_ticket(
        api,
        "Where is my refund",
        "I returned the kettle ten days ago, no money yet.",
        email="lena@example.com",
    )
    triage = answer["triage"]
    assert triage["language"] == "en" and triage["status"] == "applied"
    assert triage["category"] == "Returns & refunds" and triage["sentiment"] is not None


def test_a_model_stored_before_languages_were_recorded_keeps_todays_behaviour(api, demo):
    model = TriageClassifier.from_bytes(bytes(demo.blob))
    model.languages = None  # what an older model's blob reads as
    TriageModel.objects.filter(pk=demo.pk).update(blob=model.to_bytes(), revision="older")
    from triage.services import forget_current

    forget_current()
    triage = post_ticket(api, *SPANISH, email="lena@example.com")["triage"]
    assert triage["language"] == "es"
    assert "'es'" not in triage["reason"]  # no language gate: decided on confidence as before


@pytest.mark.parametrize(("ticket", "language"), [(SPANISH, "es"), (GERMAN, "de")])
def test_a_confident_prediction_in_another_language_is_only_suggested(api, demo, ticket, language):
    """The model made never to abstain (trained without the tickets seed_demo's agents
    decided no category fits, then threshold 0): its best category for the ticket is still
    shown, not applied, whatever its confidence."""
    Ticket.objects.filter(category__isnull=True, category_source="agent").update(category_source="")
    call_command("triage_train", stdout=StringIO())
    demo = TriageModel.objects.get(current=True)
    assert demo.report["n_labels"] == 5
    model = TriageClassifier.from_bytes(bytes(demo.blob))
    model.threshold = 0.0
    TriageModel.objects.filter(pk=demo.pk).update(blob=model.to_bytes(), revision="no-abstain")
    from triage.services import forget_current

    forget_current()
    answer = post_ticket(api, *ticket, email="lena@example.com")
    triage = answer["triage"]
    assert triage["status"] == "suggested" and triage["category"] is not None
    assert triage["applied"] is False and triage["reason"].endswith("left for an agent")
    assert f"'{language}'" in triage["reason"] and "'en'" in triage["reason"]
    assert Ticket.objects.get(pk=answer["ticket"]["id"]).category_id is None


# Short English tickets lingua's trigrams alone name another language, below CERTAIN
# (triage.reading.LanguageRead.settled): triaged and scored as English.
SHORT_ENGLISH = [
    (("Coffee machine", "Coffee machine broken"), "nl"),
    (("Return", "Return label"), "pt"),
]


@pytest.mark.parametrize(("ticket", "misread"), SHORT_ENGLISH)
def test_a_short_english_ticket_misread_below_certain_is_still_applied(api, demo, ticket, misread):
    from triage.reading import read_language

    read = read_language("\n".join(ticket))
    assert read.code == misread and not read.settled  # what lingua says of it

    triage = post_ticket(api, *ticket, email="lena@example.com")["triage"]
    assert triage["language"] == misread  # the read is kept as told, shown as told
    assert triage["status"] == "applied" and "'en'" not in triage["reason"], triage
    assert triage["sentiment"] is not None and triage["sentiment_note"] == ""


def test_a_body_that_repeats_the_subject_is_read_once(api, demo):
    """ "Password reset" as subject and body: lingua calls the pair Italian at 0.995; once, it
    is too short to tell, and the ticket is triaged as the English it is."""
    triage = post_ticket(api, "Password reset", "Password reset", email="lena@example.com")[
        "triage"
    ]
    assert triage["language"] is None and "too short" in triage["language_note"]
    assert triage["status"] == "applied" and triage["category"] == "Account & payment", triage


def test_a_follow_up_is_gated_by_the_storys_language_not_an_unsettled_arrival_read(
    api, demo, settings
):
    from triage.reading import read_language

    settings.TRIAGE_APPLY_THRESHOLD = 0.99  # nothing applied on arrival: the follow-up reads

    # Arrival: lingua reads "your order / Thanks!" German at 0.72 (not settled), stored as told.
    arrived = post_ticket(api, "Re: your order", "Thanks!", email="lena@example.com")
    assert arrived["triage"]["language"] == "de" and arrived["ticket"]["category"] is None
    assert not read_language("your order\nThanks!").settled
    # A follow-up too short to tell: the story's own read decides, not the stored "de".
    answer = post_follow_up(api, arrived["ticket"]["id"], "Refund please")
    assert "'de'" not in answer["triage"]["reason"], answer["triage"]

    # A Spanish ticket stays gated by its story when the follow-up is too short to tell.
    spanish = post_ticket(api, *SPANISH, email="lucia@example.com")
    answer = post_follow_up(api, spanish["ticket"]["id"], "¿Y bien?")
    assert answer["triage"]["applied"] is False and "'es'" in answer["triage"]["reason"]


def test_a_follow_up_to_a_ticket_an_agent_decided_no_category_fits_is_not_read_again(
    api, demo, monkeypatch
):
    from triage import arrival

    arrived = post_ticket(api, "Hello", "Hello?", email="lena@example.com")
    api.patch(f"/tickets/{arrived['ticket']['id']}", {"category_id": None}, format="json")
    monkeypatch.setattr(arrival, "_predict", lambda *a, **k: pytest.fail("read again"))

    answer = post_follow_up(api, arrived["ticket"]["id"], "My refund has not arrived yet.")

    assert answer["triage"]["status"] == "kept" and answer["ticket"]["category"] is None
