"""API-key authentication, the permissions every endpoint uses, and per-client throttling.

Keys are checked with a SHA-512 hash (djangorestframework-api-key 3), not a password hasher:
PBKDF2 would add ~225 ms to every request.
"""

from dataclasses import dataclass

from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.settings import api_settings

from helpdesk.models import ApiKey

KEYWORD = "Api-Key"


@dataclass(frozen=True)
class ApiKeyClient:
    """The `request.user` of a request authenticated by an API key."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False
    pk: None = None

    @property
    def label(self) -> str:
        return f"api-key:{self.api_key.name}"

    def __str__(self) -> str:
        return self.label


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <prefix>.<secret>`."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request)
        if not header:
            return None
        try:
            scheme, _, key = header.decode("ascii").partition(" ")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API key header.") from None
        if scheme.lower() != KEYWORD.lower():
            return None
        key = key.strip()
        if not key:
            raise exceptions.AuthenticationFailed("No API key given.")
        try:
            api_key = ApiKey.objects.get_from_key(key)
        except ApiKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("API key has expired.")
        return ApiKeyClient(api_key=api_key), api_key

    def authenticate_header(self, request) -> str:
        return KEYWORD


def _is_staff_session(request) -> bool:
    user = request.user
    return bool(user and user.is_authenticated and user.is_staff and user.is_active)


class IsStaffOrApiKey(permissions.BasePermission):
    """Integrations with a valid key, or logged-in staff. Non-staff sessions get 403."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey) or _is_staff_session(request)


class IsStaffOrAdminApiKey(permissions.BasePermission):
    """Operations such as a KB sync: staff, or an API key created with --admin."""

    message = "This operation needs staff or an admin API key."

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiKey):
            return request.auth.is_admin
        return _is_staff_session(request)


class ClientRateThrottle(throttling.SimpleRateThrottle):
    """One bucket per API key, per staff user, or per anonymous IP; rates in settings."""

    def allow_request(self, request, view):
        if isinstance(request.auth, ApiKey):
            self.scope, self.ident = "api_key", request.auth.prefix
        elif request.user and request.user.is_authenticated:
            self.scope, self.ident = "user", str(request.user.pk)
        else:
            self.scope, self.ident = "anon", self.get_ident(request)
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_rate(self):
        # Read per request, not the class attribute DRF binds at import, so a changed
        # REST_FRAMEWORK setting (override_settings, tests) takes effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.ident}

    def __init__(self):
        # The scope is only known per request; SimpleRateThrottle wants it at construction.
        pass
