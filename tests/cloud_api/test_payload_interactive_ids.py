"""The interactive builders refuse what a reply could not tell apart, and a list's untitled sections."""

import pytest

from cloud_api import payloads
from cloud_api.payloads import ListRow, ListSection, ReplyButton
from core.errors import ApplicationError


def refused_field(build) -> str:
    with pytest.raises(ApplicationError) as info:
        build()
    assert info.value.code == payloads.PAYLOAD_INVALID
    return info.value.field


def test_reply_button_ids_are_unique():
    buttons = [ReplyButton("a", "One"), ReplyButton("a", "Two")]
    assert refused_field(lambda: payloads.reply_buttons_message("+1", "b", buttons)) == "buttons"


def test_list_row_ids_are_unique_across_sections():
    sections = [ListSection("S", [ListRow("a", "One")]), ListSection("T", [ListRow("a", "Two")])]
    assert (
        refused_field(lambda: payloads.list_message("+1", "b", button="B", sections=sections)) == "sections"
    )


def test_only_a_lone_section_may_go_untitled():
    lone = payloads.list_message("+1", "b", button="B", sections=[ListSection("", [ListRow("a", "One")])])
    assert lone["interactive"]["action"]["sections"] == [{"rows": [{"id": "a", "title": "One"}]}]
    sections = [ListSection("S", [ListRow("a", "One")]), ListSection("", [ListRow("b", "Two")])]
    assert (
        refused_field(lambda: payloads.list_message("+1", "b", button="B", sections=sections))
        == "section title"
    )


def test_a_template_may_quote_the_message_it_answers():
    body = payloads.template_message_with_components(
        "+1", name="t", language="en", components=[], reply_to="wamid.IN"
    )
    assert body["context"] == {"message_id": "wamid.IN"}
    assert "context" not in payloads.template_message_with_components(
        "+1", name="t", language="en", components=[]
    )
