"""Service refusals as an API client reads them.

The services word their refusals for staff and name the person ("Pablo Neruda opted out of
Marketing…"). A key may record consent or send without the scope to read contacts, and a refusal
must not hand it what a read would (a name, a number): to the API the person is ``contact <id>``.
"""

from __future__ import annotations

from contacts.models import Contact
from core.errors import ApplicationError


def refusal_for_api(error: ApplicationError, *contacts: Contact) -> ApplicationError:
    """``error`` naming each contact by its id only (the code and field stay)."""
    error.message = without_names(error.message, *contacts)
    error.args = (error.message,)
    return error


def without_names(text: str, *contacts: Contact) -> str:
    """``text`` with each contact's display name, number and WhatsApp id replaced by ``contact <id>``."""
    for contact in contacts:
        wa_id = (contact.wa_id or "").lstrip("+")
        forms = {str(contact), contact.phone or "", f"+{wa_id}" if wa_id else "", wa_id}
        for form in sorted(filter(None, forms), key=len, reverse=True):  # "+49…" before "49…"
            text = text.replace(form, f"contact {contact.pk}")
    return text
