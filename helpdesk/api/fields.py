"""Serializer fields that keep text the database can store.

Postgres rejects NUL characters in text and JSON, and a lone UTF-16 surrogate (valid in JSON
`"\\ud800"`, not in UTF-8) fails to encode: either would be a 500. We reject both with a 400.
"""

import json
from typing import Any

from rest_framework import serializers


def text_problem(value: str) -> str | None:
    if "\x00" in value:
        return "Null characters are not allowed."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Text must be valid Unicode (no unpaired surrogates)."
    return None


class CleanCharField(serializers.CharField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        problem = text_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


def _check_json(value: Any, depth: int = 0) -> None:
    if depth > 20:
        raise serializers.ValidationError("Nested too deeply (at most 20 levels).")
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json(key, depth + 1)
            _check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth + 1)


class MetadataField(serializers.JSONField):
    """A JSON object of free-form attributes, bounded in size."""

    def __init__(self, *, max_bytes: int = 16 * 1024, **kwargs):
        self.max_bytes = max_bytes
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Expected a JSON object.")
        _check_json(value)
        if len(json.dumps(value, ensure_ascii=False).encode()) > self.max_bytes:
            raise serializers.ValidationError(f"At most {self.max_bytes} bytes of JSON.")
        return value
