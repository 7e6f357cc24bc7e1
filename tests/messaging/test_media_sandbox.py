"""The sandbox's media endpoints answer like Meta's: the URL by id, the bytes only with the token."""

import base64
import hashlib
import io

import pytest
import requests

from cloud_api.client import MediaNotDownloaded
from cloud_api.outcomes import CloudApiCallFailed
from cloud_api.sandbox.media_samples import jpeg, pdf
from tests.sandbox import CUSTOMER, TOKEN, VERSION, control, wait_until


def test_an_upload_is_retrievable_by_id_and_downloadable_with_the_token(sandbox, api):
    content = pdf("Invoice 42")
    media_id = api.upload_media(content, mime_type="application/pdf", filename="invoice.pdf")
    info = api.get_media(media_id)
    assert info["id"] == media_id
    assert info["mime_type"] == "application/pdf"
    assert info["file_size"] == len(content)
    assert info["sha256"] == hashlib.sha256(content).hexdigest()
    assert info["messaging_product"] == "whatsapp"

    buffer = io.BytesIO()
    assert api.download_media(info["url"], destination=buffer, max_bytes=len(content)) == len(content)
    assert buffer.getvalue() == content

    # Without the bearer token the URL gives nothing.
    anonymous = requests.get(info["url"], timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == 190


def test_a_file_over_the_limit_is_not_downloaded(sandbox, api):
    content = pdf()
    info = api.get_media(api.upload_media(content, mime_type="application/pdf"))
    with pytest.raises(MediaNotDownloaded, match="over the"):
        api.download_media(info["url"], destination=io.BytesIO(), max_bytes=len(content) - 1)


def test_the_token_goes_only_to_https_or_the_apis_own_origin(api):
    with pytest.raises(MediaNotDownloaded, match="not https"):
        api.download_media("http://attacker.example/x", destination=io.BytesIO(), max_bytes=10)


def test_an_unknown_media_id_gets_metas_error(sandbox, api):
    with pytest.raises(CloudApiCallFailed) as caught:
        api.get_media("999")
    assert caught.value.outcome.code == 100
    answer = requests.get(
        f"{sandbox.url}/{VERSION}/999", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["error_subcode"] == 33
    with pytest.raises(ValueError, match="not a media id"):
        api.get_media("../message_templates")


def test_an_unknown_or_old_download_link_is_refused(sandbox, api):
    info = api.get_media(api.upload_media(jpeg(), mime_type="image/jpeg"))
    forged = info["url"].split("?")[0] + "?mid=forged"
    with pytest.raises(CloudApiCallFailed) as caught:
        api.download_media(forged, destination=io.BytesIO(), max_bytes=10_000)
    assert caught.value.outcome.code == 100


def test_media_a_person_sends_is_held_by_the_sandbox(sandbox, api, webhook_receiver):
    control(sandbox, "inbound", {"from": CUSTOMER, "kind": "document", "filename": "scan.pdf"})
    own = b"%PDF-1.4 my own bytes"
    control(
        sandbox,
        "inbound",
        {
            "from": CUSTOMER,
            "kind": "image",
            "mime_type": "image/png",
            "content_base64": base64.b64encode(own).decode(),
        },
    )
    messages = wait_until(lambda: len(m := webhook_receiver.inbound_messages()) == 2 and m)
    by_type = {message["type"]: message for message in messages}
    document = by_type["document"]["document"]
    assert document["filename"] == "scan.pdf"
    assert document["mime_type"] == "application/pdf"
    buffer = io.BytesIO()
    api.download_media(api.get_media(document["id"])["url"], destination=buffer, max_bytes=10**6)
    assert buffer.getvalue().startswith(b"%PDF-")
    assert hashlib.sha256(buffer.getvalue()).hexdigest() == document["sha256"]
    image = by_type["image"]["image"]
    assert image["sha256"] == hashlib.sha256(own).hexdigest()
    assert api.get_media(image["id"])["file_size"] == len(own)
