"""Validation in SQL: duplicates, matching to contacts, the diff, the opting-back-in rule, counts."""

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from contacts.imports.applying import apply_chunk, import_confirm
from contacts.imports.validation import applied_rows, diff_rows, judge_opt_ins, match_rows, validate_import
from contacts.merging import contact_merge
from contacts.models import (
    AttributeDefinition,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Contact,
    ContactImport,
    CurrentConsent,
    ImportRow,
    ImportStatus,
    Purpose,
    Tag,
)
from contacts.services import consent_opt_in_check, record_consent, refresh_current_consent
from core.actors import Actor
from core.errors import ApplicationError
from tests.factories import ContactFactory, ledger_event, opt_in, opt_out

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")
HEADER = ["Phone", "First name", "Newsletter", "Date"]


def rows_of(contact_import) -> dict[int, ImportRow]:
    return {row.line: row for row in ImportRow.objects.filter(contact_import=contact_import)}


@pytest.fixture
def previewed(import_for, marketing_wording):
    """Rows (without the header) imported with an opt-in column and its date column."""

    def make(*rows, header=HEADER, **changes):
        return import_for([header, *rows], wording=marketing_wording, **changes)

    return make


# --- Duplicates -------------------------------------------------------------------------------------


def test_both_forms_of_one_brazilian_number_are_one_person(previewed):
    contact_import = previewed(
        ["+55 21 98765-4321", "Ana", "", ""],
        ["+49 151 23456789", "Ben", "", ""],
        ["+55 21 8765-4321", "Ana (old number)", "", ""],
        ["5521987654321", "Ana again", "", ""],
        region="BR",
    )
    rows = rows_of(contact_import)
    assert rows[2].status == rows[3].status == "new"
    for line in (4, 5):
        assert (rows[line].status, rows[line].reason_code) == ("refused", "duplicate_in_file")
        assert rows[line].reason == "Column “Phone”: +5521987654321 is also on line 2: duplicate of line 2."
    assert contact_import.counts["refused"] == 2


def test_a_row_refused_for_its_own_cells_is_not_what_later_lines_duplicate(previewed):
    contact_import = previewed(
        ["+4915123456789", "Ana", "maybe", ""],  # refused: unknown_value
        ["+4915123456789", "Ana", "", ""],
    )
    rows = rows_of(contact_import)
    assert rows[2].reason_code == "unknown_value"
    assert rows[3].status == "new"


# --- Matching ---------------------------------------------------------------------------------------


def test_a_merged_away_contacts_number_matches_the_survivor(previewed):
    survivor = ContactFactory(phone="+4915100000001", first_name="Ana")
    merged = ContactFactory(phone="+4915100000002", first_name="Ana")
    contact_merge(survivor=survivor, merged=merged, actor=SYSTEM, reason="One person, two numbers")
    contact_import = previewed(["+4915100000002", "Ana", "", ""])
    row = rows_of(contact_import)[2]
    assert row.contact_id == survivor.pk
    assert row.status == "unchanged"


def test_a_wa_id_in_the_other_form_matches(previewed):
    contact = ContactFactory(
        phone=None, wa_id="552187654321", first_name="Ana"
    )  # Meta's form, no ninth digit
    row = rows_of(previewed(["+55 21 98765-4321", "Ana", "", ""], region="BR"))[2]
    assert row.contact_id == contact.pk


def test_two_live_contacts_for_one_number_are_ambiguous(previewed):
    by_phone = ContactFactory(phone="+5521987654321")
    by_wa_id = ContactFactory(phone=None, wa_id="552187654321")
    row = rows_of(previewed(["+55 21 98765-4321", "Ana", "", ""]))[2]
    assert (row.status, row.reason_code, row.contact_id) == ("refused", "ambiguous_match", None)
    assert f"matches 2 contacts (#{by_phone.pk} and #{by_wa_id.pk})" in row.reason
    assert "merge them first" in row.reason


