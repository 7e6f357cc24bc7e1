"""An Editor authors a three-card carousel in the template editor and reads its preview."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

CARDS = [
    ("Blue Elf: rare and {{1}} today.", "BLUE_ELF"),
    ("Buddha's Temple: rare and {{1}} today.", "BUDDHA"),
    ("Black Prince: rare and {{1}} today.", "BLACK_PRINCE"),
]


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_an_editor_authors_a_three_card_carousel_and_reads_its_preview(login, live_server):
    from templates_app.models import MessageTemplate
    from tests.factories import UserFactory
    from tests.templates_app.test_admin_rich_kinds import png

    page = login(UserFactory(username="erin", role="Editor"))
    page.goto(f"{live_server.url}/admin/templates_app/messagetemplate/add/")
    page.fill("#id_name", "rare_succulents")
    page.select_option("#id_language", "en")
    page.select_option("#id_category", "MARKETING")
    page.select_option("#id_kind", "CAROUSEL")
    # A carousel has no header, footer or buttons of its own: the editor shows its cards instead.
    page.wait_for_selector("#cards-group", state="visible")
    assert page.is_hidden("fieldset.template-header")
    assert page.is_hidden("#buttons-group")
    page.fill("#id_body", "Rare succulents for sale! {{1}}, add these unique plants to your collection.")
    page.fill("#id_body_samples", "1: Pablo")
    for index, (body, slug) in enumerate(CARDS):
        page.click("#cards-group .add-row a")
        prefix = f"#id_cards-{index}-"
        page.fill(prefix + "position", str(index))
        page.set_input_files(
            prefix + "header_media",
            files=[{"name": f"{slug.lower()}.png", "mimeType": "image/png", "buffer": png()}],
        )
        page.fill(prefix + "body", body)
        page.fill(prefix + "body_samples", "1: 30% off")
        page.select_option(prefix + "button1_kind", "URL")
        page.fill(prefix + "button1_text", "Shop")
        page.fill(prefix + "button1_url", "https://www.luckyshrub.com/rare-succulents/{{1}}")
        page.fill(prefix + "button1_url_sample", f"https://www.luckyshrub.com/rare-succulents/{slug}")
    page.click("input[name=_continue]")
    page.wait_for_load_state()
    errors = page.locator(".errorlist li, .errornote").all_inner_texts()
    assert not errors, errors  # what the editor refused, if it did
    page.wait_for_selector(".messagelist .success")

    template = MessageTemplate.objects.get(name="rare_succulents")
    assert template.kind == "CAROUSEL" and template.cards.count() == 3

    # The page redraws the preview once its script has run; read it after that, in one go.
    page.wait_for_load_state("networkidle")
    strip = page.locator("#template-preview .wa-carousel")
    boxes = page.evaluate(
        """() => Array.from(document.querySelectorAll('#template-preview .wa-carousel .wa-card'))
              .map((card) => { const r = card.getBoundingClientRect(); return {x: r.x, y: r.y}; })"""
    )
    assert len(boxes) == 3
    assert boxes[0]["y"] == boxes[1]["y"] == boxes[2]["y"]  # side by side, a strip
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]
    bodies = strip.locator(".wa-card-body").all_inner_texts()
    assert bodies == [
        "Blue Elf: rare and 30% off today.",
        "Buddha's Temple: rare and 30% off today.",
        "Black Prince: rare and 30% off today.",
    ]
    buttons = strip.locator(".wa-card-button").all_inner_texts()
    assert len(buttons) == 3 and all("Shop" in text for text in buttons)
    assert "Pablo" in page.inner_text("#template-preview .wa-body")
