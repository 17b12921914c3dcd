"""Indexing a KB source's documents into articles and chunks: what a local sync does, and what
`kb_sync_s3_event` and `kb_eval` call directly.

Incremental: a document whose version (size+mtime, S3 ETag) is unchanged is not even read; one
whose bytes hash the same is not parsed; changed ones are re-chunked, embedded in batches across
documents and stored one article per transaction; vanished ones are deleted. A sync that changes
anything bumps the KB revision (`KnowledgeState.bump`), so every process rebuilds its index.
Job orchestration (one sync per source, follow-ups, Bedrock polling) is knowledge.services'.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from knowledge.backends.base import Embedder
from knowledge.chunking import CHUNKER_VERSION, ChunkText, chunk_text, heading_text, passage_text
from knowledge.models import Article, Chunk, KnowledgeState, SyncJob
from knowledge.sources import (
    DocumentContent,
    DocumentError,
    ParsedDocument,
    SourceDocument,
    SourceUnavailable,
    iter_folder,
    parse,
    public_uri,
)

Progress = Callable[[SyncJob, str], None]

HEARTBEAT_EVERY = 25  # documents
EMBED_BATCH = 256  # passages embedded per encoder call during a sync


def source_documents(source: str, *, job: SyncJob | None = None) -> Iterable[SourceDocument]:
    """The documents of a KB source: a folder path or `s3://bucket/prefix`. Entries of a folder
    that are left out (links out of it) are recorded in `job` (see `skip`)."""
    if source.startswith("s3://"):
        from helpdesk.aws import s3_client
        from knowledge.sources.s3 import S3Location, iter_s3

        return iter_s3(S3Location.parse(source), s3_client())
    on_skip = (lambda key, reason: skip(job, key, reason)) if job is not None else None
    return iter_folder(source, on_skip=on_skip)


def skip(job: SyncJob, key: str, reason: str) -> None:
    """Record in the job's errors an entry of the source that was deliberately not indexed."""
    job.errors.append({"key": key, "reason": reason, "skipped": True})


@dataclass
class _Prepared:
    """A changed document, parsed and chunked, waiting for its embeddings."""

    document: SourceDocument
    parsed: ParsedDocument
    digest: str
    pieces: list[ChunkText]
    outcome: str  # "added" | "updated"


class _Batch:
    """Changed documents collected until EMBED_BATCH passages are waiting, then embedded in
    one call (a batch across documents keeps the encoder busy) and stored."""

    def __init__(self, job: SyncJob, embed: Embedder | None) -> None:
        self.job, self.embed = job, embed
        self.items: list[_Prepared] = []

    def add(self, item: _Prepared) -> None:
        self.items.append(item)
        if sum(len(i.pieces) for i in self.items) >= EMBED_BATCH:
            self.flush()

    def flush(self) -> None:
        items, self.items = self.items, []
        if not items:
            return
        pieces = [(i.parsed.title, p) for i in items for p in i.pieces]
        texts = [passage_text(title, p.heading_path, p.text) for title, p in pieces]
        headings = [heading_text(title, p.heading_path) for title, p in pieces]
        unique = list(dict.fromkeys(headings))  # an article's sections share them
        if self.embed:
            vectors = self.embed(texts + unique)
            by_heading = dict(zip(unique, vectors[len(texts) :], strict=True))
            heading_vectors = [by_heading[h] for h in headings]
        else:
            vectors = heading_vectors = [None] * len(texts)
        offset = 0
        for item in items:
            span = slice(offset, offset + len(item.pieces))
            _store_article(item, vectors[span], heading_vectors[span])
            offset += len(item.pieces)
            setattr(self.job, item.outcome, getattr(self.job, item.outcome) + 1)


