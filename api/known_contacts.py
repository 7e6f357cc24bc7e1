"""The contacts a key knows: those it created or recorded consent for (updating an existing
contact is not enough: a key could otherwise claim anyone by sending their number). Their replies and
opt-outs are called back to that key, and to no other (docs/api-callbacks.md)."""

from collections.abc import Iterable

from api.models import ApiKey, KeyContact


def remember_contacts(key: ApiKey, contact_ids: Iterable[int]) -> None:
    """Note that ``key`` knows these contacts (one statement; already known ones are left alone)."""
    rows = [KeyContact(key=key, contact_id=contact_id) for contact_id in set(contact_ids)]
    KeyContact.objects.bulk_create(rows, ignore_conflicts=True)
