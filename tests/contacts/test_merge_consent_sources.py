"""The import rule inside the order rule: an import opt-in never decides after an opt-out the person
made on WhatsApp — also when either event reached the contact through a merge, which keeps the
original's source on its copy (``ConsentEvent.carried_source``)."""
# ruff: noqa: F811 (the deliver fixture is imported, then named as a test argument)

import time
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from contacts.merging import contact_merge, contact_merge_preview
from contacts.models import ConsentAction, ConsentEvent, ConsentSource, ConsentStatus, Contact, Purpose
from contacts.selectors import consent_status, current_consent, deciding_event
from contacts.services import record_consent
from core.actors import Actor
from core.errors import ApplicationError
from tests.factories import ContactFactory, opt_in, opt_out
from tests.messaging.test_user_preferences import USER_ID, WA_ID, item, preferences_body
from tests.messaging.webhook_bodies import deliver, text_message  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


def ago(**kwargs):
    return timezone.now() - timedelta(**kwargs)


def status(contact, purpose=Purpose.MARKETING):
    current = current_consent(contact=contact, purpose=purpose)
    return current.status if current else None


def merge(survivor, merged):
    return contact_merge(survivor=survivor, merged=merged, actor=SYSTEM, reason="Same person")


def test_an_import_on_the_persons_other_row_does_not_reverse_their_whatsapp_stop_when_the_matcher_merges(
    deliver,
):
    # Yesterday the person stopped marketing in WhatsApp; Meta named them by user id only.
    deliver(preferences_body(item("stop", user_id=USER_ID, timestamp=str(int(time.time()) - 86400))))
    # Today an import (one date for the whole file) creates a row for their number and opts it in.
    imported = ContactFactory(phone="+" + WA_ID)
    opt_in(imported, source=ConsentSource.IMPORT, occurred_at=ago(hours=1), evidence={"file": "list.csv"})
    # They write; Meta names both identifiers; the matcher merges the two rows.
    deliver(text_message("hello", wa_id=WA_ID, user_id=USER_ID))
    person = Contact.objects.get(merged_into__isnull=True)
    assert status(person) == ConsentStatus.OPTED_OUT
    assert current_consent(contact=person, purpose=Purpose.MARKETING).event.action == ConsentAction.OPT_OUT


@pytest.mark.parametrize("stop_source", [ConsentSource.KEYWORD, ConsentSource.BUTTON])
def test_an_import_on_the_survivor_does_not_outvote_a_whatsapp_stop_carried_over(stop_source):
    survivor, other = ContactFactory(), ContactFactory()
    opt_out(other, source=stop_source, occurred_at=ago(days=2))
    opt_in(survivor, source=ConsentSource.IMPORT, occurred_at=ago(days=1))
    merge(survivor, other)
    assert status(survivor) == ConsentStatus.OPTED_OUT


def test_a_carried_import_does_not_outvote_a_whatsapp_stop_on_the_survivor():
    survivor, other = ContactFactory(), ContactFactory()
    opt_out(survivor, source=ConsentSource.WHATSAPP_SIGNAL, occurred_at=ago(days=2))
    opt_in(other, source=ConsentSource.IMPORT, occurred_at=ago(days=1))
    merge(survivor, other)
    assert status(survivor) == ConsentStatus.OPTED_OUT


def test_a_copy_keeps_the_original_source_through_a_chain_of_merges():
    first, second, third = ContactFactory(), ContactFactory(), ContactFactory()
    stop = opt_out(first, source=ConsentSource.KEYWORD, occurred_at=ago(days=3))
    merge(second, first)
    merge(third, second)
    copy = ConsentEvent.objects.get(contact=third)
    assert (copy.source, copy.carried_source) == (ConsentSource.MERGE, ConsentSource.KEYWORD)
    assert copy.evidence["original_event_id"] != stop.pk  # a copy of the copy, still a keyword STOP
    assert status(third) == ConsentStatus.OPTED_OUT
    with pytest.raises(ApplicationError) as exc:
        opt_in(third, source=ConsentSource.IMPORT, occurred_at=ago(hours=1), evidence={"file": "x.csv"})
    assert exc.value.code == "opt_in_import_after_whatsapp_opt_out"


def test_the_person_opting_in_again_themselves_counts_after_a_carried_stop():
    survivor, other = ContactFactory(), ContactFactory()
    opt_out(other, source=ConsentSource.KEYWORD, occurred_at=ago(days=3))
    merge(survivor, other)
    start = opt_in(survivor, source=ConsentSource.KEYWORD, occurred_at=ago(days=1))
    assert current_consent(contact=survivor, purpose=Purpose.MARKETING).event == start


