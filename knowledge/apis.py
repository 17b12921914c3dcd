"""Knowledge-base endpoints: start/poll a sync, and search the retriever directly."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.api.exceptions import NotFound
from helpdesk.api.fields import CleanCharField
from helpdesk.api.parsers import json_loads
from helpdesk.api.schema import error_response
from helpdesk.api.utils import iso, validated
from helpdesk.auth import ScopeRequired
from knowledge import services
from knowledge.backends.base import Passage, get_backend
from knowledge.filters import validate_filter
from knowledge.models import SyncJob
from knowledge.selectors import kb_retrieve

# Bedrock's Retrieve accepts at most 20,000 characters of query text; we hold the local
# backend to the same contract so a client works with both.
MAX_QUERY_CHARS = 20_000


KB_UNAVAILABLE = error_response(503, "`kb_unavailable`: the KB backend cannot answer now.")


class SyncCountsOutput(serializers.Serializer):
    scanned = serializers.IntegerField(min_value=0)
    added = serializers.IntegerField(min_value=0)
    updated = serializers.IntegerField(min_value=0)
    deleted = serializers.IntegerField(min_value=0)
    unchanged = serializers.IntegerField(min_value=0)
    failed = serializers.IntegerField(min_value=0)


class SyncErrorOutput(serializers.Serializer):
    key = serializers.CharField(help_text="The document that could not be indexed.")
    reason = serializers.CharField(allow_blank=True)


class SyncJobOutput(serializers.Serializer):
    """A KB sync job; `sync_job_json` builds it."""

    id = serializers.IntegerField()
    backend = serializers.CharField()
    source = serializers.CharField()
    trigger = serializers.ChoiceField(choices=SyncJob.Trigger.choices)
    status = serializers.ChoiceField(choices=SyncJob.Status.choices)
    external_id = serializers.CharField(allow_null=True, help_text="Bedrock's ingestion job id.")
    counts = SyncCountsOutput()
    errors = SyncErrorOutput(many=True)
    message = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.FloatField(allow_null=True)
    rerun_requested = serializers.BooleanField(
        help_text="Another sync was asked for while this one ran: a follow-up will run."
    )
    follow_up_id = serializers.IntegerField(allow_null=True)


def sync_job_json(job: SyncJob) -> dict:
    return {
        "id": job.id,
        "backend": job.backend,
        "source": job.source,
        "trigger": job.trigger,
        "status": job.status,
        "external_id": job.external_id or None,
        "counts": {
            "scanned": job.scanned,
            "added": job.added,
            "updated": job.updated,
            "deleted": job.deleted,
            "unchanged": job.unchanged,
            "failed": job.failed,
        },
        "errors": job.errors,
        "message": job.message,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "duration_ms": job.duration_ms,
        # Another sync was asked for while this one ran: the follow-up's id once it exists.
        "rerun_requested": job.rerun_requested,
        "follow_up_id": job.follow_up_id,
    }


class KbSyncApi(APIView):
    permission_classes = [ScopeRequired]

    @extend_schema(request=None, responses={202: SyncJobOutput, 503: KB_UNAVAILABLE})
    def post(self, request):
        job = services.kb_sync_start(
            trigger=SyncJob.Trigger.API, background=settings.KB_SYNC_BACKGROUND
        )
        return Response(sync_job_json(job), status=status.HTTP_202_ACCEPTED)


class KbSyncDetailApi(APIView):
    permission_classes = [ScopeRequired]

    @extend_schema(responses={200: SyncJobOutput, 503: KB_UNAVAILABLE})
    def get(self, request, job_id: int):
        job = SyncJob.objects.filter(pk=job_id).first()
        if job is None:
            raise NotFound("No sync job with this id.")
        # A Bedrock ingestion job runs in AWS: read its status and counts before answering.
        job = services.sync_job_status(job)
        return Response(sync_job_json(job))


class SearchInput(serializers.Serializer):
    q = CleanCharField(max_length=MAX_QUERY_CHARS)
    k = serializers.IntegerField(min_value=1, max_value=50, default=5)
    # JSON text from the query string, parsed here with the API's nesting limit (DRF's
    # JSONField would parse it without one: a RecursionError 500 at 1,000 levels).
    filter = serializers.CharField(
        required=False,
        trim_whitespace=False,
        help_text='A metadata filter as JSON text: `{"equals": {"key": "product", "value": '
        '"blender"}}`, `notEquals`, `in`, `notIn`, `startsWith`, `andAll`, `orAll`; '
        '`{"product": "blender"}` means `equals`.',
    )

    def validate_filter(self, value):
        try:
            value = json_loads(value)
        except ValueError as exc:
            raise serializers.ValidationError(f"Not valid JSON: {exc}.") from None
        return validate_filter(value)


class SearchResultOutput(serializers.Serializer):
    rank = serializers.IntegerField(min_value=1)
    score = serializers.FloatField()
    title = serializers.CharField(allow_blank=True)
    snippet = serializers.CharField(allow_blank=True)
    source = serializers.CharField(allow_blank=True)
    article_id = serializers.IntegerField(allow_null=True)
    passage_ref = serializers.CharField(allow_blank=True)
    heading_path = serializers.ListField(child=serializers.CharField(allow_blank=True))
    metadata = serializers.DictField(child=serializers.JSONField())


class SearchOutput(serializers.Serializer):
    query = serializers.CharField()
    backend = serializers.CharField()
    results = SearchResultOutput(many=True, help_text="Best first.")


def search_result_json(rank: int, passage: Passage) -> dict:
    return {
        "rank": rank,
        "score": passage.score,
        "title": passage.title,
        "snippet": passage.snippet,
        "source": passage.source,
        "article_id": passage.article_id,
        "passage_ref": passage.passage_ref,
        "heading_path": passage.heading_path,
        "metadata": passage.metadata,
    }


class KbSearchApi(APIView):
    permission_classes = [ScopeRequired]

    @extend_schema(
        parameters=[SearchInput],
        responses={200: SearchOutput, 503: KB_UNAVAILABLE},
    )
    def get(self, request):
        data = validated(SearchInput, request.query_params, query=True)
        backend = get_backend()
        passages = kb_retrieve(data["q"], k=data["k"], filters=data.get("filter"))
        return Response(
            {
                "query": data["q"],
                "backend": backend.name,
                "results": [
                    search_result_json(rank, p) for rank, p in enumerate(passages, start=1)
                ],
            }
        )
