"""Language on arrival: too little text is not told, and the KB's language is read once per KB
revision (real lingua, real retrieval, real database; POST /tickets)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from knowledge.models import Article, KnowledgeState
from tests.helpers import post_ticket
from triage import arrival, reading

pytestmark = pytest.mark.django_db

NO_SUGGESTION = {"equals": {"key": "product", "value": "no-such-product"}}
GERMAN = (
    "Paket nicht angekommen",
    "Mein Paket ist seit zwei Wochen unterwegs und immer noch nicht angekommen. Wo ist es?",
)


@pytest.mark.parametrize("text", ["password", "Help", "refund please"])
def test_a_word_or_two_is_too_short_to_tell(text):
    read = reading.read_language(text)
    assert read.code == "" and read.note == reading.TOO_SHORT


@pytest.mark.parametrize(("subject", "body"), [("Help", "password"), ("Login", "Help")])
def test_a_too_short_ticket_has_no_language_and_no_blame(api, subject, body):
    answer = post_ticket(api, subject, body, kb_filters=NO_SUGGESTION)
    assert answer["suggestions"] == []
    triage = answer["triage"]
    assert triage["language"] is None and triage["language_note"].startswith("too short")
    assert triage["suggestions_note"] == ""  # nothing blamed on a language nobody detected
    assert answer["ticket"]["language"] == ""


def test_a_two_sentence_english_ticket_is_english(api):
    answer = post_ticket(
        api,
        "Kettle",
        "I ordered a kettle last week. It has not arrived yet, can you check for me?",
    )
    assert answer["triage"]["language"] == "en" and answer["triage"]["language_note"] == ""
    assert answer["ticket"]["language"] == "en"


def test_the_kb_language_is_read_once_per_kb_revision(api, monkeypatch):
    arrival._kb_language = None
    detected = []
    detect = reading.detect_language

    def counted(text):
        detected.append(text)
        return detect(text)

    monkeypatch.setattr(reading, "detect_language", counted)
    first = post_ticket(api, *GERMAN, kb_filters=NO_SUGGESTION)
    assert "'de'" in first["triage"]["suggestions_note"]
    assert "'en'" in first["triage"]["suggestions_note"]
    assert len(detected) == 1  # the KB's titles, as one text

    with CaptureQueriesContext(connection) as queries:
        second = post_ticket(api, *GERMAN, kb_filters=NO_SUGGESTION)
    assert second["triage"]["suggestions_note"] == first["triage"]["suggestions_note"]
    assert len(detected) == 1  # two tickets, one detection
    assert not [q for q in queries.captured_queries if "knowledge_article" in q["sql"]]

    # A sync that changes the index bumps the KB revision: the titles are read again.
    for article in Article.objects.all():
        article.title = "Wie Sie Ihre Bestellung zurückschicken und Ihr Geld erhalten"
        article.save(update_fields=["title"])
    KnowledgeState.bump()
    third = post_ticket(api, *GERMAN, kb_filters=NO_SUGGESTION)
    assert len(detected) == 2
    assert third["triage"]["suggestions_note"] == ""  # the KB is German now


@pytest.fixture
def without_lingua(monkeypatch):
    """As in the Lambda package, which leaves lingua-language-detector out."""
    monkeypatch.setitem(reading._loaded, "language", True)
    monkeypatch.setattr(reading, "_detector", None)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("\n".join(GERMAN), "de"),
        (
            "Where is my refund?\nI sent the kettle back two weeks ago and I have not "
            "heard from you since. Cheers, Tom",
            "en",
        ),
        ("Remboursement\nJe n'ai pas reçu mon remboursement pour la commande, merci.", "fr"),
        ("Devolución\nQuiero devolver el pedido, llegó roto y no funciona. Un saludo, Lucía", "es"),
        # Spanish and Portuguese share "de", "que", "no": told apart, not mixed up.
        ("Não recebi o meu reembolso, a encomenda foi devolvida há duas semanas.", "pt"),
        ("No he recibido mi reembolso, devolví el pedido hace dos semanas.", "es"),
        ("Min beställning har inte kommit fram, vad ska jag göra?", "sv"),
        ("Min bestilling er ikke kommet frem, hvad skal jeg gøre?", "da"),
        ("Moje zamówienie nie dotarło, co mam zrobić?", "pl"),
        # German words inside an English sentence: still English.
        ("The invoice says Rechnung Nr 123 von der Firma but I paid it already", "en"),
    ],
)
def test_without_lingua_the_function_words_tell_the_language(without_lingua, text, code):
    read = reading.read_language(text)
    assert read.code == code and not read.certain
    assert "function words alone" in read.note and "not installed" in read.note


@pytest.mark.parametrize(
    ("text", "note"),
    [
        ("Order 1234 status update needed", "its function words do not tell"),
        # An English line and a German closing: neither clearly, so not told (not mistold).
        ("Hi, my order never arrived. Danke schön und viele Grüße", "do not tell"),
        ("Ich bin", reading.TOO_SHORT),
    ],
)
def test_without_lingua_unclear_function_words_tell_nothing(without_lingua, text, note):
    read = reading.read_language(text)
    assert read.code == "" and note in read.note


def test_without_lingua_the_one_english_misread_of_the_eval_sets_is_never_certain(
    without_lingua,
):
    # bench/language_fallback.py: 1 of 31,035 English texts, its two "as" Portuguese articles.
    read = reading.read_language("whats left as far as gas goes")
    assert read.code == "pt" and not read.certain


def test_without_lingua_a_german_ticket_is_stored_as_german_and_gets_no_sentiment(
    api, without_lingua
):
    answer = post_ticket(api, *GERMAN)
    triage = answer["triage"]
    assert triage["language"] == "de" and "function words alone" in triage["language_note"]
    assert triage["sentiment"] is None  # VADER reads English only
    assert triage["suggestions_note"] == ""  # never certain: the suggestions are not gated
