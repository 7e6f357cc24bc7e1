"""The sandbox refuses free-form media, interactive messages and a reply's ``context`` as Meta does,
and fails a send by a media id it cannot use afterwards, in a ``failed`` status webhook (131053)."""

import pytest

from cloud_api import payloads
from cloud_api.payloads import ListRow, ListSection, MediaRef, ReplyButton
from tests.cloud_api.test_sandbox_sends import code_of, post
from tests.sandbox import CUSTOMER, client_for, control, wait_until


@pytest.fixture
def open_window(sandbox):
    control(sandbox, "window", {"wa_id": CUSTOMER})
    return sandbox


def upload(sandbox, mime_type: str) -> str:
    api = client_for(sandbox.url)
    try:
        return api.upload_media(b"\x00" * 64, mime_type=mime_type, filename="sample")
    finally:
        api.close()


@pytest.mark.parametrize(
    ("kind", "mime_type"),
    [
        ("image", "image/png"),
        ("video", "video/mp4"),
        ("audio", "audio/ogg"),
        ("document", "application/pdf"),
        ("document", "image/jpeg"),  # any file may go as a document
        ("sticker", "image/webp"),
    ],
)
def test_uploaded_media_is_sent_and_delivered(open_window, webhook_receiver, kind, mime_type):
    media_id = upload(open_window, mime_type)
    status, body = post(open_window, payloads.media_message(CUSTOMER, kind, MediaRef(media_id=media_id)))
    assert status == 200, body
    wamid = body["messages"][0]["id"]
    wait_until(lambda: any(s["status"] == "delivered" for s in webhook_receiver.statuses_of(wamid)))
    assert not any(s["status"] == "failed" for s in webhook_receiver.statuses_of(wamid))


@pytest.mark.parametrize(
    ("kind", "media_id"),
    [("image", "999999"), ("sticker", "png"), ("image", "pdf")],
    ids=["never uploaded", "a png as a sticker", "a pdf as an image"],
)
def test_media_meta_cannot_use_fails_by_webhook_with_131053(open_window, webhook_receiver, kind, media_id):
    uploaded = {"png": "image/png", "pdf": "application/pdf"}
    if media_id in uploaded:
        media_id = upload(open_window, uploaded[media_id])
    status, body = post(open_window, payloads.media_message(CUSTOMER, kind, MediaRef(media_id=media_id)))
    assert status == 200, body  # Meta answers before it fetches the media
    wamid = body["messages"][0]["id"]
    [failed] = wait_until(lambda: webhook_receiver.statuses_of(wamid))
    assert failed["status"] == "failed" and failed["errors"][0]["code"] == 131053


def media(kind="image", **fields):
    return {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": kind,
        kind: {"id": "1", **fields},
    }


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (media(link="https://shop.example/a.jpg"), 131009),
        (media("audio", caption="Listen"), 131009),
        (media("image", filename="a.jpg"), 131009),
        (media(caption="x" * 1025), 131009),
        (media(caption=7), 100),
        ({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "image", "image": {}}, 131008),
    ],
    ids=[
        "id and link",
        "caption on audio",
        "filename on an image",
        "caption too long",
        "caption not text",
        "no id",
    ],
)
def test_malformed_media_is_refused(open_window, payload, code):
    assert code_of(post(open_window, payload)) == code


def buttons(*pairs, **options):
    return payloads.reply_buttons_message(
        CUSTOMER, "Pick one", [ReplyButton(i, t) for i, t in pairs], **options
    )


def a_list(*sections, **options):
    return payloads.list_message(CUSTOMER, "Pick one", button="Options", sections=list(sections), **options)


