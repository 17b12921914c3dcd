"""Writes for tickets: ingest (the heart of the product), updates and suggestion feedback."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from customers.interactions import InteractionRecord, Kind, get_interaction_store
from customers.mentions import orders_mentioned, texts_of
from customers.models import Customer, Order
from customers.outbox import interaction_record, outbox_deliver
from customers.selectors import (
    OPEN_TICKETS,
    RECENT_INTERACTIONS,
    customer_360,
    customer_360_rows,
    customer_by_email_with_interactions,
    customer_order_numbers,
    picture_order_numbers,
    ticket_order_json,
)
from customers.services import customer_upsert_by_email, customer_upsert_found, normalize_email
from helpdesk.api.compiled import CompiledInsert, CompiledInsertChain, InsertStep
from helpdesk.api.exceptions import (
    Conflict,
    HelpdeskError,
    IdempotencyKeyReused,
    InvalidInput,
    InvalidTransition,
    NotFound,
    PayloadTooLarge,
)
from helpdesk.models import ApiKey
from helpdesk.reading import clean_message
from knowledge.backends.base import Passage, get_backend
from knowledge.query import CUSTOMER, TicketQuery, Turn
from knowledge.selectors import PendingRetrieval, kb_retrieval_start
from tickets import changes, mail
from tickets.models import (
    Feedback,
    IdempotencyRecord,
    IncidentReply,
    Message,
    Suggestion,
    Ticket,
)
from tickets.selectors import open_tickets_with
from tickets.serializers import suggestion_json, ticket_json
from triage.arrival import (
    follow_up_apply,
    follow_up_embedding_start,
    follow_up_gate,
    follow_up_language,
    follow_up_read,
    triage_start,
)
from triage.models import TicketEmbedding
from triage.similar_base import embedding_start

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
    created_by_key: ApiKey | None = None,
    with_customer: bool = True,
    follow_up_of: Ticket | None = None,
    message_fields: dict[str, str] | None = None,
    on_message: Callable[[Message], None] | None = None,
) -> TicketCreated:
    """Ingest a ticket and answer with the customer's picture and KB suggestions.

    `payload` is the validated input. With an idempotency key, a retry of the same payload gets
    the first response back (no second ticket, suggestion or interaction); another payload under
    the same key is a conflict. Keys belong to `idempotency_scope` (one client; default: the
    actor). A KB outage degrades the answer, never fails the ticket.

    `created_by_key` is kept on the ticket (an intake key may send feedback on its own tickets).
    Without `with_customer` (an intake key) the answer is the ticket and its suggestions only:
    no customer profile, orders or history, and the interactions are not read; a replay of an
    answer stored with them leaves them out too.

    Inbound e-mail (tickets/inbound.py) adds the first message's e-mail headers
    (`message_fields`), the closed ticket this one continues (`follow_up_of`), and `on_message`,
    called with the first message inside the ticket's transaction, once the ticket, the message,
    its suggestions and the embedding are written (to store attachments).
    """
    client = idempotency_scope or actor
    fingerprint = request_fingerprint(payload)
    if idempotency_key:
        earlier = IdempotencyRecord.objects.filter(client=client, key=idempotency_key).first()
        if earlier and earlier.created_at < _idempotency_cutoff():
            earlier.delete()  # past IDEMPOTENCY_TTL_HOURS: forgotten, even if not pruned yet
        elif earlier:
            return _replay(earlier, fingerprint, with_customer=with_customer)

    _check_body_size(payload["body"], what="ticket body")

    degraded: list[str] = []
    body_clean = clean_message(payload["body"])
    query = TicketQuery.of(subject=payload["subject"], turns=[Turn(CUSTOMER, body_clean)])
    # The search runs in a worker while this thread resolves the customer and reads their
    # history; a remote one (Bedrock) is awaited first, never inside the transaction.
    passages = _retrieval_start(query, payload.get("kb_filters"), degraded)
    # The ticket's embedding for similar tickets: the search's own vector (local), or Bedrock's
    # Titan asked beside the search and awaited with it, before the transaction.
    embedding = embedding_start(payload["subject"], body_clean)
    if passages.remote:
        passages = _Passages.ready(passages.get())
    embedding.resolve()
    try:
        with transaction.atomic():
            result = _create(
                payload,
                body_clean,
                passages,
                degraded,
                actor=actor,
                created_by_key=created_by_key,
                with_customer=with_customer,
                follow_up_of=follow_up_of,
                message_fields=message_fields or {},
                on_message=on_message,
                embedding=embedding,
            )
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
            return _replay(earlier, fingerprint, with_customer=with_customer)
        raise
    # Committed: deliver to a non-database store now; what fails waits in the outbox. (A replay
    # of this response shows what was degraded when the ticket was accepted.) Not when reading
    # the store failed a moment ago: a store that is down or hanging would only cost the client
    # another timeout, and the drain delivers it.
    store_failed = "interactions" in result.body["degraded"]
    if result.queued and not store_failed and outbox_deliver(interaction_ids=result.queued).failed:
        degraded_now = sorted({*result.body["degraded"], "interactions"})
        result = replace(result, body={**result.body, "degraded": degraded_now})
    return result


def _check_body_size(body: str, *, what: str) -> None:
    body_bytes = len(body.encode())
    if body_bytes > settings.TICKET_BODY_MAX_BYTES:
        raise PayloadTooLarge(
            f"The {what} is {body_bytes} bytes; the limit is {settings.TICKET_BODY_MAX_BYTES}.",
            fields={"body": [f"At most {settings.TICKET_BODY_MAX_BYTES} bytes."]},
        )


# What an `intake` key is not shown of a new ticket's answer (with_customer=False).
CUSTOMER_DATA = ("customer", "order")


def _replay(record: IdempotencyRecord, fingerprint: str, *, with_customer: bool) -> TicketCreated:
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body."
        )
    body = record.response
    if not with_customer:  # the key's scope changed since: still no customer data
        body = {name: value for name, value in body.items() if name not in CUSTOMER_DATA}
    return TicketCreated(record.status_code, body, replayed=True)


def _retrieve(query: TicketQuery, filters: dict | None, degraded: list[str]) -> list[Passage]:
    return _retrieval_start(query, filters, degraded).get()


@dataclass
class _Passages:
    """Retrieval's answer for a ticket, started early (`_retrieval_start`) and read with
    `get()`: the passages, or [] with `knowledge_base` added to `degraded` when it failed."""

    pending: PendingRetrieval | None
    degraded: list[str]
    passages: list[Passage] | None = None

    @classmethod
    def ready(cls, passages: list[Passage]) -> _Passages:
        return cls(None, [], passages)

    @property
    def remote(self) -> bool:
        return self.pending is not None and self.pending.remote

    def get(self) -> list[Passage]:
        if self.passages is None:
            passages = _degrading(self.pending.result, self.degraded)
            self.passages = [] if passages is None else passages
        return self.passages


def _retrieval_start(query: TicketQuery, filters: dict | None, degraded: list[str]) -> _Passages:
    pending = _degrading(
        lambda: kb_retrieval_start(query, k=settings.KB_SUGGESTIONS, filters=filters), degraded
    )
    return _Passages(pending, degraded) if pending else _Passages.ready([])


def _degrading(call, degraded: list[str]):
    """`call()`, or None with `knowledge_base` added to `degraded` if it fails (a KB outage
    degrades a ticket's answer, never fails the ticket)."""
    try:
        return call()
    except HelpdeskError as exc:
        logger.warning("KB retrieval degraded: %s", exc)
    except Exception:
        logger.exception("KB retrieval failed")
    degraded.append("knowledge_base")
    return None


def _resolve_customer(payload: dict[str, Any]) -> Customer:
    if payload.get("customer_id"):
        customer = Customer.objects.filter(pk=payload["customer_id"]).first()
        if customer is None:
            raise InvalidInput(
                "Unknown customer.", fields={"customer_id": ["No customer with this id."]}
            )
        return customer
    details = payload["customer"]
    return customer_upsert_by_email(email=details["email"], **_customer_fields(details))


def _customer_fields(details: dict[str, Any]) -> dict[str, Any]:
    """What a ticket's `customer` object gives a new customer besides the e-mail (and fills
    in on a known one: see customer_upsert_by_email)."""
    return {
        "name": details.get("name", ""),
        **{k: v for k, v in details.items() if k in {"phone", "locale"} and v},
    }


def order_of_customer(payload: dict[str, Any], customer: Customer | int) -> Order | None:
    """The customer's order `payload` names by `order_number` or `order_id` (None: neither)."""
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
    pending: _Passages,
    degraded: list[str],
    *,
    actor: str,
    created_by_key: ApiKey | None,
    with_customer: bool,
    follow_up_of: Ticket | None = None,
    message_fields: dict[str, str] | None = None,
    on_message: Callable[[Message], None] | None = None,
    embedding,
) -> TicketCreated:
    customer, recent = _customer_and_history(payload, degraded, with_customer=with_customer)
    order = order_of_customer(payload, customer)
    # While the search runs: the text's language and sentiment, and the customer's orders and
    # tickets (the new ticket is added to them once inserted: open_tickets_with).
    decide = triage_start(payload, body_clean)
    picture = customer_360_rows(customer.id) if with_customer else None
    # Without an order given: the customer's orders the words name, one of them the ticket's.
    mentioned = []
    if order is None:
        known, more = picture_order_numbers(customer.id, picture[0] if picture else None)
        texts = texts_of(payload["body"], body_clean, payload["subject"])
        mentioned = orders_mentioned(texts, known, more)
    passages = pending.get()  # the search has run meanwhile
    triage = decide(passages, embedding.vector)  # no query: written with the ticket
    passages = triage.passages  # on a ticket in another language, the close matches only
    ticket = Ticket(
        customer=customer,
        order=order,
        order_source=Ticket.OrderSource.GIVEN if order else "",
        subject=payload["subject"],
        body=payload["body"],
        body_clean=body_clean,
        channel=payload.get("channel") or Ticket.Channel.API,
        metadata=payload.get("metadata") or {},
        created_by_key=created_by_key,
        follow_up_of=follow_up_of,
        **triage.ticket_fields,  # the priority, and what triage read and applied
    )
    if len(mentioned) == 1:  # several: the agent decides which
        ticket.order_id, ticket.order_source = mentioned[0][0], Ticket.OrderSource.TEXT
    # The ticket's body is its first message (its created_at is the ticket's: see the chain).
    first = Message(
        ticket=ticket,
        role=Message.Role.CUSTOMER,
        kind=Message.Kind.REPLY,
        body=ticket.body,
        body_clean=body_clean,
        channel=ticket.channel,
        author=f"customer:{customer.email}"[:200],
        **{"sender_address": customer.email, **(message_fields or {})},
    )
    suggestions = _suggestions(ticket, passages, round=1, message=first)
    # For similar tickets (triage.similar_base.embedding_start; None when it cannot be had).
    stored = embedding.embedding(ticket)
    _insert_new_ticket.insert(
        ticket=[ticket],
        message=[first],
        suggestions=suggestions,
        embedding=[stored] if stored is not None else [],
    )
    if on_message is not None:
        on_message(first)

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

    body: dict[str, Any] = {"ticket": ticket_json(ticket)}
    if with_customer:
        orders, tickets = picture
        tickets = open_tickets_with(tickets, ticket, OPEN_TICKETS)
        body["customer"] = customer_360(
            customer=customer, interactions=recent, rows=(orders, tickets)
        )
        # As GET /tickets/{id}/context: the order, also when older than the recent ones.
        body["order"] = ticket_order_json(ticket.order_id, given=order, rows=orders)
    body["suggestions"] = [suggestion_json(s) for s in suggestions]
    body["triage"] = {**triage.answer, "orders_mentioned": [number for _, number in mentioned]}
    body["degraded"] = sorted(set(degraded))
    return TicketCreated(201, body, queued=queued)


