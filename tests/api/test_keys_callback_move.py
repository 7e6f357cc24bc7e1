"""A callback URL moved to another host gets a new callback secret, shown once in the admin: the
old receiver must not keep a secret that signs callbacks for the new one. The same origin keeps it."""

import pytest
from django.test import override_settings
from django.urls import reverse

from api.keys import api_key_create, api_key_update
from contacts.models import ActivityLogEntry
from core.actors import Actor
from tests.api.keys import create_key
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback")]

OLD = "http://127.0.0.1:8765/callbacks"


@pytest.fixture
def loopback():
    with override_settings(API_CALLBACKS_ALLOW_LOOPBACK=True):
        yield


@pytest.fixture
def admin_actor():
    return Actor.for_user(UserFactory(role="Administrator"))


def make(actor):
    key, _ = api_key_create(name="CRM", scopes=["messages:read"], actor=actor, callback_url=OLD)
    return key, key.callback_secret


@pytest.mark.parametrize(
    "new_url",
    [
        "http://127.0.0.2:8765/callbacks",
        "http://127.0.0.1:8766/callbacks",
        "https://127.0.0.1:8765/callbacks",
    ],
)
def test_moving_the_url_to_another_origin_rotates_the_secret(admin_actor, new_url):
    key, old_secret = make(admin_actor)
    key = api_key_update(key=key, actor=admin_actor, callback_url=new_url)
    assert key.callback_secret and key.callback_secret != old_secret
    key.refresh_from_db()
    assert key.callback_secret != old_secret
    entry = ActivityLogEntry.objects.get(action="api_key.callback_secret_rotated")
    assert "another host" in entry.details["why"]
    assert key.callback_secret not in str(entry.details) and old_secret not in str(entry.details)


@pytest.mark.parametrize(
    "new_url", ["http://127.0.0.1:8765/other-path?x=1", "HTTP://127.0.0.1:8765/callbacks/"]
)
def test_another_path_on_the_same_origin_keeps_the_secret(admin_actor, new_url):
    key, old_secret = make(admin_actor)
    key = api_key_update(key=key, actor=admin_actor, callback_url=new_url)
    assert key.callback_secret == old_secret
    assert not ActivityLogEntry.objects.filter(action="api_key.callback_secret_rotated").exists()


def test_the_admin_shows_the_moved_urls_new_secret_once(client):
    client.force_login(UserFactory(role="Administrator"))
    key, _ = create_key("messages:read", callback_url=OLD)
    old_secret = key.callback_secret
    change = reverse("admin:api_apikey_change", args=[key.pk])
    form = {"name": key.name, "scopes": ["messages:read"]}
    answer = client.post(change, {**form, "callback_url": "http://127.0.0.2:8765/callbacks"})
    key.refresh_from_db()
    assert key.callback_secret != old_secret
    assert answer.status_code == 200 and key.callback_secret in answer.content.decode()
    # Saved again on the same host: no secret on the answer, the same secret kept.
    again = client.post(change, {**form, "callback_url": "http://127.0.0.2:8765/other"})
    assert again.status_code == 302
    assert key.callback_secret not in again.content.decode()
    secret = key.callback_secret
    key.refresh_from_db()
    assert key.callback_secret == secret
