"""A customer's follow-up in another language than the KB's articles: its new round of
suggestions is gated as a new ticket's is (triage/arrival.py `follow_up_gate`), the answer says
why in `suggestions_note`, and the note is kept with the round it explains (`Ticket.triage`,
what the admin ticket page shows). The language is read once per message, on the retriever's
focus view (the new message). Real lingua, real encoder, the sample KB (English) indexed by the
real sync; POST /tickets/{id}/messages and POST /inbound/email end to end."""

import pytest
from django.conf import settings

from helpdesk.api.exceptions import KnowledgeBackendUnavailable
from helpdesk.reading import clean_message
from knowledge.backends.base import get_backend
from knowledge.backends.local import LocalBackend, shared_encoder
from tests import mailshapes
from tests.helpers import (
    count_encoder_passes,
    count_language_reads,
    post_follow_up,
    post_ticket,
)
from tests.openapi import assert_conforms
from tickets.models import Suggestion, Ticket
from tickets.services import _thread_query
from triage import reading
from triage.arrival import CROSS_LANGUAGE_MIN_COSINE

pytestmark = pytest.mark.django_db

BROKEN = ("Broken blender", "My blender arrived with a cracked jar, how do I get a replacement?")
AGENT_REPLY = "Sorry to hear that. Please send us a photo of the damage and we will ship a new jar."
# Spanish: no camera at hand, can the blender go back without a photo, for a refund. Across the
# languages only the English turn before it (the agent's reply, in the retriever's `recent`
# view) matches closely: "Damaged or Broken Item on Arrival" at 0.46, the rest below 0.39.
SPANISH = (
    "No tengo cámara en este momento. ¿Puedo devolver la batidora sin foto y recibir el reembolso?"
)


def retrieved(ticket_id: int, body: str):
    """What the retriever answers for this follow-up, asked as message_create asks it."""
    query = _thread_query(Ticket.objects.get(pk=ticket_id), clean_message(body))
    return get_backend().retrieve(query, k=settings.KB_SUGGESTIONS)


def agent_reply(api, ticket_id: int, body: str = AGENT_REPLY) -> None:
    response = api.post(
        f"/tickets/{ticket_id}/messages", {"kind": "reply", "body": body}, format="json"
    )
    assert response.status_code == 201, response.content


def current(ticket_id: int) -> list[tuple[int, str]]:
    rows = Suggestion.objects.filter(ticket_id=ticket_id, superseded_at__isnull=True)
    return list(rows.order_by("rank").values_list("round", "title"))


def kept_note(ticket_id: int) -> str:
    return Ticket.objects.get(pk=ticket_id).triage.get("suggestions_note", "")


def context_note(api, ticket_id: int) -> str:
    """The note as GET /tickets/{id}/context shows it beside the current suggestions."""
    response = api.get(f"/tickets/{ticket_id}/context")
    assert response.status_code == 200, response.content
    assert_conforms(response, "GET", "/tickets/{id}/context")
    return response.json()["suggestions_note"]


def english_ticket(api) -> int:
    answer = post_ticket(api, *BROKEN)
    assert answer["triage"]["suggestions_note"] == "" and len(answer["suggestions"]) == 5
    agent_reply(api, answer["ticket"]["id"])
    return answer["ticket"]["id"]


def test_a_spanish_reply_in_an_english_thread_gets_only_close_matches_and_a_note(api):
    ticket_id = english_ticket(api)
    before = retrieved(ticket_id, SPANISH)
    assert len(before) == 5  # the retriever still finds five

    answer = post_follow_up(api, ticket_id, SPANISH)

    titles = [s["title"] for s in answer["suggestions"]]
    assert titles == [p.title for p in before if p.cosine >= CROSS_LANGUAGE_MIN_COSINE]
    assert titles == ["Damaged or Broken Item on Arrival"]
    assert answer["suggestions_note"] == (
        "The latest message is in 'es', the knowledge base's articles are in 'en': only "
        "suggestions close in meaning across the languages are shown (1 of 5)."
    )
    assert current(ticket_id) == [(2, "Damaged or Broken Item on Arrival")]  # the new round
    assert kept_note(ticket_id) == answer["suggestions_note"]
    # The ticket's own language (read on arrival) and the decision are left as they were.
    ticket = Ticket.objects.get(pk=ticket_id)
    assert ticket.language == "en" and ticket.triage["status"] == "no_model"


