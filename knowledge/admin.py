from django.contrib import admin

from knowledge.models import Article, Chunk, KnowledgeState, SyncJob


class ChunkInline(admin.TabularInline):
    model = Chunk
    extra = 0
    fields = ["position", "heading_path", "text"]
    readonly_fields = fields
    can_delete = False


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ["title", "source_key", "updated_at"]
    search_fields = ["title", "source_key"]
    readonly_fields = ["content_hash", "created_at", "updated_at"]
    inlines = [ChunkInline]


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ["article", "position", "heading_path"]
    search_fields = ["text", "article__title"]
    list_select_related = ["article"]
    raw_id_fields = ["article"]
    exclude = ["embedding"]


@admin.register(SyncJob)
class SyncJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "backend",
        "trigger",
        "status",
        "scanned",
        "added",
        "updated",
        "deleted",
        "failed",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "trigger", "backend"]
    readonly_fields = [f.name for f in SyncJob._meta.fields]


@admin.register(KnowledgeState)
class KnowledgeStateAdmin(admin.ModelAdmin):
    list_display = ["generation", "updated_at"]
