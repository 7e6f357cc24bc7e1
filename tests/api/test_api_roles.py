"""The API's part of the role matrix: Administrators manage keys, Auditors read everything, no
other role sees any of it; Django's own admin pages (add, change, delete) refuse the wrong roles."""

import pytest
from django.urls import reverse

from core.roles import ROLES
from tests.api.keys import create_key
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

API_MODELS = ("apikey", "keycontact", "idempotencyrecord", "callbackevent", "callbackdelivery", "ratewindow")

MATRIX = [
    ("api.view_apikey", {"Administrator", "Auditor"}),
    ("api.add_apikey", {"Administrator"}),
    ("api.change_apikey", {"Administrator"}),
    ("api.delete_apikey", set()),  # keys are actors in ledgers: revoked, never deleted
    ("api.view_keycontact", {"Auditor"}),
    ("api.view_idempotencyrecord", {"Auditor"}),
    ("api.view_ratewindow", {"Auditor"}),
    # Administrators, who keep the keys, also see what was called back and how it went.
    ("api.view_callbackevent", {"Auditor", "Administrator"}),
    ("api.view_callbackdelivery", {"Auditor", "Administrator"}),
    *[
        (f"api.{action}_{model}", set())
        for model in API_MODELS
        if model != "apikey"
        for action in ("add", "change", "delete")
    ],
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("perm,allowed", MATRIX, ids=[m[0] for m in MATRIX])
def test_role_matrix(role, perm, allowed):
    assert UserFactory(role=role).has_perm(perm) == (role in allowed)


@pytest.mark.parametrize("role", ROLES)
def test_the_key_admin_pages_per_role(client, role):
    key, _ = create_key("contacts:read")
    client.force_login(UserFactory(role=role))
    pages = {
        "changelist": client.get(reverse("admin:api_apikey_changelist")).status_code,
        "add": client.get(reverse("admin:api_apikey_add")).status_code,
        "change": client.get(reverse("admin:api_apikey_change", args=[key.pk])).status_code,
        "delete": client.get(reverse("admin:api_apikey_delete", args=[key.pk])).status_code,
    }
    expected = {
        "Administrator": {"changelist": 200, "add": 200, "change": 200, "delete": 403},
        "Auditor": {"changelist": 200, "add": 403, "change": 200, "delete": 403},
    }.get(role, {"changelist": 403, "add": 403, "change": 403, "delete": 403})
    assert pages == expected


@pytest.mark.parametrize("role", [r for r in ROLES if r != "Administrator"])
def test_posting_to_the_add_page_creates_nothing_for_other_roles(client, role):
    from api.models import ApiKey

    client.force_login(UserFactory(role=role))
    answer = client.post(reverse("admin:api_apikey_add"), {"name": "Sneaky", "scopes": ["messages:send"]})
    assert answer.status_code == 403
    assert not ApiKey.objects.exists()


def test_a_superuser_may_not_delete_a_key_either(client, django_user_model):
    key, _ = create_key("contacts:read")
    client.force_login(django_user_model.objects.create_superuser("root", password="x" * 20))
    assert client.get(reverse("admin:api_apikey_delete", args=[key.pk])).status_code == 403
    assert client.post(reverse("admin:api_apikey_delete", args=[key.pk]), {"post": "yes"}).status_code == 403
