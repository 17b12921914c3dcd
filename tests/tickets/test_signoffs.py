"""Sign-offs in the languages customers write in are cut from body_clean, on their own line or
typed after the last sentence; the same words inside or opening a sentence that goes on are
kept. Through POST /tickets (the real path) and the reader itself."""

import pytest

from helpdesk.reading import clean_message

pytestmark = pytest.mark.django_db

CUT = [
    (
        "my order arrived broken and the box was crushed. How do I get a refund? Cheers, Tom",
        "my order arrived broken and the box was crushed. How do I get a refund?",
    ),
    (
        "Hallo, ich möchte meine Bestellung zurückschicken, die Schuhe sind zu klein. "
        "Wie geht das? Viele Grüße, Lena",
        "ich möchte meine Bestellung zurückschicken, die Schuhe sind zu klein. Wie geht das?",
    ),
    (
        "Das Paket ist kaputt angekommen.\n\nMit freundlichen Grüßen\nLena Maier",
        "Das Paket ist kaputt angekommen.",
    ),
    (
        "Das Paket ist kaputt angekommen. Mit freundlichen Grüßen",
        "Das Paket ist kaputt angekommen.",
    ),
    ("Le colis est arrivé abîmé. Cordialement, Marie Dupont", "Le colis est arrivé abîmé."),
    ("Mi pedido llegó roto. Saludos", "Mi pedido llegó roto."),
    ("Mi pedido llegó roto.\nUn saludo,\nAna", "Mi pedido llegó roto."),
    ("Mi pedido llegó roto. Atentamente, Ana Pérez", "Mi pedido llegó roto."),
    ("Mijn pakket is kapot. Met vriendelijke groet, Jan", "Mijn pakket is kapot."),
    ("Il pacco è arrivato rotto.\n\nCordiali saluti\nMarco", "Il pacco è arrivato rotto."),
    ("O pedido chegou partido. Atenciosamente, João", "O pedido chegou partido."),
    ("O pedido chegou partido.\nCumprimentos,\nJoão Silva", "O pedido chegou partido."),
]
# Closings joined by a conjunction and/or sent "from <Place>", typed after the last sentence or
# on their own lines: in any language they outweigh a short question (lingua read the first
# one as German at 0.999).
COMPOUND_CUT = [
    (
        "Hello, my parcel has not arrived yet. Vielen Dank und viele Grüße aus Berlin, Thomas",
        "my parcel has not arrived yet.",
    ),
    (
        "Hi,\nI ordered a kettle on 2 March (order 40817) and it still shows 'processing'. "
        "Can you check? Mit freundlichen Grüßen und vielen Dank aus München, Hans Müller",
        "I ordered a kettle on 2 March (order 40817) and it still shows 'processing'. "
        "Can you check?",
    ),
    (
        "Hi team,\n\nmy parcel has not arrived yet, the tracking stopped on Monday.\n\n"
        "Mit freundlichen Grüßen und vielen Dank aus München,\nHans Müller",
        "my parcel has not arrived yet, the tracking stopped on Monday.",
    ),
    (
        "The blender I returned on the 4th has not been refunded yet. "
        "Thanks and best regards from Lisbon, Ana",
        "The blender I returned on the 4th has not been refunded yet.",
    ),
    (
        "Where is my refund for order 5512?\n\nThanks & regards,\nPriya Sharma\n+91 98765 43210",
        "Where is my refund for order 5512?",
    ),
    (
        "Bonjour,\nle colis est arrivé abîmé, la bouilloire est fendue. "
        "Merci d'avance et bonne journée, Luc",
        "le colis est arrivé abîmé, la bouilloire est fendue.",
    ),
    (
        "Hola, mi pedido llegó roto. ¿Cómo lo devuelvo? "
        "Muchas gracias y un saludo desde Madrid, Ana",
        "mi pedido llegó roto. ¿Cómo lo devuelvo?",
    ),
    (
        "Il pacco è arrivato rotto.\n\nGrazie mille e cordiali saluti\nMarco Rossi",
        "Il pacco è arrivato rotto.",
    ),
    (
        "Mijn pakket is kapot aangekomen. Alvast bedankt en groetjes uit Gent, Els",
        "Mijn pakket is kapot aangekomen.",
    ),
    ("Das Paket ist nicht da.\n\nViele Grüße aus Hamburg\nJan", "Das Paket ist nicht da."),
]
# Farewells, the place on its own line or with a word before the name, and whole closing
# pleasantries above the name: each was left in body_clean before (2026-12-06).
QUESTION = "My parcel has not arrived yet, can you check where it is?"
FAREWELL_CUT = [
    "Viele Grüße\naus Berlin\nThomas",
    "Best regards from sunny Madrid,\nAna",
    "Best regards from the team at Acme\nTom",
    "Merci beaucoup et à bientôt,\nClaire",
    "Bis bald,\nJan",
    "Tschüss\nJan",
    "Hasta luego,\nPedro",
    "A presto,\nMarco",
    "Talk soon,\nTom",
    "Thanks & have a good weekend,\nTom",
    "Looking forward to hearing from you,\nTom",
    "Thank you for your help,\nTom Smith",
    "I look forward to hearing from you.\n\nKind regards,\nTom",
    "Thanks in advance for your help.\nBest,\nTom",
    "Waiting for your answer,\nTom",
]
KEPT = [
    "Saludos a tu equipo, el paquete llegó roto y necesito otro.",
    "Hola. Saludos cordiales no bastan, quiero un reembolso por el paquete roto.",
    "Meine Tante hat mir viele Grüße ausgerichtet, aber das Paket ist nicht angekommen. "
    "Was soll ich tun?",
    "Ich habe angerufen. Grüße an alle, aber die Schuhe sind immer noch zu klein.",
    "The box was crushed. Thank you for nothing, I want a refund.",
    "I have two kettles. Yours broke.",
    "Where is it? Best Buy says it was shipped.",
    # The same words as the farewells and pleasantries above, in sentences that go on.
    "My kettle leaks.\nThank you for your help with the refund, but it is broken again.",
    "My kettle leaks again.\nSee you in court if this is not fixed",
    "My kettle leaks.\nWaiting for your answer since Monday, where is my refund?",
    "My kettle leaks.\nBest regards from the warehouse team",
]
# Closing words joined by a conjunction or followed by "from" that are content, not a sign-off:
# after the conjunction comes a clause, or the "place" is not a name.
COMPOUND_KEPT = [
    "My blender came back broken. Thanks and I look forward to the refund from your warehouse.",
    "My blender came back broken.\nThanks and I look forward to the refund from your warehouse",
    "The parcel came from Berlin and best of all it was late.",
    "The box was crushed. Thanks and best of luck fixing it, I want a refund.",
    "Das Kabel ist kaputt. Danke und bitte schicken Sie mir ein neues Kabel",
    "Das Kabel ist kaputt.\nDanke und bitte schicken Sie mir ein neues Kabel",
    "El paquete llegó roto. Muchas gracias y saludos a tu equipo, pero quiero otro.",
    "Where is it? Thanks and regards from the warehouse team",
]


