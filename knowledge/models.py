from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F
from django.utils import timezone

from helpdesk.api.compiled import CompiledRead


class Article(models.Model):
    """One source document of the knowledge base (a file in a folder or an S3 object)."""

    # Path relative to the source root, or the S3 key: stable across syncs.
    source_key = models.CharField(max_length=1024, unique=True)
    uri = models.CharField(max_length=2048)
    title = models.CharField(max_length=300)
    content_hash = models.CharField(max_length=64)
    # The source's cheap change marker (size+mtime, S3 ETag): equal means not even read.
    version = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        # The admin's "KB search" page (knowledge/admin.py): the retriever, as /kb/search.
        permissions = [("search_kb", "Can search the knowledge base")]

    def __str__(self) -> str:
        return self.title


class Chunk(models.Model):
    """A passage of an article: the unit the retriever indexes."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField()
    heading_path = models.JSONField(default=list, blank=True)
    text = models.TextField()
    # What suggestions show: the passage's own sentences, whole, in plain text (computed at
    # sync time, where the chunker knows which words are overlap). Empty for chunks stored
    # before it existed: the backend then derives it from `text`.
    snippet = models.TextField(blank=True, default="")
    # float32 vector (numpy .tobytes()) when the backend embeds passages.
    embedding = models.BinaryField(null=True, blank=True)
    # The same for the passage's headings alone ("title > section"): an FAQ-style heading is
    # often the question itself (knowledge.index, the dense_heading signal).
    heading_embedding = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["article", "position"]
        constraints = [
            models.UniqueConstraint(fields=["article", "position"], name="chunk_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.article_id}#{self.position}"


class SyncJob(models.Model):
    class Trigger(models.TextChoices):
        MANUAL = "manual"
        API = "api"
        S3_EVENT = "s3-event"
        COMMAND = "command"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    backend = models.CharField(max_length=32)
    source = models.CharField(max_length=2048)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Bedrock's ingestion job id when the backend is bedrock.
    external_id = models.CharField(max_length=128, blank=True)
    scanned = models.PositiveIntegerField(default=0)
    added = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # [{"key": ..., "reason": ...}] for every file that could not be indexed.
    errors = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Written every few documents: a running job whose heartbeat stops was interrupted.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Another sync was asked for (an API call, a command, an S3 event) while this one ran, so it
    # may have missed changes: a follow-up sync starts when this one finishes, and is linked here.
    rerun_requested = models.BooleanField(default=False)
    follow_up = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="follows"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["source", "status"], name="syncjob_source_status")]
        # The admin's "Sync now" (knowledge/admin.py); superusers have it, agents do not.
        permissions = [("start_sync", "Can start a knowledge-base sync")]

    # Written only when a sync is claimed (knowledge.services._claim), with explicit fields: a
    # running sync saving its progress must never undo a rerun asked for meanwhile.
    CLAIM_FIELDS = frozenset({"rerun_requested", "follow_up"})

    def __str__(self) -> str:
        return f"sync {self.pk} {self.status}"

    def save(self, *args, **kwargs):
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.name
                for f in self._meta.concrete_fields
                if not f.primary_key and f.name not in self.CLAIM_FIELDS
            ]
        super().save(*args, **kwargs)

    def fail(self, message: str, *, at=None, fields: list[str] | None = None) -> SyncJob:
        """Finish the job as FAILED with `message` and save it (only `fields`, if given)."""
        self.status = SyncJob.Status.FAILED
        self.message = message
        self.finished_at = at or timezone.now()
        self.save(update_fields=fields)
        return self

    @property
    def duration_ms(self) -> float | None:
        if self.started_at and self.finished_at:
            return round((self.finished_at - self.started_at).total_seconds() * 1000, 1)
        return None


class KnowledgeState(models.Model):
    """One row: the KB generation, bumped by every sync that changes the index.

    Each process compares it with the generation of its in-memory index and rebuilds when they
    differ, so no request after a completed sync sees stale results.
    """

    generation = models.PositiveBigIntegerField(default=0)
    # A fresh random token per bump: what in-memory indexes are keyed by, so a rolled-back or
    # restored database can never make an index built for other contents look current.
    revision = models.CharField(max_length=32, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"generation {self.generation}"

    @classmethod
    def current(cls) -> tuple[int, str]:
        """(generation, revision) of the KB as last changed by a sync; (0, "") before any.
        Read on every retrieval: a compiled read (its SQL built once per process)."""
        rows = _current_state.rows()
        return (rows[0]["generation"], rows[0]["revision"]) if rows else (0, "")

    @classmethod
    def bump(cls) -> None:
        """Record that the index changed: the next generation, under a fresh revision."""
        revision = uuid.uuid4().hex
        updated = cls.objects.filter(pk=1).update(generation=F("generation") + 1, revision=revision)
        if not updated:
            cls.objects.create(pk=1, generation=1, revision=revision)


def _current_state_read():
    return KnowledgeState.objects.filter(pk=1).values("generation", "revision")[:1]


_current_state = CompiledRead(_current_state_read)
