"""The client against the sandbox over loopback: outcomes, error classes, templates, uploads."""

import socket

import pytest

from cloud_api import payloads
from cloud_api.errors import ErrorClass
from cloud_api.outcomes import Accepted, CloudApiCallFailed, NotSent, OutcomeUnknown, Refused
from cloud_api.payloads import CopyCodeButton, MediaHeader, MediaRef, QuickReplyButton, UrlButton
from tests.sandbox import (
    CUSTOMER,
    CUSTOMER_WA_ID,
    ORDER_UPDATE,
    client_for,
    control,
    seed_templates,
    wait_until,
)


def order_update(**overrides):
    arguments = {
        "name": "order_update",
        "language": "en_US",
        "header": MediaHeader("image", MediaRef(link="https://cdn.example/box.png")),
        "body": ["Pablo", "ORD-9271"],
        "buttons": [
            QuickReplyButton(0, "optout:marketing:42"),
            UrlButton(1, "ORD-9271"),
            CopyCodeButton(2, "SAVE20"),
        ],
        "biz_opaque_callback_data": "message-42",
        **overrides,
    }
    return payloads.template_message(CUSTOMER, **arguments)


def test_an_accepted_template_send_carries_wamid_and_wa_id(sandbox, api):
    seed_templates(sandbox, ORDER_UPDATE)
    outcome = api.send(order_update())
    assert isinstance(outcome, Accepted)
    assert outcome.wamid.startswith("wamid.")
    assert (outcome.input, outcome.wa_id) == (CUSTOMER, CUSTOMER_WA_ID)
    assert outcome.may_have_been_sent
    received = control(sandbox, "messages")["data"]
    assert [m["wamid"] for m in received] == [outcome.wamid]
    assert received[0]["payload"] == order_update()


REPRESENTATIVE_CODES = {
    ErrorClass.MESSAGE_THROUGHPUT: 130429,
    ErrorClass.API_CALL_LIMIT: 80007,
    ErrorClass.PAIR_RATE: 131056,
    ErrorClass.TRANSIENT: 131016,
    ErrorClass.DEFERRED: 131049,
    ErrorClass.TEMPLATE_PAUSED: 132015,
    ErrorClass.RECIPIENT_PERMANENT: 131026,
    ErrorClass.REQUEST_PERMANENT: 132012,
    ErrorClass.ACCOUNT_LEVEL: 131048,
}


@pytest.mark.parametrize(("error_class", "code"), REPRESENTATIVE_CODES.items())
def test_every_error_class_is_classified_from_the_answer(sandbox, api, error_class, code):
    control(sandbox, "config", {"error_rate": 1.0, "error_codes": [code]})
    outcome = api.send(payloads.text_message(CUSTOMER, "Hi"))
    assert isinstance(outcome, Refused)
    assert (outcome.code, outcome.error_class) == (code, error_class)
    assert not outcome.may_have_been_sent


def test_a_5xx_without_a_graph_error_is_transient(sandbox, api):
    control(sandbox, "config", {"server_error_rate": 1.0})
    outcome = api.send(payloads.text_message(CUSTOMER, "Hi"))
    assert isinstance(outcome, Refused)
    assert outcome.code is None
    assert outcome.error.http_status == 503
    assert outcome.error_class is ErrorClass.TRANSIENT


def test_a_gateway_timeout_is_unknown_not_transient(webhook_receiver):
    # Any HTTP server that answers a chosen status will do: the test receiver is one.
    webhook_receiver.statuses.append(504)
    base_url = webhook_receiver.url.removesuffix("/webhooks/whatsapp/")
    outcome = client_for(base_url).send(payloads.text_message(CUSTOMER, "Hi"))
    assert isinstance(outcome, OutcomeUnknown)
    assert outcome.may_have_been_sent


def test_a_bad_token_is_account_level(sandbox):
    api = client_for(sandbox.url, access_token="expired")
    outcome = api.send(payloads.text_message(CUSTOMER, "Hi"))
    assert isinstance(outcome, Refused)
    assert (outcome.code, outcome.error_class) == (190, ErrorClass.ACCOUNT_LEVEL)


def test_an_outage_is_not_sent_and_sending_resumes_after_it(sandbox, api):
    seed_templates(sandbox, ORDER_UPDATE)
    assert isinstance(api.send(order_update()), Accepted)  # a pooled keep-alive connection exists now
    # Long enough that a stall of a busy machine before the first send still meets the outage.
    control(sandbox, "outage", {"seconds": 2.0})

    def not_sent():
        outcome = api.send(order_update())
        return outcome if isinstance(outcome, NotSent) else None

    outcome = wait_until(not_sent, timeout=2)
    assert not outcome.may_have_been_sent
    assert "could not connect" in outcome.reason
    wait_until(lambda: isinstance(api.send(order_update()), Accepted), timeout=10)


def test_a_dropped_connection_is_unknown_but_the_message_was_accepted(sandbox, api, webhook_receiver):
    seed_templates(sandbox, ORDER_UPDATE)
    control(sandbox, "config", {"unknown_rate": 1.0, "unknown_mode": "drop"})
    outcome = api.send(order_update(biz_opaque_callback_data="reconcile-me"))
    assert isinstance(outcome, OutcomeUnknown)
    assert outcome.may_have_been_sent
    [accepted] = control(sandbox, "messages")["data"]
    assert accepted["answer"] == "drop"
    statuses = wait_until(lambda: webhook_receiver.statuses_of(accepted["wamid"]))
    assert statuses[0]["biz_opaque_callback_data"] == "reconcile-me"


