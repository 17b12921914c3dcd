"""Where KB documents come from, and how each format becomes a title and plain text."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUPPORTED_SUFFIXES = {".md", ".markdown", ".txt"}


class DocumentError(Exception):
    """A source document that cannot be indexed; the sync reports it and goes on."""


@dataclass(frozen=True)
class SourceDocument:
    key: str  # stable id within the source: relative path or S3 key
    uri: str
    content: bytes

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    text: str  # Markdown-ish: headings kept as `#` lines so chunks know their section


def iter_folder(root: str | Path) -> Iterator[SourceDocument]:
    root = Path(root)
    if not root.is_dir():
        raise DocumentError(f"KB source folder {root} does not exist.")
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
            yield SourceDocument(
                key=path.relative_to(root).as_posix(),
                uri=path.resolve().as_uri(),
                content=path.read_bytes(),
            )


def parse(document: SourceDocument) -> ParsedDocument:
    if not document.content.strip():
        raise DocumentError("empty file")
    try:
        text = document.content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if "\x00" in text:
        raise DocumentError("binary content (NUL bytes)")
    text = text.replace("\r\n", "\n")
    match = re.search(r"^#\s+(.+)$", text, flags=re.MULTILINE)
    title = match.group(1).strip() if match else _title_from_key(document.key)
    return ParsedDocument(title=title[:300], text=text)


def _title_from_key(key: str) -> str:
    stem = Path(key).stem
    return re.sub(r"[-_]+", " ", stem).strip().capitalize() or key
