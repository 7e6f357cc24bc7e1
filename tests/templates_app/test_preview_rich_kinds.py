"""The editor's live preview for issue 15's kinds: the form as posted, card rows included."""

from __future__ import annotations

import re

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from templates_app.models import MessageTemplate, TemplateCard
from templates_app.preview import render_preview

pytestmark = pytest.mark.django_db
PREVIEW_URL = reverse("admin:templates_app_messagetemplate_preview")


def card_rows(*cards, extra=1):
    """The card inline's POST fields (prefix ``cards``), plus ``extra`` untouched extra rows."""
    data = {"cards-TOTAL_FORMS": str(len(cards) + extra), "cards-INITIAL_FORMS": "0"}
    for index, card in enumerate([*cards, *({} for _ in range(extra))]):
        row = {
            "header_kind": "IMAGE",
            "body": "",
            "body_samples": "",
            "button1_kind": "",
            "button1_text": "",
            "button1_url": "",
            "button1_url_sample": "",
            "button2_kind": "",
            "button2_text": "",
            "position": "",
            **card,
        }
        data.update({f"cards-{index}-{name}": value for name, value in row.items()})
    return data


def carousel_form(*cards, extra=1, **overrides):
    return {
        "name": "succulents",
        "language": "en_US",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "kind": "CAROUSEL",
        "header_kind": "",
        "body": "Rare succulents for {{1}}!",
        "body_samples": "1: Pablo",
        "footer": "",
        "buttons-TOTAL_FORMS": "0",
        **card_rows(*cards, extra=extra),
        **overrides,
    }


def card(number, **fields):
    return {
        "body": f"Card {number} for {{{{1}}}}",
        "body_samples": f"1: sample-{number}",
        "button1_kind": "URL",
        "button1_text": f"Shop {number}",
        "button1_url": "https://shop.example/p/{{1}}",
        "button1_url_sample": f"https://shop.example/p/item-{number}",
        **fields,
    }


def cards_in(html):
    return re.findall(r'<div class="wa-card" role="listitem" data-card-index="(\d+)">', html)


def test_carousel_form_is_drawn_as_a_strip_of_cards(client_for, editor):
    response = client_for(editor).post(PREVIEW_URL, carousel_form(card(1), card(2), card(3)))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Rare succulents for Pablo!" in html
    assert 'class="wa-carousel"' in html and cards_in(html) == ["0", "1", "2"]  # the extra row is left out
    for number in (1, 2, 3):
        assert f"Card {number} for sample-{number}" in html
        assert f"Shop {number}" in html and f"https://shop.example/p/item-{number}" in html
    assert 'data-media-input="cards-0-header_media"' in html


def test_cards_follow_their_position_and_deleted_ones_are_left_out(client_for, editor):
    form = carousel_form(card(1, position="2"), card(2, position="0", DELETE="on"), card(3, position="1"))

    html = client_for(editor).post(PREVIEW_URL, form).content.decode()

    assert html.index("Card 3 for sample-3") < html.index("Card 1 for sample-1")
    assert "sample-2" not in html and len(cards_in(html)) == 2


def test_a_card_with_only_a_chosen_picture_is_a_card(client_for, editor):
    # The page's script sends a chosen file's name in place of the file.
    form = carousel_form(card(1), {"header_media": "elf.jpg"}, extra=2)

    html = client_for(editor).post(PREVIEW_URL, form).content.decode()

    assert len(cards_in(html)) == 2 and "elf.jpg" in html


def test_hostile_card_text_is_escaped(client_for, editor):
    form = carousel_form(
        card(1, body="<script>alert(1)</script> {{1}}", body_samples="1: <img src=x onerror=alert(2)>"),
        card(2, header_media='"><script>alert(3)</script>'),
    )

    html = client_for(editor).post(PREVIEW_URL, form).content.decode()

    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    "overrides",
    [
        {"cards-TOTAL_FORMS": "many"},
        {"cards-TOTAL_FORMS": "-3"},
        {"cards-TOTAL_FORMS": "100000"},
        {"cards-0-position": "first", "cards-0-body_samples": "nonsense"},
        {"cards-0-header_kind": "HOLOGRAM", "cards-0-button1_kind": "TELEPORT"},
        {"kind": "SOMETHING"},
    ],
)
def test_half_typed_carousel_never_fails(client_for, editor, overrides):
    response = client_for(editor).post(PREVIEW_URL, carousel_form(card(1), card(2), **overrides))

    assert response.status_code == 200


def test_limited_time_offer_form_shows_the_offer(client_for, editor):
    form = {
        "name": "caribbean",
        "language": "en_US",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "kind": "LIMITED_TIME_OFFER",
        "offer_text": "Expiring offer!",
        "offer_has_expiration": "on",
        "header_kind": "IMAGE",
        "body": "Good news, {{1}}!",
        "body_samples": "1: Pablo",
        "buttons-TOTAL_FORMS": "1",
        "buttons-0-kind": "COPY_CODE",
        "buttons-0-code_sample": "CARIBE25",
    }

    html = client_for(editor).post(PREVIEW_URL, form).content.decode()

    assert 'class="wa-offer"' in html and "Expiring offer!" in html and "Ends in" in html
    assert 'class="wa-button-code">CARIBE25<' in html
    assert 'data-media-input="header_media"' in html

    del form["offer_has_expiration"]
    html = client_for(editor).post(PREVIEW_URL, form).content.decode()
    assert "Expiring offer!" in html and "Ends in" not in html


def test_location_header_form_says_the_place_comes_with_each_message(client_for, editor):
    form = carousel_form(kind="STANDARD", header_kind="LOCATION", category="UTILITY", extra=0)

    html = client_for(editor).post(PREVIEW_URL, form).content.decode()

    assert 'class="wa-header-location"' in html and "Location sent with each message" in html


def test_saved_carousel_preview_names_each_cards_sample_file(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    template = MessageTemplate.objects.create(
        name="succulents", language="en_US", category="MARKETING", kind="CAROUSEL", body="Hi {{1}}"
    )
    for position in (1, 0):
        saved = TemplateCard(template=template, position=position, body=f"Card at {position}")
        saved.header_media.save(f"card{position}.jpg", ContentFile(b"\xff\xd8\xff"), save=False)
        saved.save()

    html = render_preview(template)

    assert cards_in(html) == ["0", "1"]
    first, second = html.split('data-card-index="1"')
    assert "card0" in first and "Card at 0" in first and "card1" in second and "Card at 1" in second
    # The editor's card rows, in the same order: the page's script finds each card's file field.
    assert 'data-media-input="cards-0-header_media"' in first
    assert 'data-media-input="cards-1-header_media"' in second
