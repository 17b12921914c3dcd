"""API-key authentication, the permissions every endpoint uses, and per-client throttling.

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
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework import authentication, exceptions, permissions

from helpdesk import throttling
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
