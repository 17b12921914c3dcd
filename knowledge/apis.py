"""Knowledge-base endpoints: start/poll a sync, and search the retriever directly."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.api.exceptions import NotFound
from helpdesk.api.fields import CleanCharField
from helpdesk.api.parsers import json_loads
from helpdesk.api.utils import iso, validated
from helpdesk.auth import ScopeRequired
from knowledge import services
from knowledge.backends.base import get_backend
from knowledge.filters import validate_filter
from knowledge.models import SyncJob
from knowledge.selectors import kb_retrieve

# Bedrock's Retrieve accepts at most 20,000 characters of query text; we hold the local
# backend to the same contract so a client works with both.
MAX_QUERY_CHARS = 20_000


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

    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT})
    def post(self, request):
        job = services.kb_sync_start(
            trigger=SyncJob.Trigger.API, background=settings.KB_SYNC_BACKGROUND
        )
        return Response(sync_job_json(job), status=status.HTTP_202_ACCEPTED)


class KbSyncDetailApi(APIView):
    permission_classes = [ScopeRequired]

    @extend_schema(responses=OpenApiTypes.OBJECT)
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
    filter = serializers.CharField(required=False, trim_whitespace=False)

    def validate_filter(self, value):
        try:
            value = json_loads(value)
        except ValueError as exc:
            raise serializers.ValidationError(f"Not valid JSON: {exc}.") from None
        return validate_filter(value)


class KbSearchApi(APIView):
    permission_classes = [ScopeRequired]

    @extend_schema(
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, required=True),
            OpenApiParameter("k", OpenApiTypes.INT),
            OpenApiParameter("filter", OpenApiTypes.STR, description="JSON metadata filter"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        data = validated(SearchInput, request.query_params)
        backend = get_backend()
        passages = kb_retrieve(data["q"], k=data["k"], filters=data.get("filter"))
        return Response(
            {
                "query": data["q"],
                "backend": backend.name,
                "results": [
                    {
                        "rank": rank,
                        "score": p.score,
                        "title": p.title,
                        "snippet": p.snippet,
                        "source": p.source,
                        "article_id": p.article_id,
                        "passage_ref": p.passage_ref,
                        "heading_path": p.heading_path,
                        "metadata": p.metadata,
                    }
                    for rank, p in enumerate(passages, start=1)
                ],
            }
        )
