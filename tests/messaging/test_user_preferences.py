"""Meta's ``user_preferences`` for people Meta names by business-scoped ``user_id``, with or without wa_id."""
# ruff: noqa: F811 (the deliver fixture is imported, then named as a test argument)

import time

import pytest

from contacts.models import ActivityLogEntry, ConsentEvent, ConsentSource, Contact, Purpose
from contacts.selectors import current_consent, has_opt_in
from messaging.models import WebhookEvent, WebhookOutcome
from tests.factories import ContactFactory, opt_in
from tests.messaging.webhook_bodies import (
    METADATA,
    change,
    deliver,  # noqa: F401 (a fixture)
    envelope,
    text_message,
)

pytestmark = pytest.mark.django_db

USER_ID = "DE.13491208655302741918"
WA_ID = "4915112345678"


def preferences_body(*items: dict, contacts: list | None = None) -> dict:
    value = {"messaging_product": "whatsapp", "metadata": METADATA, "user_preferences": list(items)}
    if contacts is not None:
        value["contacts"] = contacts
    return envelope(change("user_preferences", value))


def item(value: str = "stop", *, wa_id: str | None = None, user_id: str | None = None, **extra) -> dict:
    result = {
        "detail": "User requested to stop marketing messages",
        "category": "marketing_messages",
        "value": value,
        "timestamp": str(int(time.time()) + 1),
        **extra,
    }
    if wa_id is not None:
        result["wa_id"] = wa_id
    if user_id is not None:
        result["user_id"] = user_id
    return result


def marketing(contact) -> str | None:
    consent = current_consent(contact=contact, purpose=Purpose.MARKETING)
    return consent.status if consent else None


def test_a_stop_from_a_person_known_only_by_user_id_is_recorded(deliver):
    contact = ContactFactory(phone=None, wa_id=None, user_id=USER_ID)
    opt_in(contact, Purpose.MARKETING)
    deliver(preferences_body(item(user_id=USER_ID)))
    event = ConsentEvent.objects.get(contact=contact, source=ConsentSource.WHATSAPP_SIGNAL)
    assert (event.purpose, event.action) == (Purpose.MARKETING, "opt_out")
    assert event.evidence["user_id"] == USER_ID
    assert marketing(contact) == "opted_out"
    assert Contact.objects.count() == 1


def test_a_stop_from_someone_not_yet_known_creates_them_with_that_user_id(deliver):
    deliver(preferences_body(item(user_id=USER_ID)))
    contact = Contact.objects.get()
    assert (contact.user_id, contact.phone, contact.wa_id) == (USER_ID, None, None)
    assert marketing(contact) == "opted_out"
    assert ActivityLogEntry.objects.filter(
        action="contact.created_from_whatsapp", object_id=str(contact.pk)
    ).exists()
    assert WebhookEvent.objects.get().outcome == WebhookOutcome.PROCESSED


def test_the_stop_is_on_record_when_the_person_is_matched_later(deliver):
    deliver(preferences_body(item(user_id=USER_ID)))
    # Later they write from their number, and Meta names both identifiers.
    body = text_message("hello", wa_id=WA_ID, user_id=USER_ID)
    deliver(body)
    contact = Contact.objects.get()
    assert (contact.user_id, contact.wa_id) == (USER_ID, WA_ID)
    assert marketing(contact) == "opted_out"
    assert not has_opt_in(contact=contact, purpose=Purpose.MARKETING)


def test_a_user_id_item_is_matched_through_the_wa_id_the_contacts_array_pairs_it_with(deliver, customer):
    deliver(
        preferences_body(
            item(user_id=USER_ID),
            contacts=[{"profile": {"name": "Pablo"}, "wa_id": WA_ID, "user_id": USER_ID}],
        )
    )
    assert Contact.objects.count() == 1
    assert marketing(customer) == "opted_out"
    customer.refresh_from_db()
    assert customer.user_id == USER_ID


def test_wa_id_still_matches_as_before(deliver, customer):
    deliver(preferences_body(item(wa_id=WA_ID)))
    assert marketing(customer) == "opted_out"


def test_resume_from_a_user_id_is_a_timeline_note_not_an_opt_in(deliver):
    contact = ContactFactory(phone=None, wa_id=None, user_id=USER_ID)
    deliver(preferences_body(item("resume", user_id=USER_ID)))
    assert ActivityLogEntry.objects.filter(
        action="whatsapp.user_preferences.resume", object_id=str(contact.pk)
    ).exists()
    assert not ConsentEvent.objects.exists()


@pytest.mark.parametrize(
    "bad",
    [
        {"value": "stop"},  # names nobody
        {"value": "stop", "wa_id": "", "user_id": ""},
        {"value": "stop", "user_id": {"id": USER_ID}},  # not a string
        {"value": "stop", "user_id": ["x"]},
        {"value": "stop", "user_id": "U" * 129},  # longer than any user id: not cut to fit someone
        {"value": "stop", "wa_id": "4" * 33},
        {"value": "", "user_id": USER_ID},
        {"value": None, "user_id": USER_ID},
        "stop",
        None,
    ],
)
def test_items_that_name_nobody_or_nothing_are_skipped_and_the_event_processed(deliver, bad):
    body = preferences_body(bad, item(user_id="DE.other"))
    deliver(body)
    assert WebhookEvent.objects.get().outcome == WebhookOutcome.PROCESSED
    # Only the good item beside the bad one made a contact and an event.
    assert list(Contact.objects.values_list("user_id", flat=True)) == ["DE.other"]
    assert ConsentEvent.objects.count() == 1
