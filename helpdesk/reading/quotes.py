"""The quoted history of an e-mail, found in one linear pass over its lines."""

from __future__ import annotations

import re

from helpdesk.reading.text import MAX_STRUCTURAL_LINE

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
TIME_OR_YEAR = re.compile(r"\d{1,2}[:.h]\d{2}|\b(?:19|20)\d{2}\b")
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
    if not candidate.endswith(":") or not TIME_OR_YEAR.search(candidate):
        return 0
    if _WROTE.search(candidate) or _is_quoted(_next_text_line(lines, i + span)):
        return span
    return 0


def strip_quote(lines: list[str]) -> tuple[list[str], bool]:
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
