"""One exception handler for the whole API: every error is `{"error": {code, message, fields}}`."""

import logging

from django.http import JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from helpdesk import throttling
from helpdesk.api.exceptions import DATABASE_DOWN, DatabaseUnavailable, HelpdeskError

logger = logging.getLogger(__name__)


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def error_response(status_code: int, code: str, message: str, fields=None) -> JsonResponse:
    """For errors raised outside DRF views (middleware, Django's 404/500 handlers)."""
    return JsonResponse(error_body(code, message, fields), status=status_code)


def database_unavailable(exc: Exception) -> tuple[dict, int, dict]:
    """The 503 body, status and headers for a database fault; logged without the driver's
    message, which names the host and port."""
    logger.warning("Database unavailable: %s", exc.__class__.__name__)
    error = DatabaseUnavailable("The database is unavailable; retry later.")
    headers = {"Retry-After": str(error.retry_after_seconds)}
    return error_body(error.code, error.message), error.http_status, headers


def exception_handler(exc, context):
    if isinstance(exc, DATABASE_DOWN):
        set_rollback()
        body, status_code, headers = database_unavailable(exc)
        return Response(body, status=status_code, headers=headers)

    if isinstance(exc, HelpdeskError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.http_status)

    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        # Failed authentication is counted per client address; past the rate it is a 429.
        request = context.get("request")
        if request is not None:
            wait = throttling.count(throttling.FAILED_AUTH, throttling.client_address(request))
            if wait is not None:
                exc = exceptions.Throttled(wait)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unknown: a logged 500, rendered as JSON by ApiErrorMiddleware

    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        response.data = error_body("validation_error", "Validation failed.", fields)
        return response

    detail = getattr(exc, "detail", None)
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, exceptions.APIException) and hasattr(detail, "code") and detail.code:
        code = detail.code
    if response.status_code == status.HTTP_404_NOT_FOUND:
        code = "not_found"
    elif response.status_code == status.HTTP_403_FORBIDDEN:
        code = "permission_denied"
    message = str(detail) if detail is not None else str(exc)
    response.data = error_body(code, message)
    return response
