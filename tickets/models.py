from django.conf import settings
from django.db import models


class Ticket(models.Model):
    class Channel(models.TextChoices):
        EMAIL = "email"
        WEB = "web"
        CHAT = "chat"
        PHONE = "phone"
        SOCIAL = "social"
        API = "api"

    class Status(models.TextChoices):
        NEW = "new"
        OPEN = "open"
        PENDING = "pending"
        RESOLVED = "resolved"
        CLOSED = "closed"

    class Priority(models.TextChoices):
        LOW = "low"
        NORMAL = "normal"
        HIGH = "high"
        URGENT = "urgent"

    # Which status may follow which. Closed is final; a resolved ticket can be reopened.
    TRANSITIONS = {
        Status.NEW: {Status.OPEN, Status.PENDING, Status.RESOLVED, Status.CLOSED},
        Status.OPEN: {Status.PENDING, Status.RESOLVED, Status.CLOSED},
        Status.PENDING: {Status.OPEN, Status.RESOLVED, Status.CLOSED},
        Status.RESOLVED: {Status.OPEN, Status.CLOSED},
        Status.CLOSED: set(),
    }
    ACTIVE_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING)

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="tickets"
    )
    order = models.ForeignKey(
        "customers.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets",
    )
    subject = models.CharField(max_length=255)
    body = models.TextField()  # as the customer wrote it
    # The body read as a person reads it (helpdesk.reading: no quoted history, signature,
    # greeting or sign-off): what retrieval, and later triage, read.
    body_clean = models.TextField(blank=True, default="")
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.API)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
    )
    metadata = models.JSONField(default=dict, blank=True)
    # The API key that created the ticket, if any: an `intake` key may act on its own tickets.
    created_by_key = models.ForeignKey(
        "helpdesk.ApiKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="ticket_status_recent"),
            models.Index(fields=["customer", "status"], name="ticket_customer_status"),
            models.Index(fields=["assignee", "status"], name="ticket_assignee_status"),
            models.Index(fields=["priority", "status"], name="ticket_priority_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status__in=["resolved", "closed"])
                | models.Q(resolved_at__isnull=False),
                name="ticket_resolved_has_timestamp",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.subject}"

    @property
    def number(self) -> str:
        """Human-readable reference quoted to customers, derived from the id."""
        return self.number_for(self.pk) if self.pk else ""

    @staticmethod
    def number_for(pk: int) -> str:
        return f"HD-{pk:06d}"

    def can_transition_to(self, status: str) -> bool:
        return status == self.status or status in self.TRANSITIONS[self.status]


class Suggestion(models.Model):
    """A knowledge-base passage shown for a ticket, kept so feedback can point at it."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="suggestions")
    rank = models.PositiveSmallIntegerField()
    score = models.FloatField()
    article = models.ForeignKey(
        "knowledge.Article", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Passage reference in the backend that produced it (a chunk id, a Bedrock location).
    passage_ref = models.CharField(max_length=512, blank=True)
    title = models.CharField(max_length=300)
    snippet = models.TextField()
    source = models.CharField(max_length=1024, blank=True)
    backend = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["ticket", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "rank"], name="suggestion_rank_unique"),
        ]

    def __str__(self) -> str:
        return f"#{self.rank} {self.title}"


class Feedback(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="feedback")
    suggestion = models.ForeignKey(Suggestion, on_delete=models.CASCADE, related_name="feedback")
    helpful = models.BooleanField()
    resolved = models.BooleanField(default=False)
    comment = models.TextField(blank=True)
    submitted_by = models.CharField(max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "feedback"
        indexes = [models.Index(fields=["suggestion", "helpful"], name="feedback_suggestion")]

    def __str__(self) -> str:
        return f"{'helpful' if self.helpful else 'not helpful'}: {self.suggestion_id}"


class IdempotencyRecord(models.Model):
    """The first response to a POST /tickets with an Idempotency-Key, replayed on retries."""

    # Keys are scoped to the client that sent them (an API key or a user).
    client = models.CharField(max_length=200)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="idempotency_client_key"),
        ]

    def __str__(self) -> str:
        return f"{self.client}: {self.key}"
