"""render_message: what the recipient reads, for every component kind; never an exception."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from templates_app.rendering import RenderedButton, RenderedHeader, RenderedMessage, render_message
from tests.templates_app.sample_templates import (
    ANDROID_APP,
    authentication,
    body_only,
    copy_code_button,
    media_header,
    named_welcome,
    order_update,
    phone_button,
    quick_reply,
    url_button,
    with_buttons,
)

ORDER_PARAMETERS = {
    "header": {"type": "text", "text": "ORD-7"},
    "body": ["Ann", "ORD-7"],
    "buttons": {"1": "ORD-7", "3": "WELCOME10"},
}


def test_positional_template_with_parameters():
    message = render_message(components=order_update(), parameters=ORDER_PARAMETERS)

    assert message == RenderedMessage(
        header=RenderedHeader(kind="TEXT", text="Order ORD-7"),
        body="Hi Ann, your order ORD-7 ships today.",
        footer="Reply STOP to opt out",
        buttons=(
            RenderedButton(index=0, kind="QUICK_REPLY", label="Stop promotions"),
            RenderedButton(index=1, kind="URL", label="Track", target="https://shop.example/track/ORD-7"),
            RenderedButton(index=2, kind="PHONE_NUMBER", label="Call us", target="+4930123456"),
            RenderedButton(index=3, kind="COPY_CODE", label="Copy offer code", target="WELCOME10"),
        ),
    )


def test_preview_fills_in_the_samples():
    message = render_message(components=order_update(), use_examples=True)

    assert message.header.text == "Order ORD-1"
    assert message.body == "Hi Pablo, your order ORD-9271 ships today."
    assert message.buttons[1].target == "https://shop.example/track/ORD-1"
    assert message.buttons[3].target == "SAVE20"


def test_given_values_win_over_samples():
    message = render_message(components=order_update(), parameters={"body": ["Ann"]}, use_examples=True)

    assert message.body == "Hi Ann, your order ORD-9271 ships today."


def test_missing_values_show_as_their_variable():
    message = render_message(components=order_update(), parameters={"body": ["Ann"]})

    assert message.header.text == "Order {{1}}"
    assert message.body == "Hi Ann, your order {{2}} ships today."
    assert message.buttons[1].target == "https://shop.example/track/{{1}}"
    assert message.buttons[3].target == ""


def test_named_template():
    parameters = {
        "header": {"type": "text", "text": "Ann"},
        "body": {"first_name": "Ann", "order_id": "ORD-7"},
    }

    message = render_message(components=named_welcome(), parameters=parameters)

    assert message.header == RenderedHeader(kind="TEXT", text="Welcome Ann")
    assert message.body == "Hello Ann, your order ORD-7 is confirmed. Thank you!"
    assert render_message(components=named_welcome()).body.startswith(
        "Hello {{first_name}}, your order {{order_id}}"
    )


def test_media_headers_render_a_placeholder_and_the_media_given():
    for media_format, label in (("IMAGE", "[Image]"), ("VIDEO", "[Video]"), ("DOCUMENT", "[Document]")):
        kind = media_format.lower()
        by_id = render_message(
            components=media_header(media_format), parameters={"header": {"type": kind, "id": "77"}}
        )
        by_link = render_message(
            components=media_header(media_format),
            parameters={"header": {"type": kind, "link": "https://x.example/a"}},
        )
        preview = render_message(components=media_header(media_format), use_examples=True)

        assert by_id.header == RenderedHeader(kind=media_format, text=label, media="77")
        assert by_link.header.media == "https://x.example/a"
        assert preview.header == RenderedHeader(kind=media_format, text=label)


def test_footer_and_no_header():
    message = render_message(components=[*body_only(), {"type": "FOOTER", "text": "Shop Example GmbH"}])

    assert message.header is None
    assert message.footer == "Shop Example GmbH"


def test_each_button_kind():
    components = with_buttons(
        quick_reply("Yes"),
        url_button("https://shop.example/help"),
        phone_button(),
        copy_code_button(),
    )

    buttons = render_message(components=components).buttons

    assert buttons == (
        RenderedButton(index=0, kind="QUICK_REPLY", label="Yes"),
        RenderedButton(index=1, kind="URL", label="Track", target="https://shop.example/help"),
        RenderedButton(index=2, kind="PHONE_NUMBER", label="Call us", target="+4930123456"),
        RenderedButton(index=3, kind="COPY_CODE", label="Copy offer code", target=""),
    )


def test_authentication_template_renders_metas_fixed_text():
    message = render_message(components=authentication(), parameters={"body": ["482913"]})

    assert message == RenderedMessage(
        header=None,
        body="482913 is your verification code. For your security, do not share this code.",
        footer="This code expires in 10 minutes.",
        buttons=(RenderedButton(index=0, kind="OTP", label="Copy code", target="482913"),),
    )


def test_authentication_variants():
    plain = render_message(components=authentication(minutes=None, security=False), use_examples=True)
    one_tap = render_message(components=authentication("ONE_TAP", supported_apps=[ANDROID_APP]))

    assert plain.body == "123456 is your verification code."
    assert plain.footer == ""
    assert one_tap.body.startswith("{{1}} is your verification code.")
    assert one_tap.buttons[0].label == "Autofill"


def test_as_text_is_a_plain_transcript():
    text = render_message(components=order_update(), use_examples=True).as_text()

    assert text == (
        "Order ORD-1\n\nHi Pablo, your order ORD-9271 ships today.\n\nReply STOP to opt out\n\n"
        "[Stop promotions] | [Track] | [Call us] | [Copy offer code]"
    )


def test_malformed_parameters_render_without_crashing():
    for parameters in ("x", {"body": "Ann"}, {"body": [1, None]}, {"buttons": ["a"]}, {"header": "x"}, 42):
        message = render_message(components=order_update(), parameters=parameters)

        assert message.footer == "Reply STOP to opt out"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=200), parameters=json_values, use_examples=st.booleans())
def test_rendering_never_crashes(text, parameters, use_examples):
    components = [{"type": "HEADER", "format": "TEXT", "text": text}, *body_only(text), *order_update()[2:]]

    message = render_message(components=components, parameters=parameters, use_examples=use_examples)

    assert isinstance(message.body, str)


@settings(max_examples=100, deadline=None)
@given(components=json_values, parameters=json_values)
def test_rendering_never_crashes_on_arbitrary_json(components, parameters):
    render_message(components=components, parameters=parameters)
