import pytest
from django.test import override_settings

from contacts.phones import (
    InvalidPhoneNumber,
    equivalent_numbers,
    normalize_phone,
    parse_phone,
    phone_for_wa_id,
    search_form,
    time_zones_for_phone,
)


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("0151 23456789", "+4915123456789"),  # national, default region DE
        ("0151-2345-6789", "+4915123456789"),  # dashes
        ("(0151) 234 567 89", "+4915123456789"),  # brackets and spaces
        ("+49 151 23456789", "+4915123456789"),  # international
        ("0049 151 23456789", "+4915123456789"),  # international prefix instead of +
        ("+4915123456789", "+4915123456789"),  # already E.164
        ("  +49 (151) 234-56789  ", "+4915123456789"),  # surrounding whitespace
        ("+44 7911 123456", "+447911123456"),  # another region
        ("+1 650-253-0000", "+16502530000"),  # North America
        ("+55 11 91234-5670", "+5511912345670"),  # Brazil
    ],
)
def test_numbers_in_any_format_normalise_to_e164(raw, expected):
    assert normalize_phone(raw) == expected


@override_settings(PHONE_DEFAULT_REGION="GB")
def test_national_numbers_use_the_default_region():
    assert normalize_phone("07911 123456") == "+447911123456"


def test_explicit_region_wins_over_the_default():
    assert normalize_phone("(650) 253-0000", region="US") == "+16502530000"


@pytest.mark.parametrize(
    "raw,reason",
    [
        ("", "empty"),
        ("hello", "not a phone number"),
        ("+49 151", "too short"),
        ("+49 151 234567891234567", "too long"),
        ("+999 1234567", "country code is not valid"),
        ("+49 151 2345", "not a valid number in DE"),
        ("+1 555 0100 000", "not a valid number"),
    ],
)
def test_invalid_numbers_are_refused_with_the_reason(raw, reason):
    with pytest.raises(InvalidPhoneNumber) as exc:
        normalize_phone(raw)
    assert reason in exc.value.message
    assert exc.value.field == "phone"


@override_settings(PHONE_DEFAULT_REGION="")
def test_a_national_number_without_default_region_asks_for_the_country_code():
    with pytest.raises(InvalidPhoneNumber) as exc:
        normalize_phone("0151 23456789")
    assert "country code" in exc.value.message


def test_parse_reports_region_and_time_zones():
    parsed = parse_phone("+4915123456789")
    assert parsed.region == "DE"
    assert parsed.time_zones == ("Europe/Berlin",)


def test_large_countries_have_several_time_zones():
    # A US mobile number maps to its area code's zone; Brazil's +55 11 to Sao Paulo.
    assert "America/Los_Angeles" in time_zones_for_phone("+16502530000")
    assert time_zones_for_phone("+5511912345670") == ("America/Sao_Paulo",)


def test_search_form_reads_numbers_and_ignores_names():
    assert search_form("0151 234 567 89") == "+4915123456789"
    assert search_form("Pablo") is None


# --- One person, two forms: Brazil's ninth digit, Mexico's 1 after +52 --------------------------


@pytest.mark.parametrize(
    "number,expected",
    [
        # Brazil: a mobile as dialled has a ninth digit 9 that Meta's wa_id may drop, and back.
        ("+5521987654321", ("+5521987654321", "+552187654321")),
        ("+552187654321", ("+552187654321", "+5521987654321")),
        ("552187654321", ("+552187654321", "+5521987654321")),  # a wa_id: digits, no +
        ("+5511912345670", ("+5511912345670", "+551112345670")),
        # Mexico: Meta's wa_id may keep the 1 after +52 that numbers dropped in 2019, and back.
        ("+525512345678", ("+525512345678", "+5215512345678")),
        ("5215512345678", ("+5215512345678", "+525512345678")),
        ("+523312345678", ("+523312345678", "+5213312345678")),
    ],
)
def test_brazilian_and_mexican_mobiles_have_two_equivalent_forms(number, expected):
    assert equivalent_numbers(number) == expected


@pytest.mark.parametrize(
    "number",
    [
        "+552133334444",  # a Brazilian landline: no ninth digit to add or drop
        "+5521933334444",  # ... and a 9 in front of a landline is not a mobile
        "+4915123456789",  # elsewhere one number has one form
        "+16502530000",
    ],
)
def test_other_numbers_have_only_their_own_form(number):
    assert equivalent_numbers(number) == (number,)


@pytest.mark.parametrize("junk", ["", "   ", "hello", "+", "+49-151", "US.13491208655302741918", None])
def test_what_is_not_a_number_has_no_equivalents(junk):
    assert equivalent_numbers(junk) == ()


@pytest.mark.parametrize(
    "wa_id,phone",
    [
        ("4915123456789", "+4915123456789"),
        ("552187654321", "+5521987654321"),  # Brazil: the number as dialled has the ninth digit
        ("5215512345678", "+525512345678"),  # Mexico: the number as dialled has no 1
        ("5521987654321", "+5521987654321"),
        ("999", None),
        ("US.13491208655302741918", None),
        ("", None),
    ],
)
def test_the_phone_number_of_a_wa_id_is_its_valid_form(wa_id, phone):
    assert phone_for_wa_id(wa_id) == phone
