"""API key services: shown once, stored hashed, scopes checked, revoked for good, every change logged."""

import pytest
from django.test import override_settings

from api.keys import api_key_create, api_key_revoke, api_key_rotate_callback_secret, api_key_update
from api.models import KEY_PREFIX, ApiKey, hash_key
from contacts.models import ActivityLogEntry
from core.actors import Actor
from core.errors import ApplicationError
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOOPBACK_CALLBACK = "http://127.0.0.1:8765/callbacks"


@pytest.fixture
def admin_actor():
    return Actor.for_user(UserFactory(role="Administrator"))


def logged_text() -> str:
    return " ".join(str(entry.details) for entry in ActivityLogEntry.objects.all())


def test_a_new_key_is_stored_only_as_its_hash(admin_actor):
    key, raw = api_key_create(name="Shop", scopes=["messages:send", "contacts:write"], actor=admin_actor)
    assert raw.startswith(f"{KEY_PREFIX}{key.prefix}_")
    assert key.key_hash == hash_key(raw) and raw not in str(ApiKey.objects.filter(pk=key.pk).values().get())
    assert key.scopes == ["contacts:write", "messages:send"]  # in Scope's order
    assert key.created_by == admin_actor.user and key.callback_secret == ""
    entry = ActivityLogEntry.objects.get(action="api_key.created")
    assert entry.object_id == str(key.pk) and entry.actor_user == admin_actor.user
    assert raw not in logged_text()


@override_settings(API_CALLBACKS_ALLOW_LOOPBACK=True)
def test_a_callback_url_gets_a_secret_that_is_never_logged(admin_actor):
    key, _ = api_key_create(
        name="CRM", scopes=["messages:read"], actor=admin_actor, callback_url=LOOPBACK_CALLBACK
    )
    assert len(key.callback_secret) == 64
    assert key.callback_secret not in logged_text()


@pytest.mark.parametrize(
    "changes,code,field",
    [
        ({"scopes": ["messages:delete"]}, "unknown_scope", "scopes"),
        ({"scopes": []}, "no_scope", "scopes"),
        ({"name": "  "}, "key_name_missing", "name"),
        ({"name": "x" * 101}, "key_name_too_long", "name"),
        ({"callback_url": "http://shop.example/cb"}, "callback_url_scheme", "callback_url"),
        ({"callback_url": "https://10.0.0.8/cb"}, "callback_url_private", "callback_url"),
        ({"callback_url": "https://user:pw@shop.example/cb"}, "callback_url_auth", "callback_url"),
    ],
)
@override_settings(API_CALLBACKS_ALLOW_LOOPBACK=False)
def test_bad_key_settings_are_refused_naming_the_field(admin_actor, changes, code, field):
    arguments = {"name": "Shop", "scopes": ["contacts:read"], **changes}
    with pytest.raises(ApplicationError) as refused:
        api_key_create(actor=admin_actor, **arguments)
    assert (refused.value.code, refused.value.field) == (code, field)
    assert not ApiKey.objects.exists()


def test_revoking_is_for_good_and_logged(admin_actor):
    key, _ = api_key_create(name="Shop", scopes=["contacts:read"], actor=admin_actor)
    api_key_revoke(key=key, actor=admin_actor)
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == admin_actor.user and not key.is_active
    assert ActivityLogEntry.objects.filter(action="api_key.revoked", object_id=str(key.pk)).count() == 1
    with pytest.raises(ApplicationError) as again:
        api_key_revoke(key=key, actor=admin_actor)
    assert again.value.code == "key_already_revoked"
    with pytest.raises(ApplicationError) as changed:
        api_key_update(key=key, actor=admin_actor, scopes=["contacts:read", "contacts:write"])
    assert changed.value.code == "key_revoked"
    assert ApiKey.objects.filter(pk=key.pk).exists()  # the row stays: it is an actor in ledgers


@override_settings(API_CALLBACKS_ALLOW_LOOPBACK=True)
def test_changes_are_logged_one_by_one(admin_actor):
    key, _ = api_key_create(name="Shop", scopes=["contacts:read"], actor=admin_actor)
    api_key_update(
        key=key,
        actor=admin_actor,
        name="Shop EU",
        scopes=["contacts:read", "contacts:write"],
        callback_url=LOOPBACK_CALLBACK,
    )
    key.refresh_from_db()
    assert key.callback_secret  # a first callback URL brings a secret
    actions = set(ActivityLogEntry.objects.values_list("action", flat=True))
    assert {"api_key.renamed", "api_key.scopes_changed", "api_key.callback_changed"} <= actions
    scopes = ActivityLogEntry.objects.get(action="api_key.scopes_changed").details
    assert scopes == {"from": ["contacts:read"], "to": ["contacts:read", "contacts:write"]}
    api_key_update(key=key, actor=admin_actor, callback_url="")
    key.refresh_from_db()
    assert key.callback_secret == ""  # no URL, no secret


def test_an_unchanged_key_logs_nothing(admin_actor):
    key, _ = api_key_create(name="Shop", scopes=["contacts:read"], actor=admin_actor)
    api_key_update(key=key, actor=admin_actor, name="Shop", scopes=["contacts:read"], callback_url="")
    assert ActivityLogEntry.objects.count() == 1


@override_settings(API_CALLBACKS_ALLOW_LOOPBACK=True)
def test_rotating_the_callback_secret(admin_actor):
    key, _ = api_key_create(
        name="CRM", scopes=["messages:read"], actor=admin_actor, callback_url=LOOPBACK_CALLBACK
    )
    old = key.callback_secret
    new = api_key_rotate_callback_secret(key=key, actor=admin_actor)
    key.refresh_from_db()
    assert new != old and key.callback_secret == new
    assert ActivityLogEntry.objects.filter(action="api_key.callback_secret_rotated").exists()
    assert new not in logged_text() and old not in logged_text()


def test_no_callback_url_no_secret_to_rotate(admin_actor):
    key, _ = api_key_create(name="Shop", scopes=["contacts:read"], actor=admin_actor)
    with pytest.raises(ApplicationError) as refused:
        api_key_rotate_callback_secret(key=key, actor=admin_actor)
    assert refused.value.code == "no_callback_url"
