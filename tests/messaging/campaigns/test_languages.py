"""Which template rows a campaign sends, its purpose, and which language each contact gets."""

import pytest

from contacts.models import Contact
from core.errors import ApplicationError
from messaging.campaign_models import CampaignStatus
from messaging.campaigns.languages import (
    campaign_content,
    campaign_template_check,
    content_snapshot,
    language_expression,
    language_for,
    template_languages,
)
from templates_app.models import TemplateVersion, VersionReview
from tests.factories import ContactFactory
from tests.messaging.campaigns.content_world import NAMED, approved, campaign

pytestmark = pytest.mark.django_db


def test_the_languages_are_the_approved_rows_of_the_same_name():
    en = approved("promo", "en")
    de = approved("promo", "de")
    approved("promo", "fr", status="PENDING")
    approved("other", "es")
    assert template_languages(en) == {"en": en, "de": de}


def test_a_template_without_an_approved_default_has_no_languages_of_its_own():
    draft = approved("promo", "en", status="REJECTED")
    de = approved("promo", "de")
    assert template_languages(draft) == {"de": de}
    with pytest.raises(ApplicationError) as refused:
        campaign_template_check(draft)
    assert refused.value.code == "campaign_template_not_approved"


def test_the_purpose_follows_the_category():
    assert campaign_template_check(approved("promo", "en", category="MARKETING")) == "marketing"
    assert campaign_template_check(approved("notice", "en", category="UTILITY")) == "service"


def test_a_template_meta_recategorised_as_marketing_needs_marketing_consent():
    template = approved("notice", "en", category="MARKETING", version_category="UTILITY")
    assert campaign_template_check(template) == "marketing"


def test_languages_whose_categories_differ_are_refused_naming_the_language():
    en = approved("promo", "en", category="UTILITY")
    approved("promo", "de", category="UTILITY")
    approved("promo", "pt_BR", category="MARKETING")
    with pytest.raises(ApplicationError) as refused:
        campaign_template_check(en)
    assert refused.value.code == "campaign_categories_differ"
    assert refused.value.details["language"] == "pt_BR"
    assert "pt_BR" in refused.value.message and "MARKETING" in refused.value.message


def test_a_translation_recategorised_by_meta_differs_too():
    en = approved("promo", "en", category="UTILITY")
    approved("promo", "de", category="MARKETING", version_category="UTILITY")
    with pytest.raises(ApplicationError) as refused:
        campaign_template_check(en)
    assert refused.value.details["language"] == "de"


def test_an_authentication_template_is_never_a_campaign():
    template = approved("login_code", "en", category="AUTHENTICATION")
    with pytest.raises(ApplicationError) as refused:
        campaign_template_check(template)
    assert refused.value.code == "campaign_template_authentication"


@pytest.mark.parametrize(
    ("contact_language", "languages", "default", "expected"),
    [
        ("de", ["en", "de"], "en", "de"),  # their own
        ("en_US", ["en", "de"], "de", "en"),  # the base language
        ("en_US", ["en_GB", "de"], "de", "en_GB"),  # another region of it
        ("pt_PT", ["pt_BR", "en"], "en", "pt_BR"),
        ("en_US", ["en_GB", "en_AU", "de"], "en_AU", "en_AU"),  # the default, when it is a region of it
        ("en_US", ["en_GB", "en_AU", "de"], "de", "en_AU"),  # else the first in alphabetical order
        ("en", ["en_GB", "de"], "de", "en_GB"),  # a base language takes a region of itself
        ("fr", ["en", "de"], "de", "de"),  # the default
        ("", ["en", "de"], "de", "de"),
        ("klingon", ["en", "de"], "de", "de"),
        ("zh_TW", ["zh_HK", "en"], "en", "zh_HK"),
    ],
)
def test_each_contact_gets_their_language_else_a_variant_else_the_default(
    contact_language, languages, default, expected
):
    assert language_for(languages, default, contact_language) == expected


def test_the_sql_expression_gives_each_contact_the_same_language_as_python():
    languages, default = ["en", "de", "pt_BR", "en_GB"], "de"
    codes = ["de", "en", "en_US", "en_GB", "pt_PT", "pt_BR", "fr", "", "es_MX", "de_AT"]
    for code in codes:
        ContactFactory(language=code)
    got = dict(
        Contact.objects.annotate(send_language=language_expression(languages, default)).values_list(
            "language", "send_language"
        )
    )
    assert got == {code: language_for(languages, default, code) for code in codes}
    assert got["pt_PT"] == "pt_BR" and got["en_US"] == "en" and got["fr"] == "de" and got["de_AT"] == "de"


def test_a_template_in_one_language_sends_it_to_everyone():
    ContactFactory(language="fr")
    assert set(
        Contact.objects.annotate(lang=language_expression(["en"], "en")).values_list("lang", flat=True)
    ) == {"en"}


def test_a_draft_shows_the_live_template_and_an_approved_campaign_what_was_frozen():
    en = approved("promo", "en")
    approved("promo", "de")
    draft = campaign(en)
    content = campaign_content(draft)
    assert (content.frozen, content.default_language, set(content.languages)) == (False, "en", {"en", "de"})

    draft.frozen = content_snapshot(draft)
    draft.status = CampaignStatus.APPROVED
    frozen_bindings = draft.frozen["bindings"]
    # Later: a new translation and a new approved version of the default.
    approved("promo", "fr")
    newer = TemplateVersion.objects.create(
        template=en,
        number=2,
        category="MARKETING",
        parameter_format="NAMED",
        components=NAMED,
        review=VersionReview.APPROVED,
    )
    en.approved_version = newer
    en.save(update_fields=["approved_version"])
    draft.bindings = {}
    content = campaign_content(draft)
    assert content.frozen and set(content.languages) == {"en", "de"}
    assert content.default.version_id != newer.pk and content.default.parameter_format == "POSITIONAL"
    assert content.bindings == frozen_bindings

    draft.status = CampaignStatus.PENDING_APPROVAL  # sent back for approval: the live content again
    assert set(campaign_content(draft).languages) == {"en", "de", "fr"}


def test_a_language_the_campaign_does_not_send_is_refused():
    content = campaign_content(campaign(approved("promo", "en")))
    with pytest.raises(ApplicationError) as refused:
        content.for_language("de")
    assert refused.value.code == "campaign_language_unknown"
