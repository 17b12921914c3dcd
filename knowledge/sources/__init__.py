"""Where KB documents come from (a folder or S3), and how each format becomes title + text.

A source yields `SourceDocument`s: a stable key, the source's own reference to it (a relative
path for a folder, never a server path; `s3://…` for S3), a cheap `version` (file size + mtime,
or the S3 ETags) and a `read()` that fetches the bytes only when the version changed. Bedrock
KB's sidecar convention is honoured: `<file>.metadata.json` holding `{"metadataAttributes":
{...}}` becomes the article's metadata (usable in filters); its `url`, if any, is the article's
public link (`public_uri`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlparse

from knowledge.sources.parsers import (
    PARSERS,
    DocumentError,
    ParsedDocument,
    SourceUnavailable,
    parse_bytes,
)

logger = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".metadata.json"
# Published without their extension under KB_PUBLIC_BASE_URL: a help centre serves
# `refunds.md` as the page `refunds`. Other formats (HTML, PDF, text) keep their names.
PAGE_SUFFIXES = (".md", ".markdown")


def is_supported(key: str) -> bool:
    return not key.endswith(SIDECAR_SUFFIX) and Path(key).suffix.lower() in PARSERS


@dataclass(frozen=True)
class DocumentContent:
    data: bytes
    sidecar: bytes | None = None

    @property
    def content_hash(self) -> str:
        digest = hashlib.sha256(self.data)
        if self.sidecar is not None:
            digest.update(b"\x00metadata\x00" + self.sidecar)
        return digest.hexdigest()


@dataclass(frozen=True)
class SourceDocument:
    key: str  # stable id within the source: relative path or S3 key
    uri: str  # the source's reference: the URL-quoted relative path, or s3://bucket/key
    version: str  # changes whenever the document or its sidecar may have changed
    read: Callable[[], DocumentContent] = field(repr=False, compare=False)


def parse(document: SourceDocument, content: DocumentContent) -> ParsedDocument:
    parsed = parse_bytes(document.key, content.data)
    metadata = parse_sidecar(content.sidecar) if content.sidecar is not None else {}
    return ParsedDocument(title=parsed.title, text=parsed.text, metadata=metadata)


def parse_sidecar(data: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DocumentError(f"invalid {SIDECAR_SUFFIX}: {exc}") from None
    attributes = payload.get("metadataAttributes") if isinstance(payload, dict) else None
    if not isinstance(attributes, dict):
        raise DocumentError(f'{SIDECAR_SUFFIX} must hold {{"metadataAttributes": {{...}}}}')
    if "url" in attributes and not is_web_url(attributes["url"]):
        raise DocumentError(
            f"{SIDECAR_SUFFIX}: url must be an http(s) URL, not {attributes['url']!r}"
        )
    return attributes


def is_web_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urlparse(value.strip())
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def public_uri(document: SourceDocument, metadata: dict[str, Any], *, base_url: str) -> str:
    """What a suggestion shows as its source, a link an agent can send: the sidecar's `url`;
    else `base_url` + the document's quoted relative path (Markdown without its extension);
    else the source's own reference (a relative path, or `s3://…`). Never a server path."""
    url = metadata.get("url")
    if is_web_url(url):
        return url.strip()
    if base_url:
        path = PurePosixPath(document.key)
        if path.suffix.lower() in PAGE_SUFFIXES:
            path = path.with_suffix("")
        return base_url.rstrip("/") + "/" + quote(path.as_posix())
    return document.uri


# Called with (key, reason) for each entry a folder sync leaves out (see iter_folder).
OnSkip = Callable[[str, str], None]

OUTSIDE_SOURCE = "resolves outside the KB source (a link out of KB_SOURCE): skipped"


def iter_folder(root: str | Path, *, on_skip: OnSkip | None = None) -> Iterator[SourceDocument]:
    """The folder's supported files, in path order. Links are followed only while they stay
    inside the folder: a file or directory whose resolved path is outside it (a link to
    /etc/passwd, a linked directory elsewhere) is skipped and reported to `on_skip`, and so is
    a sidecar that resolves outside it (its document is indexed without it). Reads check again,
    so a link swapped after the listing is not followed either."""
    root = Path(root)
    if not root.is_dir():
        raise DocumentError(f"KB source folder {root} does not exist.")
    real_root = root.resolve()
    skip = on_skip or (lambda key, reason: None)
    for path in _walk(root, real_root, skip):
        key = path.relative_to(root).as_posix()
        if not is_supported(key):
            continue
        sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
        if sidecar.is_symlink() and not _inside(sidecar, real_root):
            skip(key + SIDECAR_SUFFIX, OUTSIDE_SOURCE)
            sidecar = None
        elif not sidecar.is_file():
            sidecar = None
        version = _file_version(path)
        if sidecar is not None:
            version += "+" + _file_version(sidecar)
        yield SourceDocument(
            key=key,
            uri=quote(key),
            version=version,
            read=lambda path=path, sidecar=sidecar: DocumentContent(
                _read_inside(path, real_root),
                _read_inside(sidecar, real_root) if sidecar is not None else None,
            ),
        )


def _walk(root: Path, real_root: Path, skip: OnSkip) -> Iterator[Path]:
    """Files under `root` whose resolved path is inside `real_root`, sorted by path. Links to
    directories inside are followed, but a directory is walked once, under the first path that
    reaches it (breadth first, in name order), so a loop of links ends."""
    visited: set[Path] = set()
    found: list[Path] = []
    pending = [root]
    while pending:
        directory = pending.pop(0)
        real = directory.resolve()
        if real in visited:
            continue
        visited.add(real)
        for entry in sorted(directory.iterdir()):
            key = entry.relative_to(root).as_posix()
            if entry.is_symlink() and not _inside(entry, real_root):
                skip(key, OUTSIDE_SOURCE)
                logger.warning("KB sync: %s %s", key, OUTSIDE_SOURCE)
            elif entry.is_dir():
                pending.append(entry)
            elif entry.is_file():
                found.append(entry)
    return iter(sorted(found))


def _inside(path: Path, real_root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(real_root)
    except (OSError, RuntimeError):  # a dangling or looping link: not a document
        return False


def _read_inside(path: Path, real_root: Path) -> bytes:
    real = path.resolve()
    if not real.is_relative_to(real_root):
        raise DocumentError(OUTSIDE_SOURCE)
    return real.read_bytes()


def _file_version(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


__all__ = [
    "DocumentContent",
    "DocumentError",
    "ParsedDocument",
    "OUTSIDE_SOURCE",
    "SourceDocument",
    "SourceUnavailable",
    "is_supported",
    "iter_folder",
    "parse",
    "public_uri",
]
