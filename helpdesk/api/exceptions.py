"""The domain errors the API turns into `{"error": {"code", "message", "fields"}}` responses."""

from typing import Any

from django import db

# What the database drivers raise when the server is unreachable, too slow (connect or statement
# timeout) or gone mid-request (Django wraps psycopg's and sqlite3's errors in these). Anything
# else from the database (IntegrityError, ProgrammingError) is a bug, and stays a logged 500.
DATABASE_DOWN = (db.OperationalError, db.InterfaceError)


class HelpdeskError(Exception):
    code = "error"
    http_status = 400

    def __init__(self, message: str, *, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotFound(HelpdeskError):
    code = "not_found"
    http_status = 404


class Conflict(HelpdeskError):
    code = "conflict"
    http_status = 409


class InvalidTransition(HelpdeskError):
    code = "invalid_transition"
    http_status = 409


class IdempotencyKeyReused(HelpdeskError):
    code = "idempotency_key_reused"
    http_status = 409


class PayloadTooLarge(HelpdeskError):
    code = "payload_too_large"
    http_status = 413


class InvalidInput(HelpdeskError):
    code = "validation_error"
    http_status = 400


class InvalidEmail(HelpdeskError):
    """A raw e-mail that cannot be read as a customer's message (malformed MIME, no sender,
    an unknown charset, nothing but quoted text)."""

    code = "invalid_email"
    http_status = 422


class KnowledgeBackendUnavailable(HelpdeskError):
    code = "kb_unavailable"
    http_status = 503


class DatabaseUnavailable(HelpdeskError):
    """The database refused, timed out or dropped the connection: retry later (Retry-After)."""

    code = "database_unavailable"
    http_status = 503
    retry_after_seconds = 5