def test_a_foreign_reply_with_only_weak_matches_keeps_the_earlier_round(api):
    ticket_id = english_ticket(api)
    # The turn before it (the retriever's `recent` view) says nothing about the problem.
    agent_reply(api, ticket_id, "Thank you for your patience, we will get back to you shortly.")
    earlier = current(ticket_id)
    body = "Ich habe es noch einmal versucht, aber es geht immer noch nicht. Was kann ich tun?"
    assert all(p.cosine < CROSS_LANGUAGE_MIN_COSINE for p in retrieved(ticket_id, body))

    answer = post_follow_up(api, ticket_id, body)

    assert answer["suggestions"] == []
    assert answer["suggestions_note"].startswith(
        "No suggestion: the latest message is in 'de', the knowledge base's articles are in "
        "'en'. 5 weak matches across the languages left out."
    )
    assert answer["suggestions_note"].endswith(" The earlier suggestions stay current.")
    assert current(ticket_id) == earlier  # round 1, as when nothing is found
    assert kept_note(ticket_id) == answer["suggestions_note"]


def test_an_english_reply_on_a_german_ticket_gets_every_suggestion_and_clears_the_note(api):
    answer = post_ticket(
        api,
        "Passwort vergessen",
        "Ich habe mein Passwort vergessen und bekomme keine E-Mail zum Zurücksetzen.",
    )
    ticket_id = answer["ticket"]["id"]
    assert answer["suggestions"] == [] and answer["triage"]["suggestions_note"]
    assert kept_note(ticket_id) == answer["triage"]["suggestions_note"]  # kept on arrival
    assert context_note(api, ticket_id) == answer["triage"]["suggestions_note"]
    # English, with a German sign-off on its own lines (cleaned away, helpdesk/reading).
    body = (
        "Sorry, I can write in English too: I forgot my password and the reset e-mail never "
        "arrives.\n\nMit freundlichen Grüßen\nHans Müller"
    )
    assert reading.read_language(clean_message(body)).code == "en"
    expected = [p.title for p in retrieved(ticket_id, body)]

    answer = post_follow_up(api, ticket_id, body)

    assert [s["title"] for s in answer["suggestions"]] == expected and len(expected) == 5
    assert answer["suggestions_note"] == ""
    assert [title for _, title in current(ticket_id)] == expected
    assert kept_note(ticket_id) == ""  # the note no longer explains what is shown
    assert context_note(api, ticket_id) == ""


def test_an_english_reply_with_a_compound_german_sign_off_is_read_english(api):
    # As on a new ticket (test_cross_language_suggestions.py): the compound sign-off is cleaned
    # away, so it no longer outweighs a short English reply (lingua read it German with
    # certainty, and the round was gated). Every suggestion is served, with no note.
    ticket_id = english_ticket(api)
    body = (
        "Photo attached, when does the new jar ship?\n\n"
        "Mit freundlichen Grüßen und vielen Dank aus München, Hans Müller"
    )
    assert clean_message(body) == "Photo attached, when does the new jar ship?"
    before = retrieved(ticket_id, body)

    answer = post_follow_up(api, ticket_id, body)

    assert [s["title"] for s in answer["suggestions"]] == [p.title for p in before]
    assert len(answer["suggestions"]) == 5
    assert answer["suggestions_note"] == "" and kept_note(ticket_id) == ""


def test_an_english_follow_up_is_untouched(api):
    ticket_id = english_ticket(api)
    body = "I sent the photo an hour ago. Can you ship the replacement jar this week?"
    expected = [p.title for p in retrieved(ticket_id, body)]

    answer = post_follow_up(api, ticket_id, body)

    assert [s["title"] for s in answer["suggestions"]] == expected and len(expected) == 5
    assert answer["suggestions_note"] == "" and kept_note(ticket_id) == ""


