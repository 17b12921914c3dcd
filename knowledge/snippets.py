"""Plain text from Markdown, and snippets: what an agent reads and sends to a customer.

`markdown_to_text` renders Markdown away with markdown-it-py (a maintained CommonMark parser):
emphasis, link syntax (the link text stays), images (their alt text stays) and raw HTML go;
headings stay as `#` lines (the chunker's sections); every block (paragraph, list item, table row)
becomes a paragraph of its own that ends like a sentence, so passages and snippets read as text.

A snippet is whole sentences of plain text, at most SNIPPET_CHARS characters, cut at a sentence
boundary (a single longer sentence is cut at a word, with "…"). It starts at the beginning of a
sentence: never with words repeated from the previous passage by the chunk overlap, and never
with a sentence that only introduces what follows ("In short:") on its own.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

SNIPPET_CHARS = 400
# A snippet shorter than this (in words), or ending with ":", says too little on its own: the
# next sentence is added to it.
MIN_SNIPPET_WORDS = 6
# Folded list items this short are listed with commas ("Visa, Mastercard"); longer ones are
# sentences of their own.
LABEL_WORDS = 6

_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")
_OPENERS = "\"'“‘(["
_TAG = re.compile(r"<[^>]*>")


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt  # imported when first needed: Lambda cold starts

    return MarkdownIt("commonmark").enable("table")


def as_sentence(text: str) -> str:
    """`text` ending like a sentence: a full stop is added unless it ends with sentence
    punctuation or a colon (which introduces what follows)."""
    text = text.strip()
    if not text or _SENTENCE_END.search(text) or text.endswith(":"):
        return text
    return text.rstrip(",;") + "."


def markdown_to_text(markdown: str, *, headings: bool = True) -> str:
    """Markdown rendered as plain-text paragraphs separated by blank lines; headings as `#`
    lines when `headings`, else left out. A paragraph keeps its line breaks: where the chunker
    may cut a section that is one paragraph (FAQ answers one per line: stackfaq Recall@1 0.947
    with them, 0.938 without).

    A list item is a sentence of its own, except that a list right after a text that
    introduces it (ends with ":", or a short label such as "**Digital wallets**") or inside
    another item is folded into that text, short items with commas: "Digital wallets: PayPal,
    Apple Pay, Google Pay."
    A table row becomes a sentence (`_table_row`); its header row is left out.
    """
    blocks: list[str] = []
    last_raw = ""  # the last paragraph as written, before it was made a sentence
    previous = ""  # the previous token's type
    after_list = False  # the paragraph being read comes right after a list
    heading = 0
    folds: list[int] = []  # per open list: the block its items are folded into, or -1
    header: list[str] = []
    row: list[str] | None = None
    in_head = False
    for token in _parser().parse(markdown or ""):
        kind = token.type
        if kind == "inline":
            text = _inline_text(token)
            if row is not None or heading:
                text = " ".join(text.split())
            if row is not None:
                row.append(text)
            elif heading:
                if headings and text:
                    blocks.append("#" * heading + " " + text)
            elif folds and folds[-1] >= 0:
                if text:
                    target = blocks[folds[-1]]
                    if len(text.split()) > LABEL_WORDS:  # a clause: a sentence of its own
                        target, text = as_sentence(target), as_sentence(text)
                    joint = ", "
                    if target.endswith((":", " or", " and")) or _SENTENCE_END.search(target):
                        joint = " "
                    blocks[folds[-1]] = target + joint + text
            elif text and blocks and after_list and text[0].islower():
                # The sentence the list was part of goes on after it.
                blocks[-1] = as_sentence(blocks[-1].rstrip(".") + " " + text)
            elif text:
                last_raw = text
                blocks.append(as_sentence(text))
        elif kind == "paragraph_open":
            after_list = previous.endswith("list_close")
        elif kind == "heading_open":
            heading = int(token.tag[1:])
        elif kind == "heading_close":
            heading = 0
        elif kind in ("bullet_list_open", "ordered_list_open"):
            target = folds[-1] if folds else -1
            after_text = target < 0 and blocks and previous == "paragraph_close"
            if after_text and (folds or _introduces(last_raw)):
                target = len(blocks) - 1
                if not _SENTENCE_END.search(last_raw):
                    blocks[target] = last_raw.rstrip(":").rstrip() + ":"
            folds.append(target)
        elif kind in ("bullet_list_close", "ordered_list_close"):
            target = folds.pop()
            if target >= 0 and (not folds or folds[-1] != target):
                blocks[target] = as_sentence(blocks[target])
        elif kind == "thead_open":
            in_head = True
        elif kind == "thead_close":
            in_head = False
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close":
            if in_head:
                header = row or []
            elif sentence := _table_row(header, row or []):
                blocks.append(sentence)
            row = None
        elif kind in ("fence", "code_block") and (text := " ".join(token.content.split())):
            blocks.append(text)
        elif kind == "html_block" and (text := " ".join(_TAG.sub(" ", token.content).split())):
            blocks.append(as_sentence(text))
        previous = kind
    return "\n\n".join(blocks)


def _introduces(text: str) -> bool:
    """A text that introduces the list after it: ends with a colon, or is a short label."""
    return text.endswith(":") or (
        len(text.split()) <= LABEL_WORDS and not _SENTENCE_END.search(text)
    )


def _inline_text(token: Token) -> str:
    """The text of an inline token: emphasis and link markers and inline HTML left out, link
    text and image alt text kept. A line that is all bold ("**Gift cards**" above its text) is
    a label: "Gift cards: …"."""
    parts: list[str] = []
    line: list[str] = []  # the child types of the current line
    for child in token.children or []:
        kind = child.type
        if kind in ("softbreak", "hardbreak"):
            if line[:1] == ["strong_open"] and line[-1:] == ["strong_close"] and parts:
                label = parts[-1].rstrip()
                parts[-1] = label if _SENTENCE_END.search(label) else label.rstrip(":") + ":"
            parts.append("\n")
            line = []
            continue
        if kind != "text" or child.content:
            line.append(kind)
        if kind in ("text", "code_inline", "image") and child.content:
            parts.append(child.content)  # an image's content is its alt text
    lines = ("".join(parts)).split("\n")
    return "\n".join(joined for text in lines if (joined := " ".join(text.split())))


def _table_row(header: list[str], cells: list[str]) -> str:
    """A table row as a sentence: "First cell: second cell." for two columns, else
    "First cell — Header: cell; Header: cell." (empty cells left out)."""
    first = cells[0] if cells else ""
    rest = [
        (header[i] if i < len(header) else "", cell)
        for i, cell in enumerate(cells[1:], start=1)
        if cell
    ]
    if not rest:
        return as_sentence(first)
    if len(cells) == 2:
        text = f"{first}: {rest[0][1]}" if first else rest[0][1]
    else:
        described = "; ".join(f"{name}: {cell}" if name else cell for name, cell in rest)
        text = f"{first} — {described}" if first else described
    return as_sentence(text)


def opens_sentence(word: str) -> bool:
    """Whether `word` can begin a sentence: a capital letter, a digit or a currency sign,
    perhaps after an opening quote or bracket."""
    stripped = word.lstrip(_OPENERS)
    return bool(stripped) and (
        stripped[0].isupper() or stripped[0].isdigit() or stripped[0] in "$£€"
    )


def sentence_starts(words: list[str], paragraph_starts: list[int]) -> list[int]:
    """Indices of the words that begin a sentence: every paragraph's first word, and a word
    that opens a sentence right after one that ends one. ("e.g. the jar" is not a boundary;
    "approx. Two" would be: rare enough in help articles.)"""
    starts = {0, *paragraph_starts}
    for i in range(1, len(words)):
        if _SENTENCE_END.search(words[i - 1]) and opens_sentence(words[i]):
            starts.add(i)
    return sorted(i for i in starts if i < len(words))


def compose(
    words: list[str], starts: list[int], *, fresh: int, end: int, limit: int = SNIPPET_CHARS
) -> str:
    """The snippet of a passage ending before word `end` whose own (not overlapping) words
    begin at `fresh`: whole sentences from the first one that begins in [fresh, end) (else the
    one `fresh` is in), as many as fit in `limit` characters, the last one completed even if it
    runs past `end`. A snippet that says too little ("In short:") takes the next sentence too.
    """
    if not words or not starts:
        return ""
    bounds = [*starts, len(words)]
    own = [i for i, start in enumerate(starts) if fresh <= start < end]
    first = own[0] if own else max(i for i, start in enumerate(starts) if start <= fresh)
    parts: list[str] = []
    length = 0
    for i in range(first, len(starts)):
        weak = _weak(parts)
        if parts and starts[i] >= end and not weak:
            break
        sentence = " ".join(words[bounds[i] : bounds[i + 1]])
        room = limit - length - (1 if parts else 0)
        if len(sentence) > room:
            if not parts or weak:
                parts.append(_cut(sentence, room))
            break
        parts.append(sentence)
        length += len(sentence) + (1 if len(parts) > 1 else 0)
    while len(parts) > 1 and parts[-1].endswith(":"):
        parts.pop()  # an introduction whose list did not fit
    return _finish(" ".join(parts))


def snippet(text: str, *, limit: int = SNIPPET_CHARS) -> str:
    """The snippet of a passage given as (Markdown) text alone, such as Bedrock's: rendered to
    plain text without headings; a fragment it starts with (the passage began mid-sentence) is
    skipped when a whole sentence follows."""
    paragraphs = [p for p in markdown_to_text(text, headings=False).split("\n\n") if p.strip()]
    words: list[str] = []
    paragraph_starts: list[int] = []
    for paragraph in paragraphs:
        paragraph_starts.append(len(words))
        words.extend(paragraph.split())
    starts = sentence_starts(words, paragraph_starts)
    fresh = 0
    if words and not opens_sentence(words[0]) and len(starts) > 1:
        fresh = starts[1]
    return compose(words, starts, fresh=fresh, end=len(words), limit=limit)


def _weak(parts: list[str]) -> bool:
    if not parts:
        return False
    return parts[-1].endswith(":") or sum(len(p.split()) for p in parts) < MIN_SNIPPET_WORDS


def _cut(sentence: str, room: int) -> str:
    """`sentence` cut at a word to fit `room` characters, "…" included."""
    if len(sentence) <= room:
        return sentence
    cut = sentence.rfind(" ", 0, max(1, room - 1))
    return sentence[: cut if cut > 0 else max(1, room - 1)].rstrip(" ,;:—-") + "…"


def _finish(text: str) -> str:
    if not text or text.endswith("…") or _SENTENCE_END.search(text):
        return text
    return text.rstrip(" :;,—-") + ("…" if text.endswith(":") else ".")
