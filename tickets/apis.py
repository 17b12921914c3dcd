"""Ticket endpoints: ingest, list/read/update, context (customer 360), the conversation
(messages), feedback, and inbound e-mail."""

import django_filters
from django.contrib.auth import get_user_model
from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.filters import OrderingFilter
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.apis import INTERACTIONS_UNAVAILABLE
from customers.selectors import interaction_page
from customers.serializers import InteractionPageInput, InteractionPageOutput
from customers.services import normalize_email
from helpdesk.api.exceptions import InvalidInput, NotFound
from helpdesk.api.fields import CleanCharField, MetadataField, text_problem
from helpdesk.api.filters import (
    BoundedSearchFilter,
    IdFilter,
    StrictBooleanFilter,
    UtcDateTimeFilter,
)
from helpdesk.api.schema import error_response
from helpdesk.api.utils import validated
from helpdesk.auth import ApiKeyClient, ScopeRequired, actor_of, has_scope
from helpdesk.models import ApiKey
from helpdesk.scopes import AGENT
from knowledge.filters import validate_filter
from tickets import delivery, inbound, selectors, services
from tickets.models import NOT_CATEGORISED, Message, Ticket
from tickets.serializers import (
    FeedbackOutput,
    InboundEmailOutput,
    MessageOutput,
    SuggestionOutput,
    TicketContextOutput,
    TicketCreatedOutput,
    TicketOutput,
    attachment_json,
    feedback_json,
    suggestion_json,
    ticket_json,
)
from triage.corrections import ticket_categorize
from triage.models import Category
from triage.serializers import TriageOutput


def client_of(request) -> str:
    """Whose Idempotency-Keys these are: one API key (not its name, which need not be unique)
    or one user."""
    user = request.user
    if isinstance(user, ApiKeyClient):
        return f"api-key:{user.api_key.prefix}"
    return f"user:{user.pk}"


class CustomerRef(serializers.Serializer):
    email = serializers.EmailField(max_length=254)

    def validate_email(self, value: str) -> str:
        # Normalised here so a retry that only changes the e-mail's case replays, not 409s.
        return normalize_email(value)

    name = CleanCharField(max_length=200, required=False, allow_blank=True)
    phone = CleanCharField(max_length=40, required=False, allow_blank=True)
    locale = CleanCharField(max_length=16, required=False, allow_blank=True)


class TicketInput(serializers.Serializer):
    customer = CustomerRef(required=False)
    customer_id = serializers.IntegerField(required=False, min_value=1)
    order_id = serializers.IntegerField(required=False, min_value=1)
    order_number = CleanCharField(max_length=64, required=False)
    subject = CleanCharField(max_length=255)
    # The byte limit (TICKET_BODY_MAX_BYTES) is enforced by the service with a 413.
    body = CleanCharField(trim_whitespace=True)
    channel = serializers.ChoiceField(choices=Ticket.Channel.choices, required=False)
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices, required=False)
    metadata = MetadataField()
    kb_filters = serializers.JSONField(required=False)

    def validate_kb_filters(self, value):
        return validate_filter(value)

    def validate(self, data):
        if not data.get("customer_id") and not data.get("customer"):
            raise serializers.ValidationError(
                {"customer": ["Give `customer` (with an e-mail) or `customer_id`."]}
            )
        return data


class TicketUpdateInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=Ticket.Status.choices, required=False)
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices, required=False)
    assignee = serializers.CharField(required=False, allow_null=True, max_length=150)
    category_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="Set the category as an agent (null clears it): recorded as a correction of "
        "triage, a training label, and its default priority/assignee follow unless given here, "
        "as triage applies them: the default priority replaces the priority while it is still "
        "the defaulted one, otherwise only raises it; the sentiment rule is not applied again.",
    )
    category = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=100,
        help_text="The same as `category_id`, by the category's name as tickets show it "
        "(letter case aside); with both, they must name the same category.",
    )

    problem_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Make this ticket an incident of that problem ticket (null unlinks it): "
        "resolving the problem resolves its open incidents, and a reply on it with `incidents` "
        "reaches every incident's customer.",
    )

    order_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Set the ticket's order (one of its customer's; null unlinks it): "
        "`order_source` becomes `agent`.",
    )
    order_number = CleanCharField(
        max_length=64, required=False, help_text="The same as `order_id`, by the order's number."
    )

    def validate_category_id(self, value):
        if value is None:
            return None
        category = Category.objects.filter(pk=value, active=True).first()
        if category is None:
            raise serializers.ValidationError("No active category with this id.")
        return category

    def validate_category(self, value):
        if value is None:
            return None
        matches = list(Category.objects.filter(name__iexact=value.strip(), active=True))
        exact = [category for category in matches if category.name == value.strip()]
        if len(exact) == 1 or len(matches) == 1:
            return (exact or matches)[0]
        if matches:
            raise serializers.ValidationError(
                "More than one active category has this name but for letter case: "
                "give it exactly, or give category_id."
            )
        names = list(
            Category.objects.filter(active=True).order_by("name").values_list("name", flat=True)
        )
        shown = ", ".join(names[:20]) + (", …" if len(names) > 20 else "")
        raise serializers.ValidationError(f"No active category with this name (active: {shown}).")

    def validate(self, attrs):
        """`category` is `category_id` by name: one key, `category_id`, for the view."""
        if "category" in attrs:
            by_name = attrs.pop("category")
            if "category_id" in attrs and attrs["category_id"] != by_name:
                raise serializers.ValidationError(
                    {"category": ["Names another category than category_id."]}
                )
            attrs["category_id"] = by_name
        if "order_id" in attrs and "order_number" in attrs:
            raise serializers.ValidationError(
                {"order_number": ["Give order_id or order_number, not both."]}
            )
        return attrs

    def validate_assignee(self, value):
        if value is None:
            return None
        user = get_user_model().objects.filter(username=value, is_staff=True).first()
        if user is None:
            raise serializers.ValidationError("No staff user with this username.")
        return user


class FeedbackInput(serializers.Serializer):
    suggestion_id = serializers.IntegerField(min_value=1)
    helpful = serializers.BooleanField()
    resolved = serializers.BooleanField(required=False, default=False)
    comment = CleanCharField(required=False, allow_blank=True, max_length=5000, default="")


class MergeInput(serializers.Serializer):
    into = serializers.IntegerField(
        min_value=1,
        max_value=2**63 - 1,
        help_text="The id of the ticket to merge this one into: an open (or resolved) ticket of "
        "the same customer.",
    )


class TicketMergedOutput(serializers.Serializer):
    ticket = TicketOutput(help_text="This ticket, now closed, with `merged_into` set.")
    into = TicketOutput(help_text="The ticket it was merged into.")
    merged = serializers.BooleanField(
        help_text="False when it already was merged into that ticket (a retry): nothing changed."
    )


class MessageInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Message.Kind.choices)
    # The byte limit (TICKET_BODY_MAX_BYTES) is enforced by the service with a 413.
    body = CleanCharField(trim_whitespace=True)
    # `system` messages are the helpdesk's own; an integration may post the customer's words.
    role = serializers.ChoiceField(
        choices=[Message.Role.AGENT, Message.Role.CUSTOMER], required=False
    )
    status = serializers.ChoiceField(choices=Ticket.Status.choices, required=False)
    channel = serializers.ChoiceField(choices=Ticket.Channel.choices, required=False)
    incidents = serializers.BooleanField(
        required=False,
        default=False,
        help_text="On a problem ticket, an agent reply also goes to the customer of each of its "
        "open incidents, on their own ticket (with the same `status`).",
    )

    def validate(self, data):
        if data.get("incidents") and (
            data["kind"] != Message.Kind.REPLY or data.get("role") == Message.Role.CUSTOMER
        ):
            raise serializers.ValidationError(
                {"incidents": ["Only an agent's reply goes to a problem's incidents."]}
            )
        return data