def sync_documents(
    job: SyncJob,
    documents: Iterable[SourceDocument],
    *,
    complete: bool = True,
    deleted_keys: Iterable[str] = (),
    embed: Embedder | None = None,
    progress: Progress | None = None,
) -> SyncJob:
    """Index `documents` into articles and chunks, recording counts and failures in `job`.

    `complete`: the documents are the whole source, so articles not among them are deleted.
    Otherwise (an S3 event for one object) only `deleted_keys` are removed. A document that
    fails is recorded and skipped; its previous version (if any) keeps serving. Each article is
    replaced in its own transaction, so an interrupted sync leaves whole articles, old or new,
    and the next sync completes it.
    """
    known = {
        row[0]: row[1:]
        for row in Article.objects.values_list("source_key", "version", "content_hash")
    }
    seen: set[str] = set()
    unchanged: dict[str, SourceDocument] = {}
    relinked = 0
    batch = _Batch(job, embed)
    try:
        for document in documents:
            job.scanned += 1
            seen.add(document.key)
            try:
                prepared = _prepare(document, known.get(document.key))
            except SourceUnavailable:
                raise  # the whole source, not this document: stop (below)
            except DocumentError as exc:
                job.failed += 1
                job.errors.append({"key": document.key, "reason": str(exc)})
            else:
                if prepared is None:
                    job.unchanged += 1
                    unchanged[document.key] = document
                else:
                    batch.add(prepared)
            if progress:
                progress(job, document.key)
            if job.scanned % HEARTBEAT_EVERY == 0:
                _heartbeat(job)
        batch.flush()
        relinked = _relink(unchanged)
        gone = (set(known) - seen) if complete else (set(deleted_keys) & set(known))
        if gone:
            job.deleted += (
                Article.objects.filter(source_key__in=gone).delete()[1].get("knowledge.Article", 0)
            )
    except SourceUnavailable as exc:  # gone mid-sync: keep the old index, delete nothing
        job.status = SyncJob.Status.FAILED
        job.message = (
            f"{exc} — the sync stopped after {job.scanned - 1} document(s); nothing was "
            "deleted, and the next sync picks up what this one did not finish."
        )
    except DocumentError as exc:  # the source as a whole is unreadable: keep the old index
        job.status = SyncJob.Status.FAILED
        job.message = str(exc)
    else:
        job.status = SyncJob.Status.SUCCEEDED
        job.message = (
            f"{job.scanned} scanned: {job.added} added, {job.updated} updated, "
            f"{job.deleted} deleted, {job.unchanged} unchanged, {job.failed} failed"
        )
        skipped = sum(1 for error in job.errors if error.get("skipped"))
        if skipped:
            job.message += f", {skipped} skipped (outside the source)"
    if job.added or job.updated or job.deleted or relinked:
        KnowledgeState.bump()
    job.finished_at = timezone.now()
    job.save()
    return job


def indexed_version(document: SourceDocument) -> str:
    """The version stored for an article: the source's, and the chunker's, so that a change of
    chunking (CHUNKER_VERSION) makes every document look changed to the next sync."""
    return f"{document.version}~c{CHUNKER_VERSION}"


def indexed_hash(content: DocumentContent) -> str:
    """The content hash stored for an article: of its bytes, sidecar and CHUNKER_VERSION."""
    return hashlib.sha256(f"c{CHUNKER_VERSION}:{content.content_hash}".encode()).hexdigest()


def _prepare(document: SourceDocument, known: tuple[str, str] | None) -> _Prepared | None:
    """None when the document is unchanged; raises DocumentError when it cannot be indexed."""
    version = indexed_version(document)
    if known and known[0] == version:
        return None
    content = document.read()
    digest = indexed_hash(content)
    if known and known[1] == digest:  # touched, not changed
        Article.objects.filter(source_key=document.key).update(version=version)
        return None
    parsed = parse(document, content)
    pieces = chunk_text(
        parsed.text,
        max_words=settings.KB_CHUNK_WORDS,
        overlap_words=settings.KB_CHUNK_OVERLAP_WORDS,
    )
    if not pieces:
        raise DocumentError("no text to index")
    return _Prepared(document, parsed, digest, pieces, "updated" if known else "added")


def _heartbeat(job: SyncJob) -> None:
    job.heartbeat_at = timezone.now()
    job.save(
        update_fields=[
            "heartbeat_at",
            "scanned",
            "added",
            "updated",
            "unchanged",
            "failed",
            "errors",
        ]
    )


@transaction.atomic
def _store_article(
    item: _Prepared, vectors: list[bytes | None], heading_vectors: list[bytes | None]
) -> Article:
    article, _ = Article.objects.update_or_create(
        source_key=item.document.key,
        defaults={
            "uri": _public_uri(item.document, item.parsed.metadata),
            "title": item.parsed.title,
            "content_hash": item.digest,
            "version": indexed_version(item.document),
            "metadata": item.parsed.metadata,
        },
    )
    article.chunks.all().delete()
    Chunk.objects.bulk_create(
        Chunk(
            article=article,
            position=p.position,
            heading_path=p.heading_path,
            text=p.text,
            snippet=p.snippet,
            embedding=vector,
            heading_embedding=heading_vector,
        )
        for p, vector, heading_vector in zip(item.pieces, vectors, heading_vectors, strict=True)
    )
    return article


def _public_uri(document: SourceDocument, metadata: dict) -> str:
    return public_uri(document, metadata, base_url=settings.KB_PUBLIC_BASE_URL)


def _relink(documents: dict[str, SourceDocument]) -> int:
    """Give unchanged articles their public URI again (KB_PUBLIC_BASE_URL may have changed
    since they were indexed) without re-chunking them; returns how many changed."""
    stale = []
    for article in Article.objects.only("pk", "source_key", "uri", "metadata"):
        document = documents.get(article.source_key)
        if document is None:
            continue
        uri = _public_uri(document, article.metadata or {})
        if uri != article.uri:
            article.uri = uri
            stale.append(article)
    Article.objects.bulk_update(stale, ["uri"], batch_size=500)
    return len(stale)
