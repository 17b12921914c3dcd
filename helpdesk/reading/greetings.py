"""A greeting line at the top of an e-mail ("Hi,", "Dear Sir or Madam,", "Hola equipo:")."""

from __future__ import annotations

import re

from helpdesk.reading.signatures import is_name_like, phrases
from helpdesk.reading.text import MAX_STRUCTURAL_LINE

_GREETING = re.compile(
    r"(?:"
    + phrases(
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


def strip_greeting(lines: list[str]) -> tuple[list[str], bool]:
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
    return not bare or bare.lower() in _ADDRESSEES or is_name_like(bare)
