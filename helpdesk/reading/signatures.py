"""Signatures, sign-offs, contact blocks and legal footers at the end of an e-mail."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailparser_reply.parser import EmailMessage

from helpdesk.reading.quotes import TIME_OR_YEAR

# mail-parser-reply sees only the last lines of what is left, each at most this long (longer
# lines are swapped for placeholders and put back): its English "On … wrote:" pattern is
# quadratic in the length of a line starting with "On", so unbounded input could take minutes.
LIBRARY_WINDOW_LINES = 60
LIBRARY_MAX_LINE = 200
LIBRARY_LANGUAGES = ["en", "de", "es", "fr", "it", "nl", "pl", "cs", "da", "sv"]
# A sign-off, a contact block or a legal footer is at most this many lines.
MAX_TRAILER_LINES = 8


def phrases(words: str) -> str:
    """A regex alternation from "|"-separated phrases, longest first, spaces matching runs."""
    items = sorted((w.strip() for w in words.split("|") if w.strip()), key=len, reverse=True)
    return "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in items)


# Closing phrases: English plus the most common German (and Swiss "ss"), Spanish, French,
# Italian, Portuguese and Dutch ones. Short on purpose; a sign-off is recognised by its shape
# (see _signoff_start, _inline_signoff_start).
_CLOSING = re.compile(
    r"(?:"
    + phrases(
        "thanks|thank you|thanks in advance|thank you in advance|thanks a lot|thanks so much|"
        "thank you so much|thank you very much|thanks again|many thanks|thx|ty|cheers|regards|"
        "best regards|kind regards|warm regards|warmest regards|best wishes|best|all the best|"
        "sincerely|yours sincerely|sincerely yours|yours truly|yours|respectfully|take care|"
        "have a nice day|greetings|br|rgds|ta|yours faithfully|faithfully|"
        "mit freundlichen grüßen|mit freundlichen grüssen|freundliche grüße|viele grüße|"
        "beste grüße|liebe grüße|schöne grüße|grüße|gruß|lg|vg|danke|vielen dank|danke schön|"
        "saludos|un saludo|saludos cordiales|atentamente|gracias|muchas gracias|cordialmente|"
        "cordialement|bien cordialement|salutations|merci|merci beaucoup|merci d'avance|"
        "bonne journée|bien à vous|"
        "cordiali saluti|saluti|grazie|grazie mille|distinti saluti|"
        "un cordial saludo|reciba un cordial saludo|saludos desde|"
        "viele grüsse|liebe grüsse|beste grüsse|freundliche grüsse|grüsse|gruss|herzliche grüße|"
        "atenciosamente|obrigado|obrigada|abraços|um abraço|abraço|cumprimentos|"
        "melhores cumprimentos|com os melhores cumprimentos|saudações|"
        "un saluto|saluti cordiali|amicalement|bien à toi|"
        "met vriendelijke groet|met vriendelijke groeten|vriendelijke groet|hartelijke groet|"
        "vriendelijke groeten|groeten|groetjes|bedankt|dank je|dank u|"
        "alvast bedankt|bij voorbaat dank|fijne dag|vielen dank im voraus|danke im voraus|"
        "viele liebe grüße|schönen tag|gracias de antemano|un abrazo|merci par avance|"
        "bonne soirée|grazie in anticipo|buona giornata|"
        # Farewells.
        "talk soon|speak soon|see you|see you soon|hugs|xoxo|warmly|with thanks|"
        "with many thanks|all best|have a good day|have a great day|have a nice weekend|"
        "have a good weekend|have a great weekend|à bientôt|a bientôt|à plus|bises|bisous|"
        "hasta luego|hasta pronto|besos|bis bald|bis dann|tschüss|tschüs|ciao|a presto|"
        "a dopo|tot ziens|tot snel|até logo|até breve|beijos|"
        # Closing pleasantries, whole: "Thanks for your help," above the name; longer
        # lines go on ("Thank you for your help with the refund" is kept).
        "thanks for your help|thank you for your help|many thanks for your help|"
        "thanks in advance for your help|thank you in advance for your help|"
        "thanks for the help|thank you for the help|thanks for your time|"
        "thank you for your time|looking forward to hearing from you|"
        "i look forward to hearing from you|look forward to hearing from you|"
        "looking forward to your reply|i look forward to your reply|"
        "looking forward to your response|i look forward to your response|"
        "hope to hear from you soon|i hope to hear from you soon|hoping to hear from you soon|"
        "waiting for your reply|waiting for your answer|waiting for your response|"
        "vielen dank für ihre hilfe|danke für ihre hilfe|ich freue mich auf ihre antwort|"
        "gracias por su ayuda|gracias por tu ayuda|quedo a la espera de su respuesta|"
        "merci pour votre aide|dans l'attente de votre réponse|grazie per l'aiuto|"
        "in attesa di una vostra risposta|bedankt voor uw hulp|obrigado pela ajuda|"
        "obrigada pela ajuda|aguardo a sua resposta"
    )
    + r")(?![\w'])",
    re.IGNORECASE,
)
# Closings joined by a conjunction, as one sign-off: "Vielen Dank und viele Grüße", "Thanks &
# regards", "Merci d'avance et bonne journée". Only closing phrases may follow the conjunction:
# "Thanks and I look forward to …" or "Danke und bitte schicken Sie …" stop after "Thanks".
_CLOSINGS = re.compile(
    rf"{_CLOSING.pattern}(?:\s*,?\s+(?:and|und|et|y|e|en|&)\s+{_CLOSING.pattern})*",
    re.IGNORECASE,
)
# Where a sign-off is sent from, after the closings: "… aus Berlin", "Un saludo desde Madrid",
# "Groeten uit Gent", "from sunny Madrid"; the place ends in a capitalised name ("the
# warehouse" is not a place). On its own line under the closing: "Viele Grüße\naus Berlin".
_FROM_WORDS = r"(?:from|aus|von|de|desde|da|do|uit|van)"
_FROM = re.compile(rf"[\s,]*\s{_FROM_WORDS}\s+", re.IGNORECASE)
_PLACE_LINE = re.compile(rf"{_FROM_WORDS}\s+(.+)", re.IGNORECASE)
# Lower-case words that may sit inside a name or an addressee: "Ana de Souza", "Sir or Madam".
_PARTICLES = {
    "de", "da", "do", "dos", "das", "van", "von", "der", "den", "la", "le", "du", "del", "di",
    "y", "e", "et", "und", "and", "or", "of", "the", "bin", "al", "ter",
}  # fmt: skip
_SENT_FROM = re.compile(
    r"(?:sent from|sent with|sent via|get outlook for|envoyé de|envoyé depuis|gesendet von|"
    r"von meinem|enviado desde|enviado de|inviato da|verzonden (?:met|vanaf)|wysłane z)\b",
    re.IGNORECASE,
)
_LEGAL = re.compile(
    r"confidential|intended recipient|privileged|disclaimer|unauthori[sz]ed|do not disclose|"
    r"vertraulich|empfänger|confidencial|destinatario|confidentiel|destinataire|riservat|"
    r"vertrouwelijk",
    re.IGNORECASE,
)
# "-- " (RFC 3676; its trailing space is lost to normalisation and to many clients) and kin.
_SIGNATURE_DELIMITERS = {"--", "—", "–", "__", "___"}
# Parts of one signature line: "Tom Baker | Sent from my iPhone", "Ana Souza · Brightside".
_PART_SEPARATOR = re.compile(r"\s+[|·•]\s+")
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,5}")
_URL = re.compile(r"(?:https?://|www\.)\S{1,200}", re.IGNORECASE)
_PHONE = re.compile(r"\+?\(?\d[\d ().\-/]{5,25}\d")
_CONTACT_LABELS = {
    "phone", "tel", "telephone", "mobile", "mob", "cell", "fax", "web", "website", "email",
    "e-mail", "mail", "t", "m", "f", "w", "p", "e", "office", "direct", "main", "ph", "handy",
    "tél", "móvil", "movil", "skype", "linkedin",
}  # fmt: skip
_WORD = re.compile(r"[^\W\d_][\w'’.\-]*")


def is_name_like(text: str) -> bool:
    """One to four name words: "Tom", "J. Okafor", "Ana de Souza", "Sir or Madam", "tom"."""
    text = text.strip(" ,.!;:-–—")
    tokens = text.split()
    if not 1 <= len(tokens) <= 4 or len(text) > 40:
        return False
    if any(not _WORD.fullmatch(t) for t in tokens):
        return False
    if len(tokens) == 1:
        return True
    named = [t for t in tokens if t.lower() not in _PARTICLES]
    return bool(named) and all(t[0].isupper() for t in named)


def _is_place(text: str) -> bool:
    """Where a sign-off is sent from: up to five words ending in a capitalised name ("Berlin",
    "sunny Madrid", "Rio de Janeiro", "the team at Acme"; not "the warehouse team")."""
    tokens = text.split()
    return (
        1 <= len(tokens) <= 5
        and len(text) <= 40
        and all(_WORD.fullmatch(t) for t in tokens)
        and tokens[-1][0].isupper()
    )


def _is_place_line(line: str) -> bool:
    """A sign-off's place on its own line: "aus Berlin", "from sunny Madrid,"."""
    match = _PLACE_LINE.fullmatch(line)
    return bool(match) and _is_place(match.group(1).strip(" ,.!;:-–—"))


