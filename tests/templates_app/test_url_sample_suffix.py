"""The sample value of a URL button's variable, however Meta's sample is written."""

import pytest

from templates_app.components import url_sample_suffix


@pytest.mark.parametrize(
    ("url", "example", "suffix"),
    [
        ("https://shop.example/track/{{1}}", ["https://shop.example/track/ORD-1"], "ORD-1"),
        ("https://www.luckyshrub.com/rare-succulents/{{1}}", ["BLUE_ELF"], "BLUE_ELF"),  # Meta's carousel
        ("https://awesomedestinations.com/offers?code={{1}}", ["https://elsewhere.example/x"], ""),
        ("https://shop.example/{{1}}", [], ""),
        ("https://shop.example/{{1}}", [7], ""),
    ],
)
def test_the_sample_suffix_of_a_url_button(url, example, suffix):
    assert url_sample_suffix({"type": "URL", "url": url, "example": example}) == suffix
