"""What the retriever is asked: a ticket as it is, not one text blob.

A ticket is an optional subject and its messages, oldest first, each from the `customer` or an
`agent`; the latest customer message is the focus. A newline inside a message is never a turn
boundary (an e-mail's lines are one message: its greeting, question and sign-off). Messages are
read the way a person reads them (helpdesk.reading: quoted history, signatures, greetings and
sign-offs removed) before anything is embedded or matched.

The retriever reads three views of it (see knowledge/RETRIEVAL.md):

    focus   the subject (while the ticket is one message) + the latest customer message
    recent  the turn before the latest customer message + that message (the question and what
            it answers); the same text as `focus` for a one-message ticket, so that costs one
            encoder pass
    full    subject + every message: where a product named once in the thread is found
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from helpdesk.reading import clean_message

CUSTOMER = "customer"
AGENT = "agent"
ROLES = (CUSTOMER, AGENT)
MESSAGE_MAX_CHARS = 4000

# "Re: Fwd: [HD-000123] Problem" → "Problem": reply prefixes and ticket tokens carry no meaning.
_SUBJECT_NOISE = re.compile(
    r"^(?:\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|tr|rif|r)\s*(?:\[\d+\])?\s*:|\[[^\]]{0,40}\]))+\s*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Turn:
    role: str  # CUSTOMER | AGENT
    text: str  # cleaned


@dataclass(frozen=True)
class QueryParts:
    focus: str
    recent: str
    full: str


@dataclass(frozen=True)
class TicketQuery:
    """A subject and cleaned messages, oldest first. Build one with `ticket_query`."""

    subject: str = ""
    turns: tuple[Turn, ...] = ()

    @classmethod
    def of(cls, *, subject: str = "", turns: Iterable[Turn] = ()) -> TicketQuery:
        """From a subject as received and messages already cleaned; each message is cut at
        MESSAGE_MAX_CHARS (retrieval reads the start of a long message: past that, a 64 KiB
        body adds cost, not answers)."""
        return cls(
            clean_subject(subject),
            tuple(Turn(t.role, t.text[:MESSAGE_MAX_CHARS].strip()) for t in turns),
        )

    def is_empty(self) -> bool:
        return not self.subject and not any(t.text for t in self.turns)

    def focus_index(self) -> int | None:
        """Position of the latest customer message (the last message if none is the
        customer's)."""
        for i in range(len(self.turns) - 1, -1, -1):
            if self.turns[i].role == CUSTOMER and self.turns[i].text:
                return i
        return len(self.turns) - 1 if self.turns else None

    def parts(self) -> QueryParts:
        at = self.focus_index()
        if at is None:
            return QueryParts(self.subject, self.subject, self.subject)
        latest = self.turns[at].text
        before = [t.text for t in self.turns[:at] if t.text]
        # The subject was written with the first message; a follow-up is read on its own.
        focus = _join(self.subject, latest) if not before else latest
        recent = _join(before[-1], latest) if before else focus
        full = _join(self.subject, *(t.text for t in self.turns))
        return QueryParts(focus or full, recent or full, full)

    def text(self) -> str:
        """One text for backends that take a string (Bedrock): the focus."""
        return self.parts().focus


def _join(*texts: str) -> str:
    return "\n".join(t for t in texts if t)


def clean_subject(subject: str) -> str:
    return " ".join(_SUBJECT_NOISE.sub("", subject or "").split())


def ticket_query(
    *, subject: str = "", messages: Iterable[tuple[str, str] | Mapping[str, str]] = ()
) -> TicketQuery:
    """A query from a ticket as received: `messages` are (role, text) pairs or
    {"role", "text"} mappings, oldest first; each text is cleaned here."""
    turns = []
    for message in messages:
        role, text = (
            (message.get("role", CUSTOMER), message.get("text", ""))
            if isinstance(message, Mapping)
            else message
        )
        turns.append(Turn(role if role in ROLES else CUSTOMER, clean_message(text or "")))
    return TicketQuery.of(subject=subject, turns=turns)


def as_query(query: TicketQuery | str) -> TicketQuery:
    """A plain string (a search box, /kb/search?q=) is one customer message."""
    if isinstance(query, TicketQuery):
        return query
    return ticket_query(messages=[(CUSTOMER, query)])
