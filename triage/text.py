"""What triage reads of a text, in plain Python (no numpy: the Lambda package has none, and
triage.lexical runs there): normalised text, whether it has words at all, its n-grams."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_WORD = re.compile(r"(?u)\b\w\w+\b")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").lower()
    return _SPACE.sub(" ", text).strip()


def has_words(text: str) -> bool:
    """False for empty, whitespace, punctuation- or emoji-only text: nothing to classify."""
    return any(ch.isalnum() for ch in text or "")


def grams(text: str, chars: bool = True) -> Iterable[str]:
    """Word 1-2-grams (`w:`) and, with `chars`, character 2-5-grams within words (`c:`)."""
    text = normalise(text)
    words = _WORD.findall(text)
    yield from ("w:" + w for w in words)
    yield from (f"w:{a} {b}" for a, b in zip(words, words[1:], strict=False))
    if not chars:
        return
    for word in text.split(" "):
        padded = f" {word} "
        for n in range(2, 6):
            if len(padded) < n:
                break
            for i in range(len(padded) - n + 1):
                yield "c:" + padded[i : i + n]
