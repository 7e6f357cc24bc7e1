"""API keys: create, change, revoke, and rotate their callback secret.

The raw key exists only in the return value of ``api_key_create``: the database keeps its
SHA-256, so the admin shows it once and nobody can read it back. The callback secret must be
stored as it is (it signs each callback), but it too is shown only when it is made. Every change
is logged in the activity log without the key or the secret. A revoked key keeps its row (it is
the actor on ledger rows) and never works again: there is no un-revoke.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from api.callbacks.targets import check_callback_url
from api.models import ApiKey, Scope
from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError

NAME_MAX_LENGTH = ApiKey._meta.get_field("name").max_length
CALLBACK_URL_MAX_LENGTH = ApiKey._meta.get_field("callback_url").max_length


def new_callback_secret() -> str:
    """A 256-bit secret, hex: what the receiver keys its HMAC-SHA256 with."""
    return secrets.token_hex(32)


def clean_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes, each known, in ``Scope``'s order; ApplicationError naming an unknown one."""
    given = list(scopes or [])
    unknown = [scope for scope in given if scope not in Scope.values]
    if unknown:
        raise ApplicationError(
            f"“{unknown[0]}” is not a scope; the scopes are {', '.join(Scope.values)}.",
            code="unknown_scope",
            field="scopes",
        )
    if not given:
        raise ApplicationError("Give the key at least one scope.", code="no_scope", field="scopes")
    return [scope for scope in Scope.values if scope in given]


def clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ApplicationError("Name the system that uses this key.", code="key_name_missing", field="name")
    if len(name) > NAME_MAX_LENGTH:
        raise ApplicationError(
            f"The name is longer than {NAME_MAX_LENGTH} characters.", code="key_name_too_long", field="name"
        )
    return name


def clean_callback_url(url: str) -> str:
    """The URL as stored ("" for none), or ApplicationError saying why it is refused."""
    url = (url or "").strip()
    if not url:
        return ""
    if len(url) > CALLBACK_URL_MAX_LENGTH:
        raise ApplicationError(
            f"The callback URL is longer than {CALLBACK_URL_MAX_LENGTH} characters.",
            code="callback_url_too_long",
            field="callback_url",
        )
    try:
        check_callback_url(url)
    except ValidationError as exc:
        raise ApplicationError(
            exc.messages[0], code=exc.code or "callback_url", field="callback_url"
        ) from exc
    return url


def _user_of(actor: Actor):
    return actor.user if actor.is_staff_user else None


@transaction.atomic
def api_key_create(
    *, name: str, scopes: Iterable[str], actor: Actor, callback_url: str = ""
) -> tuple[ApiKey, str]:
    """A new key and its raw form, which is never stored: show it once, then it is gone.

    With a callback URL the key gets a callback secret (``key.callback_secret``), shown once too.
    """
    name, scopes, callback_url = clean_name(name), clean_scopes(scopes), clean_callback_url(callback_url)
    raw, prefix, key_hash = ApiKey.generate()
    key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        key_hash=key_hash,
        scopes=scopes,
        created_by=_user_of(actor),
        callback_url=callback_url,
        callback_secret=new_callback_secret() if callback_url else "",
    )
    log_activity(
        actor=actor,
        action="api_key.created",
        obj=key,
        details={"name": name, "prefix": prefix, "scopes": scopes, "callback_url": callback_url},
    )
    return key, raw


@transaction.atomic
def api_key_update(
    *,
    key: ApiKey,
    actor: Actor,
    name: str | None = None,
    scopes: Iterable[str] | None = None,
    callback_url: str | None = None,
) -> ApiKey:
    """Change a key's name, scopes or callback URL (``None``: leave it); each change is logged.

    A key that gets its first callback URL gets a callback secret (``key.callback_secret``: show it
    once); removing the URL removes the secret. A URL moved to another origin (scheme, host or
    port) gets a new secret too, shown once: the old receiver, which knew the old secret, must not be
    able to sign for — or read callbacks meant for — the new one. A revoked key is not changed.
    """
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    _refuse_revoked(key)
    wanted = {}
    if name is not None:
        wanted["name"] = clean_name(name)
    if scopes is not None:
        wanted["scopes"] = clean_scopes(scopes)
    if callback_url is not None:
        wanted["callback_url"] = clean_callback_url(callback_url)
    changes = {
        field: (getattr(key, field), new) for field, new in wanted.items() if getattr(key, field) != new
    }
    for field, (_, new) in changes.items():
        setattr(key, field, new)
    moved = False
    if "callback_url" in changes:
        old_url = changes["callback_url"][0]
        moved = bool(old_url and key.callback_url) and _origin(old_url) != _origin(key.callback_url)
        if not key.callback_url:
            key.callback_secret = ""
        elif not key.callback_secret or moved:
            key.callback_secret = new_callback_secret()
    if not changes:
        return key
    key.save(update_fields=["name", "scopes", "callback_url", "callback_secret"])
    actions = {
        "name": "api_key.renamed",
        "scopes": "api_key.scopes_changed",
        "callback_url": "api_key.callback_changed",
    }
    for field, (old, new) in changes.items():
        log_activity(actor=actor, action=actions[field], obj=key, details={"from": old, "to": new})
    if moved:
        log_activity(
            actor=actor,
            action="api_key.callback_secret_rotated",
            obj=key,
            details={"prefix": key.prefix, "why": "the callback URL moved to another host"},
        )
    return key


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


@transaction.atomic
def api_key_rotate_callback_secret(*, key: ApiKey, actor: Actor) -> str:
    """A new callback secret for ``key`` (returned: show it once); the old one stops signing at once."""
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    _refuse_revoked(key)
    if not key.callback_url:
        raise ApplicationError(
            "This key has no callback URL, so it has no callback secret.",
            code="no_callback_url",
            field="callback_url",
        )
    secret = new_callback_secret()
    ApiKey.objects.filter(pk=key.pk).update(callback_secret=secret)
    log_activity(
        actor=actor, action="api_key.callback_secret_rotated", obj=key, details={"prefix": key.prefix}
    )
    return secret


def api_key_revoke(*, key: ApiKey, actor: Actor) -> ApiKey:
    """Revoke ``key`` for good: its next call is refused (401). The row stays, naming the actor on
    what the key did. Revoking a revoked key is refused, so the log says who revoked it, once."""
    now = timezone.now()
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=_user_of(actor)
        )
        if revoked != 1:
            raise ApplicationError(f"The key {key} was already revoked.", code="key_already_revoked")
        log_activity(actor=actor, action="api_key.revoked", obj=key, details={"prefix": key.prefix})
    key.revoked_at, key.revoked_by = now, _user_of(actor)
    return key


def _refuse_revoked(key: ApiKey) -> None:
    if key.revoked_at is not None:
        raise ApplicationError(f"The key {key} is revoked: a revoked key is not changed.", code="key_revoked")
