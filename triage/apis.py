"""Triage endpoints: `GET /tickets/{id}/similar` (open tickets that look like this one,
triage/similar.py) and `GET /triage/metrics`."""

from __future__ import annotations

import math

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.api.exceptions import HelpdeskError
from helpdesk.api.schema import error_response
from helpdesk.api.utils import iso, validated
from helpdesk.auth import ScopeRequired
from tickets.apis import TicketApiBase
from tickets.models import Ticket
from triage import similar_base as similar
from triage.metrics import triage_metrics
from triage.serializers import MetricsInput, MetricsOutput


class SimilarUnavailable(HelpdeskError):
    code = "similar_unavailable"
    http_status = 503


SIMILAR_UNAVAILABLE = error_response(
    503,
    "`similar_unavailable`: the ticket has no stored embedding and the encoder cannot make one "
    "now (SIMILAR_ENCODER=local where the local encoder is not installed; Bedrock failing); "
    "`database_unavailable` as everywhere.",
)


class SimilarInput(serializers.Serializer):
    threshold = serializers.FloatField(
        required=False,
        min_value=0.0,
        max_value=1.0,
        help_text="Lowest cosine similarity answered (default: SIMILAR_TICKETS_THRESHOLD).",
    )
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=similar.MAX_LIMIT, default=similar.DEFAULT_LIMIT
    )

    def validate_threshold(self, value: float) -> float:
        if not math.isfinite(value):
            raise serializers.ValidationError("A number between 0 and 1.")
        return value


class SimilarTicketOutput(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    subject = serializers.CharField()
    status = serializers.ChoiceField(choices=Ticket.Status.choices)
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices)
    customer_id = serializers.IntegerField()
    customer_email = serializers.CharField()
    created_at = serializers.DateTimeField()
    similarity = serializers.FloatField(help_text="Cosine of the two tickets' embeddings.")
    relation = serializers.ChoiceField(
        choices=[similar.PROBABLE_DUPLICATE, similar.POSSIBLE_INCIDENT],
        help_text="`probable_duplicate`: the same customer's (merge it); "
        "`possible_incident`: another customer's (the same problem, maybe an incident).",
    )


class SimilarOutput(serializers.Serializer):
    ticket_id = serializers.IntegerField()
    threshold = serializers.FloatField()
    limit = serializers.IntegerField()
    results = SimilarTicketOutput(many=True, help_text="Most similar first.")


def similar_json(item) -> dict:
    """One `triage.similar.SimilarTicket`."""
    ticket = item.ticket
    return {
        "id": ticket.pk,
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "customer_id": ticket.customer_id,
        "customer_email": ticket.customer.email,
        "created_at": iso(ticket.created_at),
        "similarity": item.similarity,
        "relation": item.relation,
    }


class TicketSimilarApi(TicketApiBase):
    @extend_schema(
        parameters=[SimilarInput],
        responses={200: SimilarOutput, 503: SIMILAR_UNAVAILABLE},
    )
    def get(self, request, pk: int):
        data = validated(SimilarInput, request.query_params, query=True)
        ticket = self.get_ticket(pk)
        threshold = data.get("threshold", settings.SIMILAR_TICKETS_THRESHOLD)
        try:
            found = similar.similar_tickets(ticket=ticket, threshold=threshold, limit=data["limit"])
        except similar.EmbeddingUnavailable as exc:
            raise SimilarUnavailable(str(exc)) from exc
        return Response(
            {
                "ticket_id": ticket.pk,
                "threshold": threshold,
                "limit": data["limit"],
                "results": [similar_json(item) for item in found],
            }
        )


class TriageMetricsApi(APIView):
    permission_classes = [ScopeRequired]

    @extend_schema(parameters=[MetricsInput], responses=MetricsOutput)
    def get(self, request):
        data = validated(MetricsInput, request.query_params, query=True)
        return Response(triage_metrics(days=data["days"], method=data.get("method")))