def _customer_and_history(
    payload: dict[str, Any], degraded: list[str], *, with_customer: bool
) -> tuple[Customer, list[InteractionRecord]]:
    """The ticket's customer (resolved; created if new) and, when the answer shows them, their
    recent interactions.

    With the `database` store on Postgres, a customer given by e-mail and their history are
    one statement (`customer_by_email_with_interactions`). Nothing degrades there: on Postgres
    a failed read aborts the ticket's transaction either way. Elsewhere (another store, SQLite,
    a customer given by id) the store is read on its own and a failed read degrades."""
    details = payload.get("customer")
    if (
        with_customer
        and not payload.get("customer_id")
        and get_interaction_store().name == "database"
        and connection.vendor == "postgresql"
    ):
        email = normalize_email(details["email"])
        found, recent = customer_by_email_with_interactions(email, limit=RECENT_INTERACTIONS)
        customer = customer_upsert_found(email=email, found=found, **_customer_fields(details))
        return customer, recent
    customer = _resolve_customer(payload)
    return customer, _recent_interactions(customer, degraded) if with_customer else []


def _recent_interactions(customer: Customer, degraded: list[str]) -> list[InteractionRecord]:
    try:
        return get_interaction_store().for_customer(customer.id, limit=RECENT_INTERACTIONS).items
    except HelpdeskError as exc:  # the store said it is unavailable: expected, no traceback
        logger.warning("Reading interactions failed: %s", exc)
    except Exception:
        logger.exception("Reading interactions failed")
    degraded.append("interactions")
    return []


