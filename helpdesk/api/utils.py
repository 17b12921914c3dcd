import threading
import time
from collections.abc import Mapping
from typing import Any

from rest_framework import serializers


def validated(
    serializer_class: type[serializers.Serializer],
    data: Any,
    *,
    partial: bool = False,
    closed: bool = True,
) -> dict[str, Any]:
    """Run an input serializer; a failure raises ValidationError (→ 400 with `fields`).

    A request body (`closed`; query strings pass False: `page`, filters and cache busters ride
    along there) names each field it does not take, nested objects' too, as an error rather
    than dropping it: a 200 without the change a PATCH asked for (`"category"` for
    `"category_id"`, `"statuss"`), or a ticket created without the `"prority"` or the custom
    field its client sent (custom data has its place: `metadata`), would look accepted when
    it was lost."""
    fields = _bound_fields(serializer_class, partial)
    if closed and (unknown := _unknown_fields(fields, data)):
        raise serializers.ValidationError(unknown)
    serializer = serializer_class(data=data, partial=partial)
    serializer.fields = fields
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _unknown_fields(fields, data: Any) -> dict[str, Any]:
    """{name: [message]} for each key of `data` that is not a writable field, and {name:
    {...}} for a nested object's (a Serializer field; JSON fields such as `metadata` take
    anything)."""
    if not isinstance(data, Mapping):
        return {}  # not an object: the serializer says so
    writable = {name: field for name, field in fields.items() if not field.read_only}
    errors: dict[str, Any] = {}
    for name, value in data.items():
        field = writable.get(name)
        if field is None:
            errors[str(name)] = [f"Not a field this request takes; it takes {', '.join(writable)}."]
        elif isinstance(field, serializers.Serializer) and (
            nested := _unknown_fields(field.fields, value)
        ):
            errors[name] = nested
        elif isinstance(field, serializers.ListSerializer) and isinstance(value, list):
            items = [_unknown_fields(field.child.fields, item) for item in value]
            if any(items):
                errors[name] = items  # DRF's shape for a list's errors: one entry per item
    return errors


_templates = threading.local()


def _bound_fields(serializer_class: type[serializers.Serializer], partial: bool):
    """The serializer's fields, deep-copied from its declaration and bound once per thread.

    DRF deep-copies every declared field for each serializer it makes (≈ 0.35 of the 0.7 ms a
    ticket's validation took in a request). Validation reads a field's settings and its root
    serializer's `partial` and `context` and keeps nothing on the field, so the fields of a
    template serializer without data (same `partial`, empty context, as here) serve every
    validation in its thread; per thread, since `bind` points them at that template."""
    cache = _templates.__dict__.setdefault("fields", {})
    fields = cache.get((serializer_class, partial))
    if fields is None:
        fields = cache[serializer_class, partial] = serializer_class(partial=partial).fields
    return fields


def iso(value) -> str | None:
    """An aware datetime as ISO 8601 with a `Z` suffix, the API's one timestamp format."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def elapsed_ms(started: float) -> float:
    """Milliseconds since `started` (a `time.perf_counter()` reading), for health checks."""
    return round((time.perf_counter() - started) * 1000, 2)
