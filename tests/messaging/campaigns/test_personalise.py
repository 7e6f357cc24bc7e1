"""The chat bubble of a campaign for one member (their language, their values) or with samples."""

import pytest

from core.errors import ApplicationError
from messaging.campaigns.personalise import campaign_bubble
from tests.factories import ContactFactory
from tests.messaging.campaigns.content_world import PROMO, approved, campaign, image_header

pytestmark = pytest.mark.django_db

GERMAN = [
    PROMO[0],
    {
        "type": "BODY",
        "text": "Hallo {{1}}, dein {{2}}-Gutschein wartet bis {{3}}.",
        "example": {"body_text": [["Jo", "Gold", "Sonntag"]]},
    },
    PROMO[2],
]


def test_a_member_sees_their_language_and_their_values_escaped():
    en = approved("promo", "en")
    approved("promo", "de", components=GERMAN)
    promo = campaign(en)
    member = ContactFactory(language="de_AT", first_name="<b>ana</b>", attributes={"voucher": "V1"})
    html = campaign_bubble(promo, contact=member)
    assert "Hallo &lt;b&gt;ana&lt;/b&gt;, dein gold-Gutschein wartet bis Sunday." in html
    assert "https://shop.example/v/V1" in html and "<b>ana" not in html


def test_a_language_can_be_chosen():
    en = approved("promo", "en")
    approved("promo", "de", components=GERMAN)
    member = ContactFactory(language="de", first_name="Ana", attributes={"voucher": "V1"})
    assert "Hi Ana, your gold voucher" in campaign_bubble(campaign(en), contact=member, language="en")


def test_sample_values_in_the_default_or_a_chosen_language():
    en = approved("promo", "en")
    approved("promo", "de", components=GERMAN)
    promo = campaign(en)
    assert "Hi Pablo, your gold voucher is waiting until Sunday." in campaign_bubble(promo)
    assert "Hallo Jo, dein gold-Gutschein" in campaign_bubble(promo, language="de")
    with pytest.raises(ApplicationError) as refused:
        campaign_bubble(promo, language="fr")
    assert refused.value.code == "campaign_language_unknown"


def test_a_value_the_member_lacks_is_shown_missing_not_refused():
    promo = campaign(approved())
    member = ContactFactory(first_name="Ana", attributes={})
    assert "[no value for the link suffix of button 2]" in campaign_bubble(promo, contact=member)


def test_a_media_header_is_drawn_as_its_placeholder_before_the_upload():
    promo = campaign(approved(components=image_header(PROMO)), header_media_source="upload")
    html = campaign_bubble(promo, contact=ContactFactory(first_name="Ana", attributes={"voucher": "V"}))
    assert "[Image]" in html