def _suggestions(
    ticket: Ticket, passages: list[Passage], *, round: int, message: Message | None
) -> list[Suggestion]:
    backend = get_backend().name
    return [
        Suggestion(
            ticket=ticket,
            round=round,
            message=message,
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
    ]


def _store_suggestions(
    ticket: Ticket, passages: list[Passage], *, round: int, message: Message | None
) -> list[Suggestion]:
    return _insert_suggestions.insert(_suggestions(ticket, passages, round=round, message=message))


# A follow-up's suggestions: the INSERT's SQL is built once (bulk_create compiled it on every
# call; measured 1.0 -> 0.6-0.8 ms CPU per POST /tickets).
_insert_suggestions = CompiledInsert(Suggestion)
# A new ticket's rows: the ticket, its first message, the suggestions and the stored query
# vector. On Postgres one statement (data-modifying CTEs) instead of four INSERTs, each of which
# waited for the previous one's key (thread CPU in a request 0.85-1.59 -> 0.51-0.90 ms, median;
# bench/README.md); elsewhere one INSERT each. Compiled
# inserts, not Model.save: none of these models has save() logic, signals or database
# defaults; Ticket.number is derived from the id and created_at is set here (auto_now_add).
_insert_new_ticket = CompiledInsertChain(
    InsertStep("ticket", Ticket),
    InsertStep("message", Message, links={"ticket": "ticket", "created_at": "ticket.created_at"}),
    InsertStep("suggestions", Suggestion, links={"ticket": "ticket", "message": "message"}),
    InsertStep("embedding", TicketEmbedding, links={"ticket": "ticket"}),
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
    order: Order | None = None,
    order_source: str = Ticket.OrderSource.AGENT,
    unlink_order: bool = False,
) -> Ticket:
    """Change status (only along allowed transitions), priority, assignee or order (an
    agent's: `order_source` becomes `agent`, also when it confirms the order read from the
    customer's words; a merge passes on how the duplicate's came). Each change is logged on
    the ticket's history (tickets.changes)."""
    # The answer shows the assignee: read it with the row (`of`: Postgres locks no outer join).
    ticket = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("customer", *changes.RELATED)
        .get(pk=ticket.pk)
    )
    changed: list[str] = []
    now = timezone.now()
    previous_status = ticket.status
    before = changes.shown(ticket)
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
        if ticket.defaulted_priority:
            # Set (by an agent, a merge): no category's default replaces it now, lower
            # (triage/defaults.py), even when it is the value the defaults gave before.
            ticket.defaulted_priority = ""
            changed.append("defaulted_priority")
    if unassign and ticket.assignee_id is not None:
        ticket.assignee = None
        changed.append("assignee")
    elif assignee is not None and assignee.pk != ticket.assignee_id:
        ticket.assignee = assignee
        changed.append("assignee")
    if unlink_order and ticket.order_id is not None:
        ticket.order, ticket.order_source = None, ""
        changed += ["order", "order_source"]
    elif order is not None and (order.pk != ticket.order_id or ticket.order_source != order_source):
        ticket.order, ticket.order_source = order, order_source
        changed += ["order", "order_source"]
    if not changed:
        return ticket
    ticket.save(update_fields=[*changed, "updated_at"])
    changes.log_changes(ticket, before, actor=actor)
    if "status" in changed:
        changes.log_ticket_event(
            ticket,
            kind=Kind.STATUS_CHANGED,
            summary=f"{ticket.number}: {previous_status} → {ticket.status}",
            actor=actor,
            data={"from": previous_status, "to": ticket.status},
        )
        if ticket.status == Ticket.Status.RESOLVED:
            # A problem resolved resolves its open incidents (an incident has no incidents).
            for incident in Ticket.objects.filter(
                problem_id=ticket.pk, status__in=Ticket.ACTIVE_STATUSES
            ).order_by("pk"):
                ticket_update(ticket=incident, actor=actor, status=Ticket.Status.RESOLVED)
    return ticket


