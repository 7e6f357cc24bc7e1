"""X-Hub-Signature-256 over the raw body, with the current or the previous app secret."""

import hashlib
import hmac

from django.test import override_settings

from cloud_api.signatures import app_secrets, signature_header, verify_signature

BODY = '{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"text":"Grüße"}}]}]}'.encode()


def test_signature_is_hmac_sha256_of_the_raw_body():
    expected = hmac.new(b"secret", BODY, hashlib.sha256).hexdigest()
    assert signature_header(BODY, "secret") == f"sha256={expected}"


def test_verify_accepts_the_current_or_the_previous_secret():
    assert verify_signature(BODY, signature_header(BODY, "new"), ["new", "old"])
    assert verify_signature(BODY, signature_header(BODY, "old"), ["new", "old"])


def test_verify_refuses_other_secrets_bodies_and_headers():
    header = signature_header(BODY, "other")
    assert not verify_signature(BODY, header, ["new", "old"])
    assert not verify_signature(BODY + b" ", signature_header(BODY, "new"), ["new"])
    assert not verify_signature(BODY, None, ["new"])
    assert not verify_signature(BODY, "sha1=abc", ["new"])
    assert not verify_signature(BODY, signature_header(BODY, ""), [""])


@override_settings(WHATSAPP_APP_SECRET="current", WHATSAPP_APP_SECRET_PREVIOUS="")
def test_app_secrets_leave_out_an_unset_previous_secret():
    assert app_secrets() == ["current"]
    with override_settings(WHATSAPP_APP_SECRET_PREVIOUS="previous"):
        assert app_secrets() == ["current", "previous"]
