"""The ticket endpoints' answers: each shape declared once, as an output serializer (what the
OpenAPI schema shows), and built by a plain function (what the hot paths and the stored
idempotent replies use). tests/test_schema.py checks every builder against its serializer."""

from typing import Any

from rest_framework import serializers

from customers.serializers import Customer360Output, InteractionOutput, RecentOrderOutput
from helpdesk.api.utils import iso
from tickets.models import Feedback, Message, Ticket
from triage.serializers import TriageOutput


class TicketOutput(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField(help_text="`HD-` and the id, zero-padded: `HD-000123`.")
    customer_id = serializers.IntegerField()
    order_id = serializers.IntegerField(allow_null=True)
    order_source = serializers.ChoiceField(
        choices=[*Ticket.OrderSource.values, ""],
        help_text="How the ticket got its order: `given` with it (`order_id` / "
        "`order_number`), `text`: the customer's words name it (one of their own orders, "
        'e.g. "order #1042", "BH-4821702", or the number without the shop\'s letters), '
        "`agent`: set by an agent; empty without an order.",
    )
    subject = serializers.CharField()
    body = serializers.CharField(help_text="Exactly as received.")
    body_clean = serializers.CharField(
        allow_blank=True,
        help_text="The customer's new words: quoted history, signatures, greetings removed.",
    )
    channel = serializers.ChoiceField(choices=Ticket.Channel.choices)
    status = serializers.ChoiceField(choices=Ticket.Status.choices)
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices)
    assignee = serializers.CharField(allow_null=True, help_text="A staff username.")
    metadata = serializers.DictField(child=serializers.JSONField())
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    first_response_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    follow_up_of = serializers.IntegerField(
        allow_null=True,
        help_text="The id of the closed ticket this one continues (a customer's reply to its "
        "e-mail); null for a ticket that starts a conversation.",
    )
    follow_up_of_number = serializers.CharField(
        allow_null=True, help_text="That ticket's number (`HD-000123`); null when there is none."
    )
    merged_into = serializers.IntegerField(
        allow_null=True,
        help_text="The id of the ticket this duplicate was merged into (POST "
        "/tickets/{id}/merge; it is closed, replies to its e-mails go there); null otherwise.",
    )
    merged_into_number = serializers.CharField(
        allow_null=True, help_text="That ticket's number; null when it was not merged."
    )
    problem_id = serializers.IntegerField(
        allow_null=True,
        help_text="The problem ticket this one is an incident of (PATCH `problem_id`); null "
        "otherwise. `GET /tickets?problem=<id>` lists a problem's incidents.",
    )
    problem_number = serializers.CharField(allow_null=True, help_text="That ticket's number.")
    category = serializers.CharField(allow_null=True, help_text="The category's name.")
    category_id = serializers.IntegerField(allow_null=True)
    category_confidence = serializers.FloatField(
        allow_null=True, help_text="The model's confidence when the model set the category."
    )
    category_source = serializers.ChoiceField(
        choices=["", "model", "agent", "rule"],
        help_text='Who set the category ("": nobody). `agent` with no category: an agent '
        "decided that none fits (PATCH `category_id: null`), which triage learns as out of "
        "scope.",
    )
    language = serializers.CharField(allow_blank=True, help_text='ISO 639-1 code ("": unknown).')
    sentiment = serializers.CharField(
        allow_blank=True,
        help_text="`negative`, `neutral` or `positive`: the customer's latest message read "
        '(on arrival, then each follow-up in English); "": not read.',
    )
    sentiment_score = serializers.FloatField(allow_null=True, help_text="VADER compound, -1 … 1.")


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "number": ticket.number,
        "customer_id": ticket.customer_id,
        "order_id": ticket.order_id,
        "order_source": ticket.order_source,
        "subject": ticket.subject,
        "body": ticket.body,
        "body_clean": ticket.body_clean,
        "channel": ticket.channel,
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee": ticket.assignee.get_username() if ticket.assignee_id else None,
        "metadata": ticket.metadata,
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "first_response_at": iso(ticket.first_response_at),
        "resolved_at": iso(ticket.resolved_at),
        # From the foreign key's column: no query for the earlier ticket.
        "follow_up_of": ticket.follow_up_of_id,
        "follow_up_of_number": (
            Ticket.number_for(ticket.follow_up_of_id) if ticket.follow_up_of_id else None
        ),
        "merged_into": ticket.merged_into_id,
        "merged_into_number": (
            Ticket.number_for(ticket.merged_into_id) if ticket.merged_into_id else None
        ),
        "problem_id": ticket.problem_id,
        "problem_number": Ticket.number_for(ticket.problem_id) if ticket.problem_id else None,
        "category": ticket.category.name if ticket.category_id else None,
        "category_id": ticket.category_id,
        "category_confidence": ticket.category_confidence,
        "category_source": ticket.category_source,
        "language": ticket.language,
        "sentiment": ticket.sentiment,
        "sentiment_score": ticket.sentiment_score,
    }


