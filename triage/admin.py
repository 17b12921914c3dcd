from django.contrib import admin, messages
from django.db.models import Count, Q

from triage.models import Category, TriageModel
from triage.services import triage_model_make_current


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "active",
        "labelled",
        "default_priority",
        "default_assignee",
        "updated_at",
    ]
    list_filter = ["active", "default_priority"]
    search_fields = ["name", "description"]
    list_select_related = ["default_assignee"]
    raw_id_fields = ["default_assignee"]

    def get_queryset(self, request):
        # The labels triage trains on first (an agent's or a rule's): a category with few is
        # one the model knows little of.
        labels = Q(tickets__category_source__in=["agent", "rule"])
        return super().get_queryset(request).annotate(labelled=Count("tickets", filter=labels))

    @admin.display(description="Labelled tickets", ordering="labelled")
    def labelled(self, obj: Category) -> int:
        return obj.labelled


@admin.register(TriageModel)
class TriageModelAdmin(admin.ModelAdmin):
    list_display = [
        "generation",
        "current",
        "n_examples",
        "cv_in_scope_accuracy",
        "vectors",
        "created_at",
    ]
    list_filter = ["current"]
    exclude = ["blob"]
    readonly_fields = ["generation", "revision", "current", "labels", "report", "n_examples"]
    actions = ["make_current"]

    def has_add_permission(self, request) -> bool:
        return False  # models come from `manage.py triage_train`

    def get_queryset(self, request):
        return super().get_queryset(request).defer("blob")

    @admin.display(description="CV in-scope accuracy")
    def cv_in_scope_accuracy(self, obj: TriageModel):
        return (obj.report or {}).get("cv_in_scope_accuracy")

    @admin.display(description="Trained on")
    def vectors(self, obj: TriageModel) -> str:
        """Whose vectors: a model of Titan's is read whole only where tickets get Titan's
        vectors of that model and size (SIMILAR_ENCODER=bedrock), elsewhere by its word view."""
        encoder = (obj.report or {}).get("encoder")
        return f"Titan ({encoder})" if encoder else "local encoder (MiniLM)"

    @admin.action(description="Make current (roll back to this model)")
    def make_current(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one model.", level=messages.ERROR)
            return
        model = triage_model_make_current(model=queryset.get())
        self.message_user(
            request,
            f"Model {model.generation} is current; every process serves it within a second.",
            level=messages.SUCCESS,
        )
