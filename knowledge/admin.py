"""The knowledge base in the admin: articles (read-only: the source folder or bucket is the
truth, a sync writes them), sync jobs (read-only, with counts and per-file errors), "Sync now"
and "KB search".

"Sync now" starts a sync through knowledge.services.kb_sync_start, as POST /kb/sync and
`manage.py kb_sync` do; while one is in progress it shows that job instead (and asks for no
follow-up: a second click is impatience, not news). "KB search" is knowledge.selectors.kb_retrieve,
the retrieval GET /kb/search answers with.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from helpdesk.api.exceptions import KnowledgeBackendUnavailable
from knowledge import selectors, services
from knowledge.apis import MAX_QUERY_CHARS
from knowledge.backends.base import get_backend
from knowledge.models import Article, Chunk, KnowledgeState, SyncJob

SEARCH_PERMISSION = "knowledge.search_kb"
SYNC_PERMISSION = "knowledge.start_sync"
SEARCH_TEMPLATE = "admin/knowledge/article/search.html"


def _is_link(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def _kb_links(request) -> dict:
    """What the KB pages' tool bars offer this user."""
    return {
        "can_search_kb": request.user.has_perm(SEARCH_PERMISSION),
        "can_sync_kb": request.user.has_perm(SYNC_PERMISSION),
        "last_sync": selectors.sync_job_last_finished(),
        "running_sync": selectors.sync_job_running(),
    }


class ChunkInline(admin.TabularInline):
    model = Chunk
    extra = 0
    fields = ["position", "heading_path", "text"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """What a sync writes: shown, never edited by hand (the next sync would undo it, and the
    in-memory indexes would not know)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class SearchForm(forms.Form):
    q = forms.CharField(
        label="Query",
        max_length=MAX_QUERY_CHARS,
        strip=True,
        widget=forms.TextInput(attrs={"size": 70, "autofocus": True}),
    )
    k = forms.IntegerField(label="Results", min_value=1, max_value=50, initial=5, required=False)


@admin.register(Article)
class ArticleAdmin(ReadOnlyAdmin):
    list_display = ["title", "source_key", "public_link", "chunk_count", "last_synced"]
    search_fields = ["title", "source_key"]
    fields = [
        "title",
        "source_key",
        "public_link",
        "chunk_count",
        "metadata",
        "content_hash",
        "created_at",
        "last_synced",
    ]
    readonly_fields = fields
    inlines = [ChunkInline]

    def get_queryset(self, request):
        # The count in the same query as the rows (no query per article).
        return super().get_queryset(request).annotate(chunk_total=Count("chunks"))

    def get_urls(self):
        search = self.admin_site.admin_view(self.search_view)
        return [path("search/", search, name="knowledge_article_search"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), **_kb_links(request)})

    @admin.display(description="public link", ordering="uri")
    def public_link(self, article: Article) -> str:
        if _is_link(article.uri):
            return format_html('<a href="{0}" target="_blank" rel="noopener">{0}</a>', article.uri)
        return article.uri

    @admin.display(description="chunks", ordering="chunk_total")
    def chunk_count(self, article: Article) -> int:
        return article.chunk_total

    @admin.display(description="last changed by a sync", ordering="updated_at")
    def last_synced(self, article: Article):
        return article.updated_at

    def search_view(self, request):
        """The retriever for a query, as GET /kb/search answers it: rank, score, title,
        headings, snippet and link of each passage."""
        if not request.user.has_perm(SEARCH_PERMISSION):
            raise PermissionDenied
        form = SearchForm(request.GET or None)
        results, error = [], None
        if form.is_valid():
            try:
                passages = selectors.kb_retrieve(
                    form.cleaned_data["q"], k=form.cleaned_data["k"] or 5
                )
            except KnowledgeBackendUnavailable as exc:
                error = str(exc)
            else:
                results = [
                    {
                        "rank": rank,
                        "passage": passage,
                        "link": passage.source if _is_link(passage.source) else "",
                        "article_url": (
                            reverse("admin:knowledge_article_change", args=[passage.article_id])
                            if passage.article_id
                            else ""
                        ),
                    }
                    for rank, passage in enumerate(passages, start=1)
                ]
        return TemplateResponse(
            request,
            SEARCH_TEMPLATE,
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": "KB search",
                "subtitle": None,
                "form": form,
                "searched": form.is_bound and form.is_valid(),
                "results": results,
                "error": error,
                "backend": get_backend().name,
                "generation": KnowledgeState.current()[0],
            },
        )


@admin.register(Chunk)
class ChunkAdmin(ReadOnlyAdmin):
    list_display = ["article", "position", "heading_path"]
    search_fields = ["text", "article__title"]
    list_select_related = ["article"]
    exclude = ["embedding", "heading_embedding"]
    readonly_fields = ["article", "position", "heading_path", "text", "snippet"]


@admin.register(SyncJob)
class SyncJobAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "backend",
        "trigger",
        "status",
        "scanned",
        "added",
        "updated",
        "deleted",
        "unchanged",
        "failed",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "trigger", "backend"]
    fields = [
        "status",
        "backend",
        "source",
        "trigger",
        "external_id",
        "counts",
        "file_errors",
        "message",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
        "duration",
        "rerun_requested",
        "follow_up",
    ]
    readonly_fields = fields

    def get_urls(self):
        start = self.admin_site.admin_view(self.start_view)
        return [path("start/", start, name="knowledge_syncjob_start"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), **_kb_links(request)})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        if job is not None and job.status == SyncJob.Status.RUNNING:
            # A Bedrock ingestion job runs in AWS: read it first, as GET /kb/sync/{id} does.
            services.sync_job_status(job)
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **_kb_links(request)}
        )

    def start_view(self, request):
        """Sync now (a POST): the job in progress if there is one, else a new one, started as
        POST /kb/sync starts it (in the background with KB_SYNC_BACKGROUND)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(SYNC_PERMISSION):
            raise PermissionDenied
        job = selectors.sync_job_running()
        if job is not None:
            messages.warning(
                request, f"Sync {job.id} is already running: here it is (no second sync started)."
            )
        else:
            job = services.kb_sync_start(
                trigger=SyncJob.Trigger.MANUAL, background=settings.KB_SYNC_BACKGROUND
            )
            level = messages.ERROR if job.status == SyncJob.Status.FAILED else messages.SUCCESS
            messages.add_message(request, level, f"Sync {job.id} started: {job.status}.")
        return HttpResponseRedirect(reverse("admin:knowledge_syncjob_change", args=[job.id]))

    @admin.display(description="counts")
    def counts(self, job: SyncJob) -> str:
        return (
            f"scanned {job.scanned} · added {job.added} · updated {job.updated} · "
            f"deleted {job.deleted} · unchanged {job.unchanged} · failed {job.failed}"
        )

    @admin.display(description="files that failed")
    def file_errors(self, job: SyncJob) -> str:
        if not job.errors:
            return "none"
        rows = format_html_join(
            "",
            "<li><code>{}</code>: {}</li>",
            ((error.get("key", "?"), error.get("reason", "")) for error in job.errors),
        )
        return format_html('<ul class="hd-errors">{}</ul>', rows)

    @admin.display(description="duration")
    def duration(self, job: SyncJob) -> str:
        ms = job.duration_ms
        return "" if ms is None else f"{ms / 1000:.1f} s"


@admin.register(KnowledgeState)
class KnowledgeStateAdmin(ReadOnlyAdmin):
    list_display = ["generation", "updated_at"]
