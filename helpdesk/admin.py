from django import forms
from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from helpdesk.models import ApiKey
from helpdesk.scopes import SCOPES, format_scopes

# The admin is the agents' workspace. "View site" leads to the API's docs (the app serves no
# other page: "/" is the API's JSON 404).
admin.site.site_header = "Helpdesk"
admin.site.site_title = "Helpdesk"
admin.site.index_title = "Workspace"
admin.site.site_url = "/docs"
# The index with the workspace's own pages on top: dashboard, KB search, the queue.
admin.site.index_template = "admin/workspace_index.html"

# The package's own concrete model is unused: our ApiKey adds scopes.
admin.site.unregister(APIKey)


class ApiKeyForm(forms.ModelForm):
    """Scopes as checkboxes: at least one, only known ones, stored as the model's string."""

    scopes = forms.MultipleChoiceField(
        choices=[(name, f"{name} — {what}") for name, what in SCOPES.items()],
        widget=forms.CheckboxSelectMultiple,
        help_text="A changed scope applies at once in this process and within "
        "API_KEY_CACHE_SECONDS in every other server process.",
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "expiry_date", "revoked"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["scopes"] = sorted(self.instance.scope_set)

    def clean_scopes(self) -> str:
        return format_scopes(self.cleaned_data["scopes"])


class ScopeFilter(admin.SimpleListFilter):
    title = "scope"
    parameter_name = "scope"

    def lookups(self, request, model_admin):
        return [(name, name) for name in SCOPES]

    def queryset(self, request, queryset):
        if self.value() in SCOPES:
            # Whole words of the space-separated list; REGEXP works on SQLite and Postgres.
            return queryset.filter(scopes__regex=rf"(^| ){self.value()}( |$)")
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    form = ApiKeyForm
    list_display = [*APIKeyModelAdmin.list_display, "scopes"]
    list_filter = [ScopeFilter, *APIKeyModelAdmin.list_filter, "revoked"]