def test_an_import_still_counts_after_an_opt_out_staff_recorded():
    survivor, other = ContactFactory(), ContactFactory()
    opt_out(other, source=ConsentSource.STAFF, occurred_at=ago(days=3))
    imported = opt_in(survivor, source=ConsentSource.IMPORT, occurred_at=ago(days=1))
    merge(survivor, other)
    assert current_consent(contact=survivor, purpose=Purpose.MARKETING).event == imported


def test_what_was_known_before_the_stop_was_recorded_still_reads_as_it_did():
    contact = ContactFactory()
    imported = opt_in(contact, source=ConsentSource.IMPORT, occurred_at=ago(days=3))
    before_the_stop = timezone.now()
    opt_out(contact, source=ConsentSource.KEYWORD, occurred_at=ago(days=5))  # back-dated, recorded now
    assert deciding_event(contact=contact, purpose=Purpose.MARKETING, at=before_the_stop) == imported
    assert consent_status(deciding_event(contact=contact, purpose=Purpose.MARKETING)) == (
        ConsentStatus.OPTED_OUT
    )


def test_the_preview_predicts_the_import_rule():
    survivor, other = ContactFactory(), ContactFactory()
    opt_out(other, source=ConsentSource.BUTTON, occurred_at=ago(days=2))
    opt_in(survivor, source=ConsentSource.IMPORT, occurred_at=ago(days=1))
    marketing = next(
        line
        for line in contact_merge_preview(survivor=survivor, merged=other).consent
        if line.purpose == Purpose.MARKETING
    )
    assert (marketing.survivor, marketing.after) == (ConsentStatus.OPTED_IN, ConsentStatus.OPTED_OUT)
    merge(survivor, other)
    assert status(survivor) == marketing.after


def test_only_a_merge_copy_names_a_carried_source(contact):
    with pytest.raises(ApplicationError) as exc:
        record_consent(
            contact=contact,
            purpose=Purpose.MARKETING,
            action=ConsentAction.OPT_OUT,
            source=ConsentSource.STAFF,
            carried_source=ConsentSource.KEYWORD,
            actor=SYSTEM,
        )
    assert (exc.value.code, exc.value.field) == ("invalid_carried_source", "carried_source")
    assert not ConsentEvent.objects.exists()


@pytest.mark.parametrize(
    "source,carried_source",
    [(ConsentSource.IMPORT, ConsentSource.KEYWORD), (ConsentSource.MERGE, ConsentSource.MERGE)],
)
def test_the_database_refuses_a_carried_source_on_anything_but_a_merge_copy(contact, source, carried_source):
    with pytest.raises(IntegrityError), transaction.atomic():
        ConsentEvent.objects.create(
            contact=contact,
            purpose=Purpose.MARKETING,
            action=ConsentAction.OPT_OUT,
            source=source,
            carried_source=carried_source,
            occurred_at=timezone.now(),
            actor_kind="system",
            actor_label="tests",
        )


def test_the_contact_page_shows_the_source_a_copy_carries(client_for, editor):
    survivor, other = ContactFactory(), ContactFactory()
    opt_out(other, source=ConsentSource.KEYWORD, occurred_at=ago(days=2))
    merge(survivor, other)
    page = client_for(editor).get(reverse("admin:contacts_contact_change", args=[survivor.pk]))
    assert "Carried over in a merge: WhatsApp keyword" in page.content.decode()


def test_a_merge_copy_from_before_carried_source_still_counts_as_what_it_was():
    """Copies made before the column name their original's source only in the evidence."""
    from contacts.selectors import origin_of

    contact = ContactFactory()
    opt_out(contact, occurred_at=timezone.now() - timedelta(days=2), source=ConsentSource.KEYWORD)
    legacy_copy = record_consent(
        contact=contact,
        purpose=Purpose.MARKETING,
        action=ConsentAction.OPT_IN,
        source=ConsentSource.MERGE,
        actor=SYSTEM,
        occurred_at=timezone.now() - timedelta(days=1),
        wording_text="Imported",
        evidence={"original_source": ConsentSource.IMPORT, "original_event_id": 1},
        signal_key="merge:legacy",
    )
    assert origin_of(legacy_copy) == ConsentSource.IMPORT
    assert current_consent(contact=contact, purpose=Purpose.MARKETING).status == ConsentStatus.OPTED_OUT
