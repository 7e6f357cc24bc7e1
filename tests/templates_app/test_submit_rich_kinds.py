"""Carousels, limited-time offers and location headers submitted to the sandbox and synced back:
each card's sample goes through the resumable upload, and an import fills the editor's rows."""

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.urls import reverse

from core.actors import Actor
from core.errors import ApplicationError
from templates_app.drafts import Draft
from templates_app.models import MessageTemplate, TemplateCard, TemplateStatus
from templates_app.selectors import draft_comparison, draft_differs
from templates_app.services import SYNC_BACKOFF_KEY, template_submit, templates_sync
from tests.sandbox import control, seed_templates, wait_until
from tests.templates_app.meta_examples import (
    LIMITED_TIME_OFFER,
    MEDIA_CARD_CAROUSEL,
    ORDER_DELIVERY_UPDATE,
    with_handle,
)
from tests.templates_app.test_admin_rich_kinds import png

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clean_state(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    cache.delete(SYNC_BACKOFF_KEY)


@pytest.fixture
def carousel(db):
    template = MessageTemplate.objects.create(
        name="rare_plants",
        language="en",
        category="MARKETING",
        kind="CAROUSEL",
        body="Hi {{1}}, these rare plants are on sale this week.",
        body_samples={"1": "Pablo"},
    )
    for position in range(3):
        card = TemplateCard(
            template=template,
            position=position,
            header_kind="IMAGE",
            body=f"Plant {position + 1}: {{{{1}}}} off today.",
            body_samples={"1": "30%"},
            button1_kind="QUICK_REPLY",
            button1_text="More like this",
            button2_kind="URL",
            button2_text="Shop",
            button2_url="https://shop.example/plants/{{1}}",
            button2_url_sample=f"https://shop.example/plants/P{position}",
        )
        card.header_media.save(f"plant{position}.png", ContentFile(png()), save=False)
        card.save()
    return template


def seeded(example):
    """Meta's example as WhatsApp Manager would hold it: a sample handle, the category upper-cased."""
    body = with_handle(example, "4::seeded-sample")
    return {**body, "category": body["category"].upper()}


def remote(sandbox, name):
    return next(t for t in control(sandbox, "templates")["data"] if t["name"] == name)


def approve_through_sync(template):
    def attempt():
        templates_sync()
        return MessageTemplate.objects.get(pk=template.pk).status == TemplateStatus.APPROVED

    wait_until(attempt, timeout=5)


def test_each_card_sample_is_uploaded_and_the_carousel_submitted(app_sandbox, carousel, editor):
    version = template_submit(template=carousel, actor=Actor.for_user(editor))
    cards = list(carousel.cards.all())
    handles = [card.header_handle for card in cards]
    assert all(handles) and "pending-upload" not in handles and len(set(handles)) == 3
    assert [card.header_handle_for for card in cards] == [card.header_media.name for card in cards]
    sent = version.components[-1]
    assert sent["type"] == "CAROUSEL"
    assert [c["components"][0]["example"]["header_handle"] for c in sent["cards"]] == [[h] for h in handles]
    received = remote(app_sandbox, "rare_plants")
    assert received["components"][-1]["cards"][2]["components"][2]["buttons"][1]["url"].endswith("{{1}}")
    carousel.refresh_from_db()
    assert carousel.status == TemplateStatus.PENDING


def test_an_edit_does_not_upload_unchanged_card_samples_again(app_sandbox, carousel, editor):
    actor = Actor.for_user(editor)
    template_submit(template=carousel, actor=actor)
    approve_through_sync(carousel)
    carousel.refresh_from_db()
    assert carousel.versions.count() == 1  # Meta's answer is the same content: no imported version
    assert not draft_differs(carousel)
    before = list(carousel.cards.values_list("header_handle", flat=True))
    replaced = carousel.cards.get(position=2)
    replaced.header_media.save("plant_new.png", ContentFile(png(3, 3)), save=True)
    carousel.body = "Hello {{1}}, these rare plants are on sale this week."
    carousel.save()
    assert any(
        "Card 3 sample file" in line.text
        for difference in draft_comparison(carousel).differences
        for line in difference.lines
    )
    second = template_submit(template=carousel, actor=actor)
    after = list(carousel.cards.values_list("header_handle", flat=True))
    assert after[:2] == before[:2] and after[2] != before[2]
    assert second.is_edit and second.components[-1]["cards"][2]["components"][0]["example"][
        "header_handle"
    ] == [after[2]]


def test_a_card_sample_of_a_type_meta_refuses_is_named_before_anything_is_sent(app_sandbox, carousel, editor):
    card = carousel.cards.get(position=1)
    card.header_media.save("plant.gif", ContentFile(b"GIF89a"), save=True)
    with pytest.raises(ApplicationError) as exc:
        template_submit(template=carousel, actor=Actor.for_user(editor))
    assert (exc.value.code, exc.value.field) == ("sample_type", "cards[1].header_media")
    assert not [t for t in control(app_sandbox, "templates")["data"] if t["name"] == "rare_plants"]


def test_an_offer_with_its_image_sample_is_submitted(app_sandbox, editor):
    template = MessageTemplate.objects.create(
        name="caribbean_offer",
        language="en",
        category="MARKETING",
        kind="LIMITED_TIME_OFFER",
        header_kind="IMAGE",
        offer_text="Expiring offer!",
        offer_has_expiration=True,
        body="Good news, {{1}}! Use code {{2}} to get 25% off all Caribbean packages!",
        body_samples={"1": "Pablo", "2": "CARIBE25"},
    )
    template.header_media.save("beach.png", ContentFile(png()), save=True)
    template.buttons.create(position=0, kind="COPY_CODE", code_sample="CARIBE25")
    template.buttons.create(
        position=1,
        kind="URL",
        text="Book now!",
        url="https://travel.example/offers?code={{1}}",
        url_sample="https://travel.example/offers?code=n3mtql",
    )
    template_submit(template=template, actor=Actor.for_user(editor))
    received = remote(app_sandbox, "caribbean_offer")["components"]
    offer = next(c for c in received if c["type"].upper() == "LIMITED_TIME_OFFER")
    assert offer["limited_time_offer"] == {"text": "Expiring offer!", "has_expiration": True}
    approve_through_sync(template)
    template.refresh_from_db()
    assert template.is_sendable and not draft_differs(template)


@pytest.mark.parametrize("example", [MEDIA_CARD_CAROUSEL, LIMITED_TIME_OFFER, ORDER_DELIVERY_UPDATE])
def test_the_sync_imports_meta_examples_into_the_editor_unchanged(app_sandbox, example, editor, client_for):
    body = seeded(example)
    seed_templates(app_sandbox, body)
    result = templates_sync()
    assert result.imported == [f"{body['name']} ({body['language']})"]
    template = MessageTemplate.objects.get(name=body["name"])
    assert template.is_sendable
    assert not draft_differs(template), draft_comparison(template).differences
    assert Draft.from_template(template).violations() == []
    page = client_for(editor).get(reverse("admin:templates_app_messagetemplate_change", args=[template.pk]))
    assert page.status_code == 200
    assert templates_sync().imported == []  # once


def test_an_imported_carousel_has_its_card_rows(app_sandbox):
    seed_templates(app_sandbox, seeded(MEDIA_CARD_CAROUSEL))
    templates_sync()
    template = MessageTemplate.objects.get(name=MEDIA_CARD_CAROUSEL["body"]["name"])
    assert template.kind == "CAROUSEL"
    cards = list(template.cards.values("header_kind", "header_handle", "button1_kind", "button2_kind"))
    assert (
        cards
        == [
            {
                "header_kind": "IMAGE",
                "header_handle": "4::seeded-sample",
                "button1_kind": "QUICK_REPLY",
                "button2_kind": "URL",
            }
        ]
        * 3
    )
    assert template.cards.get(position=0).button2_url_sample == "BLUE_ELF"


def test_an_imported_offer_and_location_header_have_their_fields(app_sandbox):
    seed_templates(app_sandbox, seeded(LIMITED_TIME_OFFER), seeded(ORDER_DELIVERY_UPDATE))
    templates_sync()
    offer = MessageTemplate.objects.get(name=LIMITED_TIME_OFFER["body"]["name"])
    assert (offer.kind, offer.offer_text, offer.offer_has_expiration, offer.header_kind) == (
        "LIMITED_TIME_OFFER",
        "Expiring offer!",
        True,
        "IMAGE",
    )
    assert list(offer.buttons.values_list("kind", flat=True)) == ["COPY_CODE", "URL"]
    location = MessageTemplate.objects.get(name=ORDER_DELIVERY_UPDATE["body"]["name"])
    assert (location.kind, location.header_kind) == ("STANDARD", "LOCATION")
