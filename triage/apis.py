"""Triage endpoints: GET /triage/metrics."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.api.utils import validated
from helpdesk.auth import ScopeRequired
from triage.metrics import triage_metrics
from triage.serializers import MetricsInput, MetricsOutput


class TriageMetricsApi(APIView):
    permission_classes = [ScopeRequired]

    @extend_schema(parameters=[MetricsInput], responses=MetricsOutput)
    def get(self, request):
        data = validated(MetricsInput, request.query_params)
        return Response(triage_metrics(days=data["days"]))