@dataclass(frozen=True)
class FeedbackRecorded:
    feedback: Feedback
    created: bool  # False: the caller's earlier answer on this suggestion was updated


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
) -> FeedbackRecorded:
    """Record whether a suggestion helped; `resolved` also resolves the ticket if it can.

    One answer per caller (`actor`) and suggestion: a second one (a second click, a retry, a
    change of mind) updates the first instead of counting twice. Each answer is logged.
    """
    # Locked: two clicks at once from one caller still make one row.
    suggestion = (
        Suggestion.objects.select_for_update().filter(pk=suggestion_id, ticket=ticket).first()
    )
    if suggestion is None:
        raise InvalidInput(
            "Unknown suggestion for this ticket.",
            fields={"suggestion_id": ["This ticket has no suggestion with this id."]},
        )
    submitted_by = actor[:200]
    feedback = (
        Feedback.objects.filter(suggestion=suggestion, submitted_by=submitted_by)
        .order_by("id")
        .first()
    )
    created = feedback is None
    if created:
        feedback = Feedback.objects.create(
            ticket=ticket,
            suggestion=suggestion,
            helpful=helpful,
            resolved=resolved,
            comment=comment,
            submitted_by=submitted_by,
            user=user,
        )
    else:
        feedback.helpful, feedback.resolved, feedback.comment = helpful, resolved, comment
        feedback.user = user or feedback.user
        feedback.save(update_fields=["helpful", "resolved", "comment", "user"])
    changes.log_ticket_event(
        ticket,
        kind=Kind.FEEDBACK,
        summary=f"{'Helpful' if helpful else 'Not helpful'}: {suggestion.title}"[:500],
        actor=actor,
        data={
            "suggestion_id": suggestion.id,
            "helpful": helpful,
            "resolved": resolved,
            **({} if created else {"updated": True}),
        },
    )
    if (
        resolved
        and ticket.status != Ticket.Status.RESOLVED
        and ticket.can_transition_to(Ticket.Status.RESOLVED)
    ):
        ticket_update(ticket=ticket, actor=actor, status=Ticket.Status.RESOLVED)
    return FeedbackRecorded(feedback, created)


# --- the conversation -------------------------------------------------------------------------


@dataclass(frozen=True)
class MessagePosted:
    message: Message
    ticket: Ticket
    # A customer follow-up's new round of suggestions (empty for agent messages, or when the
    # KB was down: then the earlier round stays current).
    suggestions: list[Suggestion]
    degraded: list[str]
    # Why the follow-up's round is what it is (a message certainly in another language than
    # the KB's: triage.arrival.follow_up_gate); "" otherwise.
    suggestions_note: str = ""
    # A customer follow-up's triage (triage.arrival.follow_up_read); None for agent messages,
    # or when it failed (logged).
    triage: dict[str, Any] | None = None


