"""The `triage` answer of POST /tickets and GET /triage/metrics, as output serializers (what
the OpenAPI schema shows; tests/test_schema.py checks the builders against them)."""

from rest_framework import serializers

from triage.arrival import FULL, LEXICAL, STATUSES

METHODS = [FULL, LEXICAL]


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
        "`off`: the stored model is unreadable, or (without the local encoder) was trained "
        "before its word view had a threshold of its own: retrain it (see GET /health); "
        "`error`: triage failed (the ticket is unaffected).",
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
    method = serializers.ChoiceField(
        choices=METHODS,
        allow_null=True,
        help_text="What read the ticket: `full`, the model's every view (the ticket's query "
        "embedding and its words), where the local KB backend embeds tickets; `lexical`, its "
        "word view alone, with a weight and abstain threshold of its own (KB_BACKEND=bedrock, "
        "the Lambda). null when no model read it.",
    )
    language = serializers.CharField(allow_null=True, help_text="ISO 639-1 code, if detected.")
    language_note = serializers.CharField(
        allow_blank=True,
        help_text="Why `language` is null: too short to tell (fewer than 3 words or 15 "
        "letters), no language clear, or detection not installed and the function words not "
        "clear; with a language, that the text's function words overruled the trigram "
        "model's read, or told it alone (where detection is not installed: the Lambda).",
    )
    sentiment = SentimentOutput(
        allow_null=True, help_text="null when not scored (see `sentiment_note`)."
    )
    sentiment_note = serializers.CharField(
        allow_blank=True,
        help_text="Why `sentiment` is null for a ticket settled in another language than "
        "English (VADER reads English only).",
    )
    suggestions_note = serializers.CharField(
        allow_blank=True,
        help_text="Set when the ticket is certainly in another language than the KB's "
        "articles: names both, and how many suggestions were close enough in meaning to serve "
        "(weak matches across the languages are left out).",
    )
    priority_rule = serializers.CharField(
        allow_blank=True, help_text="Set when the sentiment rule raised the priority."
    )
    orders_mentioned = serializers.ListField(
        child=serializers.CharField(),
        help_text="The customer's own orders the words name (numbers, first named first), "
        "read when the ticket had no order: one is linked to the ticket (`order_source` "
        "`text`), several are left for an agent to choose.",
    )


class MetricsInput(serializers.Serializer):
    days = serializers.IntegerField(
        min_value=1, max_value=3650, default=90, help_text="Tickets created in the last N days."
    )
    method = serializers.ChoiceField(
        choices=METHODS,
        required=False,
        help_text="Only the tickets read by the full model, or by its word view (where no "
        "encoder runs: Bedrock, the Lambda). All when absent.",
    )


class ConfusedPairOutput(serializers.Serializer):
    predicted = serializers.CharField(help_text="The model's best category.")
    corrected = serializers.CharField(help_text="The agent's category (`(none)`: cleared).")
    count = serializers.IntegerField(min_value=1)


class MetricsOutput(serializers.Serializer):
    days = serializers.IntegerField()
    method = serializers.ChoiceField(
        choices=METHODS, allow_null=True, help_text="The `method` asked for (null: all)."
    )
    threshold = serializers.FloatField(help_text="TRIAGE_APPLY_THRESHOLD now.")
    model = serializers.IntegerField(allow_null=True, help_text="The current model's generation.")
    tickets_read = serializers.IntegerField(help_text="Tickets the model read (had words).")
    applied = serializers.IntegerField(help_text="Of those, how many got the category applied.")
    coverage = serializers.FloatField(allow_null=True, help_text="applied / tickets_read.")
    applied_changed_by_agent = serializers.IntegerField()
    applied_accuracy = serializers.FloatField(
        allow_null=True, help_text="Applied predictions no agent changed afterwards, as a share."
    )
    applied_reviewed = serializers.IntegerField(
        help_text="Applied predictions an agent later set a category on (confirmed or changed)."
    )
    applied_reviewed_accuracy = serializers.FloatField(allow_null=True)
    not_applied_reviewed = serializers.IntegerField(
        help_text="Tickets left for an agent (below the threshold, out of scope) that an agent "
        "then categorised."
    )
    not_applied_agreement = serializers.FloatField(
        allow_null=True, help_text="How often that agent's category was the model's best guess."
    )
    confused_pairs = ConfusedPairOutput(many=True, help_text="Most frequent first.")