def test_an_e_mail_reply_in_spanish_threaded_onto_the_ticket_is_gated(inbound, api, settings):
    settings.MEDIA_ROOT = "/nonexistent-no-attachments"
    first = mailshapes.gmail(
        message_id="<broken-1@mail.gmail.com>", subject=BROKEN[0], text=BROKEN[1]
    )
    response = inbound.generic("POST", "/inbound/email", first, content_type="message/rfc822")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["created"] is True and created["suggestions_note"] == ""
    ticket_id = created["ticket"]["id"]
    agent_reply(api, ticket_id)
    before = retrieved(ticket_id, SPANISH)
    reply = mailshapes.gmail(
        message_id="<broken-2@mail.gmail.com>",
        subject=f"Re: {BROKEN[0]}",
        text=SPANISH,
        in_reply_to="<broken-1@mail.gmail.com>",
    )

    response = inbound.generic("POST", "/inbound/email", reply, content_type="message/rfc822")

    assert response.status_code == 201, response.content
    assert_conforms(response, "POST", "/inbound/email")
    answer = response.json()
    assert answer["created"] is False and answer["ticket"]["id"] == ticket_id
    titles = [s["title"] for s in answer["suggestions"]]
    assert titles == [p.title for p in before if p.cosine >= CROSS_LANGUAGE_MIN_COSINE]
    assert "The latest message is in 'es'" in answer["suggestions_note"]
    assert kept_note(ticket_id) == answer["suggestions_note"]


def test_a_new_e_mail_ticket_in_german_answers_its_note(inbound, settings):
    settings.MEDIA_ROOT = "/nonexistent-no-attachments"
    raw = mailshapes.gmail(
        subject="Passwort vergessen",
        text="Ich habe mein Passwort vergessen und bekomme keine E-Mail zum Zurücksetzen.",
    )
    response = inbound.generic("POST", "/inbound/email", raw, content_type="message/rfc822")

    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["suggestions"] == []
    assert answer["suggestions_note"].startswith(
        "No suggestion: the ticket is in 'de', the knowledge base's articles are in 'en'."
    )
    assert kept_note(answer["ticket"]["id"]) == answer["suggestions_note"]


def test_the_follow_up_gate_reads_the_language_once_and_adds_no_encoder_pass(api, monkeypatch):
    ticket_id = english_ticket(api)
    reads = count_language_reads(monkeypatch)
    passes = count_encoder_passes(monkeypatch, shared_encoder())

    agent_reply(api, ticket_id, "We ship a new jar today.")  # an agent's: nothing read
    assert reads == [] and passes == []
    answer = post_follow_up(api, ticket_id, SPANISH)

    assert answer["suggestions_note"]
    assert reads == [clean_message(SPANISH)]  # once, on the focus view: the new message
    # Retrieval's own passes for a follow-up, one per view (`recent`: the turn before + the
    # message; `focus`: the message): nothing else is encoded.
    recent = f"We ship a new jar today.\n{clean_message(SPANISH)}"
    assert sorted(passes) == sorted([[recent], [clean_message(SPANISH)]])


TOO_SHORT = ("Hilfe", "Passwort")  # two words: no language told
GERMAN_FOLLOW_UP = "Ich habe mein Passwort vergessen und die E-Mail zum Zurücksetzen kommt nie an."


def test_a_follow_up_tells_the_language_a_too_short_first_message_did_not(api):
    answer = post_ticket(api, *TOO_SHORT)
    ticket_id = answer["ticket"]["id"]
    assert answer["triage"]["language"] is None  # too short to tell
    assert Ticket.objects.get(pk=ticket_id).language == ""

    post_follow_up(api, ticket_id, GERMAN_FOLLOW_UP)

    assert Ticket.objects.get(pk=ticket_id).language == "de"


def test_a_told_language_stays_when_the_customer_switches(api):
    ticket_id = english_ticket(api)
    assert Ticket.objects.get(pk=ticket_id).language == "en"

    post_follow_up(api, ticket_id, SPANISH)  # gated as Spanish (above), stored language unchanged

    assert Ticket.objects.get(pk=ticket_id).language == "en"


def test_a_follow_up_while_the_kb_is_down_still_tells_the_language(api, monkeypatch):
    answer = post_ticket(api, *TOO_SHORT)
    ticket_id = answer["ticket"]["id"]

    def down(self, query, *, k=5, filters=None, mode="hybrid"):
        raise KnowledgeBackendUnavailable("index unavailable")

    monkeypatch.setattr(LocalBackend, "retrieval", down)
    answer = post_follow_up(api, ticket_id, GERMAN_FOLLOW_UP)

    assert answer["degraded"] == ["knowledge_base"]
    assert Ticket.objects.get(pk=ticket_id).language == "de"
