"""FrozenComponents: the send path's components read once answer exactly as the plain list does."""

from __future__ import annotations

import copy
import pickle

import pytest

from templates_app import components as c
from templates_app.components import FrozenComponents
from templates_app.parameters import build_send_components, check_parameters
from templates_app.rendering import render_message
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

SHAPES = {
    "order_update": order_update(),
    "named_welcome": named_welcome(),
    "image header": media_header(),
    "body only": body_only(),
    "buttons": with_buttons(quick_reply(), url_button(), phone_button(), copy_code_button()),
    "authentication": authentication(),
    "one-tap authentication": authentication("ONE_TAP", supported_apps=[ANDROID_APP]),
    "two bodies (the first counts)": [
        {"type": "BODY", "text": "First {{1}}"},
        {"type": "BODY", "text": "Second"},
    ],
    "junk entries": ["HEADER", None, {"type": 3}, {"type": "body", "text": "Hi {{1}}"}],
    "empty": [],
}


@pytest.mark.parametrize("name", SHAPES)
def test_every_accessor_answers_as_on_the_plain_list(name):
    plain = SHAPES[name]
    frozen = FrozenComponents(copy.deepcopy(plain))
    assert list(frozen) == plain
    for kind in c.ComponentType:
        assert c.find_component(frozen, kind) == c.find_component(plain, kind)
    assert c.buttons_of(frozen) == c.buttons_of(plain)
    assert c.is_authentication_template(frozen) == c.is_authentication_template(plain)
    assert render_message(components=frozen) == render_message(components=plain)
    for values in ({}, {"body": ["Anna"]}, {"body": {"first_name": "Anna"}}, {"buttons": {"1": "X 1"}}):
        for fmt in ("POSITIONAL", "NAMED"):
            args = {"parameter_format": fmt, "parameters": values}
            assert check_parameters(components=frozen, **args) == check_parameters(components=plain, **args)


def test_the_send_body_is_the_same_and_a_caller_changing_the_buttons_it_got_changes_nothing():
    plain = order_update()
    frozen = FrozenComponents(plain)
    values = {
        "header": {"type": "text", "text": "ORD-9271"},
        "body": ["Pablo", "ORD-9271"],
        "buttons": {"1": "ORD-9271", "3": "SAVE20"},
    }
    args = {"parameter_format": "POSITIONAL", "parameters": values, "quick_reply_payloads": {"0": "optout:x"}}
    assert build_send_components(components=frozen, **args) == build_send_components(components=plain, **args)
    c.buttons_of(frozen).clear()
    assert c.buttons_of(frozen) == c.buttons_of(plain)


def test_copies_and_pickles_are_read_again():
    frozen = FrozenComponents(order_update())
    for other in (copy.copy(frozen), copy.deepcopy(frozen), pickle.loads(pickle.dumps(frozen))):
        assert type(other) is FrozenComponents
        assert other == frozen and other.buttons == frozen.buttons


def test_variable_names_are_a_new_list_each_time():
    names = c.variable_names("Hi {{2}} and {{1}}")
    names.append("x")
    assert c.variable_names("Hi {{2}} and {{1}}") == ["1", "2"]