class TicketFilter(django_filters.FilterSet):
    customer = IdFilter(field_name="customer_id")
    problem = IdFilter(field_name="problem_id", help_text="A problem ticket's id: its incidents.")
    merged_into = IdFilter(
        field_name="merged_into_id", help_text="A ticket's id: the duplicates merged into it."
    )
    customer_email = django_filters.CharFilter(field_name="customer__email", lookup_expr="iexact")
    # The tickets about an order (given with the ticket, named in the customer's words, or set
    # by an agent): what a shop's order page lists.
    order = IdFilter(field_name="order_id", help_text="An order's id: the tickets about it.")
    order_number = django_filters.CharFilter(
        field_name="order__number", help_text="The same, by the order's number."
    )
    assignee = django_filters.CharFilter(field_name="assignee__username")
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    status = django_filters.MultipleChoiceFilter(choices=Ticket.Status.choices)
    priority = django_filters.MultipleChoiceFilter(choices=Ticket.Priority.choices)
    # Triage's reading (or an agent's choice): a category's queue, what still needs one, the
    # unhappy customers, the tickets in a language.
    category = IdFilter(field_name="category_id", help_text="A category's id.")
    category_name = django_filters.CharFilter(
        field_name="category__name", lookup_expr="iexact", help_text="A category by its name."
    )
    has_category = StrictBooleanFilter(
        method="filter_has_category",
        help_text="`true`: the tickets with a category; `false`: those no one (model or "
        "agent) has given one yet (a ticket an agent decided no category fits is in neither).",
    )
    sentiment = django_filters.MultipleChoiceFilter(
        choices=Ticket._meta.get_field("sentiment").choices
    )
    language = django_filters.CharFilter(help_text="ISO 639-1, as triage read it (`en`).")

    class Meta:
        model = Ticket
        fields = ["status", "priority", "channel", "customer"]

    def filter_has_category(self, queryset, name, value):
        if value:
            return queryset.filter(category__isnull=False)
        return queryset.filter(NOT_CATEGORISED)


# `serializer_class` is only for the browsable API's forms (without one, rendering any of these
# endpoints as HTML is a 500); the views parse input with `validated()` themselves.
class TicketListApi(GenericAPIView):
    permission_classes = [ScopeRequired]
    queryset = selectors.ticket_list()
    serializer_class = TicketInput
    filterset_class = TicketFilter
    filter_backends = [
        django_filters.rest_framework.DjangoFilterBackend,
        BoundedSearchFilter,
        OrderingFilter,
    ]
    search_fields = ["subject", "body", "customer__email", "customer__name"]
    ordering_fields = ["created_at", "updated_at", "priority", "status"]

    @extend_schema(responses=TicketOutput(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([ticket_json(t) for t in page])

    @extend_schema(
        request=TicketInput,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Retries with the same key and body return the first response.",
            )
        ],
        responses={
            201: TicketCreatedOutput,
            409: error_response(
                409,
                "`idempotency_key_reused`: this Idempotency-Key came with another body.",
            ),
        },
    )
    def post(self, request):
        key = request.headers.get("Idempotency-Key", "").strip() or None
        if key and len(key) > 255:
            raise serializers.ValidationError({"Idempotency-Key": ["At most 255 characters."]})
        if key and (problem := text_problem(key)):
            raise serializers.ValidationError({"Idempotency-Key": [problem]})
        payload = validated(TicketInput, request.data)
        result = services.ticket_create(
            payload=payload,
            actor=actor_of(request),
            idempotency_key=key,
            idempotency_scope=client_of(request),
            created_by_key=request.auth if isinstance(request.auth, ApiKey) else None,
            # An intake key gets the ticket and its suggestions, never the customer's data.
            with_customer=has_scope(request, AGENT),
        )
        response = Response(result.body, status=result.status_code)
        if result.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class TicketApiBase(GenericAPIView):
    permission_classes = [ScopeRequired]
    queryset = selectors.ticket_list()

    def get_ticket(self, pk: int) -> Ticket:
        ticket = selectors.ticket_get(ticket_id=pk)
        if ticket is None:
            raise NotFound("No ticket with this id.")
        # Object-level scopes, e.g. an intake key only on the tickets it created.
        self.check_object_permissions(self.request, ticket)
        return ticket


