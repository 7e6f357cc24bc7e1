"""Keys and clients for API tests: a key with the scopes a test names, and a client carrying it."""

from __future__ import annotations

from rest_framework.test import APIClient

from api.keys import api_key_create
from api.models import Scope
from core.actors import Actor

ALL_SCOPES = tuple(Scope.values)


def make_key(*scopes: str, name: str = "Shop", callback_url: str = ""):
    """(key, raw key) with these scopes (every scope when none is named)."""
    return api_key_create(
        name=name, scopes=scopes or ALL_SCOPES, actor=Actor.system("tests"), callback_url=callback_url
    )


def client_for(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def api_client(*scopes: str) -> APIClient:
    """A client whose key has these scopes; the key is ``client.key``."""
    key, raw = make_key(*scopes)
    client = client_for(raw)
    client.key = key
    return client