class SuggestionOutput(serializers.Serializer):
    """A KB passage suggested for a ticket; `id` is what feedback names."""

    id = serializers.IntegerField()
    rank = serializers.IntegerField(min_value=1)
    score = serializers.FloatField()
    title = serializers.CharField(allow_blank=True)
    snippet = serializers.CharField(allow_blank=True)
    source = serializers.CharField(
        allow_blank=True, help_text="The article's public URL (or its path)."
    )
    article_id = serializers.IntegerField(allow_null=True)
    passage_ref = serializers.CharField(allow_blank=True)
    backend = serializers.CharField(help_text="The KB backend that found it: `local`, `bedrock`.")
    round = serializers.IntegerField(
        min_value=1, help_text="1 for the ticket's first message; each customer follow-up adds one."
    )
    superseded_at = serializers.DateTimeField(
        allow_null=True, help_text="When a later round replaced it (feedback on it still works)."
    )


# The serializer is the declaration: suggestions are read as rows of exactly these columns.
SUGGESTION_FIELDS = tuple(SuggestionOutput().fields)


def suggestion_json(suggestion) -> dict[str, Any]:
    row = {name: getattr(suggestion, name) for name in SUGGESTION_FIELDS}
    row["superseded_at"] = iso(suggestion.superseded_at)
    return row


class MessageOutput(serializers.Serializer):
    """The shape `message_json` produces, for the OpenAPI schema."""

    id = serializers.IntegerField()
    ticket_id = serializers.IntegerField()
    role = serializers.ChoiceField(choices=Message.Role.choices)
    kind = serializers.ChoiceField(choices=Message.Kind.choices)
    body = serializers.CharField()
    body_clean = serializers.CharField()
    channel = serializers.CharField()
    author = serializers.CharField()
    sender_address = serializers.CharField()
    email_message_id = serializers.CharField()
    email_in_reply_to = serializers.CharField()
    email_references = serializers.CharField()
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    email_status = serializers.ChoiceField(
        choices=["queued", "sent", "failed"],
        allow_null=True,
        help_text="An agent reply's e-mail: `queued` in the outbox, `sent`, or `failed`: it did "
        "not reach the customer (the mail server refused the address, or a delivery failure "
        "report came back). Null for anything not e-mailed.",
    )
    email_failed_at = serializers.DateTimeField(
        allow_null=True, help_text="When the reply was found not delivered."
    )
    email_error = serializers.CharField(
        help_text="Why, in the mail server's words (`550 5.1.1 … User unknown`); empty otherwise."
    )


class DegradedField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=["knowledge_base", "interactions"], **kwargs)


class TicketCreatedOutput(serializers.Serializer):
    ticket = TicketOutput()
    customer = Customer360Output(
        required=False,
        help_text="The same object `GET /tickets/{id}/context` shows; absent for an `intake` key.",
    )
    order = RecentOrderOutput(
        required=False,
        allow_null=True,
        help_text="The order the ticket is about (`ticket.order_id`: given, or named by the "
        "customer's words), with its status and items, also when it is older than the "
        "customer's recent orders; null without one; absent for an `intake` key.",
    )
    suggestions = SuggestionOutput(many=True)
    triage = TriageOutput(help_text="Category, language and sentiment read on arrival.")
    degraded = serializers.ListField(
        child=DegradedField(),
        help_text="What could not be done now (the ticket is kept all the same): no KB "
        "suggestions, or the interaction waits in the outbox.",
    )