class TicketDetailApi(TicketApiBase):
    serializer_class = TicketUpdateInput

    @extend_schema(responses=TicketOutput)
    def get(self, request, pk: int):
        return Response(ticket_json(self.get_ticket(pk)))

    @extend_schema(
        request=TicketUpdateInput,
        responses={
            200: TicketOutput,
            409: error_response(409, "`invalid_transition`: not an allowed status change."),
        },
    )
    def patch(self, request, pk: int):
        ticket = self.get_ticket(pk)
        data = validated(TicketUpdateInput, request.data, partial=True)
        with transaction.atomic():
            if "problem_id" in data:
                ticket = services.ticket_link_problem(
                    ticket=ticket, problem_id=data["problem_id"], actor=actor_of(request)
                )
            if "category_id" in data:
                ticket = ticket_categorize(
                    ticket=ticket,
                    category=data["category_id"],
                    actor=actor_of(request),
                    priority_given="priority" in data,
                    assignee_given="assignee" in data,
                )
            ticket = services.ticket_update(
                ticket=ticket,
                actor=actor_of(request),
                status=data.get("status"),
                priority=data.get("priority"),
                assignee=data.get("assignee"),
                unassign="assignee" in data and data["assignee"] is None,
                # One of the ticket's customer's orders (else a 400), None when not named.
                order=services.order_of_customer(data, ticket.customer_id),
                unlink_order="order_id" in data and data["order_id"] is None,
            )
        # The service returns the saved row (its `updated_at` included): no second read.
        return Response(ticket_json(ticket))


# Each endpoint defines only its own methods: a `get = None` would be listed in `Allow` and
# then called (a 500) instead of answering 405.
class TicketContextApi(TicketApiBase):
    @extend_schema(responses=TicketContextOutput)
    def get(self, request, pk: int):
        return Response(selectors.ticket_context(ticket=self.get_ticket(pk)))


class TicketHistoryApi(TicketApiBase):
    """The ticket's whole history, a page at a time (`/context` shows the newest 20)."""

    @extend_schema(
        parameters=[InteractionPageInput],
        responses={200: InteractionPageOutput, 503: INTERACTIONS_UNAVAILABLE},
    )
    def get(self, request, pk: int):
        data = validated(InteractionPageInput, request.query_params, query=True)
        ticket = self.get_ticket(pk)
        return Response(interaction_page(ticket_id=ticket.pk, **data))


class MessagePostedOutput(serializers.Serializer):
    message = MessageOutput()
    ticket = TicketOutput()
    suggestions = SuggestionOutput(many=True)
    suggestions_note = serializers.CharField(
        help_text="Why a customer follow-up's round is what it is (POST /tickets answers the "
        "same in `triage.suggestions_note`): the message is certainly in another language than "
        "the KB's articles, so only close matches are served. Empty otherwise."
    )
    degraded = serializers.ListField(child=serializers.CharField())
    incidents = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="With `incidents`: the incident tickets the reply was also posted on (and "
        "e-mailed to their customers); [] otherwise.",
    )
    incidents_failed = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Incidents it could not be posted on (closed meanwhile, say); [] mostly.",
    )
    incidents_queued = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Incidents past INCIDENT_REPLIES_INLINE: stored with the reply, posted and "
        "e-mailed by the drain (the per-minute Lambda task, or `manage.py "
        "incident_replies_drain`); [] for an outage of that size or less.",
    )
    triage = TriageOutput(
        allow_null=True,
        help_text="A customer follow-up's triage: its language and sentiment (the sentiment "
        "becomes the ticket's, and the priority rule applies: raised, never lowered) and, while "
        "the ticket has no category and no agent has decided one, the model's read of the "
        "customer's whole story (subject and every customer message), applied at or above "
        "TRIAGE_APPLY_THRESHOLD; `kept` when the category is settled. null for agent messages.",
    )


