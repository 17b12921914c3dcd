"""Split an article into overlapping passages that respect headings and paragraphs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass
class ChunkText:
    position: int
    text: str
    heading_path: list[str] = field(default_factory=list)


def _windows(words: list[str], max_words: int, overlap: int) -> list[list[str]]:
    if len(words) <= max_words:
        return [words]
    step = max(1, max_words - overlap)
    out = []
    for start in range(0, len(words), step):
        out.append(words[start : start + max_words])
        if start + max_words >= len(words):
            break
    return out


def _sections(lines: list[str]) -> list[tuple[list[str], list[str]]]:
    """[(heading path, body lines)] in document order; a heading with no body is dropped."""
    sections: list[tuple[list[str], list[str]]] = []
    path: list[tuple[int, str]] = []
    body: list[str] = []
    for line in lines:
        match = HEADING.match(line)
        if not match:
            body.append(line)
            continue
        if any(b.strip() for b in body):
            sections.append(([title for _, title in path], body))
        body = []
        level = len(match.group(1))
        path = [(lvl, title) for lvl, title in path if lvl < level] + [(level, match.group(2))]
    if any(b.strip() for b in body):
        sections.append(([title for _, title in path], body))
    return sections


def chunk_text(text: str, *, max_words: int = 60, overlap_words: int = 30) -> list[ChunkText]:
    """Passages of at most `max_words` words.

    - Markdown `#` headings start a section; every passage keeps the headings above it and
      never spans two sections.
    - Inside a section, blank-line paragraphs (single lines when a section has none) are packed
      greedily; the last `overlap_words` words of a passage start the next one, so an answer
      cut at a boundary is whole in one of them. A longer paragraph becomes overlapping windows.
    - A short document without headings is one passage.

    60-word passages beat 120 and 200 for MiniLM (trained on short texts): stackfaq dense
    Recall@1 0.952 vs 0.939 vs 0.917.
    """
    overlap_words = max(0, min(overlap_words, max_words - 1))
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if len(text.split()) <= max_words and not any(HEADING.match(line) for line in lines):
        return [ChunkText(0, " ".join(text.split()))] if text.strip() else []
    chunks: list[ChunkText] = []
    for heading_path, body in _sections(lines):
        joined = "\n".join(body).strip()
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", joined) if p.strip()]
        if len(paragraphs) == 1:
            paragraphs = [line.strip() for line in joined.split("\n") if line.strip()]
        units = [w for p in paragraphs for w in _windows(p.split(), max_words, overlap_words)]
        buffer: list[str] = []
        fresh = 0  # words in the buffer that are not carried-over overlap
        for unit in units:
            if fresh and len(buffer) + len(unit) > max_words:
                chunks.append(ChunkText(len(chunks), " ".join(buffer), list(heading_path)))
                keep = min(overlap_words, max(0, max_words - len(unit)))
                buffer = buffer[len(buffer) - keep :] if keep else []
                fresh = 0
            buffer.extend(unit)
            fresh += len(unit)
        if fresh:
            chunks.append(ChunkText(len(chunks), " ".join(buffer), list(heading_path)))
    return chunks


def passage_text(title: str, heading_path: list[str], text: str) -> str:
    """What a passage is embedded as: "title > section > subsection" then the text."""
    head = " > ".join(t for t in [title, *section_path(title, heading_path)] if t)
    return f"{head}\n{text}" if head else text


def section_path(title: str, heading_path: list[str]) -> list[str]:
    """The headings below the article's title (a Markdown article's `#` line is its title)."""
    return heading_path[1:] if heading_path[:1] == [title] else list(heading_path)
