"""Each contact's zone span (contacts/zones.py): how it is computed, and that every write path
that changes a phone, a WhatsApp id or a time zone leaves it right in the database."""

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from contacts.identity import contact_change_phone
from contacts.imports.applying import apply_chunk, import_confirm
from contacts.imports.services import import_set_mapping, import_upload
from contacts.imports.staging import stage_all
from contacts.imports.validation import validate_import
from contacts.matching import contact_adopt_wa_id, contact_find_or_create, contact_identity_changed
from contacts.merging import contact_merge
from contacts.models import Contact, ImportRow, ImportStatus
from contacts.phones import InvalidPhoneNumber, parse_phone_forms, time_zones_for_phone
from contacts.zones import number_span, refresh_zone_spans, span_of, zone_span
from core.actors import Actor
from tests.factories import ContactFactory, opt_in

SYSTEM = Actor.system("tests")
WINTER = datetime(2025, 1, 15, 12, tzinfo=UTC)
NEW_YORK = "+12125550123"  # a Manhattan landline: one zone
BERLIN = "+4915112345678"


def offset(zone: str):
    return WINTER.astimezone(ZoneInfo(zone)).utcoffset()


def stored_span(contact) -> tuple[str, str]:
    return tuple(Contact.objects.filter(pk=contact.pk).values_list("zone_earliest", "zone_latest").get())


# --- Computing the span --------------------------------------------------------------------------


def test_the_span_runs_from_the_largest_utc_offset_to_the_smallest():
    assert span_of(["America/Los_Angeles", "Pacific/Honolulu", "America/New_York"]) == (
        "America/New_York",
        "Pacific/Honolulu",
    )
    assert span_of(["Europe/Berlin"]) == ("Europe/Berlin", "Europe/Berlin")
    # Zones with one offset are ordered by name, so a number always gives the same pair.
    assert span_of(["Europe/Paris", "Europe/Berlin"]) == ("Europe/Paris", "Europe/Berlin")
    assert span_of(["", "Not/AZone"]) == ("", "")
    assert span_of([]) == ("", "")


def test_a_number_that_spans_north_america_runs_from_its_east_to_its_west():
    toll_free = "+18005550199"  # not tied to a place: every zone of +1
    zones = time_zones_for_phone(toll_free)
    earliest, latest = zone_span(phone=toll_free, wa_id=None, time_zone=None)
    assert offset(earliest) == max(offset(zone) for zone in zones)
    assert offset(latest) == min(offset(zone) for zone in zones)
    assert offset(earliest) > offset("America/New_York")
    assert offset(latest) <= offset("Pacific/Honolulu")
    assert zone_span(phone=NEW_YORK, wa_id=None, time_zone=None) == ("America/New_York", "America/New_York")


def test_a_german_number_is_berlin_at_both_ends():
    assert zone_span(phone=BERLIN, wa_id=None, time_zone=None) == ("Europe/Berlin", "Europe/Berlin")


def test_the_contacts_own_time_zone_wins_over_its_number():
    assert zone_span(phone=NEW_YORK, wa_id="12125550123", time_zone="Asia/Tokyo") == (
        "Asia/Tokyo",
        "Asia/Tokyo",
    )


def test_a_whatsapp_id_alone_places_the_contact_in_any_of_its_forms():
    assert zone_span(phone=None, wa_id="4915112345678", time_zone=None) == ("Europe/Berlin", "Europe/Berlin")
    # Meta's form of an older Brazilian mobile lacks the ninth digit: not a valid number itself.
    assert zone_span(phone=None, wa_id="551187654321", time_zone=None) == (
        "America/Sao_Paulo",
        "America/Sao_Paulo",
    )


def test_nothing_known_is_no_span():
    assert zone_span(phone=None, wa_id=None, time_zone=None) == ("", "")
    assert zone_span(phone=None, wa_id="not a number", time_zone="") == ("", "")