def _is_contact_like(line: str) -> bool:
    """A phone, e-mail or web address, with at most a few labels: "T: +1 415 555 0134 | M: …"."""
    if len(line) > 100:
        return False
    rest, found = line, False
    for pattern in (_EMAIL, _URL, _PHONE):
        rest, n = pattern.subn(" ", rest)
        found = found or n > 0
    if not found:
        return False
    words = re.findall(r"[^\W\d_][\w-]*", rest)
    return all(w.lower() in _CONTACT_LABELS or w[0].isupper() for w in words) and len(words) <= 6


def _is_signature_like(line: str) -> bool:
    """A short line of a signature: a name, a job title, a company, an address, a contact."""
    if not line or line in _SIGNATURE_DELIMITERS:
        return True
    if len(line) > 80 or "?" in line:
        return False
    if _is_contact_like(line) or _SENT_FROM.match(line) or is_name_like(line):
        return True
    parts = _PART_SEPARATOR.split(line)
    if len(parts) > 1 and all(part and _is_signature_like(part) for part in parts):
        return True  # each part is one: a name, then "Sent from my iPhone" (lower-case "iPhone")
    if _is_place_line(line):
        return True
    words = _WORD.findall(line)
    if not words or line.endswith((".", "!", ":")) and len(words) > 3:
        return False
    lower = sum(1 for w in words if not w[0].isupper() and w.lower() not in _PARTICLES)
    return lower * 2 < len(words) and len(words) <= 10


