"""Split an article into overlapping passages that respect headings and paragraphs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


@dataclass
class ChunkText:
    position: int
    text: str
    heading_path: list[str] = field(default_factory=list)


def _sections(text: str) -> list[tuple[list[str], list[str]]]:
    """[(heading_path, paragraphs)] in document order."""
    sections: list[tuple[list[str], list[str]]] = []
    path: list[tuple[int, str]] = []
    paragraphs: list[str] = []
    current: list[str] = []

    def flush_paragraph() -> None:
        if current:
            paragraphs.append(" ".join(line.strip() for line in current))
            current.clear()

    def flush_section() -> None:
        flush_paragraph()
        if paragraphs:
            sections.append(([title for _, title in path], list(paragraphs)))
            paragraphs.clear()

    for line in text.splitlines():
        match = HEADING.match(line)
        if match:
            flush_section()
            level = len(match.group(1))
            path = [(lvl, title) for lvl, title in path if lvl < level]
            path.append((level, match.group(2)))
        elif not line.strip():
            flush_paragraph()
        elif line.lstrip().startswith(("- ", "* ", "+ ")) or re.match(r"^\s*\d+\.\s", line):
            flush_paragraph()  # list items stay separate units
            current.append(line)
        else:
            current.append(line)
    flush_section()
    return sections


def chunk_text(text: str, *, max_words: int = 120, overlap_words: int = 30) -> list[ChunkText]:
    """Greedy packing of paragraphs into passages of at most ~max_words, per section.

    A section never shares a passage with another; the next passage starts with the last
    `overlap_words` words of the previous one so an answer that straddles the cut is found.
    A paragraph longer than max_words is split on word boundaries.
    """
    overlap_words = max(0, min(overlap_words, max_words // 2))
    chunks: list[ChunkText] = []
    for heading_path, paragraphs in _sections(text):
        words: list[str] = []
        for paragraph in paragraphs:
            para_words = paragraph.split()
            if words and len(words) + len(para_words) > max_words:
                chunks.append(ChunkText(len(chunks), " ".join(words), heading_path))
                words = words[-overlap_words:] if overlap_words else []
            words.extend(para_words)
            while len(words) > max_words:
                chunks.append(ChunkText(len(chunks), " ".join(words[:max_words]), heading_path))
                words = words[max_words - overlap_words :]
        if words:
            chunks.append(ChunkText(len(chunks), " ".join(words), heading_path))
    return chunks


def passage_text(title: str, heading_path: list[str], text: str) -> str:
    """What the retrievers index for a passage: the article title and section path lead."""
    headings = [h for h in heading_path if h != title]
    return "\n".join([title, " › ".join(headings), text] if headings else [title, text])
