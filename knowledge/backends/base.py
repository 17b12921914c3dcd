"""The small interface every knowledge-base backend implements, and how one is chosen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings

from knowledge import snippets
from knowledge.snippets import SNIPPET_CHARS as SNIPPET_CHARS

if TYPE_CHECKING:
    from knowledge.models import SyncJob
    from knowledge.query import TicketQuery


def snippet(text: str) -> str:
    """A passage (Markdown or plain text, such as Bedrock's) as a snippet: plain text, whole
    sentences, at most SNIPPET_CHARS characters, starting at a sentence (knowledge/snippets.py).
    """
    return snippets.snippet(text)


# Embeds a batch of passage texts for a dense index (float32 vectors as bytes).
Embedder = Callable[[list[str]], list[bytes]]


@dataclass(frozen=True)
class Passage:
    """One retrieved passage, already collapsed so each article appears once."""

    title: str
    snippet: str
    score: float
    source: str
    passage_ref: str
    article_id: int | None = None
    heading_path: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    # The local backend's best passage cosine (MiniLM) of the article to the query: what a
    # match across languages is judged on (triage/arrival.py). None from Bedrock.
    cosine: float | None = None


@dataclass(frozen=True)
class BackendHealth:
    ok: bool
    detail: str
    latency_ms: float
    info: dict[str, Any] = field(default_factory=dict)


class KnowledgeBackend(Protocol):
    name: str
    # True when retrieval and the health check are network calls with no database use: they
    # may run in a worker thread (helpdesk.deadline), cut at their deadline.
    remote: bool

    def retrieve(
        self, query: TicketQuery | str, *, k: int = 5, filters: dict[str, Any] | None = None
    ) -> list[Passage]:
        """The k passages that best answer `query` (a ticket; a plain string is one customer
        message), best first. Raises
        KnowledgeBackendUnavailable when the backend cannot answer."""

    def retrieval(
        self, query: TicketQuery | str, *, k: int = 5, filters: dict[str, Any] | None = None
    ) -> Callable[[], list[Passage]]:
        """`retrieve` as a call to make later, possibly in another thread: whatever needs the
        database is done now, in the caller's thread; the call itself must not use it."""

    def sync(
        self, job: SyncJob, *, progress: Callable[[SyncJob, str], None] | None = None
    ) -> SyncJob:
        """Bring the index up to date with the source, recording progress in `job`."""

    def refresh(self, job: SyncJob) -> SyncJob:
        """Bring a job's status up to date from where it runs (saved), or return it as it is
        when that cannot be read now."""

    def check(self) -> BackendHealth:
        """For /health."""


@lru_cache(maxsize=2)
def _backend_for(name: str) -> KnowledgeBackend:
    if name == "local":
        from knowledge.backends.local import LocalBackend

        return LocalBackend()
    if name == "bedrock":
        from knowledge.backends.bedrock import BedrockBackend

        return BedrockBackend()
    raise ValueError(f"Unknown KB_BACKEND {name!r}; expected 'local' or 'bedrock'.")


def get_backend(name: str | None = None) -> KnowledgeBackend:
    """The configured backend (KB_BACKEND), or the one called `name`: a job started under an
    earlier configuration is still read from the backend it runs on."""
    return _backend_for(name or settings.KB_BACKEND)