def message_create(
    *,
    ticket: Ticket,
    kind: str,
    body: str,
    actor: str,
    role: str = Message.Role.AGENT,
    status: str | None = None,
    channel: str | None = None,
    user: AbstractBaseUser | None = None,
    api_key: Any = None,
    message_fields: dict[str, str] | None = None,
    on_message: Callable[[Message], None] | None = None,
) -> MessagePosted:
    """Add a message to a ticket's conversation.

    - An agent `reply` is e-mailed to the customer (through the outbox, after the commit), sets
      `first_response_at`, and moves a `new` ticket to `open`, or to `status` if one is given
      (along the same transitions as PATCH); logged as `email_out`.
    - An agent `note` is internal: logged (`note`), never sent; it may also set `status`.
    - A customer follow-up (`role="customer"`, a reply) reopens a `pending` or `resolved`
      ticket, is logged as `email_in`, and re-runs retrieval over the whole thread (the latest
      customer message the focus): a new round of suggestions supersedes the earlier ones,
      which stay, so feedback on them still points at real rows. A follow-up certainly in
      another language than the KB's is served only close matches, as a new ticket is, and
      `suggestions_note` says why (kept in `Ticket.triage` with the round it explains).
    A closed ticket takes notes only. Nothing is half-written: any failure rolls it all back.

    Inbound e-mail passes the customer message's e-mail headers and sender (`message_fields`)
    and `on_message`, called with the message inside the transaction (to store attachments).
    """
    _check_body_size(body, what="message body")
    if role == Message.Role.CUSTOMER:
        problems = {}
        if kind != Message.Kind.REPLY:
            problems["kind"] = ["A customer message is a reply; notes are the agents'."]
        if status is not None:
            problems["status"] = ["A customer message cannot set the status."]
        if problems:
            raise InvalidInput("Invalid customer message.", fields=problems)
    if ticket.status == Ticket.Status.CLOSED and kind == Message.Kind.REPLY:
        _closed(ticket)

    body_clean = clean_message(body)
    degraded: list[str] = []
    passages: list[Passage] | None = None
    note = ""
    language = None
    read = None  # triage of a customer's follow-up: sentiment, and the category while unset
    if role == Message.Role.CUSTOMER:
        query = _thread_query(ticket, body_clean)
        language = follow_up_language(query.parts().focus)
        # Titan's vector of the story, for triage with a model of Titan's vectors (else None).
        story = follow_up_embedding_start(ticket, query)
        passages = _retrieve(query, None, degraded)
        if degraded:
            passages = None  # the KB is down: the current round stays current
        else:  # in another language than the KB's: the close matches only, and why
            passages, note = follow_up_gate(passages, language)
        if story is not None:
            story.resolve()
        read = follow_up_read(ticket, query, language, story.vector if story else None)
    # The customer's orders the follow-up names ("It's order BH-4821702", asked for or not),
    # read before the ticket's row is locked; applied below while the ticket has no order.
    mentioned = []
    if role == Message.Role.CUSTOMER and ticket.order_id is None:
        mentioned = orders_mentioned(
            texts_of(body, body_clean), [], lambda: customer_order_numbers(ticket.customer_id)
        )

    with transaction.atomic():
        ticket = (
            Ticket.objects.select_for_update(of=("self",))
            # A customer's message may change what the history logs (tickets.changes).
            .select_related("customer", *(changes.RELATED if role == Message.Role.CUSTOMER else ()))
            .get(pk=ticket.pk)
        )
        if ticket.status == Ticket.Status.CLOSED and kind == Message.Kind.REPLY:
            _closed(ticket)  # closed meanwhile
        now = timezone.now()
        message = Message(
            ticket=ticket,
            role=role,
            kind=kind,
            body=body,
            body_clean=body_clean,
            channel=channel or _default_channel(ticket, role=role, kind=kind),
            author=(
                f"customer:{ticket.customer.email}" if role == Message.Role.CUSTOMER else actor
            )[:200],
            author_user=user,
            author_api_key=api_key,
            sender_address=ticket.customer.email if role == Message.Role.CUSTOMER else "",
            created_at=now,
        )
        for name, value in (message_fields or {}).items():
            setattr(message, name, value)
        if role == Message.Role.CUSTOMER and message.sender_address:
            message.author = f"customer:{message.sender_address}"[:200]
        emailed = role == Message.Role.AGENT and kind == Message.Kind.REPLY
        if emailed:
            message.email_message_id = mail.new_message_id()
            message.email_in_reply_to, message.email_references = mail.thread_headers(ticket)
        message.save()
        if on_message is not None:
            on_message(message)

        suggestions: list[Suggestion] = []
        triage = None
        if role == Message.Role.CUSTOMER:
            changed = []
            before = changes.shown(ticket)
            if not ticket.language and language is not None and language.code:
                # The first message was too short (or unclear) to tell; this one tells it. A
                # language already told stays (the gate above reads each message's own).
                ticket.language = language.code
                changed.append("language")
            if read is not None:
                applied, triage = follow_up_apply(ticket, read, message_id=message.id)
                changed += applied
            if ticket.order_id is not None:  # linked meanwhile: it stays
                mentioned = []
            elif len(mentioned) == 1:
                ticket.order_id, ticket.order_source = mentioned[0][0], Ticket.OrderSource.TEXT
                changed += ["order", "order_source"]
            if triage is not None:
                triage = {**triage, "orders_mentioned": [number for _, number in mentioned]}
            if changed:
                ticket.save(update_fields=[*changed, "updated_at"])
                # What triage and the words changed, on the history (the message is logged
                # below); the priority by the sentiment rule or else the category's default.
                rule = "rule" if triage is not None and triage.get("priority_rule") else "category"
                by = {"category": "triage", "priority": rule, "assignee": "category"}
                changes.log_changes(ticket, before, actor=actor, by={**by, "order": "words"})
            if ticket.status in (Ticket.Status.PENDING, Ticket.Status.RESOLVED):
                ticket = ticket_update(ticket=ticket, actor=actor, status=Ticket.Status.OPEN)
            if passages:  # nothing found (an empty KB): the current round stays current
                suggestions = _next_round(ticket, passages, message=message, now=now)
            elif note and _current_round_exists(ticket):
                note = f"{note} The earlier suggestions stay current."
            if passages is not None and (passages or note):
                _keep_suggestions_note(ticket, note)
        else:
            target = status
            if target is None and emailed and ticket.status == Ticket.Status.NEW:
                target = Ticket.Status.OPEN
            if target is not None:
                ticket = ticket_update(ticket=ticket, actor=actor, status=target)
            if emailed and ticket.first_response_at is None:
                ticket.first_response_at = now
                ticket.save(update_fields=["first_response_at", "updated_at"])
        if emailed:
            mail.queue_reply(message)

        kind_logged = {
            (Message.Role.AGENT, Message.Kind.REPLY): Kind.EMAIL_OUT,
            (Message.Role.AGENT, Message.Kind.NOTE): Kind.NOTE,
        }.get((role, kind), Kind.EMAIL_IN)
        changes.log_ticket_event(
            ticket,
            kind=kind_logged,
            summary=f"{ticket.number}: {' '.join(body_clean.split())}"[:500],
            actor=actor,
            data={
                "message_id": message.id,
                "kind": kind,
                "role": role,
                "channel": message.channel,
                **({"email_message_id": message.email_message_id} if emailed else {}),
                **({"suggestions": [s.id for s in suggestions]} if suggestions else {}),
                **_triage_changes(triage),
            },
        )
    if emailed:
        # Sent right after the commit (unless the mail service is down): answer what happened.
        message.refresh_from_db(fields=["sent_at"])
    if triage is not None:
        triage["suggestions_note"] = note
    return MessagePosted(message, ticket, suggestions, sorted(set(degraded)), note, triage)


# A merged duplicate's customer messages copied into the note on the ticket it joins: enough
# for any real conversation; a longer one is cut and the note says where the rest is.
MERGE_NOTE_MAX_CHARS = 20_000


@dataclass(frozen=True)
class TicketMerged:
    ticket: Ticket  # the duplicate, now closed
    into: Ticket  # the ticket it was merged into
    merged: bool  # False: it already was (a retry answers the first merge)


