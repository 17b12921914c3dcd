from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from triage.similar_base import LOCAL_MODEL

# The training label of the tickets an agent decided no category fits (triage.corrections):
# the model's out-of-scope label, which it learns to answer for tickets like them ("Help",
# "Hello?", "Can someone call me?") instead of the nearest category. No category may be
# called this (`reserved_name`).
NO_CATEGORY = "(none of the categories)"


def reserved_name(value: str) -> None:
    if value.strip().casefold() == NO_CATEGORY.casefold():
        raise ValidationError(
            f"{NO_CATEGORY!r} is reserved: triage's label for the tickets no category fits."
        )


class Category(models.Model):
    """A team's own ticket category, managed by staff; what triage learns and predicts."""

    name = models.CharField(max_length=100, unique=True, validators=[reserved_name])
    description = models.TextField(blank=True)
    # Inactive categories are neither trained on nor applied (kept for history).
    active = models.BooleanField(default=True)
    # Applied with the category when triage (or an agent) sets it, if given.
    default_priority = models.CharField(
        max_length=16, blank=True, choices=[(p, p) for p in ("low", "normal", "high", "urgent")]
    )
    default_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class TriageModel(models.Model):
    """A trained triage classifier (triage.classifier, numpy arrays in one blob), stored where
    every worker and the Lambda read it. Exactly one row is current; each process keeps the
    model it loaded keyed by the current row's `revision` (a fresh token per training, as the
    KB's KnowledgeState does), so a new model is picked up without a restart and a restored
    database never makes a stale in-memory model look current."""

    generation = models.PositiveIntegerField(unique=True)
    revision = models.CharField(max_length=32, unique=True, default="")
    current = models.BooleanField(default=False)
    blob = models.BinaryField()
    # Label names the model predicts → Category ids at training time (a category renamed or
    # deleted later is looked up by id, and not applied when gone or inactive).
    labels = models.JSONField(default=dict)
    report = models.JSONField(default=dict, blank=True)  # sizes, fitted weights, CV figures
    n_examples = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-generation"]
        constraints = [
            models.UniqueConstraint(
                fields=["current"], condition=Q(current=True), name="one_current_triage_model"
            ),
        ]

    def __str__(self) -> str:
        return f"triage model {self.generation}{' (current)' if self.current else ''}"

    def save(self, *args, **kwargs):
        if not self.revision:
            self.revision = uuid.uuid4().hex
        super().save(*args, **kwargs)


class TicketEmbedding(models.Model):
    """A ticket's embedding, for similar tickets. With the local encoder (`model` LOCAL_MODEL)
    the query vector retrieval computed on arrival (triage/vectors.py: 384 int8 components,
    triage/similar.py); with Bedrock, Titan's vector (int8 components) and its sign bits
    (`bits`, for the search's first pass: triage/similar_bedrock.py). Tickets are only ever
    compared with tickets of the same `model`. One per ticket; tickets stored before this table
    or under another encoder get theirs from `manage.py similar_backfill` (or on their first
    ask). On Postgres a generated column `bits_varbit` holds `bits` as a bit string
    (migration 0004), for `bit_count(a # b)`."""

    ticket = models.OneToOneField(
        "tickets.Ticket", on_delete=models.CASCADE, primary_key=True, related_name="embedding"
    )
    vector = models.BinaryField()
    model = models.CharField(max_length=120, default=LOCAL_MODEL)
    bits = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"embedding of ticket {self.ticket_id}"


class CategoryCorrection(models.Model):
    """An agent set a ticket's category (API or admin): a training label, and the measure of
    what triage got wrong."""

    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="category_corrections"
    )
    previous = models.ForeignKey(
        Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    previous_source = models.CharField(max_length=8, blank=True)
    category = models.ForeignKey(
        Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"ticket {self.ticket_id}: {self.previous_id} → {self.category_id}"