def _is_closing(line: str) -> bool:
    """A closing phrase alone or followed by a name: "Cheers,", "Best regards, Ana Souza",
    "Mit freundlichen Grüßen und vielen Dank aus München,"."""
    return len(line) <= 80 and _is_signoff_text(line, capitalised=False)


def _is_signoff_text(text: str, *, capitalised: bool) -> bool:
    """`text` is, whole: closing phrases (joined by conjunctions), optionally "from <Place>",
    then nothing or a name (capitalised if `capitalised`). Anything else after the closings (a
    verb, a lower-case word, a second clause) makes it a sentence that goes on."""
    match = _CLOSINGS.match(text)
    if not match:
        return False
    rest = text[match.end() :]
    place = _FROM.match(rest)
    if place:
        where, _, rest = rest[place.end() :].partition(",")
        if not _is_place(where.strip(" .!;:-–—")):
            return False
    rest = rest.strip(" ,.!;:-–—")
    return not rest or (is_name_like(rest) and (rest[0].isupper() or not capitalised))


# Where a sentence ends inside a line: what follows may be a sign-off typed on the same line
# ("…How do I get a refund? Cheers, Tom"; web forms and apps send one-line bodies).
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def _inline_signoff_start(line: str) -> int | None:
    """Where a sign-off typed after the last sentence of `line` starts: closing phrases opening
    a sentence, optionally "from <Place>", followed by nothing or by a capitalised name, up to
    the end of the line ("Wie geht das? Viele Grüße, Lena"; "… Vielen Dank und viele Grüße aus
    Berlin, Thomas"). A closing word opening a sentence that goes on ("Saludos a tu equipo, el
    paquete llegó roto", "Thanks and I look forward to …") or inside one is not a sign-off."""
    for boundary in _SENTENCE_END.finditer(line):
        tail = line[boundary.end() :]
        if len(tail) > 80 or "?" in tail:
            continue
        if _is_signoff_text(tail, capitalised=True):
            return boundary.start()
    return None


def _is_legal(line: str) -> bool:
    return len(line.split()) >= 12 and bool(_LEGAL.search(line[:2000]))


def _trailer_line(line: str) -> bool:
    return _is_signature_like(line) or _is_legal(line) or _is_closing(line)


@dataclass(frozen=True)
class _Removed:
    quote: bool = False
    signature: bool = False
    signoff: bool = False


