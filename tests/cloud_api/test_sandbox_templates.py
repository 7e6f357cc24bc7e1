"""Template management in the sandbox: Meta's creation refusals, review verdicts, edits, deletes."""

import pytest
import requests

from tests.sandbox import TOKEN, VERSION, WABA_ID, control, wait_until

BODY = {"type": "BODY", "text": "Hi {{1}}, your table is booked.", "example": {"body_text": [["Jo"]]}}


def template(**overrides):
    return {"name": "booking", "language": "en", "category": "UTILITY", "components": [BODY], **overrides}


def graph(sandbox, method, path, **kwargs):
    response = requests.request(
        method,
        f"{sandbox.url}/{VERSION}/{path}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
        **kwargs,
    )
    return response.status_code, response.json()


def create(sandbox, body):
    return graph(sandbox, "POST", f"{WABA_ID}/message_templates", json=body)


def status_updates(webhook_receiver):
    return webhook_receiver.values("message_template_status_update")


def test_a_created_template_is_approved_after_review_with_a_webhook(sandbox, webhook_receiver):
    status, created = create(sandbox, template())
    assert status == 200
    assert created == {"id": created["id"], "status": "PENDING", "category": "UTILITY"}
    [update] = wait_until(lambda: status_updates(webhook_receiver))
    assert update == {
        "event": "APPROVED",
        "message_template_id": int(created["id"]),
        "message_template_name": "booking",
        "message_template_language": "en",
        "reason": "NONE",
        "message_template_category": "UTILITY",
    }
    body = webhook_receiver.bodies()[0]
    assert isinstance(body["entry"][0]["time"], int)


def test_a_configured_word_is_rejected(sandbox, webhook_receiver):
    words = {**BODY, "text": "Hi {{1}}, REJECTME is in here."}
    create(sandbox, template(components=[words]))
    [update] = wait_until(lambda: status_updates(webhook_receiver))
    assert (update["event"], update["reason"]) == ("REJECTED", "ABUSIVE_CONTENT")


def test_adjacent_variables_are_rejected_as_invalid_format(sandbox, webhook_receiver):
    adjacent = {"type": "BODY", "text": "Dear {{1}}{{2}}, welcome.", "example": {"body_text": [["a", "b"]]}}
    create(sandbox, template(components=[adjacent]))
    [update] = wait_until(lambda: status_updates(webhook_receiver))
    assert (update["event"], update["reason"]) == ("REJECTED", "INVALID_FORMAT")
    assert "next to each other" in update["rejection_info"]["reason"]


@pytest.mark.parametrize(
    ("body", "code", "subcode"),
    [
        (template(components=[{**BODY, "text": "{{1}}, your table is booked."}]), 100, 2388299),
        (template(components=[{**BODY, "text": "Your table is booked, {{1}}"}]), 100, 2388299),
        (template(components=[{**BODY, "text": "x" * 1025}]), 100, 2388040),
        (template(name="Booking-Confirmation"), 100, None),
        (template(category="PROMOTION"), 100, None),
        (template(language=""), 131008, None),
        (template(components=[{**BODY, "example": {}}]), 100, None),
        (template(components=[{"type": "FOOTER", "text": "no body"}]), 100, None),
        (template(components=[{"type": "HEADER", "format": "IMAGE"}, BODY]), 100, None),
        (
            template(
                components=[
                    {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["made-up"]}},
                    BODY,
                ]
            ),
            100,
            None,
        ),
    ],
)
def test_creation_refusals(sandbox, body, code, subcode):
    status, answer = create(sandbox, body)
    assert status == 400
    assert answer["error"]["code"] == code
    assert answer["error"].get("error_subcode") == subcode


def test_a_duplicate_name_and_language_is_2388024(sandbox):
    create(sandbox, template())
    _, answer = create(sandbox, template())
    assert (answer["error"]["code"], answer["error"]["error_subcode"]) == (100, 2388024)
    assert create(sandbox, template(language="de"))[0] == 200