class TicketMessagesApi(TicketApiBase):
    """The conversation: GET the messages oldest first (paginated), POST a reply or a note."""

    serializer_class = MessageInput

    @extend_schema(responses=MessageOutput(many=True))
    def get(self, request, pk: int):
        ticket = self.get_ticket(pk)
        page = self.paginate_queryset(selectors.message_list(ticket_id=ticket.id))
        return self.get_paginated_response([selectors.message_json(m) for m in page])

    @extend_schema(
        request=MessageInput,
        responses={
            201: MessagePostedOutput,
            409: error_response(
                409, "`invalid_transition`: the `status` named is not an allowed status change."
            ),
        },
    )
    def post(self, request, pk: int):
        ticket = self.get_ticket(pk)
        data = validated(MessageInput, request.data)
        user = request.user if getattr(request.user, "pk", None) else None
        api_key = request.auth if isinstance(request.user, ApiKeyClient) else None
        incidents, failed, queued = [], [], []
        if data["incidents"]:
            replied = services.problem_reply(
                problem=ticket,
                body=data["body"],
                status=data.get("status"),
                channel=data.get("channel"),
                actor=actor_of(request),
                user=user,
                api_key=api_key,
            )
            posted = replied.posted
            incidents = [message.ticket_id for message in replied.incidents]
            failed = replied.failed
            queued = replied.queued
        else:
            posted = services.message_create(
                ticket=ticket,
                kind=data["kind"],
                body=data["body"],
                role=data.get("role") or Message.Role.AGENT,
                status=data.get("status"),
                channel=data.get("channel"),
                actor=actor_of(request),
                user=user,
                api_key=api_key,
            )
        ticket = selectors.ticket_get(ticket_id=ticket.id)  # as saved, `updated_at` included
        return Response(
            {
                "message": selectors.message_json(posted.message),
                "ticket": ticket_json(ticket),
                "suggestions": [suggestion_json(s) for s in posted.suggestions],
                "suggestions_note": posted.suggestions_note,
                "degraded": posted.degraded,
                "incidents": incidents,
                "incidents_failed": failed,
                "incidents_queued": queued,
                "triage": posted.triage,
            },
            status=status.HTTP_201_CREATED,
        )


class RawEmailParser(BaseParser):
    """`message/rfc822`: the raw message, as bytes (the body limit is INBOUND_MAX_REQUEST_BYTES)."""

    media_type = "message/rfc822"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read()


class InboundEmailApi(APIView):
    """A raw RFC 822 message → threaded onto its ticket, or a new ticket (tickets/inbound.py)."""

    permission_classes = [ScopeRequired]
    parser_classes = [RawEmailParser]
    renderer_classes = [JSONRenderer]  # no browsable API: the body is a raw e-mail

    @extend_schema(
        request={"message/rfc822": OpenApiTypes.BINARY},
        responses={
            200: OpenApiResponse(
                InboundEmailOutput, description="A duplicate delivery: the first one's answer."
            ),
            201: OpenApiResponse(
                InboundEmailOutput, description="Stored: a new ticket, or a message on one."
            ),
            202: OpenApiResponse(
                InboundEmailOutput,
                description="Accepted and ignored (auto-reply, bounce, our own mail); "
                "`ignored` says why.",
            ),
            413: error_response(
                413,
                "`payload_too_large`: the message is over `INBOUND_MAX_REQUEST_BYTES`.",
            ),
            415: error_response(415, "`unsupported_media_type`: send `message/rfc822`."),
            422: error_response(
                422,
                "`invalid_email`: malformed MIME, no From address, an unknown charset, only "
                "quoted text, or nothing at all; nothing was written.",
            ),
        },
    )
    def post(self, request):
        raw = request.data
        if not isinstance(raw, bytes) or not raw:
            raise InvalidInput(
                "Send the raw message as the body, with Content-Type: message/rfc822.",
                fields={"body": ["Empty."]},
            )
        result = inbound.email_receive(raw=raw, actor=actor_of(request))
        return Response(inbound_json(result), status=result.status_code)