@transaction.atomic
def ticket_merge(
    *,
    ticket: Ticket,
    into_id: int,
    actor: str,
    user: AbstractBaseUser | None = None,
    channel: str = Ticket.Channel.API,
) -> TicketMerged:
    """Merge a duplicate (`ticket`) into another ticket of the same customer (`into_id`), as
    Zendesk merges: nothing is moved or deleted.

    - The duplicate is closed with `merged_into` set and an internal note saying where it went;
      its conversation, suggestions and feedback stay on it.
    - The other ticket gets an internal note with the duplicate's subject and every customer
      message of it (cleaned, oldest first), so one agent reads the whole story in one place;
      it takes the higher of the two priorities and, if it has none, the duplicate's
      assignee and order; a resolved one is reopened when the duplicate was still active (the
      customer is waiting on it).
    - A reply to the duplicate's e-mails threads onto the other ticket (tickets/inbound.py).
    - Both tickets' histories record it (`ticket_merged`), and the close as any status change.

    Refused: a ticket into itself or into a ticket that does not exist (400), into another
    customer's ticket (409: a reply would reach one customer only; another customer with the
    same problem is a possible incident, not a duplicate), a closed ticket either way, a
    problem ticket with incidents (409: its incidents would hang on a closed ticket).
    Merging again into the same ticket answers the first merge (`merged` False). Both rows are
    locked, the lower id first, so two merges crossing each other never deadlock."""
    if into_id == ticket.pk:
        raise InvalidInput(
            "A ticket cannot be merged into itself.",
            fields={"into": ["The ticket to merge into must be another ticket."]},
        )
    rows = {
        row.pk: row
        for row in Ticket.objects.select_for_update(of=("self",))
        .select_related("customer")
        .filter(pk__in=[ticket.pk, into_id])
        .order_by("pk")
    }
    source, target = rows.get(ticket.pk), rows.get(into_id)
    if source is None:
        raise NotFound(f"No ticket {Ticket.number_for(ticket.pk)} to merge.")
    if target is None:
        raise InvalidInput(
            "No ticket to merge into.", fields={"into": [f"No ticket with id {into_id}."]}
        )
    if source.merged_into_id == target.pk:
        return TicketMerged(source, target, merged=False)
    if source.merged_into_id is not None:
        raise Conflict(
            f"{source.number} was already merged into {Ticket.number_for(source.merged_into_id)}.",
            fields={"into": ["A ticket is merged once."]},
        )
    if source.customer_id != target.customer_id:
        raise Conflict(
            f"{target.number} is another customer's ticket: only the same customer's tickets "
            "are merged (replies would reach one customer only).",
            fields={"into": ["A ticket of the same customer."]},
        )
    _refuse_closed(
        (source, "This ticket"),
        (target, "The ticket to merge into"),
        field="into",
        neither="merged nor merged into",
    )
    _refuse_problem(
        source,
        f"merge {target.number} into it instead, or unlink them first.",
        field="into",
        error="A problem ticket is not merged away.",
    )

    now = timezone.now()
    customer_messages = list(
        Message.objects.filter(ticket=source, role=Message.Role.CUSTOMER)
        .order_by("created_at", "id")
        .values_list("created_at", "body_clean", "body")
    )
    story = [f"{source.number} “{source.subject}” was merged into this ticket by {actor}."]
    if customer_messages:
        story.append("Its customer's messages, oldest first:")
    for created_at, clean, body in customer_messages:
        story.append(f"{created_at:%Y-%m-%d %H:%M %Z}\n{(clean or body).strip()}")
    text = "\n\n".join(story)
    if len(text) > MERGE_NOTE_MAX_CHARS:
        text = f"{text[:MERGE_NOTE_MAX_CHARS].rstrip()}\n… (the rest is on {source.number})"
    common = {
        "role": Message.Role.SYSTEM,
        "kind": Message.Kind.NOTE,
        "channel": channel,
        "author": actor[:200],
        "author_user": user,
        "created_at": now,
    }
    Message.objects.bulk_create(
        [
            Message(ticket=target, body=text, body_clean=text, **common),
            Message(
                ticket=source,
                body=f"Merged into {target.number} “{target.subject}” by {actor}. Replies to "
                "this ticket's e-mails go there.",
                **common,
            ),
        ]
    )

    was_active = source.status in Ticket.ACTIVE_STATUSES
    source = ticket_update(ticket=source, actor=actor, status=Ticket.Status.CLOSED)
    source.merged_into = target
    source.save(update_fields=["merged_into", "updated_at"])
    ranks = list(Ticket.Priority.values)
    higher = max(source.priority, target.priority, key=ranks.index)
    target = ticket_update(
        ticket=target,
        actor=actor,
        status=(
            Ticket.Status.OPEN if was_active and target.status == Ticket.Status.RESOLVED else None
        ),
        priority=higher if higher != target.priority else None,
        assignee=source.assignee if target.assignee_id is None else None,
        # The duplicate's order where the ticket has none, as it came to the duplicate.
        order=source.order if target.order_id is None else None,
        order_source=source.order_source,
    )
    # On both tickets' histories: where the duplicate went, and what joined the other.
    interaction_record(
        records=[
            InteractionRecord(
                customer_id=row.customer_id,
                ticket_id=row.pk,
                kind=Kind.TICKET_MERGED,
                summary=f"{source.number} merged into {target.number}",
                actor=actor,
                data={
                    "merged": source.pk,
                    "into": target.pk,
                    "customer_messages": len(customer_messages),
                },
                occurred_at=now,
            )
            for row in (source, target)
        ]
    )
    return TicketMerged(source, target, merged=True)


@transaction.atomic
def ticket_link_problem(*, ticket: Ticket, problem_id: int | None, actor: str) -> Ticket:
    """Make `ticket` an incident of the problem ticket `problem_id` (another customer's, most
    often: `GET /tickets/{id}/similar` calls it a possible incident), or unlink it (None).

    Refused with nothing written: itself or a ticket that does not exist (400); a closed ticket
    either way, a problem that is itself an incident (link to its problem instead), a ticket
    that is a problem with incidents of its own (409): one level, as Zendesk keeps it. Linking
    again to the same problem changes nothing. The problem's row is locked before the
    incident's, the order resolving a problem locks them in. Logged on the incident's history
    (`incident_linked`, `incident_unlinked`)."""
    if problem_id == ticket.pk:
        raise InvalidInput(
            "A ticket cannot be an incident of itself.",
            fields={"problem_id": ["The problem must be another ticket."]},
        )
    locked = Ticket.objects.select_for_update(of=("self",))
    problem = None if problem_id is None else locked.filter(pk=problem_id).first()
    incident = locked.select_related("customer", "assignee", "category").get(pk=ticket.pk)
    if incident.problem_id == problem_id:
        return incident
    previous = incident.problem_id
    if problem_id is not None:
        if problem is None:
            raise InvalidInput(
                "No such problem ticket.",
                fields={"problem_id": [f"No ticket with id {problem_id}."]},
            )
        if problem.problem_id is not None:
            raise Conflict(
                f"{problem.number} is itself an incident of "
                f"{Ticket.number_for(problem.problem_id)}: link to that one.",
                fields={"problem_id": ["A problem is not an incident."]},
            )
        _refuse_closed(
            (incident, "This ticket"),
            (problem, "The problem"),
            field="problem_id",
            neither="linked nor linked to",
        )
        _refuse_problem(
            incident,
            "a problem is not an incident.",
            field="problem_id",
            error="A problem is not an incident.",
        )
    incident.problem_id = problem_id
    incident.save(update_fields=["problem", "updated_at"])
    linked = problem_id is not None
    problem_number = Ticket.number_for(problem_id if linked else previous)
    changes.log_ticket_event(
        incident,
        kind=Kind.INCIDENT_LINKED if linked else Kind.INCIDENT_UNLINKED,
        summary=f"{incident.number} {'linked to' if linked else 'unlinked from'} problem "
        f"{problem_number}",
        actor=actor,
        data={"problem": problem_id if linked else previous},
    )
    return incident