def test_the_span_of_a_parsed_number_and_its_type_is_the_numbers_span():
    """``number_span`` (the type the import's parse found, no second look-up) agrees with
    ``zone_span`` over numbers of every kind, in countries of one zone and of many."""
    rng = random.Random(5)
    prefixes = ["+1", "+7", "+34", "+39", "+44", "+49", "+52", "+55", "+61", "+62", "+351", "+800", "+262"]
    checked = 0
    for _ in range(4000):
        text = rng.choice(prefixes) + "".join(str(rng.randint(0, 9)) for _ in range(rng.randint(7, 11)))
        try:
            number, e164, _, kind = parse_phone_forms(text)
        except InvalidPhoneNumber:
            continue
        assert number_span(number, e164, kind) == zone_span(phone=e164, wa_id=None, time_zone=None), e164
        checked += 1
    assert checked > 500


# --- Contact.save ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_saving_a_contact_stores_its_span_and_update_fields_carry_it():
    contact = ContactFactory(phone=BERLIN)
    assert stored_span(contact) == ("Europe/Berlin", "Europe/Berlin")
    contact.time_zone = "America/New_York"
    contact.save(update_fields=["time_zone"])
    assert stored_span(contact) == ("America/New_York", "America/New_York")
    contact.phone, contact.time_zone = NEW_YORK, ""
    contact.save(update_fields=["phone", "time_zone"])
    assert stored_span(contact) == ("America/New_York", "America/New_York")
    contact.first_name = "Renamed"
    contact.save(update_fields=["first_name"])  # no identifier written: the span is not either
    assert stored_span(contact) == ("America/New_York", "America/New_York")


@pytest.mark.django_db
def test_refreshing_spans_writes_only_the_ones_that_moved():
    right = ContactFactory(phone=BERLIN)
    wrong = ContactFactory(phone=NEW_YORK)
    Contact.objects.filter(pk=wrong.pk).update(zone_earliest="", zone_latest="")
    assert refresh_zone_spans([right.pk, wrong.pk]) == 1
    assert stored_span(wrong) == ("America/New_York", "America/New_York")


# --- Every write path ------------------------------------------------------------------------------


def _import(user, text: str, columns: list[dict]):
    """``text`` (a CSV) uploaded, mapped with ``columns``, staged, validated, confirmed, applied."""
    actor = Actor.for_user(user)
    contact_import = import_upload(file_name="zones.csv", data=text.encode(), kind="contacts", actor=actor)
    import_set_mapping(
        contact_import=contact_import, mapping={"columns": columns, "region": "DE"}, actor=actor
    )
    stage_all(contact_import=contact_import)
    validate_import(contact_import=contact_import)
    import_confirm(contact_import=contact_import, actor=actor, user=user)
    while not apply_chunk(contact_import=contact_import):
        pass
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.APPLIED
    return contact_import


PHONE_AND_ZONE = [{"column": 0, "field": "phone"}, {"column": 1, "field": "time_zone", "blank": "clear"}]


@pytest.mark.django_db
def test_an_import_writes_the_span_of_each_new_contact(editor):
    _import(editor, f"phone,time_zone\n{NEW_YORK},\n+18005550199,\n{BERLIN},Asia/Tokyo\n", PHONE_AND_ZONE)
    for phone in (NEW_YORK, "+18005550199", BERLIN):
        contact = Contact.objects.get(phone=phone)
        assert stored_span(contact) == zone_span(phone=phone, wa_id=None, time_zone=contact.time_zone)
        assert stored_span(contact) != ("", "")
    assert stored_span(Contact.objects.get(phone=BERLIN)) == ("Asia/Tokyo", "Asia/Tokyo")
    staged = ImportRow.objects.get(phone=NEW_YORK)
    assert (staged.zone_earliest, staged.zone_latest) == ("America/New_York", "America/New_York")


@pytest.mark.django_db
def test_an_import_that_sets_or_clears_a_time_zone_moves_the_span(editor):
    given = ContactFactory(phone=BERLIN)
    cleared = ContactFactory(phone=NEW_YORK, time_zone="Asia/Tokyo")
    kept = ContactFactory(phone="+4915199999999", time_zone="Asia/Tokyo")
    _import(
        editor,
        f"phone,time_zone\n{BERLIN},America/Los_Angeles\n{NEW_YORK},\n+4915199999999,Asia/Tokyo\n",
        PHONE_AND_ZONE,
    )
    assert stored_span(given) == ("America/Los_Angeles", "America/Los_Angeles")
    assert stored_span(cleared) == ("America/New_York", "America/New_York")  # its number's again
    assert stored_span(kept) == ("Asia/Tokyo", "Asia/Tokyo")


