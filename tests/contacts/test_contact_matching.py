"""The contact matcher: one person found by any form of their number, their wa_id or user id,
following merges; find-or-create for WhatsApp that never implies consent and merges duplicates."""
# ruff: noqa: F811 (the deliver fixture is imported, then named as a test argument)

import pytest

from contacts import matching
from contacts.matching import (
    contact_adopt_wa_id,
    contact_find_or_create,
    contact_identity_changed,
    contact_match,
    contact_matches,
)
from contacts.merging import contact_merge, contact_merge_preview
from contacts.models import ActivityLogEntry, ConsentEvent, ConsentSource, ConsentStatus, Contact, Purpose
from core.actors import Actor
from core.errors import ApplicationError
from messaging.sending.rules import recipient_address
from tests.factories import ContactFactory, opt_in, opt_out
from tests.locks import someone_waits_on_a_lock
from tests.messaging.test_user_preferences import USER_ID, WA_ID, item, preferences_body
from tests.messaging.webhook_bodies import deliver, text_message  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


def status_of(contact, purpose=Purpose.MARKETING):
    current = contact.consents.filter(purpose=purpose).first()
    return current.status if current else None


# --- Matching --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stored,lookup",
    [
        ({"phone": "+5521987654321"}, {"wa_id": "552187654321"}),  # Meta's wa_id drops the 9
        ({"phone": "+5521987654321"}, {"phone": "+552187654321"}),
        ({"wa_id": "552187654321", "phone": None}, {"phone": "+5521987654321"}),
        ({"phone": "+525512345678"}, {"wa_id": "5215512345678"}),  # Meta's wa_id keeps the 1
        ({"wa_id": "5215512345678", "phone": None}, {"phone": "+52 55 1234 5678"}),
        ({"phone": "+4915123456789"}, {"wa_id": "4915123456789"}),
        ({"phone": None, "user_id": "BR.1234567890"}, {"user_id": "BR.1234567890"}),
    ],
)
def test_a_person_is_found_by_any_form_of_their_identity(stored, lookup):
    person = ContactFactory(**stored)
    ContactFactory(phone="+4915100000001")  # someone else
    assert contact_match(**lookup) == person


def test_a_number_typed_as_people_write_it_finds_the_wa_id_row(settings):
    settings.PHONE_DEFAULT_REGION = "BR"
    person = ContactFactory(wa_id="552187654321", phone=None)
    assert contact_match(phone="(21) 98765-4321 ") == person


def test_a_brazilian_landline_is_not_taken_for_a_mobile_with_a_nine_in_front():
    ContactFactory(phone="+552133334444")
    assert contact_match(phone="+5521933334444") is None


@pytest.mark.parametrize(
    "lookup",
    [{}, {"phone": ""}, {"phone": "not a number"}, {"wa_id": ""}, {"user_id": "   "}, {"wa_id": "abc"}],
)
def test_nothing_or_junk_matches_nobody(lookup):
    ContactFactory(phone="+4915123456789")
    assert contact_match(**lookup) is None


def test_a_merged_away_row_is_found_by_its_identifiers_and_leads_to_the_survivor():
    survivor = ContactFactory(phone="+5521987654321")
    merged = ContactFactory(phone=None, wa_id="552187654321", user_id="BR.1")
    contact_merge(survivor=survivor, merged=merged, actor=SYSTEM, reason="one person")
    assert contact_match(wa_id="552187654321") == survivor
    assert contact_match(user_id="BR.1") == survivor
    assert contact_matches(wa_id="552187654321", phone="+5521987654321") == [survivor]


def test_the_strongest_identifier_comes_first_when_rows_disagree():
    by_phone = ContactFactory(phone="+5521987654321")
    by_wa_id = ContactFactory(phone=None, wa_id="552187654321")
    by_user_id = ContactFactory(phone=None, user_id="BR.1")
    found = contact_matches(wa_id="552187654321", user_id="BR.1")
    assert found == [by_user_id, by_wa_id, by_phone]


# --- Find or create, for WhatsApp ------------------------------------------------------------


def test_an_unknown_person_is_created_with_the_number_as_dialled_and_no_consent():
    contact = contact_find_or_create(wa_id="552187654321", profile_name="Ana", actor=SYSTEM)
    assert (contact.phone, contact.wa_id, contact.whatsapp_profile_name) == (
        "+5521987654321",
        "552187654321",
        "Ana",
    )
    assert not ConsentEvent.objects.exists()
    assert ActivityLogEntry.objects.filter(action="contact.created_from_whatsapp").count() == 1


