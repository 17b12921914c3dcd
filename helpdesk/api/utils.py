import time
from typing import Any

from rest_framework import serializers


def validated(
    serializer_class: type[serializers.Serializer], data: Any, *, partial: bool = False
) -> dict[str, Any]:
    """Run an input serializer; a failure raises ValidationError (→ 400 with `fields`)."""
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def iso(value) -> str | None:
    """An aware datetime as ISO 8601 with a `Z` suffix, the API's one timestamp format."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def elapsed_ms(started: float) -> float:
    """Milliseconds since `started` (a `time.perf_counter()` reading), for health checks."""
    return round((time.perf_counter() - started) * 1000, 2)