def test_a_contact_that_gave_its_number_up_is_not_matched(previewed):
    ContactFactory(phone=None, wa_id="4915123456789", number_reassigned_at=timezone.now())
    row = rows_of(previewed(["+4915123456789", "Ana", "", ""]))[2]
    assert (row.status, row.contact_id) == ("new", None)


# --- One person on two lines -------------------------------------------------------------------------

PLAIN = ["Phone", "First name"]


def test_a_later_line_whose_other_number_is_the_same_contact_is_refused(previewed):
    contact = ContactFactory(phone="+4915100000001", wa_id="4915100000002", first_name="Ana")
    contact_import = previewed(
        ["+4915100000001", "Anna"], ["+4915100000003", "Ben"], ["+4915100000002", "Ann"], header=PLAIN
    )
    rows = rows_of(contact_import)
    assert (rows[2].status, rows[2].contact_id, rows[2].changes) == (
        "update",
        contact.pk,
        {"first_name": ["Ana", "Anna"]},
    )
    assert rows[3].status == "new"
    assert (rows[4].status, rows[4].reason_code, rows[4].contact_id, rows[4].changes) == (
        "refused",
        "duplicate_in_file",
        contact.pk,
        {},
    )
    assert rows[4].reason == (
        f"Column “Phone”: +4915100000002 is the same person as line 2 — both match contact #{contact.pk} "
        "(by its phone, its WhatsApp ID or a contact merged into it): duplicate of line 2."
    )
    assert contact_import.counts["refused"] == 1


def test_a_merged_away_number_and_the_survivors_are_one_person(previewed):
    survivor = ContactFactory(phone="+4915100000001")
    merged = ContactFactory(phone="+4915100000002")
    contact_merge(survivor=survivor, merged=merged, actor=SYSTEM, reason="One person, two numbers")
    rows = rows_of(previewed(["+4915100000002", "Ana"], ["+4915100000001", "Anna"], header=PLAIN))
    assert (rows[2].status, rows[2].contact_id) == ("update", survivor.pk)
    assert (rows[3].reason_code, rows[3].contact_id) == ("duplicate_in_file", survivor.pk)
    assert "same person as line 2" in rows[3].reason


def test_an_earlier_line_refused_for_its_own_cells_is_not_the_one_kept(previewed):
    ContactFactory(phone="+4915100000001", wa_id="4915100000002", first_name="Ana")
    rows = rows_of(previewed(["+4915100000001", "Ana", "maybe", ""], ["+4915100000002", "Ana", "", ""]))
    assert rows[2].reason_code == "unknown_value"
    assert rows[3].status == "unchanged"


def test_a_row_refused_as_the_same_person_stays_refused_when_applying_judges_again(previewed):
    contact = ContactFactory(phone="+4915100000001", wa_id="4915100000002")
    contact_import = previewed(["+4915100000001", "Ana"], ["+4915100000002", "Ann"], header=PLAIN)
    assert rows_of(contact_import)[3].reason_code == "duplicate_in_file"
    contact.wa_id = "4915100000009"  # the second number is nobody's any more
    contact.save(update_fields=["wa_id"])
    match_rows(contact_import, lines=(2, 3))
    judge_opt_ins(contact_import, lines=(2, 3))
    diff_rows(contact_import, lines=(2, 3))
    rows = rows_of(contact_import)
    assert (rows[2].status, rows[3].status, rows[3].reason_code) == ("update", "refused", "duplicate_in_file")


def _apply(contact_import, user):
    import_confirm(contact_import=contact_import, actor=Actor.for_user(user), user=user)
    while not apply_chunk(contact_import=contact_import):
        pass
    contact_import.refresh_from_db()


