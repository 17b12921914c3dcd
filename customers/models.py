from django.db import models
from django.db.models.functions import Lower


class Customer(models.Model):
    class Tier(models.TextChoices):
        FREE = "free"
        STANDARD = "standard"
        PREMIUM = "premium"
        ENTERPRISE = "enterprise"

    # Stored lower-cased (services normalise it; the check constraint guarantees it), so the
    # plain unique index serves case-insensitive look-ups.
    email = models.EmailField(max_length=254, unique=True)
    external_id = models.CharField(max_length=128, unique=True, null=True, blank=True)
    name = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.STANDARD)
    locale = models.CharField(max_length=16, default="en")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")), name="email_lowercase"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        PAID = "paid"
        SHIPPED = "shipped"
        DELIVERED = "delivered"
        CANCELLED = "cancelled"
        RETURNED = "returned"
        REFUNDED = "refunded"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    number = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    placed_at = models.DateTimeField()
    # [{"sku", "name", "quantity", "unit_price"}]; validated by the API serializer.
    line_items = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-placed_at"]
        indexes = [models.Index(fields=["customer", "-placed_at"], name="order_customer_recent")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(total__gte=0), name="order_total_non_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(currency__regex=r"^[A-Z]{3}$"), name="order_currency_iso"
            ),
        ]

    def __str__(self) -> str:
        return self.number


class Interaction(models.Model):
    """The `database` interaction store's table (see customers/interactions.py)."""

    # ULID: unique and time-ordered, so ordering by id is ordering by time.
    id = models.CharField(max_length=26, primary_key=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    ticket_id = models.BigIntegerField(null=True, blank=True)
    kind = models.CharField(max_length=32)
    occurred_at = models.DateTimeField()
    summary = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    actor = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["customer", "-id"], name="interaction_customer_recent"),
            models.Index(fields=["ticket_id", "-id"], name="interaction_ticket_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"


class InteractionOutbox(models.Model):
    """Interactions accepted with a ticket but not yet delivered to a non-database store.

    Written in the same transaction as the ticket, so nothing accepted is lost; delivered right
    after the commit, or later by `manage.py interactions_drain_outbox` (in id order, with
    backoff). Delivery is idempotent, so a crash between delivering and deleting is harmless.
    """

    interaction_id = models.CharField(max_length=26, unique=True)
    payload = models.JSONField()
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "interaction outbox"

    def __str__(self) -> str:
        return self.interaction_id
