"""WHATSAPP_BACKEND selects the Cloud API client or the in-memory backend."""

from django.test import override_settings

from cloud_api import payloads
from cloud_api.backends import get_backend
from cloud_api.client import CloudApiClient
from cloud_api.memory import InMemoryBackend
from cloud_api.outcomes import Accepted, NotSent, OutcomeUnknown


@override_settings(WHATSAPP_BACKEND="cloud", WHATSAPP_API_BASE_URL="http://127.0.0.1:9")
def test_cloud_backend_is_one_shared_client_per_configuration():
    backend = get_backend()
    assert isinstance(backend, CloudApiClient)
    assert backend.config.base_url == "http://127.0.0.1:9"
    assert get_backend() is backend
    with override_settings(WHATSAPP_API_BASE_URL="http://127.0.0.1:10"):
        assert get_backend() is not backend


@override_settings(WHATSAPP_BACKEND="memory")
def test_memory_backend_records_sends_and_plays_scripted_outcomes():
    backend = get_backend()
    assert isinstance(backend, InMemoryBackend)
    backend.reset()
    backend.script(NotSent("refused"), OutcomeUnknown("read timeout"))
    message = payloads.text_message("+4915112345678", "Hi")
    assert isinstance(backend.send(message), NotSent)
    assert isinstance(backend.send(message), OutcomeUnknown)
    accepted = backend.send(message)
    assert isinstance(accepted, Accepted)
    assert accepted.wa_id == "4915112345678"
    assert backend.sent == [message, message, message]


def test_memory_backend_manages_templates():
    backend = InMemoryBackend()
    created = backend.create_template(name="promo", language="en", category="MARKETING", components=[])
    assert created["status"] == "PENDING"
    backend.edit_template(created["id"], category="UTILITY")
    assert [t["category"] for t in backend.list_templates(filters={"name": "promo"})] == ["UTILITY"]
    backend.delete_template(name="promo")
    assert list(backend.list_templates()) == []
    assert backend.upload_template_sample(b"x", mime_type="image/png", file_name="a.png").startswith(
        "memory-handle:"
    )
