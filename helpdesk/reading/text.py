"""Text and HTML: normalised lines, and everyday HTML mail as the text a person sees."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Lines longer than this are prose: never a quote header, separator, signature or greeting.
# Checking them would only cost time (some library patterns are quadratic in line length).
MAX_STRUCTURAL_LINE = 300

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]")
_SPACES = re.compile(r"[ \t\xa0]+")


def normalise_lines(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    return [_SPACES.sub(" ", line).strip() for line in text.split("\n")]


def join_lines(lines: list[str]) -> str:
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


def looks_like_html(text: str) -> bool:
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
