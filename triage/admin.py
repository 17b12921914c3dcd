from django.contrib import admin

from triage.models import Category, TriageModel


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "active", "default_priority", "default_assignee", "updated_at"]
    list_filter = ["active", "default_priority"]
    search_fields = ["name", "description"]
    list_select_related = ["default_assignee"]
    raw_id_fields = ["default_assignee"]


@admin.register(TriageModel)
class TriageModelAdmin(admin.ModelAdmin):
    list_display = ["generation", "current", "n_examples", "created_at"]
    list_filter = ["current"]
    exclude = ["blob"]
    readonly_fields = ["generation", "revision", "current", "labels", "report", "n_examples"]

    def has_add_permission(self, request) -> bool:
        return False  # models come from `manage.py triage_train`
