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
   it cuts at any line that merely starts with "Thanks," (see ``_library_pass``).
4. Our own structural rules, from the ends of the message inward: a legal footer, a sign-off (a
   closing phrase followed only by short name-like lines), a trailing contact block, and a
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
  phone signature after the name still make one sign-off).
- Quote: "On … wrote:" wrapped over two lines by Gmail; a bottom-posted answer below a ``>``
  quote (the words after the quote survive); a customer line that ends in ":" and mentions a
  date ("I ordered on 3 Dec 2026 at 10:02:") followed by their own list, which is not a quote.
- Contact block: "My phone is +44 20 7946 0958" as the last line (a sentence, not a block); a
  "-charger" list (the library's "-Name" signature rule is off); an address line with digits
  inside a block that has a phone line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from mailparser_reply.parser import EmailMessage

# Past this, an e-mail is quoted history or pasted logs; nobody's question starts there.
MAX_INPUT_CHARS = 100_000
# Lines longer than this are prose: never a quote header, separator, signature or greeting.
# Checking them would only cost time (some library patterns are quadratic in line length).
MAX_STRUCTURAL_LINE = 300
# mail-parser-reply sees only the last lines of what is left, each at most this long (longer
# lines are swapped for placeholders and put back): its English "On … wrote:" pattern is
# quadratic in the length of a line starting with "On", so unbounded input could take minutes.
LIBRARY_WINDOW_LINES = 60
LIBRARY_MAX_LINE = 200
LIBRARY_LANGUAGES = ["en", "de", "es", "fr", "it", "nl", "pl", "cs", "da", "sv"]
# A sign-off, a contact block or a legal footer is at most this many lines.
MAX_TRAILER_LINES = 8


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
    is_html = _looks_like_html(text)
    if is_html:
        text = html_to_text(text)
    lines = _normalise_lines(text)
    raw = _join(lines)

    lines, quote = _strip_quote(lines)
    lines, library = _library_pass(lines)
    lines, footer = _strip_trailer(lines)
    lines, greeting = _strip_greeting(lines)
    cleaned = _join(lines)

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


# --- Text and HTML ---------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]")
_SPACES = re.compile(r"[ \t\xa0]+")


def _normalise_lines(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    return [_SPACES.sub(" ", line).strip() for line in text.split("\n")]


def _join(lines: list[str]) -> str:
    """Lines joined with "\\n", blank runs folded into one, no blank lines at either end."""
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


# Two tags of everyday HTML mail, bounded so that a megabyte of "<" stays linear. A lone "<s>"
# or "<br>" in a developer's question is text they typed, not markup.
_HTML_TAG = re.compile(
    r"</?(?:html|head|body|div|p|br|span|table|tr|td|blockquote|ul|ol|li|font|b|i|u|strong|em|"
    r"a|img|h[1-6]|hr|meta|style)\b[^<>]{0,500}>",
    re.IGNORECASE,
)
_BLOCK_TAGS = {
    "address", "article", "blockquote", "br", "dd", "div", "dl", "dt", "footer", "form", "h1",
    "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre", "section", "table",
    "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_SKIP_TAGS = {"head", "script", "style", "title", "template"}


def _looks_like_html(text: str) -> bool:
    return any(n == 2 for n, _ in enumerate(_HTML_TAG.finditer(text), start=1))


class _TextExtractor(HTMLParser):
    """Visible text, a line per block element; text inside <blockquote> gets "> " per level."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._buffer: list[str] = []
        self._line_depth = 0
        self._quote_depth = 0
        self._skip_depth = 0

    def _newline(self) -> None:
        line = "".join(self._buffer).strip()
        self.lines.append("> " * self._line_depth + line if line else "")
        self._buffer = []
        self._line_depth = self._quote_depth

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self._newline()
            if tag == "blockquote":
                self._quote_depth += 1
                self._line_depth = self._quote_depth

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self._newline()
            if tag == "blockquote":
                self._quote_depth = max(0, self._quote_depth - 1)
                self._line_depth = self._quote_depth

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if not self._buffer:
            self._line_depth = self._quote_depth
        self._buffer.append(_SPACES.sub(" ", data.replace("\n", " ")))

    def text(self) -> str:
        self._newline()
        return "\n".join(self.lines)


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment or document; never raises."""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; a failure here must not lose the ticket
        return html
    return parser.text()


# --- Quote -----------------------------------------------------------------------------------

# "-----Original Message-----", "---------- Forwarded message ---------", "----- Ursprüngliche
# Nachricht -----", "-------- Message d'origine --------": four or more dashes, a few words, dashes.
_SEPARATOR = re.compile(r"-{4,} ?[^\W\d_][^-]{0,60}? ?-{4,}")
_UNDERSCORES = re.compile(r"_{10,}")
# "From:" in the languages our customers write in; a header block needs a second header line.
_FROM_HEADER = re.compile(r"\*?(?:from|von|de|da|van|från|fra|od|от)\s?:", re.IGNORECASE)
_OTHER_HEADER = re.compile(
    r"\*?(?:sent|date|to|subject|cc|gesendet|datum|an|betreff|envoyé|à|objet|enviado|fecha|para"
    r"|asunto|inviato|oggetto|a|verzonden|aan|onderwerp|skickat|till|ämne|wysłano|do|temat)"
    r"\s?:",
    re.IGNORECASE,
)
_SUBJECT_HEADER = re.compile(
    r"\*?(?:subject|betreff|objet|asunto|assunto|oggetto|onderwerp|ämne|emne|temat|předmět)\s?:",
    re.IGNORECASE,
)
_TIME_OR_YEAR = re.compile(r"\d{1,2}[:.h]\d{2}|\b(?:19|20)\d{2}\b")
_WROTE = re.compile(
    r"(?:wrote|schrieb|écrit|escribió|escreveu|scritto|scrisse|schreef|skrev|napisał|napsal)"
    r"\s?(?:\([^)]{0,10}\))?\s?:$",
    re.IGNORECASE,
)


def _is_quoted(line: str) -> bool:
    return line.startswith(">")


def _is_header_block(lines: list[str], i: int) -> bool:
    """An Outlook header block: a "From:" line, then only header lines up to a "Subject:" one.

    "From: London / To: Paris" in a booking question has no subject line, so it stays.
    """
    if len(lines[i]) > MAX_STRUCTURAL_LINE or not _FROM_HEADER.match(lines[i]):
        return False
    for line in [x for x in lines[i + 1 : i + 8] if x][:5]:
        if len(line) > MAX_STRUCTURAL_LINE or not _OTHER_HEADER.match(line):
            return False
        if _SUBJECT_HEADER.match(line):
            return True
    return False


def _next_text_line(lines: list[str], i: int) -> str:
    for line in lines[i : i + 4]:
        if line:
            return line
    return ""


def _intro_at(lines: list[str], i: int) -> int:
    """How many lines (1 or 2) the "On <date>, <someone> wrote:" intro at ``i`` spans, or 0.

    Structural: a short line ending in ":" with a date or time, and either a "wrote" word or a
    ``>`` quote right after it. Gmail wraps long intros ("… Support <\\nsupport@x> wrote:").
    """
    line = lines[i]
    if len(line) > MAX_STRUCTURAL_LINE:
        return 0
    span, candidate = 1, line
    if not line.endswith(":") and i + 1 < len(lines):
        nxt = lines[i + 1]
        if nxt.endswith(":") and len(line) + len(nxt) <= MAX_STRUCTURAL_LINE:
            span, candidate = 2, f"{line} {nxt}"
    if not candidate.endswith(":") or not _TIME_OR_YEAR.search(candidate):
        return 0
    if _WROTE.search(candidate) or _is_quoted(_next_text_line(lines, i + span)):
        return span
    return 0


def _strip_quote(lines: list[str]) -> tuple[list[str], bool]:
    """Drop quoted history in one pass; cut at the first unmarked history block.

    ``>`` lines and their intro are dropped one by one, so an answer written below or between
    quoted lines survives. A separator, an Outlook header block or an intro not followed by ``>``
    lines starts unmarked history: everything from there on goes.
    """
    kept: list[str] = []
    found = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if _is_quoted(line):
            found = True
            i += 1
            continue
        if len(line) <= MAX_STRUCTURAL_LINE and line:
            if _SEPARATOR.fullmatch(line) or _is_header_block(lines, i):
                return _drop_history_lead_in(kept), True
            if _UNDERSCORES.fullmatch(line):
                nxt = _next_text_line(lines, i + 1)
                if _FROM_HEADER.match(nxt[:MAX_STRUCTURAL_LINE]):
                    return _drop_history_lead_in(kept), True
            span = _intro_at(lines, i)
            if span:
                found = True
                if not _is_quoted(_next_text_line(lines, i + span)):
                    return kept, True
                i += span
                continue
        kept.append(line)
        i += 1
    return kept, found


def _drop_history_lead_in(kept: list[str]) -> list[str]:
    """Drop a "Begin forwarded message:"-style line just above the history."""
    while kept and not kept[-1]:
        kept.pop()
    if kept and kept[-1].endswith(":") and len(kept[-1]) <= 60 and len(kept) > 1:
        kept.pop()
    return kept


# --- Signatures, sign-offs, greetings --------------------------------------------------------


def _phrases(words: str) -> str:
    """A regex alternation from "|"-separated phrases, longest first, spaces matching runs."""
    items = sorted((w.strip() for w in words.split("|") if w.strip()), key=len, reverse=True)
    return "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in items)


# Closing phrases: English plus the most common German, Spanish, French, Italian, Portuguese and
# Dutch ones. Short on purpose; a sign-off is recognised by its shape (see _signoff_start).
_CLOSING = re.compile(
    r"(?:"
    + _phrases(
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
        "atenciosamente|obrigado|obrigada|abraços|"
        "met vriendelijke groet|vriendelijke groeten|groeten|bedankt|dank je|dank u"
    )
    + r")(?![\w'])",
    re.IGNORECASE,
)
_GREETING = re.compile(
    r"(?:"
    + _phrases(
        "hi|hii|hello|hey|heya|hiya|howdy|dear|greetings|good morning|good afternoon|"
        "good evening|good day|to whom it may concern|"
        "hallo|moin|servus|guten morgen|guten tag|guten abend|liebe|lieber|liebes|"
        "sehr geehrte|sehr geehrter|sehr geehrtes|"
        "hola|buenos días|buenos dias|buenas tardes|buenas noches|buenas|estimado|estimada|"
        "estimados|estimadas|bonjour|bonsoir|salut|cher|chère|chers|madame|monsieur|"
        "ciao|buongiorno|buonasera|salve|gentile|gentili|olá|ola|oi|bom dia|boa tarde|"
        "hej|hoi|goedemorgen|goedemiddag|beste"
    )
    + r")(?![\w'])",
    re.IGNORECASE,
)
_ADDRESSEES = {
    "team", "support", "support team", "there", "all", "everyone", "everybody", "folks", "guys",
    "sir", "madam", "sir or madam", "sir/madam", "sirs", "customer service", "customer support",
    "help desk", "helpdesk", "equipo", "soporte", "équipe", "support-team",
}  # fmt: skip
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
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,5}")
_URL = re.compile(r"(?:https?://|www\.)\S{1,200}", re.IGNORECASE)
_PHONE = re.compile(r"\+?\(?\d[\d ().\-/]{5,25}\d")
_CONTACT_LABELS = {
    "phone", "tel", "telephone", "mobile", "mob", "cell", "fax", "web", "website", "email",
    "e-mail", "mail", "t", "m", "f", "w", "p", "e", "office", "direct", "main", "ph", "handy",
    "tél", "móvil", "movil", "skype", "linkedin",
}  # fmt: skip
_WORD = re.compile(r"[^\W\d_][\w'’.\-]*")


def _is_name_like(text: str) -> bool:
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
    if _is_contact_like(line) or _SENT_FROM.match(line) or _is_name_like(line):
        return True
    words = _WORD.findall(line)
    if not words or line.endswith((".", "!", ":")) and len(words) > 3:
        return False
    lower = sum(1 for w in words if not w[0].isupper() and w.lower() not in _PARTICLES)
    return lower * 2 < len(words) and len(words) <= 10


def _is_closing(line: str) -> bool:
    """A closing phrase alone or followed by a name: "Cheers,", "Best regards, Ana Souza"."""
    if len(line) > 80:
        return False
    match = _CLOSING.match(line)
    if not match:
        return False
    rest = line[match.end() :].strip(" ,.!;:-–—")
    return not rest or _is_name_like(rest)


def _is_legal(line: str) -> bool:
    return len(line.split()) >= 12 and bool(_LEGAL.search(line[:2000]))


def _trailer_line(line: str) -> bool:
    return _is_signature_like(line) or _is_legal(line) or _is_closing(line)


@dataclass(frozen=True)
class _Removed:
    quote: bool = False
    signature: bool = False
    signoff: bool = False


def _library_pass(lines: list[str]) -> tuple[list[str], _Removed]:
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
        if "@" in header.group(0) or _TIME_OR_YEAR.search(header.group(0)):
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


def _strip_trailer(lines: list[str]) -> tuple[list[str], _Removed]:
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
    if (top > 0 and not lines[top - 1]) or _is_name_like(lines[top]):
        return top
    return None


def _is_bare_name_after_sentence(lines: list[str]) -> bool:
    """A lone name under a finished sentence: "…Is it lost?\\nAna"."""
    text = [x for x in lines if x]
    if len(text) < 2 or len(text[-1]) > 30:
        return False
    tokens = text[-1].split()
    return (
        len(tokens) <= 3
        and _is_name_like(text[-1])
        and tokens[0][0].isupper()
        and text[-2].endswith((".", "?", "!"))
    )


def _strip_greeting(lines: list[str]) -> tuple[list[str], bool]:
    """Drop a greeting line at the top; on "Hi, my card …" drop only the "Hi,"."""
    first = next((i for i, x in enumerate(lines) if x), None)
    if first is None:
        return lines, False
    line = lines[first]
    match = _GREETING.match(line[:MAX_STRUCTURAL_LINE])
    if not match:
        return lines, False
    after = line[match.end() :]
    if _is_addressee(after):
        return lines[:first] + lines[first + 1 :], True
    # Content on the same line: only "<greeting> [addressee][,!:]" goes.
    head = after[:41]
    cut = min((head.find(c) for c in ",!:" if c in head), default=-1)
    if cut >= 0 and (not head[:cut].strip() or _is_addressee(head[:cut])):
        rest = after[cut + 1 :].strip()
        if rest:
            return lines[:first] + [rest] + lines[first + 1 :], True
    return lines, False


def _is_addressee(text: str) -> bool:
    bare = text.strip(" ,.!;:-–—")
    return not bare or bare.lower() in _ADDRESSEES or _is_name_like(bare)
