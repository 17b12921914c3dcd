"""How the OpenAPI schema (drf-spectacular) describes what every operation can answer.

Every operation documents its errors in the one envelope, `{"error": {"code", "message",
"fields"}}`, with the statuses it can really give, inferred from the view so that a new endpoint
is covered by construction:

- 400 when it reads input (a request body, query parameters);
- 401 and 403 unless it is public (`AllowAny`);
- 404 when its path names an object, and on lists (a page past the end);
- 413 and 415 when it reads a JSON body;
- 429 when it is throttled;
- 503 `database_unavailable` on every operation (the database refused, timed out or dropped;
  with `Retry-After`).

Statuses only some operations give (409; 503 for other dependencies) are declared on the view
with `extend_schema`; an explicitly declared status is never replaced. tests/test_schema.py runs
`spectacular --validate --fail-on-warn` and tests/test_schemathesis.py fuzzes every operation.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework.permissions import AllowAny

from helpdesk.api.serializers import ErrorOutput

ERRORS = {
    "400": "`validation_error` (the problems per field in `fields`) or `parse_error` "
    "(the body is not JSON).",
    "401": "`not_authenticated` or `authentication_failed`: no API key, or an unknown, "
    "revoked or expired one.",
    "403": "`permission_denied`: the credentials may not do this (a non-staff session; an "
    "operation for staff or admin keys only).",
    "404": "`not_found`: no such object, or a page past the end of a list.",
    "409": "A conflict with the current state; see `code`.",
    "413": "`payload_too_large`: the request is over `API_MAX_REQUEST_BYTES`.",
    "415": "`unsupported_media_type`: send `Content-Type: application/json`.",
    "429": "`throttled`: too many requests; retry after `Retry-After` seconds.",
    "503": "A dependency is unavailable; see `code` (`database_unavailable`, with "
    "`Retry-After`; `kb_unavailable` on `/kb/*`).",
}


def error_response(status: int | str, description: str | None = None) -> OpenApiResponse:
    """For `extend_schema(responses={...})`: the error envelope with what this status means."""
    return OpenApiResponse(ErrorOutput, description=description or ERRORS[str(status)])


class HelpdeskAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status in self._error_statuses():
            if status not in responses:
                responses[status] = self._get_response_for_code(
                    error_response(status), status, direction=direction
                )
        if "429" in responses:
            responses["429"].setdefault("headers", {})["Retry-After"] = {
                "schema": {"type": "integer"},
                "description": "Seconds until a request is allowed again.",
            }
        return dict(sorted(responses.items()))

    def _error_statuses(self) -> list[str]:
        statuses = set()
        reads_body = self.method in ("POST", "PUT", "PATCH") and bool(self._get_request_body())
        if reads_body or self._get_query_parameter_names():
            statuses.add("400")
        if reads_body:
            statuses |= {"413", "415"}
        if not all(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            statuses |= {"401", "403"}
        if "{" in self.path or (self.method == "GET" and self._is_list_view()):
            statuses.add("404")
        if self.view.get_throttles():
            statuses.add("429")
        statuses.add("503")  # every operation reads the database
        return sorted(statuses)

    def _get_query_parameter_names(self) -> list[str]:
        return [p["name"] for p in self._get_parameters() if p.get("in") == "query"]


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "helpdesk.auth.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`, the key `manage.py create_api_key` printed.",
        }


def closed_request_bodies(result, generator, request, public):
    """Postprocessing hook: a JSON request body, and every object nested in it, takes only its
    own fields (`additionalProperties: false`), as `helpdesk.api.utils.validated` refuses any
    other with a 400. Free-form fields (`metadata`, `kb_filters`) are not components and stay
    open."""
    schemas = result.get("components", {}).get("schemas", {})
    seen: set[str] = set()

    def close(schema: dict) -> None:
        name = schema.get("$ref", "").rsplit("/", 1)[-1]
        if name and name in schemas and name not in seen:
            seen.add(name)
            component = schemas[name]
            if component.get("type") == "object" and "properties" in component:
                component["additionalProperties"] = False
                for prop in component["properties"].values():
                    for part in [prop, *prop.get("allOf", []), prop.get("items", {})]:
                        close(part)

    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                close(content["application/json"].get("schema", {}))
    return result