def test_a_wa_id_without_the_ninth_digit_finds_the_dialled_contact_and_is_kept_on_it():
    dialled = ContactFactory(phone="+5521987654321")
    assert contact_find_or_create(wa_id="552187654321", profile_name="Ana", actor=SYSTEM) == dialled
    dialled.refresh_from_db()
    assert dialled.wa_id == "552187654321" and dialled.whatsapp_profile_name == "Ana"
    assert Contact.objects.count() == 1


def test_one_identity_matching_two_live_rows_merges_them_into_the_older_one():
    dialled = ContactFactory(phone="+5521987654321")  # imported first
    opt_in(dialled)
    from_stop = ContactFactory(phone=None, wa_id="552187654321")  # created by a STOP, before matching
    opt_out(from_stop, source=ConsentSource.KEYWORD)
    assert contact_find_or_create(wa_id="552187654321", actor=SYSTEM) == dialled
    from_stop.refresh_from_db()
    assert from_stop.merged_into == dialled
    assert status_of(dialled) == ConsentStatus.OPTED_OUT
    entry = ActivityLogEntry.objects.get(action="contact.merged")
    assert entry.details["merged_contact_id"] == from_stop.pk
    assert "552187654321" in entry.details["reason"]


def test_identifiers_a_merged_away_row_holds_are_not_copied_to_the_survivor():
    survivor = ContactFactory(phone="+5521987654321")
    merged = ContactFactory(phone=None, wa_id="552187654321", user_id="BR.1")
    contact_merge(survivor=survivor, merged=merged, actor=SYSTEM, reason="one person")
    assert contact_find_or_create(wa_id="552187654321", user_id="BR.1", actor=SYSTEM) == survivor
    survivor.refresh_from_db()
    assert survivor.wa_id is None and survivor.user_id is None


def test_a_contact_created_meanwhile_by_another_worker_is_found_not_duplicated(monkeypatch):
    # The first look finds nobody; by the time this worker saves, another one has created the row.
    other_worker = {}
    real_matches = matching.contact_matches

    def nobody_yet(**kwargs):
        if not other_worker:
            other_worker["contact"] = ContactFactory(phone="+4917612345678", wa_id="4917612345678")
            return []
        return real_matches(**kwargs)

    monkeypatch.setattr(matching, "contact_matches", nobody_yet)
    contact = contact_find_or_create(wa_id="4917612345678", actor=SYSTEM)
    assert contact == other_worker["contact"]
    assert Contact.objects.count() == 1


def test_identifiers_no_contact_can_hold_create_nothing():
    assert contact_find_or_create(wa_id="", user_id="", actor=SYSTEM) is None
    assert contact_find_or_create(wa_id="x" * 40, actor=SYSTEM) is None
    assert not Contact.objects.exists()


def test_a_person_known_by_wa_id_gets_the_number_it_stands_for():
    contact = ContactFactory(phone=None, wa_id=None, user_id="BR.1")
    assert contact_find_or_create(wa_id="552187654321", user_id="BR.1", actor=SYSTEM) == contact
    contact.refresh_from_db()
    assert (contact.phone, contact.wa_id) == ("+5521987654321", "552187654321")
    assert contact_match(phone="+5521987654321") == contact


def test_the_number_is_not_filled_in_when_another_row_holds_any_form_of_it():
    contact = ContactFactory(phone=None, wa_id="552187654321", user_id="BR.1")
    merged = ContactFactory(phone="+5521987654321", user_id="BR.old")
    contact_merge(survivor=contact, merged=merged, actor=SYSTEM, reason="one person")
    contact_find_or_create(wa_id="552187654321", user_id="BR.1", actor=SYSTEM)
    contact.refresh_from_db()
    assert contact.phone is None  # the merged-away row keeps it, and the matcher follows it here


# --- Which row survives: one the person can be reached at -------------------------------------


def test_when_the_system_merges_the_row_with_a_number_survives_even_if_younger():
    known_by_user_id = ContactFactory(phone=None, wa_id=None, user_id=USER_ID)  # the older row
    by_wa_id = ContactFactory(phone=None, wa_id=WA_ID)
    survivor = contact_find_or_create(wa_id=WA_ID, user_id=USER_ID, actor=SYSTEM)
    assert survivor == by_wa_id
    assert Contact.objects.get(pk=known_by_user_id.pk).merged_into == by_wa_id
    assert survivor.wa_id == WA_ID and recipient_address(survivor)