def inbound_json(result: inbound.EmailReceived) -> dict:
    ignored = result.ignored
    return {
        "ticket": ticket_json(result.ticket) if result.ticket else None,
        "message": selectors.message_json(result.message) if result.message else None,
        "created": result.created,
        "duplicate": result.duplicate,
        "ignored": {"reason": ignored.reason, "detail": ignored.detail} if ignored else None,
        "follow_up_of": result.follow_up_of.id if result.follow_up_of else None,
        "suggestions": result.suggestions,
        "suggestions_note": result.suggestions_note,
        "triage": result.triage,
        "degraded": result.degraded,
        "attachments": [attachment_json(a) for a in result.attachments],
        "notes": result.notes,
    }


class MessageResentOutput(serializers.Serializer):
    message = MessageOutput(help_text="The reply, `email_status` `queued` again (then `sent`).")


class TicketMessageResendApi(TicketApiBase):
    """Send a reply that was not delivered again (tickets/delivery.py `reply_resend`), to the
    customer's address as it is now: after the address was corrected, or a full mailbox."""

    serializer_class = serializers.Serializer  # no body (OPTIONS describes an empty one)

    @extend_schema(
        request=None,
        responses={
            202: MessageResentOutput,
            409: error_response(409, "`conflict`: the message is no reply that was not delivered."),
        },
    )
    def post(self, request, pk: int, message_id: int):
        ticket = self.get_ticket(pk)
        message = Message.objects.filter(ticket=ticket, pk=message_id).first()
        if message is None:
            raise NotFound("This ticket has no message with this id.")
        message = delivery.reply_resend(message=message, actor=actor_of(request))
        message.refresh_from_db()  # `sent` when the send right after the commit went through
        return Response(
            {"message": selectors.message_json(message)}, status=status.HTTP_202_ACCEPTED
        )


class TicketMergeApi(TicketApiBase):
    """Merge a duplicate into another ticket of the same customer (services.ticket_merge)."""

    serializer_class = MergeInput

    @extend_schema(
        request=MergeInput,
        description="Closes this ticket as a duplicate of `into` (same customer): an internal "
        "note on each says so, `into` gets this ticket's customer messages in its note, the "
        "higher of the two priorities and, if it has none, this ticket's assignee; a resolved "
        "`into` is reopened. Replies to this ticket's e-mails then go to `into`. Merging again "
        "into the same ticket answers the first merge (`merged: false`).",
        responses={
            200: TicketMergedOutput,
            409: error_response(
                409,
                "`conflict`: `into` is another customer's ticket, either ticket is closed, or "
                "this one was merged into another ticket already.",
            ),
        },
    )
    def post(self, request, pk: int):
        ticket = self.get_ticket(pk)
        data = validated(MergeInput, request.data)
        user = request.user if getattr(request.user, "pk", None) else None
        merged = services.ticket_merge(
            ticket=ticket, into_id=data["into"], actor=actor_of(request), user=user
        )
        return Response(
            {
                "ticket": ticket_json(selectors.ticket_get(ticket_id=merged.ticket.pk)),
                "into": ticket_json(selectors.ticket_get(ticket_id=merged.into.pk)),
                "merged": merged.merged,
            }
        )


class TicketFeedbackApi(TicketApiBase):
    serializer_class = FeedbackInput

    @extend_schema(
        request=FeedbackInput,
        description="One answer per caller and suggestion: the first is created (201); a "
        "second from the same caller updates it (200), never a second row.",
        responses={
            201: OpenApiResponse(FeedbackOutput, description="Recorded."),
            200: OpenApiResponse(
                FeedbackOutput, description="The caller's earlier answer on it, updated."
            ),
        },
    )
    def post(self, request, pk: int):
        ticket = self.get_ticket(pk)
        data = validated(FeedbackInput, request.data)
        user = request.user if getattr(request.user, "pk", None) else None
        recorded = services.feedback_create(
            ticket=ticket, actor=actor_of(request), user=user, **data
        )
        ticket.refresh_from_db(fields=["status"])
        return Response(
            feedback_json(recorded.feedback, ticket_status=ticket.status),
            status=status.HTTP_201_CREATED if recorded.created else status.HTTP_200_OK,
        )