class TicketContextOutput(serializers.Serializer):
    ticket = TicketOutput()
    order = RecentOrderOutput(
        allow_null=True,
        help_text="The order the ticket is about (`ticket.order_id`), with its status and "
        "items, also when it is older than the customer's recent orders; null without one.",
    )
    customer = Customer360Output()
    suggestions = SuggestionOutput(many=True)
    suggestions_note = serializers.CharField(
        allow_blank=True,
        help_text='Why the current suggestions are what they are ("" when there is nothing to '
        "say): e.g. the latest customer text is in another language than the KB's articles.",
    )
    conversation = MessageOutput(
        many=True, help_text="The newest 50 messages, oldest first (all: GET …/messages)."
    )
    history = InteractionOutput(many=True, help_text="The ticket's interactions, newest first.")


class FeedbackOutput(serializers.Serializer):
    id = serializers.IntegerField()
    ticket_id = serializers.IntegerField()
    suggestion_id = serializers.IntegerField()
    helpful = serializers.BooleanField()
    resolved = serializers.BooleanField()
    comment = serializers.CharField(allow_blank=True)
    submitted_by = serializers.CharField(help_text="`api-key:<name>` or `user:<username>`.")
    created_at = serializers.DateTimeField()
    ticket_status = serializers.ChoiceField(
        choices=Ticket.Status.choices, help_text="After the feedback (`resolved` resolves it)."
    )


def feedback_json(feedback: Feedback, *, ticket_status: str) -> dict[str, Any]:
    return {
        "id": feedback.id,
        "ticket_id": feedback.ticket_id,
        "suggestion_id": feedback.suggestion_id,
        "helpful": feedback.helpful,
        "resolved": feedback.resolved,
        "comment": feedback.comment,
        "submitted_by": feedback.submitted_by,
        "created_at": iso(feedback.created_at),
        "ticket_status": ticket_status,
    }


# --- POST /inbound/email ----------------------------------------------------------------------


class AttachmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField(help_text="Bytes, decoded.")
    inline = serializers.BooleanField(help_text="An inline image of an HTML mail (Content-ID).")
    content_id = serializers.CharField(allow_blank=True)
    stored = serializers.BooleanField(help_text="False: recorded without its content.")
    skipped = serializers.CharField(allow_blank=True, help_text="Why it was not stored.")


def attachment_json(attachment) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "name": attachment.name,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "inline": attachment.inline,
        "content_id": attachment.content_id,
        "stored": bool(attachment.file),
        "skipped": attachment.skipped,
    }


class IgnoredOutput(serializers.Serializer):
    reason = serializers.ChoiceField(
        choices=["auto_submitted", "auto_reply", "bounce", "own_address", "own_message"]
    )
    detail = serializers.CharField(help_text="The header or sender that decided it.")


class InboundEmailOutput(serializers.Serializer):
    ticket = TicketOutput(
        allow_null=True,
        help_text="Null when the message was ignored, except a bounce of one of our replies: "
        "that reply's ticket (reopened when it waited on the customer).",
    )
    message = MessageOutput(
        allow_null=True,
        help_text="The message stored; for a bounce of one of our replies, that reply "
        "(`email_status` `failed`, `email_error` the mail server's words).",
    )
    created = serializers.BooleanField(help_text="A new ticket was opened for it.")
    duplicate = serializers.BooleanField(
        help_text="This Message-ID was already received: the first delivery's ticket and message."
    )
    ignored = IgnoredOutput(
        allow_null=True,
        help_text="Noise (auto-reply, bounce, our own mail): no ticket, no reply. A bounce "
        "naming one of our replies marks that reply not delivered (`ticket`, `message`).",
    )
    follow_up_of = serializers.IntegerField(
        allow_null=True,
        help_text="The closed ticket this message answered (the new ticket continues it).",
    )
    suggestions = SuggestionOutput(many=True, help_text="The round this message produced.")
    suggestions_note = serializers.CharField(
        help_text="Why that round is what it is: the message (a new ticket's subject and body) "
        "is certainly in another language than the KB's articles. Empty otherwise."
    )
    triage = TriageOutput(
        allow_null=True,
        help_text="As POST /tickets answers it for a new ticket, or POST /tickets/{id}/messages "
        "for a customer's follow-up (language, sentiment and the priority rule; the category "
        "while the ticket has none). Null for a duplicate delivery or noise.",
    )
    degraded = serializers.ListField(child=DegradedField())
    attachments = AttachmentOutput(many=True)
    notes = serializers.ListField(
        child=serializers.CharField(),
        help_text="What was not kept as sent (an attachment over the limit, text cut).",
    )
