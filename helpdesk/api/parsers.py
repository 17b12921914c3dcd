"""The API's JSON parser: DRF's, with a nesting limit.

Python's `json` recurses once per nesting level, so `"[" * 10000 + "]" * 10000` (20 KB, well
under the body limit) raised RecursionError, a 500. Depth is counted on the raw text before
parsing, and anything deeper than API_MAX_JSON_DEPTH is a 400 `parse_error`; no endpoint takes
JSON nested anywhere near that deep.
"""

import re
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

# A JSON string (unterminated: to the end, so the scan stays linear) or a bracket. Brackets
# inside strings are not nesting; the possessive quantifiers never backtrack.
_TOKENS = re.compile(r'"(?:[^"\\]++|\\.)*+"?|[\[\]{}]', re.DOTALL)


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether arrays/objects in `text` nest more than `limit` levels (counted, not parsed)."""
    if text.count("[") + text.count("{") <= limit:
        return False  # the common case, at C speed: too few brackets to nest that deep
    depth = 0
    for token in _TOKENS.finditer(text):
        char = token.group()
        if char == "[" or char == "{":
            depth += 1
            if depth > limit:
                return True
        elif char == "]" or char == "}":
            depth -= 1
    return False


def json_loads(text: str, *, strict: bool = True) -> Any:
    """`json.loads` with the API's nesting limit: ValueError for text too deep or not JSON."""
    limit = settings.API_MAX_JSON_DEPTH
    if json_depth_exceeds(text, limit):
        raise ValueError(f"nested deeper than {limit} levels (API_MAX_JSON_DEPTH)")
    try:
        return json.loads(text, parse_constant=json.strict_constant if strict else None)
    except RecursionError:  # unreachable with any sane limit; never a 500 all the same
        raise ValueError(f"nested deeper than {limit} levels (API_MAX_JSON_DEPTH)") from None


class LimitedJSONParser(JSONParser):
    """DRF's JSONParser (media type, strictness, `parse_error`) with the nesting limit."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json_loads(stream.read().decode(encoding), strict=self.strict)
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
            raise ParseError(f"JSON parse error - {exc}") from None
