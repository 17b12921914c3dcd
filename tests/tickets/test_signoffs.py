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
KEPT = [
    "Saludos a tu equipo, el paquete llegó roto y necesito otro.",
    "Hola. Saludos cordiales no bastan, quiero un reembolso por el paquete roto.",
    "Meine Tante hat mir viele Grüße ausgerichtet, aber das Paket ist nicht angekommen. "
    "Was soll ich tun?",
    "Ich habe angerufen. Grüße an alle, aber die Schuhe sind immer noch zu klein.",
    "The box was crushed. Thank you for nothing, I want a refund.",
    "I have two kettles. Yours broke.",
    "Where is it? Best Buy says it was shipped.",
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