def test_a_stop_tying_a_user_id_row_to_a_wa_id_row_leaves_the_person_reachable(deliver):
    deliver(preferences_body(item("resume", user_id=USER_ID)))  # Meta names them by user id only
    deliver(text_message("hello", wa_id=WA_ID))  # a message naming the wa_id only: a row of its own
    deliver(text_message("STOP", wa_id=WA_ID, user_id=USER_ID))  # one message ties both: merged
    person = Contact.objects.get(merged_into__isnull=True)
    assert person.wa_id == WA_ID and recipient_address(person)
    assert status_of(person) == ConsentStatus.OPTED_OUT


def test_a_survivor_without_a_number_takes_the_merged_rows_number():
    staff_chose = ContactFactory(phone=None, wa_id=None, user_id="BR.new")
    numbered = ContactFactory(phone="+5521987654321", wa_id="552187654321", user_id="BR.old")
    contact_merge(survivor=staff_chose, merged=numbered, actor=SYSTEM, reason="one person")
    staff_chose.refresh_from_db()
    numbered.refresh_from_db()
    assert (staff_chose.phone, staff_chose.wa_id) == ("+5521987654321", "552187654321")
    assert (numbered.phone, numbered.wa_id, numbered.user_id) == (None, None, "BR.old")
    entry = ActivityLogEntry.objects.get(action="contact.merged")
    assert entry.details["address_moved_to_survivor"] == ["phone", "wa_id"]
    assert entry.details["merged_identifiers"]["phone"] == "+5521987654321"
    assert contact_match(phone="+5521987654321") == staff_chose


def test_a_changed_user_id_held_by_a_row_without_a_number_gives_that_row_the_number():
    known = ContactFactory(phone="+4915112345678", wa_id="4915112345678", user_id="DE.1")
    holder = ContactFactory(phone=None, wa_id=None, user_id="DE.2")
    survivor = contact_identity_changed(old_user_id="DE.1", new_user_id="DE.2", actor=SYSTEM, evidence={})
    assert survivor == holder
    holder.refresh_from_db()
    assert (holder.phone, holder.wa_id, holder.user_id) == ("+4915112345678", "4915112345678", "DE.2")
    assert Contact.objects.get(pk=known.pk).merged_into == holder


def test_a_merge_that_would_leave_the_person_without_a_number_is_refused():
    known_by_user_id = ContactFactory(phone=None, wa_id=None, user_id="BR.1")
    numbered = ContactFactory(phone="+4915112345678")  # nothing else to keep if its number moved
    for attempt in (contact_merge, contact_merge_preview):
        kwargs = {"survivor": known_by_user_id, "merged": numbered}
        if attempt is contact_merge:
            kwargs.update(actor=SYSTEM, reason="one person")
        with pytest.raises(ApplicationError) as exc:
            attempt(**kwargs)
        assert exc.value.code == "merge_survivor_without_address"
        assert f"keep {numbered} (#{numbered.pk}) instead" in exc.value.message
    assert Contact.objects.get(pk=numbered.pk).merged_into is None


# --- The wa_id Meta reports for a send ------------------------------------------------------


def test_the_wa_id_meta_reports_for_a_send_is_kept():
    contact = ContactFactory(phone="+5521987654321")
    assert contact_adopt_wa_id(contact=contact, wa_id="552187654321", actor=SYSTEM) == contact
    contact.refresh_from_db()
    assert contact.wa_id == "552187654321"


def test_a_send_revealing_that_two_live_rows_are_one_account_merges_them():
    dialled = ContactFactory(phone="+5521987654321")
    opt_in(dialled)
    holder = ContactFactory(phone=None, wa_id="552187654321")
    opt_out(holder, source=ConsentSource.KEYWORD)
    survivor = contact_adopt_wa_id(contact=dialled, wa_id="552187654321", actor=SYSTEM)
    assert survivor == dialled
    assert Contact.objects.get(pk=holder.pk).merged_into == dialled
    assert status_of(dialled) == ConsentStatus.OPTED_OUT


def test_a_wa_id_held_by_a_row_merged_into_the_contact_changes_nothing():
    survivor = ContactFactory(phone="+5521987654321")
    merged = ContactFactory(phone=None, wa_id="552187654321")
    contact_merge(survivor=survivor, merged=merged, actor=SYSTEM, reason="one person")
    logged = ActivityLogEntry.objects.count()
    assert contact_adopt_wa_id(contact=survivor, wa_id="552187654321", actor=SYSTEM) == survivor
    assert ActivityLogEntry.objects.count() == logged