def _refuse_closed(*rows: tuple[Ticket, str], field: str, neither: str) -> None:
    """409 naming the first closed ticket of `rows` ((ticket, what the caller calls it), …):
    merging and linking leave closed tickets alone."""
    for row, name in rows:
        if row.status == Ticket.Status.CLOSED:
            raise Conflict(
                f"{row.number} is closed: a closed ticket is neither {neither}.",
                fields={field: [f"{name} is closed."]},
            )


def _refuse_problem(ticket: Ticket, advice: str, *, field: str, error: str) -> None:
    """409 when `ticket` is the problem of incidents (merging it away or making it an incident
    would leave them pointing at the wrong ticket, or two levels deep)."""
    count = Ticket.objects.filter(problem_id=ticket.pk).count()
    if count:
        raise Conflict(
            f"{ticket.number} is the problem of {count} incident(s): {advice}",
            fields={field: [error]},
        )


@dataclass(frozen=True)
class ProblemReplied:
    posted: MessagePosted  # the reply on the problem ticket
    incidents: list[Message]  # the same reply on each open incident, e-mailed to its customer
    failed: list[int]  # incidents it could not be posted on (logged): their ids
    queued: list[int]  # incidents whose reply waits for the drain (past INCIDENT_REPLIES_INLINE)


def problem_reply(
    *,
    problem: Ticket,
    body: str,
    actor: str,
    status: str | None = None,
    user: AbstractBaseUser | None = None,
    api_key: Any = None,
    channel: str | None = None,
) -> ProblemReplied:
    """An agent's reply on a problem ticket, also sent to the customer of each of its open
    incidents (new, open or pending when the reply was asked for), on their own ticket and
    thread, with the same `status` change: one answer for an outage reaches everyone who wrote
    about it.

    Nothing is lost however many incidents there are: the problem's reply and one
    `IncidentReply` row per open incident are written in one transaction. The first
    INCIDENT_REPLIES_INLINE are then posted in this request, each in its own transaction (one
    that is refused, closed meanwhile say, is logged and reported, and the others are still
    sent); the rest wait for `incident_replies_drain` (the command, or the per-minute Lambda
    task), and are answered as `queued`."""
    # Read before the problem's reply: resolving it resolves them (message_create re-reads
    # each row under its lock, so one closed meanwhile is still refused).
    incidents = list(
        Ticket.objects.filter(problem_id=problem.pk, status__in=Ticket.ACTIVE_STATUSES)
        .order_by("pk")
        .values_list("pk", flat=True)
    )

    def queue(message: Message) -> None:  # inside the problem reply's transaction
        IncidentReply.objects.bulk_create(
            IncidentReply(
                reply=message,
                incident_id=incident_id,
                status=status or "",
                channel=channel or "",
                actor=actor[:200],
                author_user=user,
                author_api_key=api_key,
            )
            for incident_id in incidents
        )

    posted = message_create(
        ticket=problem,
        kind=Message.Kind.REPLY,
        body=body,
        actor=actor,
        status=status,
        channel=channel,
        user=user,
        api_key=api_key,
        on_message=queue if incidents else None,
    )
    drained = incident_replies_drain(
        reply_id=posted.message.pk, limit=settings.INCIDENT_REPLIES_INLINE
    )
    waiting = IncidentReply.objects.filter(reply_id=posted.message.pk, failed_at__isnull=True)
    queued = sorted(waiting.values_list("incident_id", flat=True)) if drained.more else []
    return ProblemReplied(posted, drained.sent, drained.failed, queued)


@dataclass(frozen=True)
class IncidentRepliesDrained:
    sent: list[Message]  # posted on their incidents (and e-mailed, or in the e-mail outbox)
    failed: list[int]  # incidents refused for good (kept with the reason): their ids
    retry: list[int]  # incidents that failed for another reason: tried again next time
    more: bool  # stopped at the limit or the time with replies still waiting


# An incident reply that keeps failing for a reason other than a refusal is given up after this.
INCIDENT_REPLY_ATTEMPTS = 5


