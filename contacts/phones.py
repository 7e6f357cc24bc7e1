"""Phone numbers: one normalised form (E.164) whatever a person types.

Staff type numbers in every format ("0151 2345-6789", "+49 151 23456789", "0049…"); the
database keeps E.164 so uniqueness, search and Meta's ``to`` field all agree.

In Brazil and Mexico one WhatsApp account has two forms of its number: the number as dialled
today and the ``wa_id`` Meta reports, which may drop Brazil's mobile ninth digit or keep Mexico's
1 after +52 (docs/contacts.md). ``equivalent_numbers`` gives both, so the contact matcher finds
one person by either.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from django.conf import settings
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult
from phonenumbers import timezone as phone_timezone

from core.errors import ApplicationError

_PARSE_ERRORS = {
    NumberParseException.INVALID_COUNTRY_CODE: "its country code is not valid",
    NumberParseException.NOT_A_NUMBER: "it is not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "it is too short",
    NumberParseException.TOO_LONG: "it is too long",
}
_POSSIBLE_ERRORS = {
    ValidationResult.INVALID_COUNTRY_CODE: "its country code is not valid",
    ValidationResult.TOO_SHORT: "it is too short",
    ValidationResult.TOO_LONG: "it is too long",
    ValidationResult.INVALID_LENGTH: "it has the wrong number of digits",
    # Dialable only inside its local area: WhatsApp needs the full international number.
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "it is too short: the area code is missing",
}


class InvalidPhoneNumber(ApplicationError):
    def __init__(self, raw: str, reason: str, number: phonenumbers.PhoneNumber | None = None):
        super().__init__(
            f"“{raw}” is not a valid phone number: {reason}.", code="invalid_phone", field="phone"
        )
        self.number = number  # what was parsed, when it parsed but is not valid


@dataclass(frozen=True)
class ParsedPhone:
    e164: str
    region: str | None
    time_zones: tuple[str, ...]


def parse_phone(raw: str, *, region: str | None = None) -> ParsedPhone:
    """Parse what a person typed; raise InvalidPhoneNumber saying why it is not a number."""
    number = parse_phone_number(raw, region=region)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return ParsedPhone(
        e164=e164,
        region=phonenumbers.region_code_for_number(number),
        time_zones=_time_zones(e164),
    )


def parse_phone_number(raw: str, *, region: str | None = None) -> phonenumbers.PhoneNumber:
    """The valid number in what a person typed, or InvalidPhoneNumber saying why it is not one.

    ``parse_phone``'s checks without its extras (the number's region and time zones, each a
    further lookup): an import parses a hundred thousand numbers and derives the rest only where
    a row needs it.
    """
    number = _parsed(raw, region)
    if phonenumbers.is_valid_number(number):
        return number  # a valid number is a possible one: the length check only explains a refusal
    raise _invalid(number, raw)


def parse_phone_forms(
    raw: str, *, region: str | None = None
) -> tuple[phonenumbers.PhoneNumber, str, str, int]:
    """(the valid number, its E.164 form, its other form or "", its type) of what a person typed,
    or InvalidPhoneNumber: ``parse_phone_number`` and ``other_form_of`` with one parse and one check.

    The number's type is looked up once: it says whether the number is valid (any type is; the
    look-up ``is_valid_number`` makes), whether a Brazilian or Mexican number is a mobile (only
    those have another form), and where the number is (``contacts.zones.number_span``), which
    ``is_valid_number``, ``number_type`` and phonenumbers' time zones would each look up again.
    """
    number = _parsed(raw, region)
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        raise _invalid(number, raw)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if number.country_code in _OTHER_FORM_CODES:
        return number, e164, _other_form(e164[1:], own_mobile=kind in _MOBILE) or "", kind
    return number, e164, "", kind


def _parsed(raw: str, region: str | None) -> phonenumbers.PhoneNumber:
    region = (region or settings.PHONE_DEFAULT_REGION or "").upper() or None
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber(raw or "", "it is empty")
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE and not text.startswith(("+", "00")):
            reason = "it has no country code; start it with + and the country code"
        else:
            reason = _PARSE_ERRORS.get(exc.error_type, "it could not be read")
        raise InvalidPhoneNumber(text, reason) from exc
    return number


def _invalid(number: phonenumbers.PhoneNumber, raw: str) -> InvalidPhoneNumber:
    """Why a number that parsed is not a valid one."""
    text = (raw or "").strip()
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != ValidationResult.IS_POSSIBLE:
        return InvalidPhoneNumber(text, _POSSIBLE_ERRORS.get(possible, "it is not possible"), number)
    number_region = phonenumbers.region_code_for_country_code(number.country_code)
    return InvalidPhoneNumber(text, f"it is not a valid number in {number_region}", number)


def normalize_phone(raw: str, *, region: str | None = None) -> str:
    return parse_phone(raw, region=region).e164


@lru_cache(maxsize=4096)
def _time_zones(e164: str) -> tuple[str, ...]:
    zones = phone_timezone.time_zones_for_number(phonenumbers.parse(e164))
    return tuple(z for z in zones if z != phone_timezone.UNKNOWN_TIMEZONE)


def time_zones_for_phone(e164: str) -> tuple[str, ...]:
    """The IANA zones phonenumbers gives for a number (several for large countries)."""
    return _time_zones(e164)


def search_form(raw: str) -> str | None:
    """The E.164 form of a search term if it reads as a phone number, else None."""
    try:
        return normalize_phone(raw)
    except InvalidPhoneNumber:
        return None


# A number as digits with its country code, with or without "+": E.164 numbers and Meta's wa_ids.
_INTERNATIONAL_DIGITS = re.compile(r"\+?([1-9]\d{6,14})")
_MOBILE = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
_OTHER_FORM_CODES = (52, 55)  # Mexico and Brazil: the only numbers with another form


def equivalent_numbers(number: str | None) -> tuple[str, ...]:
    """Every E.164 form of one WhatsApp number: itself first, then its other form if it has one.

    Brazil: a mobile as dialled is ``+55 DD 9XXXX-XXXX``; Meta's wa_id for an account older than
    the ninth digit drops that 9 (``55DDXXXXXXXX``). Mexico: numbers lost the 1 after +52 in 2019,
    Meta's wa_id may still carry it (``521…``). The other form is given only when it cannot be a
    different person's number: a form ``phonenumbers`` holds valid on its own (a Brazilian
    landline such as +55 21 3333-4444) is never equated with a mobile. Takes E.164 or a wa_id
    (digits with the country code); anything else has no equivalents, ``()``.
    """
    match = _INTERNATIONAL_DIGITS.fullmatch((number or "").strip())
    if match is None:
        return ()
    digits = match.group(1)
    other = _other_form(digits)
    return ("+" + digits, other) if other else ("+" + digits,)


def phone_for_wa_id(wa_id: str | None) -> str | None:
    """The phone number a wa_id stands for: the form of it that is a valid number, else None."""
    for form in equivalent_numbers(wa_id):
        if _is_valid(form):
            return form
    return None


def other_form_of(number: phonenumbers.PhoneNumber) -> str | None:
    """The other form of a valid number just parsed (``equivalent_numbers``'s second), or None.

    The same rule, checked on the parsed number itself instead of parsing its forms again: an
    import parses a hundred thousand numbers, a quarter of them Brazilian or Mexican.
    """
    if number.country_code not in _OTHER_FORM_CODES:
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return _other_form(e164[1:], own_mobile=phonenumbers.number_type(number) in _MOBILE)


def _other_form(digits: str, *, own_mobile: bool | None = None) -> str | None:
    """The other form of a Brazilian or Mexican mobile number (E.164), or None.

    ``own_mobile``: ``digits`` are a number already parsed and valid, and whether it is a mobile,
    so its own checks need no second parse.
    """
    own = "+" + digits
    if digits.startswith("55") and len(digits) in (12, 13):
        area, subscriber = digits[2:4], digits[4:]
        if len(subscriber) == 9 and subscriber[0] == "9":
            long_form, short_form = own, f"+55{area}{subscriber[1:]}"
        elif len(subscriber) == 8:
            long_form, short_form = f"+55{area}9{subscriber}", own
        else:
            return None
    elif digits.startswith("52") and len(digits) in (12, 13):
        national = digits[2:]
        if len(national) == 11 and national[0] == "1":
            long_form, short_form = own, f"+52{national[1:]}"
        elif len(national) == 10:
            long_form, short_form = f"+521{national}", own
        else:
            return None
    else:
        return None
    # Brazil: the long form (with the 9) is the valid mobile; Mexico: the short form (without the 1).
    valid, other = (long_form, short_form) if digits.startswith("55") else (short_form, long_form)

    def holds(form: str, *, mobile: bool = False) -> bool:
        if own_mobile is not None and form == own:
            return not mobile or own_mobile
        return _is_valid_form(form, mobile=mobile)

    if not holds(valid, mobile=True) or holds(other):
        return None
    return other if own == valid else valid


@lru_cache(maxsize=4096)
def _is_valid_form(e164: str, *, mobile: bool = False) -> bool:
    """``_is_valid`` for a Brazilian or Mexican form: +55 or +52 and digits without a leading 0, so
    the number is built from them instead of parsed (the same answer, at half the cost)."""
    number = phonenumbers.PhoneNumber(country_code=int(e164[1:3]), national_number=int(e164[3:]))
    if not phonenumbers.is_valid_number(number):
        return False
    return not mobile or phonenumbers.number_type(number) in _MOBILE


@lru_cache(maxsize=4096)
def _is_valid(e164: str, *, mobile: bool = False) -> bool:
    try:
        number = phonenumbers.parse(e164)
    except NumberParseException:
        return False
    if not phonenumbers.is_valid_number(number):
        return False
    return not mobile or phonenumbers.number_type(number) in _MOBILE


def match_key(number: str | None) -> str:
    """One key for every form of a WhatsApp number: the form that is a valid number, else itself.

    Two numbers with one key are one person's (``equivalent_numbers``), so an import matches rows
    to contacts, and rows to each other, with an equality join on this key (docs/imports.md).
    """
    forms = equivalent_numbers(number)
    if not forms:
        return ""
    for form in forms:
        if _is_valid(form):
            return form
    return forms[0]
