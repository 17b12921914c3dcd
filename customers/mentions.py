"""The customer's orders a ticket names in its words.

Customers write "Where is order #1042?", "BH-4821702 arrived broken", "order 4821702" (the
shop's "BH-" left out), or forward the shipping confirmation. A ticket that arrives without an
order (every e-mail, most forms) is linked to the order its words name, so the agent opens the
ticket on the right order. Only the customer's own orders are matched: a number that names no
order of theirs, another customer's order included, links nothing and tells nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise

# A word that may be an order number: letters and digits, with the separators numbers are
# written with inside it ("BH-4821702", "2026/1042", "A.10.42"), at most MAX_CHARS long and
# holding at least MIN_DIGITS digits. A leading "#" or "No." is not part of it; nor a full stop
# or comma after it (trimmed). Matched only from a word's start and checked for a digit within
# MAX_CHARS: linear in the text (a run of letters and no digit, `[…]*[0-9][…]*` alone would
# rescan from every position: 66 s for a 64 KiB body of one letter).
_CHAR = r"[A-Za-z0-9._/-]"
MAX_CHARS = 64  # Order.number's length
_WORD = re.compile(
    rf"(?<!{_CHAR})(?={_CHAR}{{0,{MAX_CHARS - 1}}}[0-9]){_CHAR}{{1,{MAX_CHARS}}}(?!{_CHAR})"
)
_SEPARATORS = "._/-"
MIN_DIGITS = 3
# A number given without its letter prefix ("4821702" for "BH-4821702") needs this many digits:
# shorter ones ("202" of "BH-202") name too much by accident.
MIN_BARE_DIGITS = 4
# A plain number shorter than this ("1042": a shop's "#1042", but as often a street number, a
# postcode or a price without cents) is an order number only when the words introduce it as
# one: after "#" or an order word ("order 1042", "Bestellung Nr. 1042", "pedido nº 1042").
MIN_PLAIN_DIGITS = 5
_ORDER_WORDS = (
    "order|orders|no|nr|number|num|bestellung|bestellnummer|auftrag|pedido|commande|ordine"
    "|bestelling|encomenda"
)
_INTRODUCED = re.compile(rf"(?:#|\b(?:{_ORDER_WORDS})(?![A-Za-z])|\bn[º°])[\s.:#]*$", re.IGNORECASE)
_LOOK_BACK = 30  # characters before a number where its introduction is looked for
_NOT_KEY = re.compile(r"[^0-9A-Z]")
# Words with digits that are not order numbers: amounts ("279.00", "1,299.99") and dates
# ("2026-12-07", "07.12.2026", "12/7/26"), whose digits alone could name an order by accident.
_AMOUNT_OR_DATE = re.compile(
    r"\d{1,3}(?:[.,]\d{3})*[.,]\d{2}|\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-](?:\d{2}|\d{4})"
)


def number_key(number: str) -> str:
    """An order number as it is compared: upper case, letters and digits only ("bh-4821702",
    "BH 4821702" and "BH4821702" are one number)."""
    return _NOT_KEY.sub("", number.upper())


def candidate_keys(text: str, *, strict: bool = False) -> list[str]:
    """The keys of the words of `text` that could be order numbers, first mention first, each
    once. A plain number of fewer than MIN_PLAIN_DIGITS digits counts only when introduced as an
    order; `strict` (text that is not the customer's request: a signature, a quote, a forward)
    asks that of every plain number, whatever its length (a phone number, a postcode)."""
    keys: dict[str, None] = {}
    for match in _WORD.finditer(text):
        word = match.group().strip(_SEPARATORS)
        if _AMOUNT_OR_DATE.fullmatch(word):
            continue
        before = text[max(0, match.start() - _LOOK_BACK) : match.start()]
        candidates = [(word, before)]
        if "/" in word:  # a link to the order's page: ".../orders/1042/track"
            segments = word.split("/")
            candidates += [(part, f"{lead} ") for lead, part in pairwise(segments)]
        for part, lead in candidates:
            if _could_be_a_number(part, introduced=bool(_INTRODUCED.search(lead)), strict=strict):
                keys.setdefault(number_key(part), None)
    return list(keys)


def _could_be_a_number(word: str, *, introduced: bool, strict: bool) -> bool:
    if sum(c.isdigit() for c in word) < MIN_DIGITS:
        return False
    if not word.isdigit() or introduced:
        return True
    return not strict and len(word) >= MIN_PLAIN_DIGITS


def orders_named(
    keys: Sequence[str], orders: Iterable[tuple[int, str]], *, bare: bool = True
) -> list[tuple[int, str]]:
    """The `orders` ((id, number) pairs: one customer's) that `keys` name, in the order they are
    named. A key names an order when it is the order's number, or (`bare`) the number's digits
    with its letter prefix left out (at least MIN_BARE_DIGITS digits, naming one order only)."""
    if not keys:
        return []
    by_key = {number_key(number): (order_id, number) for order_id, number in orders}
    named: list[tuple[int, str]] = []
    for key in keys:
        order = by_key.get(key)
        if order is None and bare and key.isdigit() and len(key) >= MIN_BARE_DIGITS:
            prefixed = [
                candidate
                for full, candidate in by_key.items()
                if full.endswith(key) and full[: -len(key)].isalpha()
            ]
            order = prefixed[0] if len(prefixed) == 1 else None
        if order is not None and order not in named:
            named.append(order)
    return named


def texts_of(raw: str, clean: str, subject: str = "") -> tuple[str, ...]:
    """What orders_mentioned reads of a message, in its order: the request (the subject, if
    any, and the cleaned words), then the raw text (signature, quotes, forwards)."""
    return (f"{subject}\n{clean}" if subject else clean, raw)


def orders_mentioned(
    texts: Sequence[str],
    known: Iterable[tuple[int, str]],
    more: Callable[[], Iterable[tuple[int, str]]] | None = None,
) -> list[tuple[int, str]]:
    """The customer's orders (id, number) a ticket names, from the first of `texts` that names
    any. The first text is the customer's request (the subject and cleaned words); the others
    (the raw body: the signature, a quote, a forwarded confirmation) are read only when it names
    none, strictly: a plain number there must be introduced as an order ("Order #1042") and must
    be the order's number as written, so a phone number or a postcode in a signature never
    names one. The ticket is about one order when this is one.

    `known` are the customer's orders already read (the newest, for the customer's picture);
    `more`, when given, reads the rest, once, and only if a text has a word that could be an
    order number and that none of `known` is."""
    orders = list(known)
    tried: set[str] = set()  # named none of the orders (all of them, once read) in a text before
    for index, text in enumerate(dict.fromkeys(texts)):
        strict = index > 0
        keys = [key for key in candidate_keys(text, strict=strict) if key not in tried]
        tried.update(keys)
        named = orders_named(keys, orders, bare=not strict)
        if not named and keys and more is not None:
            orders = [*orders, *more()]
            more = None
            named = orders_named(keys, orders, bare=not strict)
        if named:
            return named
    return []
