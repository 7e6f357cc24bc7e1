"""Phone numbers: one normalised form (E.164) whatever a person types.

Staff type numbers in every format ("0151 2345-6789", "+49 151 23456789", "0049…"); the
database keeps E.164 so uniqueness, search and Meta's ``to`` field all agree.
"""

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from django.conf import settings
from phonenumbers import NumberParseException, ValidationResult
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
    def __init__(self, raw: str, reason: str):
        super().__init__(
            f"“{raw}” is not a valid phone number: {reason}.", code="invalid_phone", field="phone"
        )


@dataclass(frozen=True)
class ParsedPhone:
    e164: str
    region: str | None
    time_zones: tuple[str, ...]


def parse_phone(raw: str, *, region: str | None = None) -> ParsedPhone:
    """Parse what a person typed; raise InvalidPhoneNumber saying why it is not a number."""
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
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != ValidationResult.IS_POSSIBLE:
        raise InvalidPhoneNumber(text, _POSSIBLE_ERRORS.get(possible, "it is not possible"))
    if not phonenumbers.is_valid_number(number):
        number_region = phonenumbers.region_code_for_country_code(number.country_code)
        raise InvalidPhoneNumber(text, f"it is not a valid number in {number_region}")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return ParsedPhone(
        e164=e164,
        region=phonenumbers.region_code_for_number(number),
        time_zones=_time_zones(e164),
    )


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
