"""Writes for tickets: ingest (the heart of the product), updates and suggestion feedback."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.interactions import InteractionRecord, Kind, get_interaction_store
from customers.models import Customer, Order
from customers.outbox import interaction_record, outbox_deliver
from customers.selectors import RECENT_INTERACTIONS, customer_360
from customers.services import customer_upsert_by_email
from helpdesk.api.exceptions import (
    HelpdeskError,
    IdempotencyKeyReused,
    InvalidInput,
    InvalidTransition,
    PayloadTooLarge,
)
from helpdesk.reading import clean_message
from knowledge.backends.base import Passage, get_backend
from knowledge.query import CUSTOMER, TicketQuery, Turn
from tickets.models import Feedback, IdempotencyRecord, Suggestion, Ticket
from tickets.serializers import suggestion_json, ticket_json

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TicketCreated:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False
    queued: list[str] = field(default_factory=list)  # interaction ids left in the outbox


def request_fingerprint(payload: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()


def ticket_create(
    *,
    payload: dict[str, Any],
    actor: str,
    idempotency_key: str | None = None,
    idempotency_scope: str | None = None,
) -> TicketCreated:
    """Ingest a ticket and answer with the customer's picture and KB suggestions.

    `payload` is the validated input. With an idempotency key, a retry of the same payload gets
    the first response back (no second ticket, suggestion or interaction); another payload under
    the same key is a conflict. Keys belong to `idempotency_scope` (one client; default: the
    actor). A KB outage degrades the answer, never fails the ticket.
    """
    client = idempotency_scope or actor
    fingerprint = request_fingerprint(payload)
    if idempotency_key:
        earlier = IdempotencyRecord.objects.filter(client=client, key=idempotency_key).first()
        if earlier and earlier.created_at < _idempotency_cutoff():
            earlier.delete()  # past IDEMPOTENCY_TTL_HOURS: forgotten, even if not pruned yet
        elif earlier:
            return _replay(earlier, fingerprint)

    body_bytes = len(payload["body"].encode())
    if body_bytes > settings.TICKET_BODY_MAX_BYTES:
        raise PayloadTooLarge(
            f"The ticket body is {body_bytes} bytes; the limit is "
            f"{settings.TICKET_BODY_MAX_BYTES}.",
            fields={"body": [f"At most {settings.TICKET_BODY_MAX_BYTES} bytes."]},
        )

    degraded: list[str] = []
    body_clean = clean_message(payload["body"])
    query = TicketQuery.of(subject=payload["subject"], turns=[Turn(CUSTOMER, body_clean)])
    passages = _retrieve(query, payload.get("kb_filters"), degraded)
    try:
        with transaction.atomic():
            result = _create(payload, body_clean, passages, degraded, actor=actor)
            if idempotency_key:
                IdempotencyRecord.objects.create(
                    client=client,
                    key=idempotency_key,
                    request_hash=fingerprint,
                    status_code=result.status_code,
                    response=result.body,
                    ticket_id=result.body["ticket"]["id"],
                )
    except IntegrityError:
        # A concurrent request with the same key committed first: answer as a retry would.
        earlier = idempotency_key and (
            IdempotencyRecord.objects.filter(client=client, key=idempotency_key).first()
        )
        if earlier:
            return _replay(earlier, fingerprint)
        raise
    # Committed: deliver to a non-database store now; what fails waits in the outbox. (A replay
    # of this response shows what was degraded when the ticket was accepted.)
    if result.queued and outbox_deliver(interaction_ids=result.queued).failed:
        degraded_now = sorted({*result.body["degraded"], "interactions"})
        result = replace(result, body={**result.body, "degraded": degraded_now})
    return result


def _replay(record: IdempotencyRecord, fingerprint: str) -> TicketCreated:
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body."
        )
    return TicketCreated(record.status_code, record.response, replayed=True)


def _retrieve(query: TicketQuery, filters: dict | None, degraded: list[str]) -> list[Passage]:
    try:
        return get_backend().retrieve(query, k=settings.KB_SUGGESTIONS, filters=filters)
    except HelpdeskError as exc:
        logger.warning("KB retrieval degraded: %s", exc)
    except Exception:
        logger.exception("KB retrieval failed")
    degraded.append("knowledge_base")
    return []


def _resolve_customer(payload: dict[str, Any]) -> Customer:
    if payload.get("customer_id"):
        customer = Customer.objects.filter(pk=payload["customer_id"]).first()
        if customer is None:
            raise InvalidInput(
                "Unknown customer.", fields={"customer_id": ["No customer with this id."]}
            )
        return customer
    details = payload["customer"]
    return customer_upsert_by_email(
        email=details["email"],
        name=details.get("name", ""),
        **{k: v for k, v in details.items() if k in {"phone", "locale"} and v},
    )


def _resolve_order(payload: dict[str, Any], customer: Customer) -> Order | None:
    number = payload.get("order_number")
    order_id = payload.get("order_id")
    if not number and not order_id:
        return None
    lookup = {"number": number} if number else {"pk": order_id}
    order = Order.objects.filter(customer=customer, **lookup).first()
    if order is None:
        field = "order_number" if number else "order_id"
        raise InvalidInput("Unknown order.", fields={field: ["No such order for this customer."]})
    return order


def _create(
    payload: dict[str, Any],
    body_clean: str,
    passages: list[Passage],
    degraded: list[str],
    *,
    actor: str,
) -> TicketCreated:
    customer = _resolve_customer(payload)
    order = _resolve_order(payload, customer)
    ticket = Ticket.objects.create(
        customer=customer,
        order=order,
        subject=payload["subject"],
        body=payload["body"],
        body_clean=body_clean,
        channel=payload.get("channel") or Ticket.Channel.API,
        priority=payload.get("priority") or Ticket.Priority.NORMAL,
        metadata=payload.get("metadata") or {},
    )
    backend = get_backend().name
    suggestions = Suggestion.objects.bulk_create(
        Suggestion(
            ticket=ticket,
            rank=rank,
            score=passage.score,
            article_id=passage.article_id,
            passage_ref=passage.passage_ref,
            title=passage.title[:300],
            snippet=passage.snippet,
            source=passage.source[:1024],
            backend=backend,
        )
        for rank, passage in enumerate(passages, start=1)
    )

    recent: list[InteractionRecord] = []
    try:
        recent = get_interaction_store().for_customer(customer.id, limit=RECENT_INTERACTIONS).items
    except HelpdeskError as exc:  # the store said it is unavailable: expected, no traceback
        logger.warning("Reading interactions failed: %s", exc)
        degraded.append("interactions")
    except Exception:
        logger.exception("Reading interactions failed")
        degraded.append("interactions")
    record = InteractionRecord(
        customer_id=customer.id,
        ticket_id=ticket.id,
        kind=Kind.TICKET_CREATED,
        summary=f"{ticket.number}: {ticket.subject}",
        actor=actor,
        data={
            "channel": ticket.channel,
            "suggestions": [s.id for s in suggestions],
        },
    )
    queued = interaction_record(records=[record], deliver_on_commit=False)
    # Accepted is accepted: the record is shown even if it still waits in the outbox.
    recent = [record, *recent][:RECENT_INTERACTIONS]

    body = {
        "ticket": ticket_json(ticket),
        "customer": customer_360(customer=customer, interactions=recent),
        "suggestions": [suggestion_json(s) for s in suggestions],
        "degraded": sorted(set(degraded)),
    }
    return TicketCreated(201, body, queued=queued)


def _log_ticket_event(ticket: Ticket, *, kind: str, summary: str, actor: str, data: dict) -> None:
    """Log something that happened to a ticket, in the caller's transaction (outbox rules)."""
    interaction_record(
        records=[
            InteractionRecord(
                customer_id=ticket.customer_id,
                ticket_id=ticket.id,
                kind=kind,
                summary=summary,
                actor=actor,
                data=data,
            )
        ]
    )


