"""The error envelope every API error answers with, declared once for the OpenAPI schema.

`helpdesk.api.handlers.error_body` builds it; tests/test_schema.py checks the two agree.
"""

from rest_framework import serializers


class ErrorDetailOutput(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable; clients branch on this.")
    message = serializers.CharField(help_text="For people; may change between releases.")
    fields = serializers.DictField(
        child=serializers.JSONField(),
        help_text="Per input field (or header), the problems found; empty when none.",
    )


class ErrorOutput(serializers.Serializer):
    error = ErrorDetailOutput()
