"""A signature header with characters outside ASCII is a wrong signature (403), not a server error."""

import json

import pytest

from messaging.models import WebhookEvent
from tests.messaging.webhook_bodies import URL, text_message

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("signature", ["sha256=é" + "0" * 63, "sha256=" + "ü" * 64, "sha256=\u00ff"])
def test_a_non_ascii_signature_is_forbidden_and_nothing_is_stored(client, signature):
    body = json.dumps(text_message("STOP")).encode()
    response = client.post(
        URL, data=body, content_type="application/json", headers={"X-Hub-Signature-256": signature}
    )
    assert response.status_code == 403
    assert not WebhookEvent.objects.exists()