def library_pass(lines: list[str]) -> tuple[list[str], _Removed]:
    """Let mail-parser-reply find a quote header or a signature in the tail of the message.

    Its patterns are used, its cuts are checked: a header block counts only if it names an
    address or a date ("From: London / To: Paris" is a booking, not a quote), and a signature
    only if the part it removes is a signature by our rules (the library cuts at any line that
    starts with "Thanks," or "Best,", even when a sentence follows).
    """
    if not any(lines):
        return lines, _Removed()
    front, window = lines[:-LIBRARY_WINDOW_LINES], lines[-LIBRARY_WINDOW_LINES:]
    long_lines: dict[str, str] = {}
    guarded: list[str] = []
    for line in window:
        if len(line) > LIBRARY_MAX_LINE:
            token = f"\ue000{len(long_lines)}\ue000"
            long_lines[token] = line
            line = token
        guarded.append(line)

    message = EmailMessage(
        text="\n".join(guarded), languages=list(LIBRARY_LANGUAGES), keep_hyphen_lists=True
    )
    text = message.text
    quote = signature = signoff = False
    for header in message.HEADER_REGEX.finditer(text):
        if "@" in header.group(0) or TIME_OR_YEAR.search(header.group(0)):
            text, quote = text[: header.start()], True
            break
    pos = 0
    while match := message.SIGNATURE_REGEX.search(text, pos):
        sig_lines = match.group(0).strip().split("\n")
        if _accept_library_signature(sig_lines):
            text = text[: match.start()]
            signoff = _is_closing(sig_lines[0].strip())
            signature = not signoff
            break
        # Rejected: look again below the line it started on.
        found = match.group(0)
        line_end = text.find("\n", match.start() + len(found) - len(found.lstrip()))
        if line_end < 0:
            break
        pos = line_end + 1
    if not (quote or signature or signoff):
        return lines, _Removed()

    restored = [long_lines.get(line.strip(), line.strip()) for line in text.split("\n")]
    return front + restored, _Removed(quote=quote, signature=signature, signoff=signoff)


def _accept_library_signature(sig_lines: list[str]) -> bool:
    first = sig_lines[0].strip()
    if _CLOSING.match(first):
        first_ok = _is_closing(first)
    else:  # "-- ", "Sent from my …", a closing phrase in a language we do not list
        first_ok = len(first) <= 80 and "?" not in first
    rest = sig_lines[1:]
    return (
        first_ok
        and len([x for x in rest if x]) <= MAX_TRAILER_LINES + 4
        and all(_trailer_line(x.strip()) for x in rest)
    )


def strip_trailer(lines: list[str]) -> tuple[list[str], _Removed]:
    """Remove, from the end inward: a legal footer, phone signatures, a sign-off, a contact block.

    A sign-off is a closing line near the end followed only by short signature-like lines; a
    contact block is a run of such lines holding a phone, e-mail or web address.
    """
    signature = signoff = False
    lines = list(lines)
    while True:
        while lines and not lines[-1]:
            lines.pop()
        if not lines:
            break
        last = lines[-1]
        if _is_legal(last) or (_SENT_FROM.match(last) and len(last) <= 80):
            lines.pop()
            signature = True
            continue
        start = _signoff_start(lines)
        if start is not None:
            lines = lines[:start]
            signoff = True
            continue
        start = _contact_block_start(lines)
        if start is not None:
            lines = lines[:start]
            signature = True
            continue
        if _is_bare_name_after_sentence(lines):
            lines.pop()
            signoff = True
            continue
        cut = _inline_signoff_start(last)
        if cut is not None:
            lines[-1] = last[:cut].rstrip()
            signoff = True
            continue
        break
    return lines, _Removed(signature=signature, signoff=signoff)


def _tail_indexes(lines: list[str]) -> list[int]:
    """Indexes of the last MAX_TRAILER_LINES non-blank lines, nearest the end first."""
    found: list[int] = []
    for i in range(len(lines) - 1, -1, -1):
        if lines[i]:
            found.append(i)
            if len(found) == MAX_TRAILER_LINES:
                break
    return found


def _signoff_start(lines: list[str]) -> int | None:
    """Index of the topmost closing line after which only signature-like lines follow."""
    start = None
    for i in _tail_indexes(lines):
        if _is_closing(lines[i]):
            start = i
        elif not _is_signature_like(lines[i]):
            break
    return start


def _contact_block_start(lines: list[str]) -> int | None:
    """Index of a trailing run of signature-like lines holding a contact, below a blank line or
    starting with a name, with text above it."""
    block: list[int] = []
    for i in _tail_indexes(lines):
        if not _is_signature_like(lines[i]) or (i + 1 < len(lines) and not lines[i + 1] and block):
            break
        block.append(i)
    if not block or not any(_is_contact_like(lines[i]) for i in block):
        return None
    top = block[-1]
    above = [x for x in lines[:top] if x]
    if not above:
        return None
    if (top > 0 and not lines[top - 1]) or is_name_like(lines[top]):
        return top
    return None


def _is_bare_name_after_sentence(lines: list[str]) -> bool:
    """A lone name under a finished sentence, or under a sign-off typed after the last one:
    "…Is it lost?\\nAna", "…please refund one of them. Thanks\\n\\nSam" (the sign-off then
    goes too, as an inline one)."""
    text = [x for x in lines if x]
    if len(text) < 2 or len(text[-1]) > 30:
        return False
    tokens = text[-1].split()
    return (
        len(tokens) <= 3
        and is_name_like(text[-1])
        and tokens[0][0].isupper()
        and (text[-2].endswith((".", "?", "!")) or _inline_signoff_start(text[-2]) is not None)
    )