def post(api, body):
    response = api.post(
        "/tickets",
        {"customer": {"email": "lena@example.com"}, "subject": "Order", "body": body},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()["ticket"]


@pytest.mark.parametrize(("body", "expected"), CUT)
def test_a_signoff_is_cut_from_body_clean(api, body, expected):
    ticket = post(api, body)
    assert ticket["body_clean"] == expected
    assert ticket["body"] == body  # the original is kept


@pytest.mark.parametrize("body", KEPT)
def test_a_closing_word_inside_the_text_is_kept(api, body):
    assert post(api, body)["body_clean"] == body
    assert clean_message(body) == body


@pytest.mark.parametrize(("body", "expected"), COMPOUND_CUT)
def test_a_compound_signoff_is_cut_from_body_clean(api, body, expected):
    ticket = post(api, body)
    assert ticket["body_clean"] == expected
    assert ticket["body"] == body


@pytest.mark.parametrize("body", COMPOUND_KEPT)
def test_closing_words_joined_to_a_clause_are_kept(api, body):
    assert post(api, body)["body_clean"] == body
    assert clean_message(body) == body


@pytest.mark.parametrize("signoff", FAREWELL_CUT)
def test_a_farewell_or_closing_pleasantry_is_cut_from_body_clean(api, signoff):
    body = f"Hello,\n\n{QUESTION}\n\n{signoff}"
    assert post(api, body)["body_clean"] == QUESTION
