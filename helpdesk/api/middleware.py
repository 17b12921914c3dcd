"""API-wide guards that sit in front of DRF.

- A request body larger than API_MAX_REQUEST_BYTES gets 413 before anything reads it.
- Errors that never reach DRF's handler (unknown URLs, unhandled exceptions, Django's own 4xx)
  become JSON under the API paths, in DEBUG too, so clients never get an HTML page.
"""

import logging
from http import HTTPStatus

from django.conf import settings
from django.http import JsonResponse

from helpdesk.api.handlers import error_response

logger = logging.getLogger("helpdesk.api")

# Paths that serve HTML on purpose; everything else is the JSON API.
HTML_PREFIXES = ("/admin", "/docs", "/static", "/api-auth")

STATUS_CODES = {
    400: "bad_request",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    500: "server_error",
}


def is_api_path(path: str) -> bool:
    return not path.startswith(HTML_PREFIXES)


class ApiErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if is_api_path(request.path):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return error_response(400, "bad_request", "Invalid Content-Length header.")
            if length > settings.API_MAX_REQUEST_BYTES:
                return error_response(
                    413,
                    "payload_too_large",
                    f"Request body is {length} bytes; the limit is "
                    f"{settings.API_MAX_REQUEST_BYTES} bytes.",
                )
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and is_api_path(request.path)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            data = getattr(response, "data", None)  # a DRF error rendered as HTML (browsable API)
            if isinstance(data, dict) and "error" in data:
                json_response = JsonResponse(data, status=response.status_code)
            else:
                code = STATUS_CODES.get(response.status_code, "error")
                json_response = error_response(response.status_code, code, _message(response))
            for header in ("WWW-Authenticate", "Retry-After", "Allow"):
                if header in response:
                    json_response[header] = response[header]
            return json_response
        return response

    def process_exception(self, request, exception):
        if not is_api_path(request.path):
            return None
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(500, "server_error", "Internal server error.")


def _message(response) -> str:
    try:
        return HTTPStatus(response.status_code).phrase + "."
    except ValueError:
        return "Error."


def handler404(request, exception=None):
    return error_response(404, "not_found", "Not found.")


def handler500(request):
    return error_response(500, "server_error", "Internal server error.")
