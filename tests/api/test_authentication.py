"""Bearer keys: no key or a bad one is 401 with WWW-Authenticate; a revoked key is 401; use is noted."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from api.keys import api_key_revoke
from api.models import ApiKey, Scope
from core.actors import Actor
from tests.api.keys import client_for_key, create_key

pytestmark = pytest.mark.django_db

URL = "/api/v1/templates/"


def assert_refused(answer, code: str):
    assert answer.status_code == 401
    assert answer["WWW-Authenticate"] == 'Bearer realm="api"'
    assert answer.json()["error"]["code"] == code


def test_no_key_is_401_with_www_authenticate():
    assert_refused(APIClient().get(URL), "not_authenticated")


@pytest.mark.parametrize(
    "header",
    ["Bearer wak_nothing_like_a_key", "Bearer", "Bearer two words", "Bearer caf\u00e9"],
)
def test_a_bad_key_is_401(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_refused(client.get(URL), "invalid_key")


def test_another_scheme_is_not_a_key():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert_refused(client.get(URL), "not_authenticated")


def test_a_revoked_key_is_401():
    key, raw = create_key("templates:read")
    client = client_for_key(raw)
    assert client.get(URL).status_code == 200
    api_key_revoke(key=key, actor=Actor.system("tests"))
    answer = client.get(URL)
    assert_refused(answer, "invalid_key")
    assert "revoked" in answer.json()["error"]["message"]


def test_a_staff_session_is_no_api_key(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", password="x" * 20)
    client.force_login(user)
    assert client.get(URL).status_code == 401


def test_last_use_is_recorded_at_most_once_a_minute():
    key, raw = create_key("templates:read")
    client = client_for_key(raw)
    client.get(URL)
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    client.get(URL)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    client.get(URL)
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first


def test_head_needs_the_scope_get_needs():
    _, raw = create_key("templates:read")
    assert client_for_key(raw).head(URL).status_code == 200
    _, other = create_key("contacts:read", name="Other")
    assert client_for_key(other).head(URL).status_code == 403


def test_a_method_a_view_has_no_handler_for_is_405_and_one_without_a_scope_403():
    _, raw = create_key("contacts:read", "contacts:write", "templates:read")
    answer = client_for_key(raw).delete("/api/v1/contacts/")
    assert answer.status_code == 405 and answer.json()["error"]["code"] == "method_not_allowed"
    assert client_for_key(raw).options(URL).status_code == 403  # DRF's OPTIONS exists but names no scope
    assert APIClient().delete("/api/v1/contacts/").status_code == 401  # still no key, no answer


# Every endpoint of contacts and templates: (method, path, body, the scope it needs).
ENDPOINTS = [
    ("get", "/api/v1/contacts/", None, "contacts:read"),
    ("post", "/api/v1/contacts/", {"phone": "+4915123456789"}, "contacts:write"),
    ("get", "/api/v1/contacts/{id}/", None, "contacts:read"),
    ("post", "/api/v1/contacts/bulk/", {"contacts": [{"phone": "+4915123456789"}]}, "contacts:write"),
    ("get", "/api/v1/templates/", None, "templates:read"),
]


def call(client, method, path, body):
    return getattr(client, method)(path, body, format="json") if body else getattr(client, method)(path)


@pytest.mark.parametrize("method,path,body,scope", ENDPOINTS, ids=[f"{e[0]} {e[1]}" for e in ENDPOINTS])
def test_every_endpoint_refuses_no_key_a_revoked_key_and_a_missing_scope(method, path, body, scope):
    from tests.factories import ContactFactory

    path = path.replace("{id}", str(ContactFactory().pk))
    assert_refused(call(APIClient(), method, path, body), "not_authenticated")
    key, raw = create_key(scope)
    api_key_revoke(key=key, actor=Actor.system("tests"))
    assert_refused(call(client_for_key(raw), method, path, body), "invalid_key")
    others = [s for s in Scope.values if s != scope]
    _, without = create_key(*others, name="Without")
    refused = call(client_for_key(without), method, path, body)
    assert refused.status_code == 403 and scope in refused.json()["error"]["message"]
    _, with_scope = create_key(scope, name="With")
    assert call(client_for_key(with_scope), method, path, body).status_code in (200, 201)