def edited(payload, change):
    change(payload["interactive"])
    return payload


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (edited(buttons(("a", "A")), lambda i: i["action"]["buttons"].clear()), 131009),
        (
            edited(
                buttons(("a", "A")), lambda i: i["action"]["buttons"].extend([i["action"]["buttons"][0]] * 3)
            ),
            131009,
        ),
        (
            edited(
                buttons(("a", "A"), ("b", "B")), lambda i: i["action"]["buttons"][1]["reply"].update(id="a")
            ),
            131009,
        ),
        (
            edited(buttons(("a", "A")), lambda i: i["action"]["buttons"][0]["reply"].update(title="x" * 21)),
            131009,
        ),
        (
            edited(buttons(("a", "A")), lambda i: i["action"]["buttons"][0]["reply"].update(id="x" * 257)),
            131009,
        ),
        (edited(buttons(("a", "A")), lambda i: i["action"]["buttons"][0]["reply"].pop("id")), 131008),
        (edited(buttons(("a", "A")), lambda i: i["action"]["buttons"][0].update(type="url")), 131009),
        (edited(buttons(("a", "A")), lambda i: i["body"].update(text="x" * 1025)), 131009),
        (edited(buttons(("a", "A"), footer="f"), lambda i: i["footer"].update(text="x" * 61)), 131009),
        (edited(buttons(("a", "A"), header="h"), lambda i: i["header"].update(text="x" * 61)), 131009),
        (
            edited(
                a_list(ListSection("S", [ListRow("r", "R")])), lambda i: i["action"].update(button="x" * 21)
            ),
            131009,
        ),
        (
            edited(a_list(ListSection("S", [ListRow("r", "R")])), lambda i: i["action"]["sections"].clear()),
            131009,
        ),
        (
            edited(
                a_list(ListSection("S", [ListRow("r", "R")]), ListSection("T", [ListRow("s", "S")])),
                lambda i: i["action"]["sections"][1].pop("title"),
            ),
            131008,
        ),
        (
            edited(
                a_list(ListSection("S", [ListRow("r", "R"), ListRow("s", "S")])),
                lambda i: i["action"]["sections"][0]["rows"][1].update(id="r"),
            ),
            131009,
        ),
        (
            edited(
                a_list(ListSection("S", [ListRow("r", "R")])),
                lambda i: i["action"]["sections"][0]["rows"][0].update(description="x" * 73),
            ),
            131009,
        ),
        (
            edited(
                a_list(ListSection("S", [ListRow("r", "R")])),
                lambda i: i["action"]["sections"][0]["rows"].extend(
                    [{"id": str(n), "title": "T"} for n in range(10)]
                ),
            ),
            131009,
        ),
        (
            edited(
                a_list(ListSection("S", [ListRow("r", "R")])),
                lambda i: i.update(header={"type": "image", "image": {"id": "1"}}),
            ),
            131009,
        ),
    ],
    ids=[
        "no buttons",
        "four buttons",
        "same button ids",
        "button title too long",
        "button id too long",
        "button without id",
        "not a reply button",
        "buttons body too long",
        "footer too long",
        "header too long",
        "list button too long",
        "no sections",
        "second section untitled",
        "same row ids",
        "row description too long",
        "eleven rows",
        "media header on a list",
    ],
)
def test_interactive_messages_outside_meta_limits_are_refused(open_window, payload, code):
    assert code_of(post(open_window, payload)) == code


def test_a_list_with_one_untitled_section_is_accepted(open_window):
    payload = a_list(ListSection("", [ListRow("r", "R")]))
    assert "title" not in payload["interactive"]["action"]["sections"][0]
    assert post(open_window, payload)[0] == 200


def test_a_reply_quotes_a_message_by_its_wamid(open_window):
    wamid = control(open_window, "inbound", {"from": CUSTOMER, "kind": "text", "body": "Hi"})["wamid"]
    status, _ = post(open_window, payloads.text_message(CUSTOMER, "Hello!", reply_to=wamid))
    assert status == 200
    [sent] = control(open_window, "messages")["data"]
    assert sent["payload"]["context"] == {"message_id": wamid}


@pytest.mark.parametrize(
    ("context", "code"),
    [("wamid.X", 100), ({}, 131008), ({"message_id": ""}, 131008), ({"message_id": 7}, 100)],
)
def test_a_malformed_context_is_refused(open_window, context, code):
    payload = {**payloads.text_message(CUSTOMER, "Hello!"), "context": context}
    assert code_of(post(open_window, payload)) == code