@pytest.mark.parametrize("chunk_rows", [1, 100], ids=["a chunk per row", "one chunk"])
def test_two_lines_merged_into_one_contact_after_the_preview_are_not_both_applied(
    previewed, importer, settings, chunk_rows
):
    settings.CONTACT_IMPORT_CHUNK_ROWS = chunk_rows
    ana = ContactFactory(phone="+4915100000001", first_name="Ana")
    other = ContactFactory(phone="+4915100000002", first_name="Ana")
    contact_import = previewed(
        ["+4915100000001", "Anna"], ["+4915100000003", "Ben"], ["+4915100000002", "Ann"], header=PLAIN
    )
    assert [row.status for row in rows_of(contact_import).values()] == ["update", "new", "update"]
    contact_merge(survivor=ana, merged=other, actor=SYSTEM, reason="One person, two numbers")
    _apply(contact_import, importer)
    rows = rows_of(contact_import)
    contact_import.refresh_from_db()
    assert contact_import.applied_through == 4
    assert set(applied_rows(contact_import).values_list("line", flat=True)) == {2, 3}
    assert [row.status for row in rows.values()] == ["update", "new", "refused"]
    assert rows[4].reason_code == "duplicate_in_file"
    already = ", already imported" if chunk_rows == 1 else ""
    assert f"same person as line 2{already} — both match contact #{ana.pk}" in rows[4].reason
    ana.refresh_from_db()
    assert ana.first_name == "Anna"  # the first line's value, not whichever row came last
    assert contact_import.counts["applied_rows"] == 2


def test_a_row_is_refused_when_a_contact_an_earlier_chunk_created_is_its_own(previewed, importer, settings):
    """Line 2 creates a contact; before line 3's chunk, staff merge the contact line 3 matched
    into it: line 3 is the person line 2 already wrote."""
    settings.CONTACT_IMPORT_CHUNK_ROWS = 1
    known = ContactFactory(phone="+4915100000002", first_name="Ana")
    contact_import = previewed(["+4915100000001", "Anna"], ["+4915100000002", "Ann"], header=PLAIN)
    import_confirm(contact_import=contact_import, actor=Actor.for_user(importer), user=importer)
    assert not apply_chunk(contact_import=contact_import)
    created = Contact.objects.get(phone="+4915100000001")
    contact_merge(survivor=created, merged=known, actor=SYSTEM, reason="One person, two numbers")
    while not apply_chunk(contact_import=contact_import):
        pass
    rows = rows_of(contact_import)
    contact_import.refresh_from_db()
    assert list(applied_rows(contact_import).values_list("line", "contact_id")) == [(2, created.pk)]
    assert (rows[3].status, rows[3].reason_code) == ("refused", "duplicate_in_file")
    assert f"same person as line 2, already imported — both match contact #{created.pk}" in rows[3].reason
    created.refresh_from_db()
    assert created.first_name == "Anna"


# --- The diff -----------------------------------------------------------------------------------------


def test_the_diff_names_each_changed_field_with_old_and_new(import_for):
    contact = ContactFactory(
        phone="+4915123456789",
        first_name="Old",
        last_name="Name",
        language="de",
        country="DE",
        time_zone="Europe/Berlin",
        attributes={"orders": 2, "card": "A-1", "vip": True},
    )
    contact.tags.add(Tag.objects.create(name="VIP"), Tag.objects.create(name="Berlin"))
    AttributeDefinition.objects.create(key="orders", type="number")
    twin = ContactFactory(phone="+4915198765432", first_name="Same", language="", attributes={"orders": 5})
    header = ["Phone", "First name", "Last name", "Language", "Country", "Orders", "Card", "Tags"]
    mapping = import_for([header, ["+4915100000000"] + [""] * 7], until="uploaded").mapping
    mapping["columns"] = [
        {"column": 0, "field": "phone"},
        {"column": 1, "field": "first_name"},
        {"column": 2, "field": "last_name", "blank": "keep"},
        {"column": 3, "field": "language", "blank": "clear"},
        {"column": 4, "field": "country"},
        {"column": 5, "field": "attribute", "key": "orders"},
        {"column": 6, "field": "attribute", "key": "card", "blank": "clear"},
        {"column": 7, "field": "tags"},
    ]
    contact_import = import_for(
        [
            header,
            ["+4915123456789", "New", "", "", "de", "3", "", "vip, new"],
            ["+4915198765432", "Same", "", "", "DE", "5", "", "   "],
            ["+4915100000009", "Nobody", "", "", "", "", "", ""],
        ],
        mapping=mapping,
    )
    rows = rows_of(contact_import)
    assert rows[2].status == "update"
    assert rows[2].changes == {
        "first_name": ["Old", "New"],
        "language": ["de", ""],
        "attributes.orders": [2, 3],
        "attributes.card": ["A-1", None],
        "tags": [["Berlin", "VIP"], ["Berlin", "VIP", "new"]],
    }
    assert (rows[3].status, rows[3].changes, rows[3].contact_id) == ("unchanged", {}, twin.pk)
    assert (rows[4].status, rows[4].changes) == ("new", {})
    assert contact_import.counts | {} == {
        "new": 1,
        "updated": 1,
        "unchanged": 1,
        "refused": 0,
        "opt_ins": 0,
        "opt_ins_refused": 0,
        "opt_ins_already": 0,
        "opt_outs": 0,
    }