def test_a_batch_of_answers_gives_each_new_contact_its_wa_id_in_a_constant_number_of_queries(
    django_assert_max_num_queries,
):
    contacts = [ContactFactory(phone=f"+4915190000{n:03d}") for n in range(30)]
    spans = {c.pk: (c.zone_earliest, c.zone_latest) for c in contacts}
    with django_assert_max_num_queries(5):  # who holds them; a savepoint round the UPDATE and the spans read
        matching.contacts_adopt_wa_ids([(c, c.phone[1:]) for c in contacts], actor=SYSTEM)
    for contact in Contact.objects.filter(pk__in=spans):
        assert contact.wa_id == contact.phone[1:]
        assert (contact.zone_earliest, contact.zone_latest) == spans[contact.pk]  # placed by phone


def test_a_contact_known_only_by_user_id_is_placed_by_the_wa_id_it_is_given():
    contact = ContactFactory(phone=None, user_id="DE.8815", time_zone="")
    assert (contact.zone_earliest, contact.zone_latest) == ("", "")
    matching.contacts_adopt_wa_ids([(contact, "4915112345678")], actor=SYSTEM)
    contact.refresh_from_db()
    assert contact.wa_id == "4915112345678"
    assert contact.zone_earliest == contact.zone_latest != ""


def test_a_batch_of_answers_merges_a_contact_whose_wa_id_another_row_holds():
    dialled, other = ContactFactory(phone="+5521987654321"), ContactFactory()
    holder = ContactFactory(phone=None, wa_id="552187654321")
    opt_out(holder, source=ConsentSource.KEYWORD)
    matching.contacts_adopt_wa_ids([(dialled, "552187654321"), (other, other.phone[1:])], actor=SYSTEM)
    assert Contact.objects.get(pk=holder.pk).merged_into == dialled
    assert status_of(dialled) == ConsentStatus.OPTED_OUT
    assert Contact.objects.get(pk=other.pk).wa_id == other.phone[1:]


def test_a_wa_id_given_meanwhile_is_not_overwritten_by_a_batch_of_answers():
    """The row in memory has no wa_id; another writer gave it one since: the merge rules decide."""
    contact = ContactFactory(phone="+5521987654321")
    Contact.objects.filter(pk=contact.pk).update(wa_id="5521987654321")
    matching.contacts_adopt_wa_ids([(contact, "552187654321")], actor=SYSTEM)
    assert Contact.objects.get(pk=contact.pk).wa_id == "552187654321"  # Meta's answer, kept by the rules
    assert Contact.objects.filter(merged_into__isnull=True, phone="+5521987654321").count() == 1


# --- Two workers at once (PostgreSQL: real row locks) ------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_merging_the_same_pair_at_once_merge_it_once():
    """One worker merges; the other, which saw both rows live, waits on the lock and then finds the
    pair merged: it takes the survivor instead of failing or merging twice."""
    import threading

    from django.db import connection, transaction

    from tests.sandbox import wait_until

    older = ContactFactory(phone="+5521987654321")
    opt_in(older)
    newer = ContactFactory(phone=None, wa_id="552187654321")
    opt_out(newer, source=ConsentSource.KEYWORD)
    merged, release, found = threading.Event(), threading.Event(), {}

    def first_worker():
        try:
            with transaction.atomic():
                contact_merge(survivor=older, merged=newer, actor=SYSTEM, reason="first worker")
                merged.set()
                release.wait(10)
        finally:
            connection.close()

    def second_worker():
        try:
            with transaction.atomic():
                found["contact"] = contact_find_or_create(wa_id="552187654321", actor=SYSTEM)
        finally:
            connection.close()

    first = threading.Thread(target=first_worker)
    first.start()
    assert merged.wait(10)
    second = threading.Thread(target=second_worker)
    second.start()

    try:
        wait_until(someone_waits_on_a_lock, timeout=10)
    finally:
        release.set()
        first.join(10)
        second.join(10)
    assert found["contact"] == older
    assert ActivityLogEntry.objects.filter(action="contact.merged").count() == 1
    assert ConsentEvent.objects.filter(contact=older, source=ConsentSource.MERGE).count() == 1
    assert status_of(older) == ConsentStatus.OPTED_OUT