@transaction.atomic
def ticket_update(
    *,
    ticket: Ticket,
    actor: str,
    status: str | None = None,
    priority: str | None = None,
    assignee: AbstractBaseUser | None = None,
    unassign: bool = False,
) -> Ticket:
    """Change status (only along allowed transitions), priority or assignee."""
    # The answer shows the assignee: read it with the row (`of`: Postgres locks no outer join).
    ticket = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("customer", "assignee")
        .get(pk=ticket.pk)
    )
    changed: list[str] = []
    now = timezone.now()
    previous_status = ticket.status
    if status is not None and status != ticket.status:
        if not ticket.can_transition_to(status):
            raise InvalidTransition(
                f"A {ticket.status} ticket cannot become {status}.",
                fields={"status": [f"Allowed: {sorted(Ticket.TRANSITIONS[ticket.status])}."]},
            )
        ticket.status = status
        changed.append("status")
        if previous_status == Ticket.Status.NEW and ticket.first_response_at is None:
            ticket.first_response_at = now
            changed.append("first_response_at")
        if status in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED):
            if ticket.resolved_at is None:
                ticket.resolved_at = now
                changed.append("resolved_at")
        elif ticket.resolved_at is not None:
            ticket.resolved_at = None  # reopened
            changed.append("resolved_at")
    if priority is not None and priority != ticket.priority:
        ticket.priority = priority
        changed.append("priority")
    if unassign and ticket.assignee_id is not None:
        ticket.assignee = None
        changed.append("assignee")
    elif assignee is not None and assignee.pk != ticket.assignee_id:
        ticket.assignee = assignee
        changed.append("assignee")
    if not changed:
        return ticket
    ticket.save(update_fields=[*changed, "updated_at"])
    if "status" in changed:
        _log_ticket_event(
            ticket,
            kind=Kind.STATUS_CHANGED,
            summary=f"{ticket.number}: {previous_status} → {ticket.status}",
            actor=actor,
            data={"from": previous_status, "to": ticket.status},
        )
    return ticket


