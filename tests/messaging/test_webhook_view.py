"""The webhook view: the handshake, signatures over the raw bytes, storage first, size limits."""
# ruff: noqa: F811 (the deliver fixture is imported, then named as a test argument)

import json

import pytest

from messaging.models import WebhookEvent, WebhookOutcome
from tests.messaging.webhook_bodies import (
    URL,
    deliver,  # noqa: F401 (a fixture)
    sign,
    text_message,
)

pytestmark = pytest.mark.django_db


# --- The handshake ----------------------------------------------------------------------------


def test_handshake_with_the_right_token_answers_the_challenge_raw(client, settings):
    response = client.get(
        URL,
        {
            "hub.mode": "subscribe",
            "hub.verify_token": settings.WHATSAPP_VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert response.status_code == 200
    assert response.content == b"1158201444"
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "not-ours", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "sandbox-verify-token", "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
)
def test_handshake_with_a_wrong_token_or_mode_is_forbidden(client, settings, params):
    settings.WHATSAPP_VERIFY_TOKEN = "sandbox-verify-token"
    response = client.get(URL, params)
    assert response.status_code == 403
    assert b"1" not in response.content.replace(b"403", b"")


def test_other_methods_are_not_allowed(client):
    assert client.put(URL, data=b"{}").status_code == 405


# --- Signatures over the raw bytes --------------------------------------------------------------


def test_signature_is_checked_over_the_raw_bytes_not_re_serialised_json(deliver):
    # Odd whitespace, an unusual key order and non-ASCII as raw UTF-8: json.dumps(json.loads(body))
    # would give different bytes, so a view that re-serialises refuses this body.
    body = (
        '{ "entry" :[ {"changes":[{"value":{"messaging_product":"whatsapp",'
        '"contacts":[{"wa_id":"4915112345678","profile":{"name":"Jürgen Ölmüller 🌷"}}],'
        '"messages":[{"type":"text","timestamp":"1750025136","id":"wamid.raw-bytes","from":"4915112345678",'
        '"text":{"body":"Grüße \\u00fc \\ud83c\\udf37"}}]},   "field":"messages"}],"id":"1"}],\n'
        '  "object":"whatsapp_business_account"}\n'
    ).encode()
    assert json.dumps(json.loads(body)).encode() != body
    response = deliver(body)
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert bytes(event.body) == body
    assert event.signature == sign(body)
    assert event.outcome == WebhookOutcome.PROCESSED
    from messaging.models import InboundMessage

    inbound = InboundMessage.objects.get(wamid="wamid.raw-bytes")
    assert inbound.text == "Grüße ü 🌷"
    assert inbound.contact.whatsapp_profile_name == "Jürgen Ölmüller 🌷"


def test_a_signature_of_the_re_serialised_body_is_refused(deliver):
    body = b'{"object": "whatsapp_business_account",  "entry": []}'
    reserialised = json.dumps(json.loads(body), separators=(",", ":")).encode()
    assert deliver(body, signature=sign(reserialised)).status_code == 403
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "signature",
    ["", "sha256=", "sha1=abc", "sha256=zzzz", "sha256=" + "0" * 64, "sha256 =deadbeef"],
    ids=["missing", "empty-digest", "wrong-algorithm", "not-hex", "wrong", "malformed"],
)
def test_missing_malformed_or_wrong_signatures_are_forbidden_and_nothing_is_stored(deliver, signature):
    response = deliver(text_message("hi"), signature=signature)
    assert response.status_code == 403
    assert not WebhookEvent.objects.exists()


def test_a_signature_with_another_secret_is_forbidden(deliver):
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    assert deliver(body, signature=sign(body, "someone-elses-secret")).status_code == 403
    assert not WebhookEvent.objects.exists()


def test_during_a_rotation_the_previous_secret_is_accepted(deliver, settings):
    settings.WHATSAPP_APP_SECRET_PREVIOUS = "the-old-secret"
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    assert deliver(body, signature=sign(body, "the-old-secret")).status_code == 200
    settings.WHATSAPP_APP_SECRET_PREVIOUS = ""
    assert deliver(body, signature=sign(body, "the-old-secret")).status_code == 403
    assert WebhookEvent.objects.count() == 1


def test_an_uppercase_hex_digest_is_accepted(deliver):
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    prefix, digest = sign(body).split("=", 1)
    assert deliver(body, signature=f"{prefix}={digest.upper()}").status_code == 200


# --- Stored first, answered 200 ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"not json at all", b"\xff\xfe\x00garbage", b"", b"[1, 2, 3]", b'"a string"', b'{"entry": '],
    ids=["text", "binary", "empty", "array", "string", "truncated"],
)
def test_signed_but_unreadable_bodies_are_stored_answered_200_and_kept_as_failed(deliver, body):
    response = deliver(body)
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert bytes(event.body) == body
    assert event.outcome == WebhookOutcome.FAILED
    assert event.error  # says why, for reprocess_webhooks
    assert event.attempts == 1


def test_an_event_for_another_object_is_stored_and_ignored(deliver):
    response = deliver(
        {"object": "page", "entry": [{"id": "1", "changes": [{"field": "feed", "value": {}}]}]}
    )
    assert response.status_code == 200
    assert WebhookEvent.objects.get().outcome == WebhookOutcome.PROCESSED


def test_unknown_fields_are_stored_and_ignored(deliver):
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "account_alerts", "value": {"alert": "x"}}]}],
    }
    assert deliver(body).status_code == 200
    assert WebhookEvent.objects.get().outcome == WebhookOutcome.PROCESSED


def test_a_processing_error_still_answers_200_and_keeps_the_event_failed(deliver, monkeypatch):
    import messaging.webhooks.processing as processing

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in processing")

    monkeypatch.setattr(processing, "receive_message", broken)
    response = deliver(text_message("hello"))
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.outcome == WebhookOutcome.FAILED
    assert "a bug in processing" in event.error


def test_a_broker_outage_still_answers_200_and_leaves_the_event_pending(deliver, monkeypatch):
    import messaging.webhooks.tasks as tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks, "async_task", broker_down)
    assert deliver(text_message("hello")).status_code == 200
    assert WebhookEvent.objects.get().outcome == WebhookOutcome.PENDING


# --- Size ---------------------------------------------------------------------------------------


def _padded(size: int) -> bytes:
    head = b'{"object":"whatsapp_business_account","entry":[],"padding":"'
    tail = b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_a_3_mb_body_is_accepted_although_django_s_site_wide_limit_is_lower(deliver, settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < 3 * 1024 * 1024
    body = _padded(settings.WHATSAPP_WEBHOOK_MAX_BYTES)
    response = deliver(body)
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert len(bytes(event.body)) == len(body)
    assert event.outcome == WebhookOutcome.PROCESSED


def test_a_body_over_the_limit_is_413_and_nothing_is_stored(deliver, settings):
    body = _padded(settings.WHATSAPP_WEBHOOK_MAX_BYTES + 1)
    response = deliver(body)
    assert response.status_code == 413
    assert not WebhookEvent.objects.exists()
