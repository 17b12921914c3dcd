"""API-wide guards that sit in front of DRF.

- A request body larger than API_MAX_REQUEST_BYTES gets 413 before anything reads it; a
  chunked one is read up to that limit (or refused with 411 by a server that cannot). Raw
  e-mail (`/inbound/…`) has its own, larger limit, INBOUND_MAX_REQUEST_BYTES.
- A database that is down or too slow is a 503 with Retry-After, wherever it is noticed.
- Errors that never reach DRF's handler (unknown URLs, unhandled exceptions, Django's own 4xx)
  become JSON under the API paths, in DEBUG too, so clients never get an HTML page.
"""

import io
import logging
from http import HTTPStatus

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpResponse, JsonResponse

from helpdesk.api.exceptions import DATABASE_DOWN
from helpdesk.api.handlers import database_unavailable, error_response

logger = logging.getLogger("helpdesk.api")

# Paths that serve HTML on purpose (the survey: the page a customer rates their answer on);
# everything else is the JSON API.
HTML_PREFIXES = ("/admin", "/docs", "/static", "/api-auth", "/survey")

STATUS_CODES = {
    400: "bad_request",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    411: "length_required",
    413: "payload_too_large",
    500: "server_error",
}


def is_api_path(path: str) -> bool:
    return not path.startswith(HTML_PREFIXES)


# Raw e-mail (with its attachments) has a limit of its own; every other body is JSON.
INBOUND_PATHS = ("/inbound/",)


def body_limit(path: str) -> int:
    """The largest request body this path reads."""
    if path.startswith(INBOUND_PATHS):
        return settings.INBOUND_MAX_REQUEST_BYTES
    return settings.API_MAX_REQUEST_BYTES


class ApiErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if is_api_path(request.path):
            refused = _read_chunked_body(request)
            if refused is not None:
                return refused
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return error_response(400, "bad_request", "Invalid Content-Length header.")
            limit = body_limit(request.path)
            if length > limit:
                return error_response(
                    413,
                    "payload_too_large",
                    f"Request body is {length} bytes; the limit is {limit} bytes.",
                )
        elif _content_length(request) > settings.API_MAX_REQUEST_BYTES:
            # The admin and other HTML pages: Django's own cap (DATA_UPLOAD_MAX_MEMORY_SIZE) is
            # the inbound limit, so theirs is held here.
            return HttpResponse("Request body too large.", status=413, content_type="text/plain")
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
        if isinstance(exception, DATABASE_DOWN):  # raised outside a DRF view
            body, status_code, headers = database_unavailable(exception)
            return JsonResponse(body, status=status_code, headers=headers)
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(500, "server_error", "Internal server error.")


def _read_chunked_body(request) -> JsonResponse | None:
    """A chunked body (Transfer-Encoding: chunked, no Content-Length) is read within the limit.

    Django reads exactly CONTENT_LENGTH bytes, so a chunked body used to look empty (a
    misleading 400 "subject required"). A server that decodes chunked input and ends the stream
    (gunicorn: `wsgi.input_terminated`) lets us read it, up to API_MAX_REQUEST_BYTES; one that
    does not (Django's runserver) cannot deliver it: 411, send Content-Length.
    """
    meta = request.META
    if "chunked" not in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    if meta.get("CONTENT_LENGTH"):
        return None  # a proxy already de-chunked it; Django reads the length it gives
    if not meta.get("wsgi.input_terminated"):
        return error_response(
            411,
            "length_required",
            "This server cannot read a chunked request body; send Content-Length.",
        )
    limit = body_limit(request.path)
    stream = meta["wsgi.input"]
    body = stream.read(limit + 1)
    if len(body) > limit:
        # Read (and drop) a bounded rest, so the client is still listening for the answer
        # rather than reset mid-send; past that the connection just closes.
        for _ in range(16):
            if not stream.read(limit):
                break
        return error_response(
            413,
            "payload_too_large",
            f"Request body is over the limit of {limit} bytes.",
        )
    # From here on the request is an ordinary one with a Content-Length.
    meta["CONTENT_LENGTH"] = str(len(body))
    request._stream = LimitedStream(io.BytesIO(body), len(body))
    return None


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _message(response) -> str:
    try:
        return HTTPStatus(response.status_code).phrase + "."
    except ValueError:
        return "Error."


def handler404(request, exception=None):
    return error_response(404, "not_found", "Not found.")


def handler500(request):
    return error_response(500, "server_error", "Internal server error.")