@transaction.atomic
def feedback_create(
    *,
    ticket: Ticket,
    suggestion_id: int,
    helpful: bool,
    resolved: bool = False,
    comment: str = "",
    actor: str,
    user: AbstractBaseUser | None = None,
) -> Feedback:
    """Record whether a suggestion helped; `resolved` also resolves the ticket if it can."""
    suggestion = Suggestion.objects.filter(pk=suggestion_id, ticket=ticket).first()
    if suggestion is None:
        raise InvalidInput(
            "Unknown suggestion for this ticket.",
            fields={"suggestion_id": ["This ticket has no suggestion with this id."]},
        )
    feedback = Feedback.objects.create(
        ticket=ticket,
        suggestion=suggestion,
        helpful=helpful,
        resolved=resolved,
        comment=comment,
        submitted_by=actor[:200],
        user=user,
    )
    _log_ticket_event(
        ticket,
        kind=Kind.FEEDBACK,
        summary=f"{'Helpful' if helpful else 'Not helpful'}: {suggestion.title}"[:500],
        actor=actor,
        data={"suggestion_id": suggestion.id, "helpful": helpful, "resolved": resolved},
    )
    if (
        resolved
        and ticket.status != Ticket.Status.RESOLVED
        and ticket.can_transition_to(Ticket.Status.RESOLVED)
    ):
        ticket_update(ticket=ticket, actor=actor, status=Ticket.Status.RESOLVED)
    return feedback


def _idempotency_cutoff():
    return timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)


def idempotency_records_prune() -> int:
    """Forget idempotency keys older than IDEMPOTENCY_TTL_HOURS; returns how many (what
    `manage.py idempotency_prune` and the scheduled Lambda task run)."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=_idempotency_cutoff()).delete()
    return deleted
