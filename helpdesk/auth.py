"""API-key authentication, the scope check every endpoint uses, and per-client throttling.

Keys are checked with a SHA-512 hash (djangorestframework-api-key 3), not a password hasher:
PBKDF2 would add ~225 ms to every request. Each process remembers the keys it has verified for
API_KEY_CACHE_SECONDS, so a busy client costs no database query per request; the secret is
still hashed and compared every time, and expiry is checked every time. Revoking a key takes
effect at once in the process that saves it and within API_KEY_CACHE_SECONDS everywhere else.

A key that was just rejected is remembered too (`rejected_keys`, a hash of it, for as long), so
a client repeating a bad key costs no database lookup; a client address that keeps failing
authentication is throttled (helpdesk/throttling.py, `failed_auth`) before any lookup.
"""

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework import authentication, exceptions, permissions

from helpdesk import scopes, throttling
from helpdesk.api.exceptions import HelpdeskError
from helpdesk.models import ApiKey

logger = logging.getLogger(__name__)

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


_clock = time.monotonic


class _VerifiedKeys:
    """prefix → (the usable ApiKey row, when to look again); an LRU bounded by `size`.

    Only keys that passed verification are kept, and only their stored hash is compared
    against: a wrong secret for a cached prefix falls through to the database, as before.
    """

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[ApiKey, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> ApiKey | None:
        prefix = key.partition(".")[0]
        with self._lock:
            item = self._items.get(prefix)
            if item is None:
                return None
            api_key, fresh_until = item
            if _clock() >= fresh_until:
                del self._items[prefix]
                return None
            self._items.move_to_end(prefix)
        if not ApiKey.objects.key_generator.verify(key, api_key.hashed_key):
            return None
        return api_key

    def put(self, api_key: ApiKey, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            self._items[api_key.prefix] = (api_key, _clock() + ttl)
            self._items.move_to_end(api_key.prefix)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def forget(self, prefix: str) -> None:
        with self._lock:
            self._items.pop(prefix, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


verified_keys = _VerifiedKeys()


class _RejectedKeys:
    """SHA-256 of keys the database just rejected → until when to believe that; bounded."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _digest(key: str) -> bytes:
        return hashlib.sha256(key.encode()).digest()

    def __contains__(self, key: str) -> bool:
        digest = self._digest(key)
        with self._lock:
            until = self._items.get(digest)
            if until is None:
                return False
            if _clock() >= until:
                del self._items[digest]
                return False
            return True

    def add(self, key: str, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            self._items[self._digest(key)] = _clock() + ttl
            self._items.move_to_end(self._digest(key))
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


rejected_keys = _RejectedKeys()


@receiver(post_save, sender=ApiKey, dispatch_uid="helpdesk.auth.forget_saved_key")
@receiver(post_delete, sender=ApiKey, dispatch_uid="helpdesk.auth.forget_deleted_key")
def _forget_changed_key(sender, instance: ApiKey, **kwargs) -> None:
    # A revocation (admin, shell) in this process applies to its next request; other processes
    # notice within API_KEY_CACHE_SECONDS. `QuerySet.update()` sends no signal: TTL only.
    verified_keys.forget(instance.prefix)
    rejected_keys.clear()  # rare: a key saved may be one rejected a moment ago


def _api_key_for(key: str, request) -> ApiKey:
    api_key = verified_keys.get(key)
    if api_key is None:
        if key in rejected_keys:
            raise ApiKey.DoesNotExist
        wait = throttling.over_rate(throttling.FAILED_AUTH, throttling.client_address(request))
        if wait is not None:  # this address keeps failing: no lookup for it until the window ends
            raise exceptions.Throttled(wait)
        try:
            api_key = ApiKey.objects.get_from_key(key)  # only usable (not revoked) keys
        except ApiKey.DoesNotExist:
            rejected_keys.add(key, settings.API_KEY_CACHE_SECONDS)
            raise
        verified_keys.put(api_key, settings.API_KEY_CACHE_SECONDS)
    return api_key


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
            api_key = _api_key_for(key, request)
        except ApiKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("API key has expired.")
        return ApiKeyClient(api_key=api_key), api_key

    def authenticate_header(self, request) -> str:
        return KEYWORD


def actor_of(request) -> str:
    """Who did it, as recorded in interactions, feedback and idempotency scopes."""
    user = request.user
    if isinstance(user, ApiKeyClient):
        return user.label
    return f"user:{user.get_username()}"


def scopes_of(request) -> frozenset[str]:
    """The scopes a request acts with: its API key's, or its staff session's (a superuser is
    `admin`, other active staff `agent`); none for anyone else."""
    if isinstance(request.auth, ApiKey):
        return request.auth.scope_set
    user = request.user
    if user and user.is_authenticated and user.is_active and user.is_staff:
        return frozenset({scopes.ADMIN if user.is_superuser else scopes.AGENT})
    return frozenset()


def has_scope(request, scope: str) -> bool:
    """Whether the request may act with `scope` (admin may act with any)."""
    return scope in scopes.granted(scopes_of(request))


class MissingScope(HelpdeskError, exceptions.PermissionDenied):
    """A 403 like any other (`permission_denied`); the message and `fields` name the scopes.

    Also DRF's PermissionDenied, so DRF code that probes permissions (the browsable API's forms,
    OPTIONS metadata) reads it as "not allowed" instead of failing."""

    code = "permission_denied"
    http_status = 403


class ScopeRequired(permissions.BasePermission):
    """Checks the request against helpdesk.scopes.ENDPOINT_SCOPES, the one table of who may
    call what. Declared on every API view (and the default); endpoints missing from the table
    are refused. A "<scope>:own" entry also checks, per object, that the key created it."""

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False  # DRF answers 401 with WWW-Authenticate
        if not hasattr(view, request.method.lower()):
            return True  # not an operation of this endpoint: let the view answer 405
        match = request.resolver_match
        url_name = match.url_name if match else None
        required = scopes.required_scopes(url_name, request.method)
        if not required:
            logger.error("No scope table entry for %s %s: refused", request.method, url_name)
            raise MissingScope(f"{request.method} {request.path} is open to no scope.")
        have = scopes.granted(scopes_of(request))
        if have & {scope.removesuffix(scopes.OWN) for scope in required}:
            return True
        names = sorted({scope.removesuffix(scopes.OWN) for scope in required} | {scopes.ADMIN})
        raise MissingScope(
            f"This operation needs the {' or '.join(repr(n) for n in names)} scope; "
            f"this {'key' if isinstance(request.auth, ApiKey) else 'session'} has "
            f"{', '.join(repr(n) for n in sorted(scopes_of(request))) or 'none'}.",
            fields={"required_scopes": names, "scopes": sorted(scopes_of(request))},
        )

    def has_object_permission(self, request, view, obj) -> bool:
        required = scopes.required_scopes(request.resolver_match.url_name, request.method) or ()
        everywhere = {scope for scope in required if not scope.endswith(scopes.OWN)}
        own_only = {scope.removesuffix(scopes.OWN) for scope in required} - everywhere
        have = scopes.granted(scopes_of(request))
        if have & everywhere:
            return True
        owner = getattr(obj, "created_by_key_id", None)
        if have & own_only and isinstance(request.auth, ApiKey) and owner == request.auth.pk:
            return True
        names = sorted(everywhere | {scopes.ADMIN})
        raise MissingScope(
            "This key may only do this on tickets it created; other tickets need the "
            f"{' or '.join(repr(n) for n in names)} scope.",
            fields={"required_scopes": names, "scopes": sorted(scopes_of(request))},
        )
