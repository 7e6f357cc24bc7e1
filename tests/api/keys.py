"""API keys for tests, made directly (as the admin's key service would) and a client that sends one.

key, client = key_and_client(Scope.MESSAGES_SEND, Scope.MESSAGES_READ)
client.post("/api/v1/messages/", {...}, format="json")
"""

from __future__ import annotations

from rest_framework.test import APIClient

from api.models import ApiKey


def create_key(*scopes: str, name: str = "Shop checkout") -> tuple[ApiKey, str]:
    """A key with these scopes, and the raw key a client sends."""
    raw, prefix, digest = ApiKey.generate()
    key = ApiKey.objects.create(name=name, prefix=prefix, key_hash=digest, scopes=list(scopes))
    return key, raw


def client_for_key(raw: str) -> APIClient:
    """A client that sends ``Authorization: Bearer <raw>`` with every request, and JSON bodies."""
    client = APIClient()
    client.default_format = "json"  # the API parses JSON only
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def key_and_client(*scopes: str, name: str = "Shop checkout") -> tuple[ApiKey, APIClient]:
    key, raw = create_key(*scopes, name=name)
    return key, client_for_key(raw)
