"""Bindings: each contact's values with fallbacks and formats, every binding problem, and the SQL
"missing variable" test held to the Python values on SQLite and PostgreSQL."""

import pytest

from contacts.models import AttributeDefinition, Contact
from core.errors import ApplicationError
from messaging.campaign_models import CampaignStatus
from messaging.campaigns.bindings import (
    binding_problems,
    campaign_missing_value_q,
    contact_parameters,
    missing_value_q,
    sample_parameters,
)
from messaging.campaigns.languages import content_snapshot
from templates_app.parameters import check_parameters
from tests.factories import ContactFactory
from tests.messaging.campaigns.content_world import (
    NAMED,
    PROMO,
    PROMO_BINDINGS,
    approved,
    attribute,
    campaign,
    field,
    image_header,
    literal,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def custom_fields(db):
    for key, kind in [("voucher", "text"), ("birthday", "date"), ("orders", "number"), ("vip", "boolean")]:
        AttributeDefinition.objects.create(key=key, type=kind)


def fits(template, parameters) -> list[str]:
    version = template.approved_version
    return check_parameters(
        components=version.components, parameter_format=version.parameter_format, parameters=parameters
    )


# --- values -------------------------------------------------------------------------------------


def test_a_contacts_values_with_formats_and_the_link_suffix_encoded():
    template = approved()
    promo = campaign(template)
    anna = ContactFactory(first_name="ANNA-lena", attributes={"voucher": "GOLD 7/ä"})
    parameters = contact_parameters(promo, anna, language="en")
    assert parameters == {
        "header": {"type": "text", "text": "ANNA-lena"},
        "body": ["Anna-Lena", "gold", "Sunday"],
        "buttons": {"1": "GOLD%207/%C3%A4", "2": "SPRING20"},
    }
    assert fits(template, parameters) == []


def test_an_empty_value_takes_the_fallback_as_written():
    promo = campaign(approved())
    nameless = ContactFactory(first_name="  \t ", attributes={"voucher": "V1"})
    parameters = contact_parameters(promo, nameless, language="en")
    assert parameters["header"]["text"] == "friend"
    assert parameters["body"][0] == "there"  # the fallback is not title-cased


def test_a_missing_value_without_fallback_is_refused_naming_it():
    promo = campaign(approved())
    no_voucher = ContactFactory(first_name="Pablo", attributes={"voucher": None})
    with pytest.raises(ApplicationError) as refused:
        contact_parameters(promo, no_voucher, language="en")
    assert refused.value.code == "campaign_value_missing"
    assert "link suffix of button 2" in refused.value.message


def test_line_breaks_tabs_and_runs_of_spaces_in_contact_data_become_one_space():
    promo = campaign(approved())
    messy = ContactFactory(first_name=" anna \n\n maria\t\u00a0 ", attributes={"voucher": "V1"})
    parameters = contact_parameters(promo, messy, language="en")
    assert parameters["body"][0] == "Anna Maria"
    assert fits(promo.template, parameters) == []


@pytest.mark.parametrize(
    ("stored", "fmt", "sent"),
    [
        ("2025-03-31", "date:%d.%m.%Y", "31.03.2025"),
        ("2025-03-31", "date:%d %B %Y", "31 March 2025"),
        ("2025-03-31", "date:%A, %d %b", "Monday, 31 Mar"),
        ("2025-02-30", "date:%d.%m.%Y", "2025-02-30"),  # shaped like a date but none: as stored
        ("next week", "date:%d.%m.%Y", "soon"),  # not a date: the fallback
        ("2025-3-1", "date:%d.%m.%Y", "soon"),
        (20250331, "date:%d.%m.%Y", "soon"),
    ],
)
def test_a_date_custom_field_is_formatted(stored, fmt, sent):
    template = approved("notice", category="UTILITY", components=[PROMO[1]])
    bindings = {
        "body": {"1": field("first_name"), "2": literal("gold"), "3": attribute("birthday", "soon", fmt)}
    }
    notice = campaign(template, bindings=bindings)
    contact = ContactFactory(first_name="Pablo", attributes={"birthday": stored})
    assert contact_parameters(notice, contact, language="en")["body"][2] == sent


@pytest.mark.parametrize(
    ("stored", "sent"), [(42, "42"), (4.5, "4.5"), (3.0, "3"), ("7", "7"), (True, "none"), ([1], "none")]
)
def test_numbers_are_values_and_yes_no_or_lists_are_not(stored, sent):
    template = approved("notice", category="UTILITY", components=[PROMO[1]])
    bindings = {"body": {"1": attribute("orders", "none"), "2": literal("a"), "3": literal("b")}}
    contact = ContactFactory(attributes={"orders": stored})
    assert (
        contact_parameters(campaign(template, bindings=bindings), contact, language="en")["body"][0] == sent
    )


def test_upper_lower_and_title():
    template = approved("notice", category="UTILITY", components=[PROMO[1]])
    bindings = {
        "body": {
            "1": field("first_name", fmt="upper"),
            "2": field("last_name", fmt="lower"),
            "3": field("full_name", fmt="title"),
        }
    }
    contact = ContactFactory(first_name="josé", last_name="DE LA CRUZ")
    body = contact_parameters(campaign(template, bindings=bindings), contact, language="en")["body"]
    assert body == ["JOSÉ", "de la cruz", "José De La Cruz"]


def test_a_coupon_code_longer_than_whatsapp_takes_is_missing():
    promo = campaign(
        template := approved(),
        bindings={**PROMO_BINDINGS, "buttons": {"1": literal("V"), "2": attribute("voucher", "SPRING20")}},
    )
    contact = ContactFactory(attributes={"voucher": "A-VERY-LONG-CODE-123"})
    parameters = contact_parameters(promo, contact, language="en")
    assert parameters["buttons"]["2"] == "SPRING20" and fits(template, parameters) == []


def test_named_variables_and_other_fields():
    template = approved("hallo", "de", category="UTILITY", components=NAMED, parameter_format="NAMED")
    bindings = {"body": {"first_name": field("first_name"), "day": field("country")}}
    contact = ContactFactory(first_name="Jo", country="AT", phone="+436641234567")
    parameters = contact_parameters(campaign(template, bindings=bindings), contact, language="de")
    assert parameters == {"body": {"first_name": "Jo", "day": "AT"}}
    assert fits(template, parameters) == []


def test_a_media_header_is_sent_by_link():
    template = approved(components=image_header(PROMO))
    promo = campaign(template, header_media_source="link", header_media_link="https://cdn.example/spring.jpg")
    contact = ContactFactory(first_name="Pablo", attributes={"voucher": "V1"})
    parameters = contact_parameters(promo, contact, language="en")
    assert parameters["header"] == {"type": "image", "link": "https://cdn.example/spring.jpg"}
    assert fits(template, parameters) == []


def test_sample_values_come_from_the_template_then_the_fallback_then_a_placeholder():
    template = approved()
    bindings = {
        "header": {"1": field("first_name")},
        "body": {
            "1": field("first_name", fmt="upper"),
            "2": attribute("voucher", "gold"),
            "3": literal("Sunday"),
        },
        "buttons": {"1": attribute("voucher"), "2": attribute("voucher")},
    }
    parameters = sample_parameters(campaign(template, bindings=bindings), language="en")
    assert parameters == {
        "header": {"type": "text", "text": "Pablo"},
        "body": ["PABLO", "gold", "Sunday"],
        "buttons": {"1": "ABC123", "2": "SPRING20"},
    }
    assert fits(template, parameters) == []
    bare = approved("bare", components=[{"type": "BODY", "text": "Hi {{1}}, see {{2}}."}])
    assert sample_parameters(
        campaign(bare, bindings={"body": {"1": field("first_name")}}), language="en"
    ) == {"body": ["[first name]", "[2]"]}


def test_an_approved_campaign_fills_in_its_frozen_bindings():
    promo = campaign(approved())
    promo.frozen = content_snapshot(promo)
    promo.status = CampaignStatus.APPROVED
    promo.bindings = {"body": {"1": literal("edited after approval")}}
    contact = ContactFactory(first_name="Pablo", attributes={"voucher": "V1"})
    assert contact_parameters(promo, contact, language="en")["body"][0] == "Pablo"


# --- problems -------------------------------------------------------------------------------------


def problems(bindings, template=None) -> list[str]:
    return binding_problems(campaign(template or approved(), bindings=bindings))


def test_complete_bindings_have_no_problems():
    assert problems(PROMO_BINDINGS) == []


def test_an_unbound_variable_is_named_with_its_languages():
    en = approved("promo", "en")
    approved(
        "promo",
        "de",
        components=[PROMO[0], {"type": "BODY", "text": "Hallo {{1}}, {{2}} {{3}} {{4}}!"}, PROMO[2]],
    )
    bindings = {k: dict(v) for k, v in PROMO_BINDINGS.items()}
    del bindings["body"]["3"]
    found = problems(bindings, en)
    assert (
        "{{3}} in the body (de, en) is not bound: choose a contact field, a custom field or a text." in found
    )
    assert "{{4}} in the body (de) is not bound: choose a contact field, a custom field or a text." in found


@pytest.mark.parametrize(
    ("binding", "expected"),
    [
        (field("shoe_size"), "not a contact field"),
        (attribute("loyalty_tier"), "not declared"),
        (attribute("vip"), "a yes/no field"),
        (literal("  "), "an empty text without a fallback"),
        (literal("two\nlines"), "line break"),
        (field("first_name", "dear\tcustomer"), "fallback contains a line break"),
        (literal("wide     gap"), "more than 4 spaces"),
        (literal("x" * 1025), "1025 characters long"),
        (attribute("birthday", fmt="date:%H:%M"), "uses %H, %M"),
        (attribute("birthday", fmt="date:today"), "has no date in it"),
        (attribute("birthday", fmt="date:"), "one line"),
        (attribute("voucher", fmt="date:%d.%m.%Y"), "not bound to a date custom field"),
        (field("first_name", fmt="date:%d.%m.%Y"), "not bound to a date custom field"),
        (field("first_name", fmt="shout"), "not a format"),
        ({"source": "magic", "value": "x"}, "not a source"),
    ],
)
def test_each_binding_problem(binding, expected):
    bindings = {**PROMO_BINDINGS, "body": {**PROMO_BINDINGS["body"], "2": binding}}
    found = problems(bindings)
    assert any(expected in text and "{{2}} in the body" in text for text in found), found


def test_a_coupon_code_text_over_15_characters():
    bindings = {**PROMO_BINDINGS, "buttons": {"1": literal("x"), "2": literal("SIXTEEN-CHARS-XX")}}
    assert problems(bindings) == [
        "The coupon code of button 3's text is 16 characters long; WhatsApp allows 15 here."
    ]


def test_bindings_for_variables_the_template_does_not_have():
    bindings = {
        **PROMO_BINDINGS,
        "body": {**PROMO_BINDINGS["body"], "9": literal("x")},
        "buttons": {**PROMO_BINDINGS["buttons"], "0": literal("x")},
    }
    found = problems(bindings)
    assert "The template has no variable {{9}} in its body in any language; remove its binding." in found
    assert "The template has no button 1 that takes a value in any language; remove its binding." in found


@pytest.mark.parametrize(
    ("bindings", "expected"),
    [
        ([], "must be an object"),
        ({"footer": {}}, "not a part of a template"),
        ({"body": ["x"]}, "must map each variable"),
        ({"body": {"1": "first_name"}}, "must be an object with source and value"),
        ({"body": {"1": {**literal("x"), "colour": "red"}}}, "unknown keys: colour"),
        ({"body": {"1": {"source": "literal", "value": 3}}}, "value of body “1” must be text"),
    ],
)
def test_malformed_bindings_are_named(bindings, expected):
    found = problems(bindings)
    assert any(expected in text for text in found), found


# --- the SQL twin ---------------------------------------------------------------------------------

ODD_VALUES = [
    "absent",
    None,
    "",
    "  ",
    "\u00a0\u3000",
    "\n\t",
    "x",
    " x ",
    0,
    4.5,
    True,
    False,
    [],
    {},
    ["x"],
    "2025-03-31",
    " 2025-03-31",
    "2025-3-1",
    "2025-02-30",
    "ABCDEFGHIJKLMNO",
    " ABCDEFGHIJKLMNO ",
    "ABCDEFGHIJKLMNOP",
    123456789012345,
    1234567890123456,
    "ünïcødé",
]
NAMES = [("", ""), ("  ", "\u2003"), ("Ana", ""), ("", "Ruiz"), ("\n", "x")]


@pytest.fixture
def odd_contacts(db):
    contacts = []
    for number, value in enumerate(ODD_VALUES):
        first, last = NAMES[number % len(NAMES)]
        attributes = {} if value == "absent" else {"voucher": value, "birthday": value}
        contacts.append(ContactFactory(first_name=first, last_name=last, attributes=attributes))
    contacts.append(ContactFactory(phone=None, wa_id="4915199999999", first_name="", attributes="not a dict"))
    return contacts


def python_missing(target, contact) -> bool:
    try:
        contact_parameters(target, contact, language="en")
    except ApplicationError as exc:
        assert exc.code == "campaign_value_missing"
        return True
    return False


CODE_TEMPLATE = [
    {"type": "BODY", "text": "Hi {{1}}."},
    {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE", "example": "X"}]},
]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (field("first_name"), literal("C")),
        (field("full_name"), literal("C")),
        (field("phone"), literal("C")),
        (field("language"), literal("C")),
        (attribute("voucher"), literal("C")),
        (attribute("birthday", fmt="date:%d.%m.%Y"), literal("C")),
        (attribute("voucher", fmt="upper"), literal("C")),
        (literal("x"), attribute("voucher")),
        (literal("x"), field("first_name")),
        (field("first_name", "there"), attribute("voucher", "CODE")),  # fallbacks: nobody is missing
        (field("nickname"), literal("C")),  # not a field: everybody is
        (literal("x"), literal("SIXTEEN-CHARS-XX")),
    ],
)
def test_the_sql_finds_exactly_the_contacts_python_finds_no_value_for(odd_contacts, body, code):
    template = approved("code", category="UTILITY", components=CODE_TEMPLATE)
    target = campaign(template, bindings={"body": {"1": body}, "buttons": {"0": code}})
    in_sql = set(Contact.objects.filter(campaign_missing_value_q(target)).values_list("pk", flat=True))
    in_python = {c.pk for c in odd_contacts if python_missing(target, c)}
    assert in_sql == in_python


def test_without_bindings_nobody_is_missing_a_value(odd_contacts):
    assert not Contact.objects.filter(missing_value_q({})).exists()
    assert Contact.objects.exclude(missing_value_q({})).count() == len(odd_contacts)


def test_the_sql_reads_each_contacts_own_row_only(odd_contacts):
    sql = str(Contact.objects.filter(missing_value_q(PROMO_BINDINGS)).query).upper()
    assert "SELECT" not in sql.split("WHERE", 1)[1] and "JOIN" not in sql


def test_the_sql_trims_every_character_python_counts_as_whitespace():
    import sys

    from messaging.campaigns.binding_sql import WHITESPACE

    assert set(WHITESPACE) == {chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()}
