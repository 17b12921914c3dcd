"""Metadata filters for retrieval, with the operators of Bedrock's RetrievalFilter.

Two forms are accepted:
- shorthand: `{"product": "blender", "region": ["uk", "ie"]}` means all of these must match
  (a list means "one of");
- Bedrock's shape: `{"equals": {"key": "product", "value": "blender"}}`, and likewise
  `notEquals`, `in`, `notIn`, `startsWith`, combined with `{"andAll": [...]}` / `{"orAll": [...]}`.

`validate_filter` normalises either form to Bedrock's shape (what the bedrock backend sends
as-is); `matches` evaluates it against an article's metadata for the local backend.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from helpdesk.api.fields import text_problem

LEAF_OPERATORS = {"equals", "notEquals", "in", "notIn", "startsWith"}
GROUP_OPERATORS = {"andAll", "orAll"}
MAX_FILTER_DEPTH = 5
Scalar = (str, int, float, bool)


def _error(message: str) -> serializers.ValidationError:
    return serializers.ValidationError(message)


def validate_filter(value: Any, depth: int = 0) -> dict[str, Any] | None:
    if value is None:
        return None
    if depth > MAX_FILTER_DEPTH:
        raise _error(f"Filters nest at most {MAX_FILTER_DEPTH} levels.")
    if not isinstance(value, dict) or not value:
        raise _error("A filter is a non-empty JSON object.")
    if len(value) == 1:
        ((operator, operand),) = value.items()
        if operator in GROUP_OPERATORS:
            if not isinstance(operand, list) or len(operand) < 2:
                raise _error(f"`{operator}` takes a list of at least two filters.")
            return {operator: [validate_filter(item, depth + 1) for item in operand]}
        if operator in LEAF_OPERATORS:
            return {operator: _leaf(operator, operand)}
        if isinstance(operand, dict):
            raise _error(
                f"Unknown filter operator `{operator}`; use one of "
                f"{sorted(LEAF_OPERATORS | GROUP_OPERATORS)}."
            )
    # Shorthand: every key must match.
    clauses = []
    for key, wanted in value.items():
        if isinstance(wanted, list):
            clauses.append({"in": _leaf("in", {"key": key, "value": wanted})})
        else:
            clauses.append({"equals": _leaf("equals", {"key": key, "value": wanted})})
    return clauses[0] if len(clauses) == 1 else {"andAll": clauses}


def _leaf(operator: str, operand: Any) -> dict[str, Any]:
    if not isinstance(operand, dict) or set(operand) != {"key", "value"}:
        raise _error(f'`{operator}` takes {{"key": ..., "value": ...}}.')
    key, wanted = operand["key"], operand["value"]
    if not isinstance(key, str) or not key or len(key) > 100:
        raise _error("A filter key is a non-empty string of at most 100 characters.")
    # NULs and lone surrogates cannot be encoded for the backend (or the idempotency hash).
    for text in [key, *(wanted if isinstance(wanted, list) else [wanted])]:
        if isinstance(text, str) and text_problem(text):
            raise _error(text_problem(text))
    if operator in {"in", "notIn"}:
        if (
            not isinstance(wanted, list)
            or not wanted
            or not all(isinstance(item, Scalar) for item in wanted)
        ):
            raise _error(f"`{operator}` takes a non-empty list of strings or numbers.")
    elif operator == "startsWith":
        if not isinstance(wanted, str):
            raise _error("`startsWith` takes a string.")
    elif not isinstance(wanted, Scalar):
        raise _error(f"`{operator}` takes a string, number or boolean.")
    return {"key": key, "value": wanted}


def matches(condition: dict[str, Any] | None, metadata: dict[str, Any]) -> bool:
    """Whether metadata satisfies a validated filter."""
    if not condition:
        return True
    ((operator, operand),) = condition.items()
    if operator == "andAll":
        return all(matches(item, metadata) for item in operand)
    if operator == "orAll":
        return any(matches(item, metadata) for item in operand)
    present = operand["key"] in metadata
    actual = metadata.get(operand["key"])
    wanted = operand["value"]
    if operator == "equals":
        return present and _same(actual, wanted)
    if operator == "notEquals":
        return not (present and _same(actual, wanted))
    if operator == "in":
        return present and any(_same(actual, item) for item in wanted)
    if operator == "notIn":
        return not (present and any(_same(actual, item) for item in wanted))
    if operator == "startsWith":
        return isinstance(actual, str) and actual.startswith(wanted)
    return False


def _same(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, list):  # a list attribute matches when it contains the value
        return any(_same(item, wanted) for item in actual)
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return actual is wanted
    return actual == wanted
