"""whatsapp_markup_to_html: WhatsApp formatting as HTML, escaped first, never an injection."""

from __future__ import annotations

import re

import pytest
from django.utils.html import escape
from django.utils.safestring import SafeString
from hypothesis import given, settings
from hypothesis import strategies as st

from templates_app.rendering import whatsapp_markup_to_html


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("*Sale* today", "<strong>Sale</strong> today"),
        ("an _italic_ word", "an <em>italic</em> word"),
        ("~old price~ new price", "<del>old price</del> new price"),
        ("code: ```SAVE20```", "code: <code>SAVE20</code>"),
        ("*_both_*", "<strong><em>both</em></strong>"),
        ("line one\nline two", "line one<br>line two"),
        ("(*bold*), next", "(<strong>bold</strong>), next"),
        ("```keep *this* _as_ is```", "<code>keep *this* _as_ is</code>"),
        ("```two\nlines```", "<code>two<br>lines</code>"),
        ("use first_name_here", "use first_name_here"),
        ("__init__ stays", "__init__ stays"),
        ("2*3*4 = 24", "2*3*4 = 24"),
        ("* not bold *", "* not bold *"),
        ("see https://shop.example/a_b_c/x*y*z now", "see https://shop.example/a_b_c/x*y*z now"),
        ("*https://shop.example/a_b*", "<strong>https://shop.example/a_b</strong>"),
        ('Tom & Jerry\'s "show"', "Tom &amp; Jerry&#x27;s &quot;show&quot;"),
    ],
)
def test_formatting(text, html):
    assert whatsapp_markup_to_html(text) == html


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ('<img src=x onerror="alert(1)">', "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"),
        ("*<b>bold</b>*", "<strong>&lt;b&gt;bold&lt;/b&gt;</strong>"),
        ("```</code><script>```", "<code>&lt;/code&gt;&lt;script&gt;</code>"),
        ("https://x.example/<script>", "https://x.example/&lt;script&gt;"),
        ("a\x000\x00b", "a0b"),
    ],
)
def test_html_injection_is_escaped(text, html):
    assert whatsapp_markup_to_html(text) == html


def test_the_result_is_safe_to_put_in_a_template():
    assert isinstance(whatsapp_markup_to_html("*hi*"), SafeString)


ADDED_TAGS = re.compile(r"</?(strong|em|del|code)>|<br>")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("<>&\"'*_~` \nab:/.x\x00"), max_size=60) | st.text(max_size=60))
def test_no_markup_but_ours_gets_through(text):
    html = whatsapp_markup_to_html(text)

    remainder = ADDED_TAGS.sub("", html)
    assert "<" not in remainder
    assert ">" not in remainder
    assert "\x00" not in html


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="*_~`\n\r\x00", blacklist_categories=("Cs",))))
def test_text_without_formatting_is_only_escaped(text):
    assert whatsapp_markup_to_html(text) == escape(text)