def test_the_template_limit_is_2388019(make_sandbox):
    sandbox = make_sandbox(template_limit=1)
    create(sandbox, template())
    assert create(sandbox, template(language="de"))[1]["error"]["code"] == 2388019


def test_edit_rules(sandbox, webhook_receiver):
    created = create(sandbox, template())[1]
    _, answer = graph(sandbox, "POST", created["id"], json={"components": [BODY]})
    assert answer["error"]["code"] == 100  # PENDING cannot be edited
    wait_until(lambda: status_updates(webhook_receiver))
    _, answer = graph(sandbox, "POST", created["id"], json={"category": "MARKETING"})
    assert answer["error"]["code"] == 100  # nor the category of an approved one
    edited = {**BODY, "text": "Hello {{1}}, your table is booked."}
    assert graph(sandbox, "POST", created["id"], json={"components": [edited]}) == (200, {"success": True})
    wait_until(lambda: len(status_updates(webhook_receiver)) == 2)
    _, answer = graph(sandbox, "POST", created["id"], json={"components": [BODY]})
    assert answer["error"]["code"] == 100  # one edit per 24 hours for an approved template


def test_delete_by_name_or_by_id(sandbox):
    first = create(sandbox, template())[1]
    second = create(sandbox, template(language="de"))[1]
    path = f"{WABA_ID}/message_templates"
    assert graph(sandbox, "DELETE", path, params={"name": "booking", "hsm_id": first["id"]})[0] == 200
    assert [t["id"] for t in control(sandbox, "templates")["data"]] == [second["id"]]
    assert graph(sandbox, "DELETE", path, params={"name": "booking"})[0] == 200
    assert control(sandbox, "templates")["data"] == []
    assert graph(sandbox, "DELETE", path, params={"name": "booking"})[1]["error"]["code"] == 100


def test_templates_are_listed_with_cursor_paging(sandbox):
    for language in ("en", "de", "fr"):
        create(sandbox, template(language=language))
    _, page = graph(
        sandbox, "GET", f"{WABA_ID}/message_templates", params={"limit": 2, "fields": "name,language"}
    )
    assert [t["language"] for t in page["data"]] == ["en", "de"]
    assert set(page["data"][0]) == {"id", "name", "language"}
    assert page["paging"]["next"]
    _, rest = graph(
        sandbox,
        "GET",
        f"{WABA_ID}/message_templates",
        params={"limit": 2, "after": page["paging"]["cursors"]["after"]},
    )
    assert [t["language"] for t in rest["data"]] == ["fr"]
    assert "next" not in rest["paging"]


def test_resumable_upload_can_resume_from_the_offset(sandbox):
    app = "1000000000000001"
    _, session = graph(
        sandbox,
        "POST",
        f"{app}/uploads",
        params={
            "file_name": "a.pdf",
            "file_length": 6,
            "file_type": "application/pdf",
            "access_token": TOKEN,
        },
    )
    upload = session["id"]
    assert upload.startswith("upload:")
    headers = {"Authorization": f"OAuth {TOKEN}"}
    first = requests.post(
        f"{sandbox.url}/{VERSION}/{upload}", data=b"abc", headers={**headers, "file_offset": "0"}, timeout=5
    )
    assert first.json()["file_offset"] == 3
    assert graph(sandbox, "GET", upload)[1]["file_offset"] == 3
    wrong = requests.post(
        f"{sandbox.url}/{VERSION}/{upload}", data=b"def", headers={**headers, "file_offset": "0"}, timeout=5
    )
    assert wrong.json()["error"]["code"] == 100
    done = requests.post(
        f"{sandbox.url}/{VERSION}/{upload}", data=b"def", headers={**headers, "file_offset": "3"}, timeout=5
    )
    assert done.json()["h"].startswith("4::")