def test_clear_when_blank_empties_the_tags(import_for):
    contact = ContactFactory(phone="+4915123456789")
    contact.tags.add(Tag.objects.create(name="old"))
    contact_import = import_for(
        [["Phone", "Tags"], ["+4915123456789", ""]],
        columns=[{"column": 0, "field": "phone"}, {"column": 1, "field": "tags", "blank": "clear"}],
    )
    row = rows_of(contact_import)[2]
    assert row.changes == {"tags": [["old"], []]}
    assert row.clear == ["tags"]


# --- Opting back in -------------------------------------------------------------------------------


def keyword_stop(contact, at):
    return record_consent(
        contact=contact,
        purpose=Purpose.MARKETING,
        action=ConsentAction.OPT_OUT,
        source=ConsentSource.KEYWORD,
        actor=SYSTEM,
        occurred_at=at,
    )


def test_verdicts_after_opt_outs(previewed):
    now = timezone.now()
    earlier, later = now - timedelta(days=30), now - timedelta(days=1)
    stopped_on_whatsapp = ContactFactory(phone="+4915100000001")
    keyword_stop(stopped_on_whatsapp, earlier)
    staff_opt_out = ContactFactory(phone="+4915100000002", first_name="Old")
    opt_out(staff_opt_out, occurred_at=earlier)
    within_a_second = ContactFactory(phone="+4915100000003")
    stop = opt_out(within_a_second, occurred_at=later)
    opted_in = ContactFactory(phone="+4915100000004")
    opt_in(opted_in, occurred_at=earlier)
    after = f"{later:%Y-%m-%d %H:%M:%S}"
    contact_import = previewed(
        ["+4915100000001", "", "yes", after],
        ["+4915100000002", "New", "yes", after],
        ["+4915100000003", "", "yes", (stop.effective_at + timedelta(seconds=0.5)).isoformat()],
        ["+4915100000004", "", "yes", after],
        ["+4915100000005", "", "yes", after],
    )
    rows = rows_of(contact_import)
    verdicts = {line: row.opt_ins for line, row in rows.items()}
    assert verdicts == {
        2: {"marketing": "opt_in_import_after_whatsapp_opt_out"},
        3: {"marketing": "record"},
        4: {"marketing": "opt_in_not_after_opt_out"},
        5: {"marketing": "already_opted_in"},
        6: {"marketing": "record"},
    }
    # A refused opt-in does not refuse the row: line 2 has nothing else to change.
    assert [rows[line].status for line in range(2, 7)] == [
        "unchanged",
        "update",
        "unchanged",
        "unchanged",
        "new",
    ]
    counts = contact_import.counts
    assert (counts["opt_ins"], counts["opt_ins_refused"], counts["opt_ins_already"]) == (2, 2, 1)


def test_a_stop_a_merge_carried_over_is_never_reversed_by_an_import(previewed):
    survivor = ContactFactory(phone="+4915100000001")
    merged = ContactFactory(phone="+4915100000002")
    keyword_stop(merged, timezone.now() - timedelta(days=30))
    contact_merge(survivor=survivor, merged=merged, actor=SYSTEM, reason="One person, two numbers")
    assert ConsentEvent.objects.filter(contact=survivor, carried_source=ConsentSource.KEYWORD).exists()
    row = rows_of(previewed(["+4915100000001", "", "yes", f"{timezone.now() - timedelta(days=1):%Y-%m-%d}"]))[
        2
    ]
    assert row.opt_ins == {"marketing": "opt_in_import_after_whatsapp_opt_out"}


