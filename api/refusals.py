"""Service refusals as an API client reads them.

The services word their refusals for staff and name the person ("Pablo Neruda opted out of
Marketing…"). A key may record consent or send without the scope to read contacts, and a refusal
must not hand it what a read would: to the API the person is ``contact <id>``.
"""

from __future__ import annotations

from contacts.models import Contact
from core.errors import ApplicationError


def refusal_for_api(error: ApplicationError, *contacts: Contact) -> ApplicationError:
    """``error`` with each contact's display name replaced by its id (the code and field stay)."""
    error.message = without_names(error.message, *contacts)
    error.args = (error.message,)
    return error


def without_names(text: str, *contacts: Contact) -> str:
    """``text`` with each contact's display name replaced by ``contact <id>``."""
    for contact in contacts:
        name = str(contact)
        if name and name in text:
            text = text.replace(name, f"contact {contact.pk}")
    return text
