"""API keys as DRF authentication: ``Authorization: Bearer <key>``.

A missing or unknown key is 401 with ``WWW-Authenticate`` (DRF answers 403 instead when no
authentication class names a header), a revoked key is 401 too. ``request.auth`` is the
``ApiKey``; ``request.user`` a stand-in that is authenticated but no staff user, so nothing built
for staff (the admin, sessions) ever trusts an API caller.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from api.models import ApiKey, hash_key

# last_used_at is written at most this often per key, so a busy key does not write on every call.
LAST_USE_PRECISION = timedelta(minutes=1)


class ApiClient:
    """``request.user`` for a call made with an API key."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    is_active = True

    def __init__(self, key: ApiKey):
        self.key = key
        self.pk = None

    def __str__(self) -> str:
        return str(self.key)

    def has_perm(self, perm, obj=None) -> bool:
        return False


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Give the key as “Authorization: Bearer <key>”.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The API key is not valid.") from None
        key = ApiKey.objects.filter(key_hash=hash_key(raw)).first()
        if key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        if not key.is_active:
            raise exceptions.AuthenticationFailed("This API key was revoked.")
        _note_use(key)
        return ApiClient(key), key

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


def _note_use(key: ApiKey) -> None:
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USE_PRECISION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
