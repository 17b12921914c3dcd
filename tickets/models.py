from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from tickets.macros import macro_problems

# Tickets an agent decided no category fits (triage.corrections: no category, set by an agent;
# triage trains on them as out of scope: Ticket.no_category_fits), and those no one has
# categorised or decided yet.
DECIDED_NO_CATEGORY = models.Q(category__isnull=True, category_source="agent")
NOT_CATEGORISED = models.Q(category__isnull=True) & ~models.Q(category_source="agent")


class Ticket(models.Model):
    class Channel(models.TextChoices):
        EMAIL = "email"
        WEB = "web"
        CHAT = "chat"
        PHONE = "phone"
        SOCIAL = "social"
        API = "api", "API"

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

    class OrderSource(models.TextChoices):
        GIVEN = "given", "given with the ticket"
        TEXT = "text", "named in the customer's words"
        AGENT = "agent", "set by an agent"

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
    # How the ticket got its order: the client gave it, the customer's words name it (one of
    # their own orders: customers/mentions.py), or an agent set it. Blank without an order.
    # The database default lets the previous release (which does not write it) still insert
    # tickets on a migrated database (README: roll back).
    order_source = models.CharField(
        max_length=8, choices=OrderSource.choices, blank=True, default="", db_default=""
    )
    subject = models.CharField(max_length=255)
    body = models.TextField()  # as the customer wrote it
    # The body read as a person reads it (helpdesk.reading: no quoted history, signature,
    # greeting or sign-off): what retrieval, and later triage, read.
    body_clean = models.TextField(blank=True, default="")
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.API)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    # The priority defaults gave the ticket: `normal` on a new ticket whose client gave none,
    # then the default priority of each category applied to it. While `priority` is still this,
    # it is taken as the defaults' (not a client's, an agent's or the priority rule's), and a
    # category's default replaces it, lower too; otherwise a default only raises it
    # (triage/defaults.py). "" when the client gave the priority, once an agent (or a merge)
    # set one, and on tickets from before it was kept.
    defaulted_priority = models.CharField(
        max_length=16, blank=True, choices=Priority.choices, editable=False
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
    )
    metadata = models.JSONField(default=dict, blank=True)
    # Triage (triage/): the ticket's category, how sure the model was, and who set it.
    category = models.ForeignKey(
        "triage.Category",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets",
    )
    category_confidence = models.FloatField(null=True, blank=True)
    category_source = models.CharField(
        max_length=8, blank=True, choices=[("model", "model"), ("agent", "agent"), ("rule", "rule")]
    )
    # Read by triage (triage/arrival.py): the language on arrival, ISO 639-1 ("" when not told;
    # a customer's follow-up that tells it fills it in), and the sentiment of the customer's
    # latest message read (arrival's, then each follow-up's in English: VADER compound score
    # in [-1, 1] and its label).
    language = models.CharField(max_length=8, blank=True)
    sentiment = models.CharField(
        max_length=8,
        blank=True,
        choices=[("negative", "negative"), ("neutral", "neutral"), ("positive", "positive")],
    )
    sentiment_score = models.FloatField(null=True, blank=True)
    # What triage decided on arrival (triage.arrival._decision: status, label, confidence,
    # applied, model generation, threshold), or on a customer's follow-up the model read
    # (`read_on`, `message_id`; arrival's then under `arrival`), for GET /triage/metrics; {}
    # for older tickets.
    triage = models.JSONField(default=dict, blank=True, editable=False)
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
    # A customer who answers a closed ticket's e-mail starts a new ticket that points back at it
    # (tickets/inbound.py), as Zendesk's follow-up tickets do: closed stays closed.
    follow_up_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="follow_ups",
        help_text="The closed ticket this one continues (a reply to its e-mail).",
    )
    # A duplicate an agent merged into another ticket of the same customer (services
    # `ticket_merge`): closed, its conversation kept; replies to its e-mails thread there.
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="merged_tickets",
        help_text="The ticket this one was merged into (it is closed).",
    )
    # Many customers, one cause (an outage, a recalled batch): each customer's ticket is an
    # incident of one problem ticket, as Zendesk's problem and incident tickets. Resolving the
    # problem resolves its incidents; a reply on it can go to every incident's customer
    # (services `ticket_link_problem`, `problem_reply`).
    problem = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="incidents",
        help_text="The problem ticket this one is an incident of.",
    )

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

    @property
    def no_category_fits(self) -> bool:
        """An agent decided that no category fits (DECIDED_NO_CATEGORY)."""
        return self.category_id is None and self.category_source == "agent"

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
    # Each retrieval over the ticket is a round: 1 when the ticket arrives, one more per
    # customer follow-up. A new round supersedes the earlier ones; they stay, so feedback given
    # (or still to be given) on them points at real rows.
    round = models.PositiveSmallIntegerField(default=1)
    message = models.ForeignKey(
        "tickets.Message",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="suggestions",
        help_text="The customer message whose arrival produced this suggestion.",
    )
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["ticket", "-round", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "round", "rank"], name="suggestion_round_rank_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.rank} {self.title}"


