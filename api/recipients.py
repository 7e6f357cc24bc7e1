"""Which contact an API call is about: by id (followed through merges) or by phone (the matcher).

The API never creates a contact on the way to a send: a number nobody registered is refused, so
a typo cannot become a new person (contacts are created by ``POST /contacts/``).
"""

from __future__ import annotations

from rest_framework import status

from api.errors import ApiError
from api.serializers.contacts import INTERNATIONAL_FORM, is_international
from contacts.matching import contact_match
from contacts.models import Contact
from contacts.phones import normalize_phone

_MAX_ID_DIGITS = 18  # a bigint


def live_contact(contact_id: int) -> Contact | None:
    """The contact that stands for the person now: the row, or the one it was merged into."""
    contact = Contact.objects.filter(pk=contact_id).first()
    seen = set()
    while contact is not None and contact.merged_into_id is not None and contact.pk not in seen:
        seen.add(contact.pk)
        contact = Contact.objects.filter(pk=contact.merged_into_id).first()
    return contact


def contact_id_from_path(value: str) -> int:
    """A contact id from the URL, or 404 in the API's shape (not Django's HTML page)."""
    if not (value.isascii() and value.isdigit()) or len(value) > _MAX_ID_DIGITS:
        raise ApiError(
            f"There is no contact {value!r}: contact ids are numbers.",
            code="not_found",
            status_code=status.HTTP_404_NOT_FOUND,
        )
    return int(value)


def contact_by_phone(phone: str) -> Contact:
    """The live contact with this number (any of its forms, its wa_id), or 422 saying why not.
    Only a number with its country code is looked up: one without would be read as a German
    national number and could reach another person."""
    if not is_international(phone):
        raise ApiError(
            f"“{phone}” has no country code: {INTERNATIONAL_FORM}.",
            code="invalid_phone",
            status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
            field="phone",
        )
    contact = contact_match(phone=phone)
    if contact is not None:
        return contact
    normalize_phone(phone)  # a number that is not one: 422 invalid_phone, naming it
    raise ApiError(
        f"No contact has the number {phone}. Create the contact (POST /contacts/) and record their "
        "opt-in first.",
        code="contact_not_found",
        status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
        field="phone",
    )
