"""The `triage` answer of POST /tickets and GET /triage/metrics, as output serializers (what
the OpenAPI schema shows; tests/test_schema.py checks the builders against them)."""

from rest_framework import serializers

from triage.arrival import STATUSES


class AlternativeOutput(serializers.Serializer):
    category = serializers.CharField(help_text="A category name the model knows.")
    confidence = serializers.FloatField(min_value=0, max_value=1)


class SentimentOutput(serializers.Serializer):
    label = serializers.ChoiceField(choices=["negative", "neutral", "positive"])
    score = serializers.FloatField(min_value=-1, max_value=1, help_text="VADER compound score.")


class TriageOutput(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=list(STATUSES),
        help_text="`applied`: the category was set; `suggested`: below TRIAGE_APPLY_THRESHOLD, "
        "left for an agent; `out_of_scope`: no category fits; `category_unavailable`: the "
        "predicted category was deleted or made inactive; `no_model`: nothing trained yet; "
        "`off`: the stored model is unreadable (see GET /health); `unavailable`: no local "
        "encoder here; `error`: triage failed (the ticket is unaffected).",
    )
    reason = serializers.CharField(allow_blank=True)
    category = serializers.CharField(allow_null=True, help_text="The predicted category's name.")
    category_id = serializers.IntegerField(allow_null=True)
    confidence = serializers.FloatField(
        allow_null=True, min_value=0, max_value=1, help_text="Of the best in-scope category."
    )
    applied = serializers.BooleanField(help_text="The category was set on the ticket.")
    alternatives = AlternativeOutput(many=True, help_text="The best categories, best first.")
    threshold = serializers.FloatField(help_text="TRIAGE_APPLY_THRESHOLD.")
    model = serializers.IntegerField(allow_null=True, help_text="The model's generation.")
    language = serializers.CharField(allow_null=True, help_text="ISO 639-1 code, if detected.")
    sentiment = SentimentOutput(allow_null=True)
    suggestions_note = serializers.CharField(
        allow_blank=True,
        help_text="Why no suggestion came back, when the ticket's language is not the KB's.",
    )
    priority_rule = serializers.CharField(
        allow_blank=True, help_text="Set when the sentiment rule raised the priority."
    )
