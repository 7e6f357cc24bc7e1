"""The template editor for carousels, limited-time offers and location headers: cards, offer fields,
Meta's rules on the rows they concern, and card samples checked by type and size."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cloud_api.sandbox.media_samples import png
from templates_app.drafts import Draft
from templates_app.forms import MB
from templates_app.models import MessageTemplate, TemplateCard
from tests.templates_app.test_template_admin import template_form

pytestmark = pytest.mark.django_db
ADD_URL = reverse("admin:templates_app_messagetemplate_add")


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def image(name="card.png", content=None):
    return SimpleUploadedFile(name, png() if content is None else content, content_type="image/png")


def card(number, **overrides):
    row = {
        "position": str(number),
        "header_kind": "IMAGE",
        "header_media": image(f"card{number}.png"),
        "body": f"Plant {number}: rare and {{{{1}}}} today.",
        "body_samples": "1: 30% off",
        "button1_kind": "URL",
        "button1_text": "Shop",
        "button1_url": "https://shop.example/plants/{{1}}",
        "button1_url_sample": f"https://shop.example/plants/P{number}",
        "button1_phone_number": "",
        "button2_kind": "",
        "button2_text": "",
        "button2_url": "",
        "button2_url_sample": "",
        "button2_phone_number": "",
    }
    row.update(overrides)
    return row


def carousel_form(cards, buttons=(), **overrides):
    data = template_form(
        buttons,
        name="rare_plants",
        category="MARKETING",
        kind="CAROUSEL",
        body="Hi {{1}}, these rare plants are on sale this week.",
        body_samples="1: Pablo",
    )
    data["cards-TOTAL_FORMS"] = str(len(cards))
    for index, row in enumerate(cards):
        data.update({f"cards-{index}-{key}": value for key, value in row.items()})
    data.update(overrides)
    return data


def offer_form(buttons=None, **overrides):
    if buttons is None:
        buttons = [
            {"kind": "COPY_CODE", "code_sample": "CARIBE25"},
            {
                "kind": "URL",
                "text": "Book now!",
                "url": "https://travel.example/offers?code={{1}}",
                "url_sample": "https://travel.example/offers?code=n3mtql",
            },
        ]
    data = template_form(
        buttons,
        name="caribbean_offer",
        category="MARKETING",
        kind="LIMITED_TIME_OFFER",
        header_kind="IMAGE",
        header_media=image("beach.png"),
        offer_text="Expiring offer!",
        offer_has_expiration="on",
        body="Good news, {{1}}! Use code {{2}} to get 25% off all Caribbean packages!",
        body_samples="1: Pablo\n2: CARIBE25",
    )
    data.update(overrides)
    return data


def main_errors(response):
    return response.context["adminform"].form.errors


def formset(response, prefix):
    return next(f for f in response.context["inline_admin_formsets"] if f.formset.prefix == prefix).formset


def test_editor_saves_a_three_card_carousel(client_for, editor):
    response = client_for(editor).post(ADD_URL, carousel_form([card(0), card(1), card(2)]))
    assert response.status_code == 302, (main_errors(response), formset(response, "cards").errors)
    template = MessageTemplate.objects.get(name="rare_plants")
    assert template.kind == "CAROUSEL"
    cards = list(template.cards.all())
    assert [c.position for c in cards] == [0, 1, 2]
    assert all(c.header_media.name.startswith("template_samples/card") for c in cards)
    assert cards[1].body_samples == {"1": "30% off"}
    assert (cards[2].button1_kind, cards[2].button1_url_sample) == ("URL", "https://shop.example/plants/P2")
    draft = Draft.from_template(template)
    assert draft.violations() == []
    carousel = draft.components()[-1]
    assert carousel["type"] == "CAROUSEL" and len(carousel["cards"]) == 3


def test_the_change_page_shows_the_cards_and_the_kind_script(client_for, editor):
    client_for(editor).post(ADD_URL, carousel_form([card(0), card(1)]))
    template = MessageTemplate.objects.get(name="rare_plants")
    response = client_for(editor).get(
        reverse("admin:templates_app_messagetemplate_change", args=[template.pk])
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="cards-group"' in page and "cards-1-body" in page
    assert "templates_app/template_kind.js" in page
    assert 'name="offer_text"' in page and 'name="kind"' in page


def test_one_card_is_too_few_for_a_carousel(client_for, editor):
    response = client_for(editor).post(ADD_URL, carousel_form([card(0)]))
    assert response.status_code == 200
    assert formset(response, "cards").non_form_errors()
    assert not main_errors(response)
    assert not MessageTemplate.objects.exists()


@pytest.mark.parametrize(
    "change,row,field",
    [
        # Card 3 has no button while the others have one: cards must be alike.
        (
            {"button1_kind": "", "button1_text": "", "button1_url": "", "button1_url_sample": ""},
            2,
            "button1_kind",
        ),
        ({"body": "Plant {{1}}", "body_samples": "1: x"}, 2, "body"),  # ends with a variable
        ({"body_samples": ""}, 2, "body_samples"),
        ({"button1_url": "https://shop.example/{{1}}/plants"}, 2, "button1_url"),
        ({"button1_text": "S" * 26}, 2, "button1_text"),
        ({"header_media": ""}, 2, "header_media"),  # no sample for reviewers
        ({"header_kind": "VIDEO", "header_media": ""}, 2, "header_kind"),  # images and a video
    ],
)
def test_broken_card_rules_are_errors_on_the_card_row(client_for, editor, change, row, field):
    cards = [card(0), card(1), card(2, **change)]
    response = client_for(editor).post(ADD_URL, carousel_form(cards))
    assert response.status_code == 200
    errors = formset(response, "cards").errors
    assert field in errors[row], errors
    assert not MessageTemplate.objects.exists()


@pytest.mark.parametrize(
    "upload,kind",
    [
        (SimpleUploadedFile("card.gif", b"GIF89a" + b"0" * 32, content_type="image/gif"), "IMAGE"),
        (SimpleUploadedFile("card.jpg", b"GIF89a" + b"0" * 32, content_type="image/jpeg"), "IMAGE"),
        (SimpleUploadedFile("card.png", png() + b"0" * (5 * MB), content_type="image/png"), "IMAGE"),
        (SimpleUploadedFile("card.png", png(), content_type="image/png"), "VIDEO"),
    ],
    ids=["gif", "renamed gif", "over 5 MB", "image for a video card"],
)
def test_a_card_sample_is_checked_by_type_and_size(client_for, editor, upload, kind):
    cards = [card(0, header_kind=kind), card(1, header_kind=kind, header_media=upload)]
    response = client_for(editor).post(ADD_URL, carousel_form(cards))
    assert response.status_code == 200
    assert "header_media" in formset(response, "cards").errors[1]
    assert not TemplateCard.objects.exists()


def test_a_second_button_needs_the_first(client_for, editor):
    lonely = {
        "button1_kind": "",
        "button1_text": "",
        "button1_url": "",
        "button1_url_sample": "",
        "button2_kind": "QUICK_REPLY",
        "button2_text": "More",
    }
    response = client_for(editor).post(ADD_URL, carousel_form([card(0), card(1, **lonely)]))
    assert "button2_kind" in formset(response, "cards").errors[1]


def test_a_carousel_has_no_buttons_header_or_footer_of_its_own(client_for, editor):
    data = carousel_form(
        [card(0), card(1)],
        buttons=[{"kind": "QUICK_REPLY", "text": "Stop promotions"}],
        header_kind="TEXT",
        header_text="Rare plants",
        footer="Demo Shop",
    )
    response = client_for(editor).post(ADD_URL, data)
    assert response.status_code == 200
    errors = main_errors(response)
    assert {"header_kind", "footer"} <= set(errors), errors
    assert formset(response, "buttons").non_form_errors()
    assert not MessageTemplate.objects.exists()


def test_cards_on_a_standard_template_are_refused(client_for, editor):
    data = carousel_form([card(0), card(1)], kind="STANDARD")
    response = client_for(editor).post(ADD_URL, data)
    assert response.status_code == 200
    assert formset(response, "cards").non_form_errors()
    assert not MessageTemplate.objects.exists()


def test_a_carousel_is_a_marketing_template(client_for, editor):
    response = client_for(editor).post(ADD_URL, carousel_form([card(0), card(1)], category="UTILITY"))
    assert response.status_code == 200
    assert "category" in main_errors(response) or formset(response, "cards").non_form_errors()
    assert not MessageTemplate.objects.exists()


def test_editor_saves_a_limited_time_offer(client_for, editor):
    response = client_for(editor).post(ADD_URL, offer_form())
    assert response.status_code == 302, (main_errors(response), formset(response, "buttons").errors)
    template = MessageTemplate.objects.get(name="caribbean_offer")
    assert (template.kind, template.offer_text, template.offer_has_expiration) == (
        "LIMITED_TIME_OFFER",
        "Expiring offer!",
        True,
    )
    draft = Draft.from_template(template)
    assert draft.violations() == []
    assert draft.components()[1] == {
        "type": "LIMITED_TIME_OFFER",
        "limited_time_offer": {"text": "Expiring offer!", "has_expiration": True},
    }


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"footer": "Demo Shop"}, "footer"),
        ({"offer_text": "An offer far too long"}, "offer_text"),
        ({"header_kind": "DOCUMENT", "header_media": ""}, "header_kind"),
        ({"kind": "LIMITED_TIME_OFFER", "category": "AUTHENTICATION", "body": ""}, "kind"),
    ],
)
def test_broken_offer_rules_are_errors_on_their_field(client_for, editor, overrides, field):
    response = client_for(editor).post(ADD_URL, offer_form(**overrides))
    assert response.status_code == 200
    assert field in main_errors(response), main_errors(response)
    assert not MessageTemplate.objects.exists()


def test_an_offer_without_its_code_and_link_buttons_is_refused_on_the_buttons(client_for, editor):
    response = client_for(editor).post(ADD_URL, offer_form(buttons=[{"kind": "QUICK_REPLY", "text": "Book"}]))
    assert response.status_code == 200
    assert formset(response, "buttons").non_form_errors()
    assert not MessageTemplate.objects.exists()


def test_editor_saves_a_location_header(client_for, editor):
    data = template_form(
        name="delivery_update",
        category="UTILITY",
        header_kind="LOCATION",
        body="Good news {{1}}! Your order #{{2}} is on its way to the location above.",
        body_samples="1: Mark\n2: 566701",
    )
    response = client_for(editor).post(ADD_URL, data)
    assert response.status_code == 302, main_errors(response)
    template = MessageTemplate.objects.get(name="delivery_update")
    assert Draft.from_template(template).components()[0] == {"type": "HEADER", "format": "LOCATION"}


def test_a_header_sample_that_is_not_what_its_name_says_is_refused(client_for, editor):
    data = template_form(
        header_kind="IMAGE",
        header_media=SimpleUploadedFile("promo.png", b"%PDF-1.4 not an image", content_type="image/png"),
    )
    response = client_for(editor).post(ADD_URL, data)
    assert "header_media" in main_errors(response)


@pytest.mark.parametrize(
    "change,field",
    [
        ({"header_kind": "PRODUCT"}, "header_kind"),
        ({"button1_kind": "FLOW"}, "button1_kind"),
        ({"body_samples": "just words, no variable"}, "body_samples"),
        ({"position": "-1"}, "position"),
        ({"button1_text": "x" * 101}, "button1_text"),
    ],
)
def test_hostile_card_input_is_an_error_on_its_field_never_a_crash(client_for, editor, change, field):
    response = client_for(editor).post(ADD_URL, carousel_form([card(0), card(1, **change)]))
    assert response.status_code == 200
    assert field in formset(response, "cards").errors[1]
    assert not MessageTemplate.objects.exists()


@pytest.mark.parametrize("kind", ["BOGUS", "PRODUCT_CAROUSEL", "<script>"])
def test_an_unknown_format_is_an_error_on_the_format(client_for, editor, kind):
    response = client_for(editor).post(ADD_URL, carousel_form([], kind=kind))
    assert response.status_code == 200
    assert "kind" in main_errors(response)
    assert not MessageTemplate.objects.exists()
