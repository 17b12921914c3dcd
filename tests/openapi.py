"""The generated OpenAPI schema, and a check that a real response is what it documents.

`strict_schema()` is the schema with `additionalProperties: false` on every response object
that lists its properties, so an answer that carries a key its serializer does not declare
fails, as does one that lacks a declared key (they are all `required`): the output serializers
are the one declaration of each shape, and the dict builders must produce exactly that. The
published schema stays open to additions (clients should ignore unknown keys).
"""

import copy
import functools
import json

import jsonschema
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer


@functools.cache
def _generated() -> str:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return OpenApiJsonRenderer().render(schema).decode()


def openapi_schema() -> dict:
    return json.loads(_generated())


def strict_schema() -> dict:
    schema = openapi_schema()
    for name, component in schema["components"]["schemas"].items():
        if name.endswith("Request"):  # what clients send (COMPONENT_SPLIT_REQUEST)
            continue
        if "properties" in component and "additionalProperties" not in component:
            component["additionalProperties"] = False
    return schema


def to_json_schema(node):
    """OpenAPI 3.0's `nullable` as JSON Schema's null type."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: to_json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"]
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


@functools.cache
def _components() -> dict:
    return to_json_schema(strict_schema()["components"])


def operation(method: str, path: str) -> dict:
    return strict_schema()["paths"][path][method.lower()]


def assert_conforms(response, method: str, path: str) -> dict:
    """`response` (a test client's) has a documented status and a body of the documented
    shape, strictly; returns the body."""
    responses = operation(method, path)["responses"]
    status = str(response.status_code)
    assert status in responses, f"{method} {path}: {status} is not documented: {response.content}"
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    documented = responses[status]["content"]["application/json"]["schema"]
    validator = jsonschema.Draft202012Validator(
        {**to_json_schema(copy.deepcopy(documented)), "components": _components()}
    )
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{method} {path} {status} at {list(e.absolute_path)}: {e.message}" for e in errors
    )
    return body
