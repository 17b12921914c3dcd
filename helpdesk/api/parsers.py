"""The API's JSON parser: DRF's, with a nesting limit.

Python's `json` recurses once per nesting level, so `"[" * 10000 + "]" * 10000` (20 KB, well
under the body limit) raised RecursionError, a 500. Here that, and anything nested deeper than
API_MAX_JSON_DEPTH, is a 400 `parse_error`; no endpoint takes JSON nested anywhere near that
deep. Parsing stays in C: the depth is measured on the parsed value, and only when the text has
enough brackets to nest that deep at all (never for an ordinary ticket).
"""

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

_CONTAINERS = (dict, list)


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays/objects in `value` nest more than `limit` levels (iteratively)."""
    level = [value]
    for _ in range(limit):
        below = []
        for item in level:
            for child in item.values() if type(item) is dict else item:
                if isinstance(child, _CONTAINERS):
                    below.append(child)
        if not below:
            return False
        level = below
    return True


def json_loads(text: str, *, strict: bool = True) -> Any:
    """`json.loads` with the API's nesting limit: ValueError for text too deep or not JSON."""
    limit = settings.API_MAX_JSON_DEPTH
    try:
        value = json.loads(text, parse_constant=json.strict_constant if strict else None)
    except RecursionError:  # the C parser recursing past Python's limit (~1,000 levels)
        value = None
    else:
        if (
            not isinstance(value, _CONTAINERS)
            or text.count("[") + text.count("{") <= limit  # too few brackets to nest that deep
            or not depth_exceeds(value, limit)
        ):
            return value
    raise ValueError(f"nested deeper than {limit} levels (API_MAX_JSON_DEPTH)")


class LimitedJSONParser(JSONParser):
    """DRF's JSONParser (media type, strictness, `parse_error`) with the nesting limit."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json_loads(stream.read().decode(encoding), strict=self.strict)
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
            raise ParseError(f"JSON parse error - {exc}") from None