@pytest.mark.django_db
def test_an_import_that_does_not_touch_the_time_zone_keeps_the_span(editor):
    known = ContactFactory(phone=NEW_YORK, time_zone="Asia/Tokyo")
    _import(
        editor,
        f"phone,first_name\n{NEW_YORK},Ann\n",
        [
            {"column": 0, "field": "phone"},
            {"column": 1, "field": "first_name"},
        ],
    )
    assert Contact.objects.get(pk=known.pk).first_name == "Ann"
    assert stored_span(known) == ("Asia/Tokyo", "Asia/Tokyo")


@pytest.mark.django_db
def test_a_merge_that_moves_the_number_or_copies_the_time_zone_moves_the_spans():
    known_by_user_id = ContactFactory(phone=None, wa_id=None, user_id="US.1")
    numbered = ContactFactory(phone=NEW_YORK, wa_id="12125550123", user_id="US.2")
    result = contact_merge(survivor=known_by_user_id, merged=numbered, actor=SYSTEM, reason="one person")
    assert stored_span(known_by_user_id) == ("America/New_York", "America/New_York")
    assert (result.survivor.zone_earliest, result.survivor.zone_latest) == stored_span(known_by_user_id)
    assert stored_span(numbered) == ("", "")  # it gave its number away

    survivor = ContactFactory(phone=BERLIN)
    zoned = ContactFactory(phone="+4915199999999", time_zone="America/Chicago")
    contact_merge(survivor=survivor, merged=zoned, actor=SYSTEM, reason="one person")
    assert Contact.objects.get(pk=survivor.pk).time_zone == "America/Chicago"
    assert stored_span(survivor) == ("America/Chicago", "America/Chicago")


@pytest.mark.django_db
def test_a_whatsapp_id_meta_reports_places_a_contact_known_without_a_number():
    contact = ContactFactory(phone=None, wa_id=None, user_id="US.3")
    assert stored_span(contact) == ("", "")
    adopted = contact_adopt_wa_id(contact=contact, wa_id="12125550123", actor=SYSTEM)
    assert stored_span(contact) == ("America/New_York", "America/New_York")
    assert (adopted.zone_earliest, adopted.zone_latest) == ("America/New_York", "America/New_York")


@pytest.mark.django_db
def test_identifiers_filled_in_from_a_message_place_the_contact():
    contact = ContactFactory(phone=None, wa_id=None, user_id="BR.1")
    found = contact_find_or_create(wa_id="551187654321", user_id="BR.1", actor=SYSTEM)
    assert found == contact
    assert Contact.objects.get(pk=contact.pk).phone == "+5511987654321"
    assert stored_span(contact) == ("America/Sao_Paulo", "America/Sao_Paulo")


@pytest.mark.django_db
def test_a_phone_change_moves_the_span(editor):
    contact = ContactFactory(phone=BERLIN)
    contact_change_phone(contact=contact, phone=NEW_YORK, actor=Actor.for_user(editor))
    assert stored_span(contact) == ("America/New_York", "America/New_York")
    assert (contact.zone_earliest, contact.zone_latest) == ("America/New_York", "America/New_York")


@pytest.mark.django_db
def test_a_number_given_to_someone_else_takes_its_span_along():
    person = ContactFactory(phone=BERLIN, wa_id="4915112345678")
    previous_owner = ContactFactory(phone=NEW_YORK, wa_id="12125550123")
    opt_in(previous_owner)
    contact_identity_changed(
        old_wa_id="4915112345678", new_wa_id="12125550123", actor=SYSTEM, evidence={"test": True}
    )
    previous_owner.refresh_from_db()
    assert (previous_owner.phone, previous_owner.wa_id) == (None, None)
    assert stored_span(previous_owner) == ("", "")
    assert stored_span(person) == ("America/New_York", "America/New_York")
