"""The "missing variable" exclusion per language: a variable only one translation uses excludes
only the people who get that translation — in SQL (``campaign_recipients``) as in Python
(``contact_parameters``, what a send or a test send fills in)."""

import pytest

from contacts.models import AttributeDefinition, Contact, Purpose
from core.errors import ApplicationError
from messaging.campaigns.bindings import campaign_missing_value_q, contact_parameters
from messaging.campaigns.eligibility import Exclusion, campaign_recipients
from messaging.campaigns.languages import campaign_content, content_snapshot, language_for
from tests.factories import ContactFactory, opt_in
from tests.messaging.campaigns.content_world import approved, attribute, campaign, field

pytestmark = pytest.mark.django_db


def body(text: str, examples: list[str]) -> list[dict]:
    return [{"type": "BODY", "text": text, "example": {"body_text": [examples]}}]


EN = body("Hi {{1}}, your code is {{2}}.", ["Pablo", "ABC"])  # the voucher: English only
DE = body("Hallo {{1}}!", ["Pablo"])
BINDINGS = {"body": {"1": field("first_name", "there"), "2": attribute("voucher")}}


@pytest.fixture(autouse=True)
def voucher_field(db):
    AttributeDefinition.objects.create(key="voucher", type="text")


def people() -> dict[str, Contact]:
    """One of each: who gets which translation, with or without a voucher."""
    made = {
        "de_without": ContactFactory(language="de"),
        "en_without": ContactFactory(language="en"),
        "en_with": ContactFactory(language="en", attributes={"voucher": "V-1"}),
        "fr_without": ContactFactory(language="fr"),  # no French: the default
        "none_without": ContactFactory(language=""),  # unknown: the default
        "en_gb_without": ContactFactory(language="en_GB"),  # English's sibling
    }
    for person in made.values():
        opt_in(person, Purpose.MARKETING)
    return made


def missing_in_python(target, contact) -> bool:
    """What a send fills in for the contact, in the language they get: refused when missing."""
    content = campaign_content(target)
    language = language_for(content.languages, content.default_language, contact.language)
    try:
        contact_parameters(target, contact, language=language)
    except ApplicationError as exc:
        assert exc.code == "campaign_value_missing"
        return True
    return False


def missing_in_sql(target) -> set[int]:
    return set(Contact.objects.filter(campaign_missing_value_q(target)).values_list("pk", flat=True))


@pytest.mark.parametrize(
    ("default", "expected"),
    [
        # English the default: French and unknown languages get English, and need the voucher.
        ("en", {"en_without", "fr_without", "none_without", "en_gb_without"}),
        # German the default: only those who get English need it.
        ("de", {"en_without", "en_gb_without"}),
    ],
)
def test_only_those_who_get_the_translation_with_the_variable_miss_it(default, expected):
    other = "de" if default == "en" else "en"
    rows = {
        "en": approved("voucher", "en", components=EN),
        "de": approved("voucher", "de", components=DE),
    }
    target = campaign(rows[default], bindings=BINDINGS)
    assert rows[other]  # the translation exists
    made = people()
    names = {person.pk: name for name, person in made.items()}
    assert {names[pk] for pk in missing_in_sql(target)} == expected
    assert {name for name, person in made.items() if missing_in_python(target, person)} == expected
    excluded = campaign_recipients(target).filter(exclusion=Exclusion.MISSING_VARIABLE)
    assert {names[pk] for pk in excluded.values_list("pk", flat=True)} == expected


def test_the_frozen_content_is_read_per_language_too():
    en = approved("voucher", "en", components=EN)
    approved("voucher", "de", components=DE)
    target = campaign(en, bindings=BINDINGS)
    made = people()
    frozen = {**content_snapshot(target), "rules": target.segment.rules, "segment": {"id": target.segment_id}}
    excluded = campaign_recipients(target, frozen=frozen).filter(exclusion=Exclusion.MISSING_VARIABLE)
    assert made["de_without"].pk not in set(excluded.values_list("pk", flat=True))
    assert made["en_without"].pk in set(excluded.values_list("pk", flat=True))


def test_languages_that_take_the_same_variables_are_one_predicate_without_the_language():
    en = approved("voucher", "en", components=EN)
    approved("voucher", "de", components=body("Hallo {{1}}, dein Code: {{2}}.", ["Pablo", "ABC"]))
    target = campaign(en, bindings=BINDINGS)
    where = str(Contact.objects.filter(campaign_missing_value_q(target)).query).split(" WHERE ", 1)[1]
    assert '"language"' not in where
    made = people()
    assert made["de_without"].pk in missing_in_sql(target)


def test_a_binding_no_language_uses_counts_for_nobody_as_in_python():
    en = approved("voucher", "en", components=DE)  # only {{1}}
    target = campaign(en, bindings=BINDINGS)  # "2" bound, but no language has it
    made = people()
    assert missing_in_sql(target) == set()
    assert not any(missing_in_python(target, person) for person in made.values())