def test_the_files_one_date_never_overrides_an_opt_out(previewed):
    contact = ContactFactory(phone="+4915100000001")
    opt_out(contact, occurred_at=timezone.now() - timedelta(days=30))
    yesterday = f"{timezone.now() - timedelta(days=1):%Y-%m-%d}"
    contact_import = previewed(
        ["+4915100000001", "", "yes", ""], consent_date_column=None, consent_date=yesterday
    )
    assert rows_of(contact_import)[2].opt_ins == {"marketing": "opt_in_date_required"}


def test_a_stop_after_the_preview_wins_when_applying_judges_again(previewed):
    contact = ContactFactory(phone="+4915100000001")
    contact_import = previewed(
        ["+4915100000001", "", "yes", f"{timezone.now() - timedelta(days=1):%Y-%m-%d}"]
    )
    assert rows_of(contact_import)[2].opt_ins == {"marketing": "record"}
    keyword_stop(contact, timezone.now())
    judge_opt_ins(contact_import, lines=(2, 2))
    diff_rows(contact_import, lines=(2, 2))
    row = rows_of(contact_import)[2]
    assert row.opt_ins == {"marketing": "opt_in_import_after_whatsapp_opt_out"}
    assert row.status == "unchanged"


def test_a_contact_created_after_the_preview_is_matched_not_duplicated(previewed):
    contact_import = previewed(["+4915100000001", "Ana", "", ""], ["+4915100000002", "Ben", "", ""])
    assert rows_of(contact_import)[2].status == "new"
    contact = ContactFactory(phone="+4915100000001", first_name="Anna")
    ContactFactory(phone="+4915100000002")
    match_rows(contact_import, lines=(2, 2))
    judge_opt_ins(contact_import, lines=(2, 2))
    diff_rows(contact_import, lines=(2, 2))
    rows = rows_of(contact_import)
    assert (rows[2].contact_id, rows[2].status, rows[2].changes) == (
        contact.pk,
        "update",
        {"first_name": ["Anna", "Ana"]},
    )
    assert (rows[3].contact_id, rows[3].status) == (None, "new")  # outside the lines: untouched


def test_applied_rows_are_not_judged_again(previewed):
    contact_import = previewed(["+4915100000001", "Ana", "", ""])
    contact_import.applied_through = 2  # as a chunk that applied line 2 leaves it
    contact = ContactFactory(phone="+4915100000001")
    match_rows(contact_import)
    assert rows_of(contact_import)[2].contact_id is None
    assert contact.pk


def test_validation_leaves_an_import_that_is_not_staging_alone(previewed):
    contact_import = previewed(["+4915100000001", "Ana", "", ""])
    ImportRow.objects.filter(contact_import=contact_import).update(status="pending")
    validate_import(contact_import=contact_import)  # it is in PREVIEW
    assert rows_of(contact_import)[2].status == "pending"


# --- Suppression lists --------------------------------------------------------------------------------


def test_a_suppression_list_counts_known_numbers_as_updates_and_opt_outs_per_purpose(import_for):
    ContactFactory(phone="+4915100000001")
    contact_import = import_for(
        [["Phone"], ["+4915100000001"], ["+4915100000002"], ["not a number"]], kind="suppression"
    )
    assert contact_import.status == ImportStatus.PREVIEW
    rows = rows_of(contact_import)
    assert [rows[line].status for line in (2, 3, 4)] == ["update", "new", "refused"]
    assert all(row.opt_ins == {} for row in rows.values())
    assert contact_import.counts | {} == {
        "new": 1,
        "updated": 1,
        "unchanged": 0,
        "refused": 1,
        "opt_ins": 0,
        "opt_ins_refused": 0,
        "opt_ins_already": 0,
        "opt_outs": 4,
    }


# --- The SQL verdict is record_consent's -------------------------------------------------------------

