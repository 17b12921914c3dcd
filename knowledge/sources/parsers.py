"""Turn a document's bytes into a title and plain text with headings kept as `#` lines (so chunks
know their section). Markdown and text are rendered to plain text (knowledge/snippets.py); HTML is
cleaned; PDF via pypdf."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from knowledge.snippets import as_sentence, markdown_to_text


class DocumentError(Exception):
    """A document that cannot be indexed; the sync reports it and goes on."""


class SourceUnavailable(DocumentError):
    """The source as a whole stopped answering (S3 unreachable, the bucket gone, 5xx past the
    retries): the sync stops and fails, and keeps everything already indexed."""


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _decode(data: bytes) -> str:
    if b"\x00" in data:
        raise DocumentError("binary content (NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _first_heading(text: str) -> str | None:
    match = re.search(r"^#\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE)
    return match.group(1).strip() if match else None


def _title_from_key(key: str) -> str:
    stem = Path(key).stem
    return re.sub(r"[-_]+", " ", stem).strip().capitalize() or key


def parse_markdown(key: str, data: bytes) -> ParsedDocument:
    text = markdown_to_text(_decode(data))
    return ParsedDocument(title=_first_heading(text) or _title_from_key(key), text=text)


class _HtmlToText(HTMLParser):
    SKIP = {"script", "style", "noscript", "template", "svg", "nav", "footer", "head"}
    BLOCKS = {"p", "div", "li", "tr", "br", "section", "article", "blockquote", "pre", "td"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.heading: int | None = None
        self.title: list[str] = []
        self.in_title = False

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self.in_title = True
        if tag in self.SKIP:
            self.skipping += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.heading = int(tag[1])
            self.parts.append("\n\n" + "#" * self.heading + " ")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.heading = None
            self.parts.append("\n\n")
        elif tag == "li":  # a list item reads as a sentence of its own
            tail: list[str] = []
            for part in reversed(self.parts):
                tail.append(part)
                if "\n\n" in part:
                    break
            item = "".join(reversed(tail)).rsplit("\n\n", 1)[-1].strip()
            if item and as_sentence(item) != item:
                self.parts.append(".")
            self.parts.append("\n\n")

    def handle_data(self, data):
        if self.in_title:
            self.title.append(data)
        if self.skipping:
            return
        text = re.sub(r"\s+", " ", data)
        if self.heading is not None:
            text = text.strip()
        if text.strip() or (self.parts and not self.parts[-1].endswith((" ", "\n"))):
            self.parts.append(text)


def parse_html(key: str, data: bytes) -> ParsedDocument:
    parser = _HtmlToText()
    parser.feed(_decode(data))
    parser.close()
    text = re.sub(r"[ \t]+\n", "\n", "".join(parser.parts))
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if not text:
        raise DocumentError("no text in HTML")
    title = _first_heading(text) or " ".join("".join(parser.title).split()) or _title_from_key(key)
    return ParsedDocument(title=title, text=text)


def parse_pdf(key: str, data: bytes) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        info_title = (reader.metadata or {}).get("/Title") if reader.metadata else None
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentError(f"unreadable PDF: {exc}") from None
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise DocumentError("no extractable text in PDF (scanned image?)")
    title = str(info_title).strip() if info_title else _title_from_key(key)
    return ParsedDocument(title=title, text=text)


PARSERS: dict[str, Callable[[str, bytes], ParsedDocument]] = {
    ".md": parse_markdown,
    ".markdown": parse_markdown,
    ".txt": parse_markdown,
    ".html": parse_html,
    ".htm": parse_html,
    ".pdf": parse_pdf,
}


def parse_bytes(key: str, data: bytes) -> ParsedDocument:
    if not data.strip():
        raise DocumentError("empty file")
    parser = PARSERS.get(Path(key).suffix.lower())
    if parser is None:
        raise DocumentError(f"unsupported file type {Path(key).suffix!r}")
    parsed = parser(key, data)
    return ParsedDocument(title=parsed.title[:300], text=parsed.text)