class Message(models.Model):
    """One message of a ticket's conversation, oldest first. The ticket's body is its first.

    `body` is the text as received; `body_clean` is what a person reads in it (helpdesk.reading:
    no quoted history, signature, greeting or sign-off): what retrieval reads. A `note` is
    internal and never sent; an agent `reply` goes out as e-mail through the outbox
    (`EmailOutbox`). The e-mail fields are the RFC 5322 headers of the mail this message came
    in as or went out as.
    """

    class Role(models.TextChoices):
        CUSTOMER = "customer"
        AGENT = "agent"
        SYSTEM = "system"

    class Kind(models.TextChoices):
        REPLY = "reply"
        NOTE = "note"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.REPLY)
    body = models.TextField()
    body_clean = models.TextField(blank=True, default="")
    # Where the message was written: a ticket's channels, or the agent workspace (the admin's
    # ticket page, for its notes; its replies go out as e-mail).
    WORKSPACE = "workspace"
    CHANNELS = [*Ticket.Channel.choices, (WORKSPACE, "Agent workspace")]
    channel = models.CharField(max_length=16, choices=CHANNELS, default=Ticket.Channel.API)
    # Who wrote or sent it: a staff user, an API client (by key), or the ticket's customer
    # (role `customer`, `sender_address`). `author` is the label interactions record.
    author = models.CharField(max_length=200, blank=True)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    author_api_key = models.ForeignKey(
        "helpdesk.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    sender_address = models.EmailField(max_length=254, blank=True)
    email_message_id = models.CharField("Message-ID", max_length=255, blank=True)
    email_in_reply_to = models.CharField("In-Reply-To", max_length=255, blank=True)
    email_references = models.TextField("References", blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # When the e-mail left (agent replies): null while it waits in the outbox.
    sent_at = models.DateTimeField(null=True, blank=True)
    # When it turned out not to reach the customer (tickets/delivery.py): the mail server
    # refused the address when it was sent, or a delivery failure report came back; why, in the
    # server's words. Null and "" for everything else.
    email_failed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.TextField(blank=True)
    # The e-mail service's id for the message it sent (django-anymail's `anymail_status`).
    # Amazon SES replaces our Message-ID with `<this id@…amazonses.com>`, so the customer's
    # reply and a bounce name that one (tickets/inbound.py matches both).
    email_provider_id = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["ticket", "created_at", "id"], name="message_ticket_time"),
            models.Index(
                fields=["email_provider_id"],
                condition=~models.Q(email_provider_id=""),
                name="message_email_provider_id",
            ),
        ]
        constraints = [
            # One stored message per e-mail: inbound delivery is idempotent on the Message-ID.
            models.UniqueConstraint(
                fields=["email_message_id"],
                condition=~models.Q(email_message_id=""),
                name="message_email_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.role} {self.kind} {self.created_at:%Y-%m-%d %H:%M}"


def attachment_path(attachment: "Attachment", filename: str) -> str:
    """`inbound/2026/12/04/<ticket>/<name>`: the storage picks a free name on a clash."""
    day = timezone.now().strftime("%Y/%m/%d")
    return f"inbound/{day}/{attachment.message.ticket_id}/{filename}"


class Attachment(models.Model):
    """A file that came with an inbound e-mail, stored through Django's storage API
    (`STORAGES["default"]`: the filesystem under MEDIA_ROOT, or S3 through django-storages).

    A part over INBOUND_MAX_ATTACHMENT_BYTES is recorded without its content (`file` empty,
    `skipped` says why), so the agent sees that the customer sent it. Inline images of an HTML
    mail (`Content-Disposition: inline` with a `Content-ID`) are stored like any other file,
    marked `inline`, with their `content_id`.
    """

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(help_text="Bytes, decoded.")
    file = models.FileField(upload_to=attachment_path, max_length=500, blank=True)
    inline = models.BooleanField(default=False)
    content_id = models.CharField(max_length=255, blank=True)
    skipped = models.CharField(
        max_length=200, blank=True, help_text="Why the content was not stored (empty: stored)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["message", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.size} bytes)"


class EmailOutbox(models.Model):
    """An e-mail to send (an agent reply), written in the reply's transaction.

    Delivered right after the commit; what fails stays here and is retried with backoff by
    `manage.py email_drain_outbox` / the scheduled Lambda task. A row is claimed (`claimed_until`)
    before sending, so two senders never send it twice; it is deleted once sent.
    """

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="outbox")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "e-mail outbox"

    def __str__(self) -> str:
        return f"e-mail for message {self.message_id} (attempts: {self.attempts})"


class IncidentReply(models.Model):
    """A problem ticket's reply still to be posted on one of its incidents (services
    `problem_reply`): written with the problem's reply, in its transaction, one row per open
    incident, so an outage's answer is never lost however many customers wrote. The first
    INCIDENT_REPLIES_INLINE are posted in the agent's request; the rest by
    `manage.py incident_replies_drain` / the scheduled Lambda task. A row is deleted in the
    transaction that posts its reply (never posted twice); one refused for good (the incident
    was closed meanwhile, say) is kept with `failed_at` and the reason."""

    reply = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="incident_replies")
    incident = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, blank=True)  # the status change asked for, if any
    channel = models.CharField(max_length=16, blank=True)
    actor = models.CharField(max_length=200)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    author_api_key = models.ForeignKey(
        "helpdesk.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    attempts = models.PositiveIntegerField(default=0)
    failed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "incident replies"
        constraints = [
            models.UniqueConstraint(fields=["reply", "incident"], name="one_reply_per_incident")
        ]
        indexes = [models.Index(fields=["failed_at", "id"], name="incident_reply_pending")]

    def __str__(self) -> str:
        return f"reply {self.reply_id} for incident {self.incident_id}"


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


class Satisfaction(models.Model):
    """How the customer rated the handling of their request, from the links in the e-mail that
    resolved it (tickets/satisfaction.py): good or bad, and in their words. One per ticket:
    rating again (after it was reopened and resolved again, say) replaces it."""

    class Rating(models.TextChoices):
        GOOD = "good", "Good, I'm satisfied"
        BAD = "bad", "Bad, I'm unsatisfied"

    ticket = models.OneToOneField(Ticket, on_delete=models.CASCADE, related_name="satisfaction")
    rating = models.CharField(max_length=8, choices=Rating.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rated_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-rated_at"]
        verbose_name_plural = "satisfaction ratings"

    def __str__(self) -> str:
        return f"{self.rating}: ticket {self.ticket_id}"


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


class Macro(models.Model):
    """A canned reply with placeholders (tickets/macros.py), inserted into a reply on the
    ticket page."""

    name = models.CharField(max_length=100, unique=True)
    body = models.TextField(
        help_text="Text with placeholders: {{ customer.name }}, {{ customer.first_name }}, "
        "{{ customer.email }}, {{ ticket.number }}, {{ ticket.subject }}, {{ agent.name }}, "
        "{{ agent.username }}. No other tags or filters."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if problems := macro_problems(self.body):
            raise ValidationError({"body": problems})