def incident_replies_drain(
    *, reply_id: int | None = None, limit: int | None = None, seconds: float | None = None
) -> IncidentRepliesDrained:
    """Post waiting incident replies (one problem reply's, or all), oldest first, each in
    the transaction that deletes its row, so none is posted twice (on Postgres, concurrent
    drains skip each other's locked rows). Stops after `limit` replies or `seconds`."""
    started = time.monotonic()
    sent: list[Message] = []
    failed: list[int] = []
    retry: list[int] = []
    tried: list[int] = []  # rows failed in this run: not taken again
    pending = IncidentReply.objects.filter(failed_at__isnull=True)
    if reply_id is not None:
        pending = pending.filter(reply_id=reply_id)
    while True:
        if (limit is not None and len(sent) + len(failed) + len(retry) >= limit) or (
            seconds is not None and time.monotonic() - started >= seconds
        ):
            more = pending.exclude(pk__in=tried).exists()
            return IncidentRepliesDrained(sent, failed, retry, more)
        job = None
        try:
            with transaction.atomic():
                job = (
                    pending.exclude(pk__in=tried)
                    .select_for_update(skip_locked=True, of=("self",))
                    .select_related("reply", "incident")
                    .order_by("pk")
                    .first()
                )
                if job is None:
                    return IncidentRepliesDrained(sent, failed, retry, False)
                try:
                    with transaction.atomic():
                        message = message_create(
                            ticket=job.incident,
                            kind=Message.Kind.REPLY,
                            body=job.reply.body,
                            actor=job.actor,
                            status=job.status or None,
                            channel=job.channel or None,
                            user=job.author_user,
                            api_key=job.author_api_key,
                        ).message
                except HelpdeskError as exc:  # refused: it will be refused again
                    logger.warning(
                        "Reply %s not posted on incident %s: %s",
                        job.reply_id,
                        job.incident.number,
                        exc,
                    )
                    job.attempts += 1
                    job.failed_at = timezone.now()
                    job.last_error = str(exc)[:2000]
                    job.save(update_fields=["attempts", "failed_at", "last_error"])
                    failed.append(job.incident_id)
                    tried.append(job.pk)
                    continue
                job.delete()
                sent.append(message)
        except Exception as exc:  # the database, say: the row stays for the next run
            logger.exception("Posting a reply on an incident failed; it is tried again later")
            if job is None:
                raise
            _incident_reply_failed(job.pk, exc)
            retry.append(job.incident_id)
            tried.append(job.pk)


def _incident_reply_failed(job_id: int, exc: Exception) -> None:
    job = IncidentReply.objects.filter(pk=job_id).first()
    if job is None:
        return
    job.attempts += 1
    job.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    if job.attempts >= INCIDENT_REPLY_ATTEMPTS:
        job.failed_at = timezone.now()
    job.save(update_fields=["attempts", "failed_at", "last_error"])


def _triage_changes(triage: dict[str, Any] | None) -> dict[str, Any]:
    """What a customer follow-up's triage changed on the ticket, for its logged interaction
    (the customer's history keeps why a category or a higher priority appeared): the category
    applied and its confidence, and the priority rule's note; nothing when it changed neither."""
    if triage is None or not (triage["applied"] or triage["priority_rule"]):
        return {}
    applied = triage["applied"]
    return {
        "triage": {
            "category": triage["category"] if applied else None,
            "confidence": triage["confidence"] if applied else None,
            "priority_rule": triage["priority_rule"],
        }
    }


def _closed(ticket: Ticket):
    if ticket.merged_into_id is not None:
        into = Ticket.number_for(ticket.merged_into_id)
        raise InvalidTransition(
            f"{ticket.number} was merged into {into}: it takes internal notes only. "
            f"Post on {into}.",
            fields={"kind": [f"Only `note` on a merged ticket; replies go on {into}."]},
        )
    raise InvalidTransition(
        f"{ticket.number} is closed: it takes internal notes only. A new question is a new ticket.",
        fields={"kind": ["Only `note` on a closed ticket."]},
    )


def _default_channel(ticket: Ticket, *, role: str, kind: str) -> str:
    if role == Message.Role.AGENT:
        return Ticket.Channel.EMAIL if kind == Message.Kind.REPLY else Ticket.Channel.API
    return ticket.channel


# A long thread is read as its newest messages (each cut at MESSAGE_MAX_CHARS by the query).
THREAD_QUERY_MESSAGES = 20


def _thread_query(ticket: Ticket, latest_clean: str) -> TicketQuery:
    """The whole thread as the retriever (and a follow-up's triage) reads it: subject +
    customer and agent replies, oldest first, those of the duplicates merged into the ticket
    among them in time order (one conversation; notes and system messages are not part of it),
    then the new customer message, the focus."""
    merged = Ticket.objects.filter(merged_into_id=ticket.pk).values("pk")
    rows = list(
        Message.objects.filter(Q(ticket_id=ticket.pk) | Q(ticket_id__in=merged))
        .filter(kind=Message.Kind.REPLY)
        .exclude(role=Message.Role.SYSTEM)
        .order_by("-created_at", "-id")
        .values_list("role", "body_clean", "body")[:THREAD_QUERY_MESSAGES]
    )[::-1]
    turns = [Turn(role, clean or body) for role, clean, body in rows]
    return TicketQuery.of(subject=ticket.subject, turns=[*turns, Turn(CUSTOMER, latest_clean)])


def _next_round(
    ticket: Ticket, passages: list[Passage], *, message: Message, now
) -> list[Suggestion]:
    """Supersede the current suggestions and store the new ones as the next round."""
    current = Suggestion.objects.filter(ticket=ticket).aggregate(last=Max("round"))["last"] or 0
    Suggestion.objects.filter(ticket=ticket, superseded_at__isnull=True).update(superseded_at=now)
    return _store_suggestions(ticket, passages, round=current + 1, message=message)


def _current_round_exists(ticket: Ticket) -> bool:
    return Suggestion.objects.filter(ticket=ticket, superseded_at__isnull=True).exists()


def _keep_suggestions_note(ticket: Ticket, note: str) -> None:
    """Keep the note that explains the current round in `Ticket.triage` (what the admin ticket
    page shows), beside arrival's decision; written only when it changes."""
    decision = ticket.triage if isinstance(ticket.triage, dict) else {}
    if decision.get("suggestions_note", "") == note:
        return
    ticket.triage = {**decision, "suggestions_note": note}
    ticket.save(update_fields=["triage"])


def _idempotency_cutoff():
    return timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)


def idempotency_records_prune() -> int:
    """Forget idempotency keys older than IDEMPOTENCY_TTL_HOURS; returns how many (what
    `manage.py idempotency_prune` and the scheduled Lambda task run)."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=_idempotency_cutoff()).delete()
    return deleted