SOURCES = [
    (ConsentSource.WEB_FORM, ""),
    (ConsentSource.IMPORT, ""),
    (ConsentSource.STAFF, ""),
    (ConsentSource.KEYWORD, ""),
    (ConsentSource.BUTTON, ""),
    (ConsentSource.WHATSAPP_SIGNAL, ""),
    (ConsentSource.OPT_IN_LINK, ""),
    (ConsentSource.MERGE, ConsentSource.KEYWORD),
    (ConsentSource.MERGE, ConsentSource.IMPORT),
    (ConsentSource.MERGE, ""),  # a copy from before carried_source: its evidence names the original
]
OFFSETS = [-3600, 0, 0.25, 0.5, 0.999999, 1, 1.000001, 1.5, 2, 3600]


@settings(max_examples=60, deadline=None)
@given(
    ledger=st.lists(
        st.tuples(
            st.sampled_from([ConsentAction.OPT_IN, ConsentAction.OPT_OUT]),
            st.sampled_from(SOURCES),
            st.sampled_from(OFFSETS),
            st.sampled_from([0, 0.5, 1, 7200]),  # recorded this much after it happened
        ),
        max_size=5,
    ),
    row_offset=st.sampled_from(OFFSETS),
    own_date=st.booleans(),
)
def test_judge_opt_ins_agrees_with_consent_opt_in_check(ledger, row_offset, own_date):
    base = timezone.now().replace(microsecond=0) - timedelta(days=1)
    contact = ContactFactory()
    for action, (source, carried), offset, delay in ledger:
        occurred = base + timedelta(seconds=offset)
        ledger_event(
            contact,
            action=action,
            source=source,
            carried=carried,
            occurred_at=occurred,
            recorded_at=occurred + timedelta(seconds=delay),
        )
    refresh_current_consent(contact=contact, purpose=Purpose.MARKETING)
    consent_at = base + timedelta(seconds=row_offset)
    contact_import = ContactImport.objects.create(
        file_name="list.csv",
        file_sha256="0" * 64,
        file_size=1,
        header=HEADER,
        status=ImportStatus.STAGING,
        mapping={
            "columns": [{"column": 0, "field": "phone"}],
            "consent": [{"column": 2, "purpose": "marketing", "wording": None}],
        },
    )
    ImportRow.objects.create(
        contact_import=contact_import,
        line=2,
        phone=contact.phone,
        match_key=contact.phone,
        contact=contact,
        consent={"marketing": True},
        consent_at=consent_at,
        consent_at_own=own_date,
    )
    judge_opt_ins(contact_import)
    verdict = ImportRow.objects.get(contact_import=contact_import).opt_ins["marketing"]
    try:
        consent_opt_in_check(
            contact=contact,
            purpose=Purpose.MARKETING,
            source=ConsentSource.IMPORT,
            occurred_at=consent_at if own_date else None,
            evidence={"import_id": contact_import.pk, "file_name": "list.csv", "line": 2},
        )
    except ApplicationError as refusal:
        assert verdict == refusal.code
    else:
        current = CurrentConsent.objects.filter(contact=contact, purpose=Purpose.MARKETING).first()
        expected = "already_opted_in" if current and current.status == "opted_in" else "record"
        assert verdict == expected


def test_a_row_the_preview_refused_as_ambiguous_stays_refused_when_applying_judges_again(previewed):
    first = ContactFactory(phone="+5521987654321")
    second = ContactFactory(phone=None, wa_id="552187654321")
    contact_import = previewed(["+55 21 98765-4321", "Ana", "", ""])
    assert rows_of(contact_import)[2].reason_code == "ambiguous_match"
    contact_merge(survivor=first, merged=second, actor=SYSTEM, reason="One person, two numbers")
    match_rows(contact_import, lines=(2, 2))
    assert rows_of(contact_import)[2].reason_code == "ambiguous_match"
    match_rows(contact_import)  # the whole file (a new validation): merged meanwhile, one person
    row = rows_of(contact_import)[2]
    assert (row.status, row.reason_code, row.contact_id) == ("new", "", first.pk)
