"""The API key admin: the raw key and callback secret on the answering page only, revoke with a
confirmation, no delete, Auditors read only."""

import pytest
from django.test import override_settings
from django.urls import reverse

from api.models import ApiKey, hash_key
from contacts.models import ActivityLogEntry
from tests.api.keys import create_key
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:api_apikey_add")
CHANGELIST = reverse("admin:api_apikey_changelist")


@pytest.fixture
def administrator(client):
    client.force_login(UserFactory(role="Administrator"))
    return client


def shown(answer, element_id: str) -> str:
    """The value of the read-only input with this id on the page."""
    page = answer.content.decode()
    start = page.index(f'id="{element_id}"')
    value = page.index('value="', start) + len('value="')
    return page[value : page.index('"', value)]


@override_settings(API_CALLBACKS_ALLOW_LOOPBACK=True)
def test_the_key_and_secret_are_shown_once_on_the_answering_page(administrator):
    answer = administrator.post(
        ADD,
        {
            "name": "Shop",
            "scopes": ["contacts:write", "messages:send"],
            "callback_url": "http://127.0.0.1:9/cb",
        },
    )
    assert answer.status_code == 200  # rendered in answer to the form, not a redirect with it in the URL
    assert "no-store" in answer["Cache-Control"]
    raw, secret = shown(answer, "api-key"), shown(answer, "callback-secret")
    key = ApiKey.objects.get()
    assert key.key_hash == hash_key(raw) and key.callback_secret == secret
    assert key.scopes == ["contacts:write", "messages:send"]
    assert ActivityLogEntry.objects.filter(action="api_key.created", object_id=str(key.pk)).exists()
    change_page = administrator.get(reverse("admin:api_apikey_change", args=[key.pk])).content.decode()
    assert raw not in change_page and key.key_hash not in change_page and secret not in change_page
    assert raw not in administrator.get(CHANGELIST).content.decode()


@override_settings(API_CALLBACKS_ALLOW_LOOPBACK=False)
def test_a_private_callback_url_is_refused_on_the_form(administrator):
    answer = administrator.post(
        ADD, {"name": "Shop", "scopes": ["contacts:read"], "callback_url": "https://10.1.2.3/"}
    )
    assert answer.status_code == 200
    assert "private" in answer.content.decode()
    assert not ApiKey.objects.exists()


def test_a_key_without_scopes_is_refused_on_the_form(administrator):
    answer = administrator.post(ADD, {"name": "Shop"})
    assert "This field is required" in answer.content.decode()
    assert not ApiKey.objects.exists()


def test_the_list_shows_prefix_and_scopes(administrator):
    key, raw = create_key("contacts:read", "templates:read")
    page = administrator.get(CHANGELIST).content.decode()
    assert f"wak_{key.prefix}…" in page and "<code>templates:read</code>" in page
    assert key.key_hash not in page and raw not in page


def test_changing_scopes_goes_through_the_service(administrator):
    key, _ = create_key("contacts:read")
    answer = administrator.post(
        reverse("admin:api_apikey_change", args=[key.pk]),
        {"name": key.name, "scopes": ["contacts:read", "contacts:write"], "callback_url": ""},
    )
    assert answer.status_code == 302
    key.refresh_from_db()
    assert key.scopes == ["contacts:read", "contacts:write"]
    assert ActivityLogEntry.objects.filter(action="api_key.scopes_changed").exists()


def test_revoking_asks_first_then_revokes(administrator):
    key, _ = create_key("contacts:read")
    action = {"action": "revoke_keys", "_selected_action": [key.pk]}
    question = administrator.post(CHANGELIST, action)
    assert question.status_code == 200 and "cannot be restored" in question.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None
    done = administrator.post(CHANGELIST, {**action, "confirmed": "yes"})
    assert done.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    page = administrator.get(reverse("admin:api_apikey_change", args=[key.pk])).content.decode()
    assert 'name="scopes"' not in page  # a revoked key is read-only
    change = {"name": "Back", "scopes": ["messages:send"], "callback_url": ""}
    assert administrator.post(reverse("admin:api_apikey_change", args=[key.pk]), change).status_code == 403


@override_settings(API_CALLBACKS_ALLOW_LOOPBACK=True)
def test_rotating_the_callback_secret_shows_the_new_one_once(administrator):
    key, _ = create_key("messages:read", callback_url="http://127.0.0.1:9/cb")
    old = key.callback_secret
    action = {"action": "rotate_callback_secret", "_selected_action": [key.pk]}
    assert "new callback secret" in administrator.post(CHANGELIST, action).content.decode()
    answer = administrator.post(CHANGELIST, {**action, "confirmed": "yes"})
    key.refresh_from_db()
    assert shown(answer, "callback-secret") == key.callback_secret != old


def test_an_auditor_reads_but_cannot_revoke(client):
    key, _ = create_key("contacts:read")
    client.force_login(UserFactory(role="Auditor"))
    page = client.get(CHANGELIST).content.decode()
    assert "revoke_keys" not in page
    client.post(CHANGELIST, {"action": "revoke_keys", "_selected_action": [key.pk], "confirmed": "yes"})
    change = client.post(
        reverse("admin:api_apikey_change", args=[key.pk]), {"name": "Mine", "scopes": ["messages:send"]}
    )
    assert change.status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None and key.name == "Shop checkout" and key.scopes == ["contacts:read"]
