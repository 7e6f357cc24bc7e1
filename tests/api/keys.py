"""API keys for tests, made through the admin's key service, and clients that send them.

key, client = key_and_client(Scope.MESSAGES_SEND, Scope.MESSAGES_READ)
client.post("/api/v1/messages/", {...})
"""

from __future__ import annotations

from rest_framework.test import APIClient

from api.keys import api_key_create
from api.models import ApiKey, Scope
from core.actors import Actor

ALL_SCOPES = tuple(Scope.values)


def create_key(*scopes: str, name: str = "Shop checkout", callback_url: str = "") -> tuple[ApiKey, str]:
    """A key with these scopes (every scope when none is named), and the raw key a client sends."""
    return api_key_create(
        name=name, scopes=scopes or ALL_SCOPES, actor=Actor.system("tests"), callback_url=callback_url
    )


def client_for_key(raw: str) -> APIClient:
    """A client that sends ``Authorization: Bearer <raw>`` with every request, and JSON bodies."""
    client = APIClient()
    client.default_format = "json"  # the API parses JSON only
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def key_and_client(*scopes: str, name: str = "Shop checkout") -> tuple[ApiKey, APIClient]:
    key, raw = create_key(*scopes, name=name)
    return key, client_for_key(raw)


def api_client(*scopes: str) -> APIClient:
    """A client whose key has these scopes; the key is ``client.key``."""
    key, client = key_and_client(*scopes)
    client.key = key
    return client