def test_an_answer_that_never_comes_is_unknown(sandbox):
    seed_templates(sandbox, ORDER_UPDATE)
    control(sandbox, "config", {"unknown_rate": 1.0, "unknown_mode": "hang"})
    api = client_for(sandbox.url, read_timeout=0.3)
    outcome = api.send(order_update())
    assert isinstance(outcome, OutcomeUnknown)
    assert "no answer within" in outcome.reason


def test_a_refused_connection_is_not_sent():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: the kernel refuses connections
        outcome = client_for(f"http://127.0.0.1:{port}").send(payloads.text_message(CUSTOMER, "Hi"))
    assert isinstance(outcome, NotSent)


def test_a_connect_timeout_is_not_sent():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    # Fill the accept queue so the kernel drops further handshakes: the next connect times out.
    fillers = []
    try:
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        outcome = client_for(f"http://127.0.0.1:{port}", connect_timeout=0.2).send(
            payloads.text_message(CUSTOMER, "Hi")
        )
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert isinstance(outcome, NotSent)
    assert "connect timeout" in outcome.reason


def test_mark_read_is_accepted_for_a_received_message(sandbox, api):
    wamid = control(sandbox, "inbound", {"from": CUSTOMER, "kind": "text", "body": "Hello?"})["wamid"]
    api.mark_read(wamid, typing_indicator=True)
    assert control(sandbox, "read_marks")["data"] == [wamid]
    with pytest.raises(CloudApiCallFailed) as failed:
        api.mark_read("wamid.unknown")
    assert failed.value.outcome.code == 100


BODY_ONLY = [{"type": "BODY", "text": "Hi {{1}}, thanks for your order.", "example": {"body_text": [["Jo"]]}}]


def test_template_create_is_reviewed_then_listed_with_paging(sandbox, api, webhook_receiver):
    created = api.create_template(name="thanks", language="en", category="UTILITY", components=BODY_ONLY)
    assert created["status"] == "PENDING"
    update = wait_until(lambda: webhook_receiver.values("message_template_status_update"))[0]
    assert (update["event"], update["message_template_id"]) == ("APPROVED", int(created["id"]))
    for language in ("de", "fr"):
        api.create_template(name="thanks", language=language, category="UTILITY", components=BODY_ONLY)
    listed = list(api.list_templates(fields=["name", "language", "status"], page_size=1))
    assert [t["language"] for t in listed] == ["en", "de", "fr"]
    assert set(listed[0]) == {"id", "name", "language", "status"}
    assert [t["id"] for t in api.list_templates(filters={"language": "de"})] == [listed[1]["id"]]


def test_template_edit_is_reviewed_again_and_delete_removes_it(sandbox, api):
    created = api.create_template(name="thanks", language="en", category="UTILITY", components=BODY_ONLY)
    wait_until(lambda: api.get_template(created["id"])["status"] == "APPROVED")
    edited = [{**BODY_ONLY[0], "text": "Hello {{1}}, thank you for your order."}]
    assert api.edit_template(created["id"], components=edited) == {"success": True}
    assert api.get_template(created["id"])["status"] == "PENDING"
    wait_until(lambda: api.get_template(created["id"])["status"] == "APPROVED")
    assert api.get_template(created["id"])["components"] == edited
    api.delete_template(name="thanks")
    with pytest.raises(CloudApiCallFailed) as failed:
        api.get_template(created["id"])
    assert failed.value.outcome.code == 100


def test_a_refused_management_call_raises_with_the_classified_error(sandbox, api):
    with pytest.raises(CloudApiCallFailed) as failed:
        api.create_template(name="Bad Name", language="en", category="UTILITY", components=BODY_ONLY)
    assert isinstance(failed.value.outcome, Refused)
    assert failed.value.outcome.error_class is ErrorClass.REQUEST_PERMANENT
    assert failed.value.operation == "create template"


def test_media_upload_and_a_media_header_template_from_a_resumable_upload(sandbox, api):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048
    media_id = api.upload_media(png, mime_type="image/png", filename="box.png")
    assert media_id.isdigit()
    handle = api.upload_template_sample(png, mime_type="image/png", file_name="box.png")
    components = [
        {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": [handle]}},
        *BODY_ONLY,
    ]
    created = api.create_template(
        name="with_picture", language="en", category="MARKETING", components=components
    )
    wait_until(lambda: api.get_template(created["id"])["status"] == "APPROVED")
    outcome = api.send(
        payloads.template_message(
            CUSTOMER,
            name="with_picture",
            language="en",
            header=MediaHeader("image", MediaRef(media_id=media_id)),
            body=["Jo"],
        )
    )
    assert isinstance(outcome, Accepted)


def test_unsupported_media_is_refused_with_131053(sandbox, api):
    with pytest.raises(CloudApiCallFailed) as failed:
        api.upload_media(b"MZ", mime_type="application/x-msdownload")
    assert failed.value.outcome.code == 131053
