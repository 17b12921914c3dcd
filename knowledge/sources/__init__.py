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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlparse

from knowledge.sources.parsers import PARSERS, DocumentError, ParsedDocument, parse_bytes

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


def iter_folder(root: str | Path) -> Iterator[SourceDocument]:
    root = Path(root)
    if not root.is_dir():
        raise DocumentError(f"KB source folder {root} does not exist.")
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if not path.is_file() or not is_supported(key):
            continue
        sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
        version = _file_version(path)
        if sidecar.is_file():
            version += "+" + _file_version(sidecar)
        yield SourceDocument(
            key=key,
            uri=quote(key),
            version=version,
            read=lambda path=path, sidecar=sidecar: DocumentContent(
                path.read_bytes(), sidecar.read_bytes() if sidecar.is_file() else None
            ),
        )


def _file_version(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


__all__ = [
    "DocumentContent",
    "DocumentError",
    "ParsedDocument",
    "SourceDocument",
    "is_supported",
    "iter_folder",
    "parse",
    "public_uri",
]
