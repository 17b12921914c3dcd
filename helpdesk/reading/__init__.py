"""Read a customer's e-mail the way a person does: only the new words.

Support tickets arrive as e-mails. Retrieval, triage and similar-ticket search must see "my card
keeps getting declined at checkout", not "Hi," / "Cheers,\\nTom" / the quoted history / the
signature and the legal footer: those dominate short messages and pull in garbage matches.

Order of work, cheapest and most decisive first:

1. HTML bodies become text (standard library ``html.parser``; ``<blockquote>`` becomes ``> ``
   lines so that step 2 sees it as a quote). Input past ``MAX_INPUT_CHARS`` is ignored.
2. The quote goes first, in one linear pass over the lines: ``>`` lines, "On … wrote:" intro
   lines, "-----Original Message-----" style separators and Outlook "From: / Sent: / To:"
   header blocks. A 64 KiB e-mail with 60 KiB of history then costs no more than its new words.
3. mail-parser-reply (``mailparser_reply``) looks at the tail of what is left: it knows mail
   clients' signatures ("Sent from my …", "Get Outlook for …", "-- ") and quote headers in a dozen
   languages. Its signature cut is accepted only when the cut part looks like a signature, since
   it cuts at any line that merely starts with "Thanks," (see ``signatures.library_pass``).
4. Our own structural rules, from the ends of the message inward: a legal footer, a sign-off (a
   closing phrase, or several joined by "and"/"und"/"y"/… and optionally "from <Place>",
   followed only by short name-like lines), a trailing contact block, and a
   greeting line at the top.
5. If nothing is left (only a quote, only a signature, only "Thanks!"), the whitespace-normalised
   raw text is returned instead: a ticket never reads as empty.

Newlines inside a message are not conversation turns: what remains keeps its lines, joined with
"\\n", with runs of blank lines folded into one.

Inputs each heuristic could break, each covered by tests/test_reading.py:

- Greeting: "Hi, my card was declined" (content on the greeting line: only "Hi," goes);
  "hi my order never came??" (no punctuation after the greeting: the line stays whole);
  "Dear Sir or Madam," (an addressee with lower-case words is still a greeting).
- Sign-off: "Thanks for the refund, but the blender is still broken" (a closing word that opens a
  sentence stays); "Thank you, the replacement arrived. However …" as the second line (the
  library alone would cut here); "Kind regards,\\nJ. Okafor\\nSent from my iPhone" (initials and a
  phone signature after the name still make one sign-off). Typed after the last sentence on
  the same line ("Wie geht das? Viele Grüße, Lena"): "Saludos a tu equipo, el paquete llegó
  roto" (a closing word opening a sentence that goes on), "I have two kettles. Yours broke."
  (a lower-case word is not a name), "Where is it? Best Buy says …"
  (tests/tickets/test_signoffs.py). Closings joined by a conjunction, sent from a place
  ("Vielen Dank und viele Grüße aus Berlin, Thomas"): "Thanks and I look forward to the refund
  from your warehouse" and "Danke und bitte schicken Sie mir …" (a clause after the
  conjunction), "…regards from the warehouse team" (a lower-case place), "The parcel came
  from Berlin and best of all it was late" (closing words inside a sentence); a body that is
  only such a sign-off falls back to the raw text, as "Thanks, Tom" does.
- Quote: "On … wrote:" wrapped over two lines by Gmail; a bottom-posted answer below a ``>``
  quote (the words after the quote survive); a customer line that ends in ":" and mentions a
  date ("I ordered on 3 Dec 2026 at 10:02:") followed by their own list, which is not a quote.
- Contact block: "My phone is +44 20 7946 0958" as the last line (a sentence, not a block); a
  "-charger" list (the library's "-Name" signature rule is off); an address line with digits
  inside a block that has a phone line.
"""

from dataclasses import dataclass

from helpdesk.reading.greetings import strip_greeting
from helpdesk.reading.quotes import strip_quote
from helpdesk.reading.signatures import library_pass, strip_trailer
from helpdesk.reading.text import html_to_text, join_lines, looks_like_html, normalise_lines

__all__ = ["MAX_INPUT_CHARS", "ReadMessage", "clean_message", "html_to_text", "read_message"]

# Past this, an e-mail is quoted history or pasted logs; nobody's question starts there.
MAX_INPUT_CHARS = 100_000


@dataclass(frozen=True)
class ReadMessage:
    """What ``read_message`` found. ``cleaned`` is what to use; the flags say what was removed."""

    text: str  # the normalised raw text (after HTML → text), the fallback
    cleaned: str
    quote: bool = False
    signature: bool = False  # a client/contact signature or a legal footer
    signoff: bool = False  # "Best regards,\nAna"
    greeting: bool = False
    html: bool = False
    truncated: bool = False
    fallback: bool = False  # cleaning left nothing, so ``cleaned`` is ``text``


def clean_message(text: str) -> str:
    """The customer's new words in ``text``, or the normalised raw text if nothing is left."""
    return read_message(text).cleaned


def read_message(text: str) -> ReadMessage:
    """Split an e-mail body into the customer's new words and what surrounds them."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    truncated = len(text) > MAX_INPUT_CHARS
    text = text[:MAX_INPUT_CHARS]
    is_html = looks_like_html(text)
    if is_html:
        text = html_to_text(text)
    lines = normalise_lines(text)
    raw = join_lines(lines)

    lines, quote = strip_quote(lines)
    lines, library = library_pass(lines)
    lines, footer = strip_trailer(lines)
    lines, greeting = strip_greeting(lines)
    cleaned = join_lines(lines)

    return ReadMessage(
        text=raw,
        cleaned=cleaned or raw,
        quote=quote or library.quote,
        signature=library.signature or footer.signature,
        signoff=library.signoff or footer.signoff,
        greeting=greeting,
        html=is_html,
        truncated=truncated,
        fallback=not cleaned,
    )
