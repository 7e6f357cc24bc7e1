"""Staging: each cell parsed once into the staging table; refusals per cell; chunked and resumable."""

import random
from datetime import UTC, datetime

import phonenumbers
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts import phones
from contacts.imports import staging
from contacts.imports.staging import stage_chunk
from contacts.models import AttributeDefinition, ContactImport, ImportRow, ImportStatus
from tests.contacts.imports.conftest import build_xlsx

pytestmark = pytest.mark.django_db

HEADER = [
    "Phone",
    "First name",
    "Last name",
    "Language",
    "Country",
    "Time zone",
    "Tags",
    "Orders",
    "Newsletter",
    "Date",
]
OK = ["+49 151 23456789", "Anna", "Müller", "de", "DE", "Europe/Berlin", "vip", "3", "yes", "2025-03-01"]


def staged(import_for, rows, *, wording, **mapping_changes) -> dict[int, ImportRow]:
    contact_import = import_for([HEADER, *rows], wording=wording, until="staged", **mapping_changes)
    return {row.line: row for row in ImportRow.objects.filter(contact_import=contact_import)}


def with_cells(**cells) -> list[str]:
    row = list(OK)
    for name, value in cells.items():
        row[HEADER.index(name.replace("_", " ").capitalize())] = value
    return row


@pytest.fixture
def orders_is_a_number(db):
    return AttributeDefinition.objects.create(key="orders", type="number")


def attribute_mapping(import_for):
    """The guessed mapping plus "Orders" as the custom field ``orders``."""
    return import_for([HEADER, OK], until="uploaded").mapping


def test_a_good_row_is_staged_with_every_value_parsed(import_for, marketing_wording, orders_is_a_number):
    mapping = attribute_mapping(import_for)
    mapping["columns"][7] = {"column": 7, "field": "attribute", "key": "orders"}
    rows = staged(
        import_for,
        [
            OK,
            [
                "0151 98765432",
                "  Ben ",
                "",
                "PT-br",
                "br",
                "america/sao_paulo",
                "a; B ,b,, c",
                "12,5",
                "x",
                "1.3.2025 14:30",
            ],
        ],
        wording=marketing_wording,
        columns=mapping["columns"],
    )
    first, second = rows[2], rows[3]
    assert first.status == "new" and not first.reason
    assert (first.phone, first.match_key, first.other_form) == ("+4915123456789", "+4915123456789", "")
    assert first.raw == OK
    assert (first.first_name, first.last_name, first.language, first.country, first.time_zone) == (
        "Anna",
        "Müller",
        "de",
        "DE",
        "Europe/Berlin",
    )
    assert first.tags == ["vip"]
    assert first.attributes == {"orders": 3}
    assert first.consent == {"marketing": True}
    assert first.consent_at == datetime(2025, 3, 1, tzinfo=UTC)  # the start of the day (TIME_ZONE is UTC)
    assert first.consent_at_own is True
    assert second.status == "refused" and second.reason_code == "country_mismatch"
    assert "+4915198765432 is not a number of BR" in second.reason


def test_values_are_read_whatever_their_case_and_separators(import_for, marketing_wording):
    rows = staged(
        import_for,
        [
            [
                "0151 98765432",
                "  Ben ",
                "",
                "PT-br",
                "de",
                "europe/berlin",
                "a; B ,b,, c",
                "",
                "x",
                "1.3.2025 14:30",
            ]
        ],
        wording=marketing_wording,
    )
    row = rows[2]
    assert row.status == "new", row.reason
    assert (row.first_name, row.language, row.country, row.time_zone) == (
        "Ben",
        "pt_BR",
        "DE",
        "Europe/Berlin",
    )
    assert row.tags == ["a", "B", "c"]
    assert row.consent_at == datetime(2025, 3, 1, 14, 30, tzinfo=UTC)


def test_blank_cells_keep_or_clear_as_mapped(import_for, marketing_wording):
    mapping = attribute_mapping(import_for)
    for column in mapping["columns"]:
        if column["field"] in ("first_name", "tags"):
            column["blank"] = "clear"
    mapping["columns"][7] = {"column": 7, "field": "attribute", "key": "orders", "blank": "clear"}
    rows = staged(
        import_for,
        [with_cells(first_name="", last_name="", tags="", orders="", newsletter="")],
        wording=marketing_wording,
        columns=mapping["columns"],
    )
    row = rows[2]
    assert row.clear == ["first_name", "tags"]  # last name: blank keeps
    assert row.attributes == {"orders": None}  # applying removes the key
    assert row.consent == {"marketing": False}
    assert row.consent_at is None  # no opt-in, so no date needed


def test_one_date_for_the_file_is_not_the_rows_own(import_for, marketing_wording):
    rows = staged(
        import_for,
        [with_cells(date="")],
        wording=marketing_wording,
        consent_date_column=None,
        consent_date="2024-12-24",
    )
    assert rows[2].consent_at == datetime(2024, 12, 24, tzinfo=UTC)
    assert rows[2].consent_at_own is False


@pytest.mark.parametrize(
    ("cells", "code", "says"),
    [
        ({"phone": "  "}, "phone_missing", "Column “Phone” is empty"),
        ({"phone": "12"}, "invalid_phone", "Column “Phone”: “12” is not a valid phone number"),
        ({"phone": "+49 30 1"}, "invalid_phone", "too short"),
        ({"country": "FR"}, "country_mismatch", "+4915123456789 is not a number of FR"),
        (
            {"country": "Germany"},
            "bad_country",
            "Column “Country”: “Germany” is not a two-letter country code",
        ),
        ({"language": "klingon"}, "unknown_language", "Column “Language”: “klingon” is not a language code"),
        ({"time_zone": "Berlin"}, "bad_time_zone", "Column “Time zone”: “Berlin” is not a time zone"),
        ({"date": "03/25/2025"}, "bad_date", "Column “Date”: “03/25/2025” is not a date of the calendar"),
        ({"date": "yesterday"}, "bad_date", "“yesterday” is not a date"),
        ({"date": ""}, "bad_date", "Column “Date” is empty: the row records an opt-in"),
        ({"date": "2999-01-01"}, "bad_date", "“2999-01-01” is in the future"),
        ({"date": "2025-03-01 25:00"}, "bad_date", "has a time of day that does not exist"),
        ({"newsletter": "maybe"}, "unknown_value", "Column “Newsletter”: “maybe” is neither yes nor no"),
        ({"first_name": "A" * 151}, "too_long", "a name may have 150"),
        ({"tags": "ok, " + "t" * 65}, "too_long", "a tag may have 64"),
    ],
)
def test_each_cell_refusal_names_its_column_and_value(import_for, marketing_wording, cells, code, says):
    rows = staged(import_for, [OK, with_cells(**cells)], wording=marketing_wording)
    assert rows[2].status == "new"
    refused = rows[3]
    assert (refused.status, refused.reason_code) == ("refused", code)
    assert says in refused.reason
    assert refused.raw == with_cells(**cells)


@pytest.mark.parametrize(
    ("kind", "value", "stored"),
    [
        ("number", "-12", -12),
        ("number", "1.5", 1.5),
        ("number", "1,5", 1.5),
        ("number", "1e999", None),
        ("number", "1.234,5", None),
        ("boolean", "Ja", True),
        ("boolean", "0", False),
        ("boolean", "perhaps", None),
        ("date", "24.12.2024", "2024-12-24"),
        ("date", "2024-02-30", None),
        ("text", "0042", "0042"),
    ],
)
def test_typed_custom_fields(import_for, marketing_wording, kind, value, stored):
    AttributeDefinition.objects.create(key="orders", type=kind)
    mapping = attribute_mapping(import_for)
    mapping["columns"][7] = {"column": 7, "field": "attribute", "key": "orders"}
    row = staged(
        import_for, [with_cells(orders=value)], wording=marketing_wording, columns=mapping["columns"]
    )[2]
    if stored is None:
        assert (row.status, row.reason_code) == ("refused", "unknown_value")
        assert f"Column “Orders”: “{value}”" in row.reason
    else:
        assert row.status == "new", row.reason
        assert row.attributes == {"orders": stored}


def test_an_undeclared_custom_field_is_text(import_for, marketing_wording):
    mapping = attribute_mapping(import_for)
    mapping["columns"][7] = {"column": 7, "field": "attribute", "key": "loyalty_card"}
    row = staged(
        import_for, [with_cells(orders="12")], wording=marketing_wording, columns=mapping["columns"]
    )[2]
    assert row.attributes == {"loyalty_card": "12"}


def test_a_row_with_more_cells_than_columns_is_refused(import_for, marketing_wording):
    rows = staged(import_for, [[*OK, "", " "], [*OK[:1], "Müller", *OK[1:]]], wording=marketing_wording)
    assert rows[2].status == "new"  # empty cells past the end are fine
    assert rows[3].reason_code == "extra_cells"
    assert "11 cells but the header names 10 columns (“2025-03-01” is beyond the last one)" in rows[3].reason


def test_a_short_row_reads_as_blank_cells(import_for, marketing_wording):
    row = staged(import_for, [["+4915123456789", "Anna"]], wording=marketing_wording)[2]
    assert row.status == "new", row.reason
    assert (row.first_name, row.language, row.consent) == ("Anna", "", {"marketing": False})


def test_the_other_form_of_a_brazilian_or_mexican_number_is_read_as_the_person(import_for, marketing_wording):
    rows = staged(
        import_for,
        [
            with_cells(phone="+55 21 8765-4321", country="BR"),  # a wa_id form: no ninth digit
            with_cells(phone="+55 21 98765-1234", country="BR"),
            with_cells(phone="+52 1 55 1234 5678", country="MX"),
        ],
        wording=marketing_wording,
    )
    assert (rows[2].phone, rows[2].match_key, rows[2].other_form) == (
        "+5521987654321",
        "+5521987654321",
        "+552187654321",
    )
    assert rows[2].status == "new", rows[2].reason
    assert (rows[3].phone, rows[3].other_form) == ("+5521987651234", "+552187651234")
    assert (rows[4].phone, rows[4].other_form) == ("+525512345678", "+5215512345678")


def test_numbers_without_a_country_code_read_in_the_mappings_region(import_for, marketing_wording):
    rows = staged(
        import_for,
        [with_cells(phone="(11) 98765-4321", country="BR")],
        wording=marketing_wording,
        region="BR",
    )
    assert rows[2].phone == "+5511987654321"


def test_a_cell_the_refused_rows_download_protected_is_read_back(import_for, marketing_wording):
    row = staged(
        import_for, [with_cells(phone="'+49 151 23456789", first_name="'=Anna")], wording=marketing_wording
    )[2]
    assert (row.phone, row.first_name) == ("+4915123456789", "=Anna")


def test_a_suppression_list_reads_only_the_phone(import_for):
    contact_import = import_for(
        [["Phone", "Language"], ["+4915123456789", "klingon"], ["nope", "de"]],
        kind="suppression",
        until="staged",
    )
    rows = {r.line: r for r in ImportRow.objects.filter(contact_import=contact_import)}
    assert rows[2].status == "new" and rows[2].language == ""
    assert rows[3].reason_code == "invalid_phone"


def test_a_workbook_stages_like_a_csv(import_for, marketing_wording):
    data = build_xlsx(
        [HEADER, ["+4915123456789", "Anna", "", "de", "", "", "", "", True, datetime(2025, 3, 1, 9)]]
    )
    contact_import = import_for(data, file_name="list.xlsx", wording=marketing_wording, until="staged")
    row = ImportRow.objects.get(contact_import=contact_import)
    assert row.status == "new", row.reason
    assert row.phone == "+4915123456789"
    assert row.consent_at == datetime(2025, 3, 1, 9, tzinfo=UTC)


# --- Chunks: resumable, never a line twice --------------------------------------------------------------


def five_rows(import_for, marketing_wording, settings) -> ContactImport:
    settings.CONTACT_IMPORT_CHUNK_ROWS = 2
    rows = [with_cells(phone=f"+49151000000{n:02d}") for n in range(5)]
    rows.insert(2, [""] * len(HEADER))  # a blank row: skipped, its line number kept
    return import_for([HEADER, *rows], wording=marketing_wording, until="uploaded")


def start_staging(import_for, marketing_wording, settings) -> ContactImport:
    from contacts.imports.services import import_set_mapping
    from core.actors import Actor

    contact_import = five_rows(import_for, marketing_wording, settings)
    mapping = {**contact_import.mapping, "consent": [], "consent_date_column": None}
    import_set_mapping(contact_import=contact_import, mapping=mapping, actor=Actor.system("tests"))
    return contact_import


def lines_of(contact_import) -> list[int]:
    return list(
        ImportRow.objects.filter(contact_import=contact_import)
        .order_by("line")
        .values_list("line", flat=True)
    )


def test_staging_goes_chunk_by_chunk_with_its_progress(import_for, marketing_wording, settings):
    contact_import = start_staging(import_for, marketing_wording, settings)
    assert contact_import.total_rows == 5
    done = []
    while not done or not done[-1]:
        done.append(stage_chunk(contact_import=contact_import))
        contact_import.refresh_from_db()
        assert contact_import.progress_done == len(lines_of(contact_import))
    assert done == [False, False, True]
    assert lines_of(contact_import) == [2, 3, 5, 6, 7]
    assert (contact_import.phase, contact_import.progress_done, contact_import.progress_total) == (
        "staging",
        5,
        5,
    )
    assert contact_import.heartbeat_at is not None


def test_staging_resumes_after_a_crash_without_staging_a_line_twice(import_for, marketing_wording, settings):
    contact_import = start_staging(import_for, marketing_wording, settings)
    assert stage_chunk(contact_import=contact_import) is False
    staging._readers.clear()  # a new worker process: the file is read again from its start
    assert stage_chunk(contact_import=contact_import) is False
    assert stage_chunk(contact_import=contact_import) is True
    assert stage_chunk(contact_import=contact_import) is True  # again: nothing left, nothing added
    assert lines_of(contact_import) == [2, 3, 5, 6, 7]


def test_a_chunk_that_fails_leaves_nothing_and_is_staged_again(
    import_for, marketing_wording, settings, monkeypatch
):
    contact_import = start_staging(import_for, marketing_wording, settings)
    assert stage_chunk(contact_import=contact_import) is False
    insert = staging._insert

    def crash(rows):
        insert(rows)
        raise RuntimeError("worker killed")

    monkeypatch.setattr(staging, "_insert", crash)
    with pytest.raises(RuntimeError):
        stage_chunk(contact_import=contact_import)
    assert lines_of(contact_import) == [2, 3]  # the failed chunk rolled back with its progress
    monkeypatch.setattr(staging, "_insert", insert)
    # The reader this process kept has moved past the lost chunk: it is not used.
    assert stage_chunk(contact_import=contact_import) is False
    assert stage_chunk(contact_import=contact_import) is True
    assert lines_of(contact_import) == [2, 3, 5, 6, 7]


def test_an_import_no_longer_staging_is_left_alone(import_for, marketing_wording, settings):
    contact_import = start_staging(import_for, marketing_wording, settings)
    ContactImport.objects.filter(pk=contact_import.pk).update(status=ImportStatus.ABANDONED)
    assert stage_chunk(contact_import=contact_import) is True
    assert lines_of(contact_import) == []


def test_a_chunk_costs_the_same_queries_whatever_its_size(import_for, marketing_wording, settings):
    counts = []
    # 30 rows: on SQLite, bulk_create splits an INSERT at 999 parameters (a staged row has 26).
    for size in (2, 30):
        settings.CONTACT_IMPORT_CHUNK_ROWS = size
        contact_import = import_for(
            [HEADER, *[with_cells(phone=f"+4915100{size:02d}{n:04d}") for n in range(size)]],
            wording=marketing_wording,
            until="uploaded",
        )
        from contacts.imports.services import import_set_mapping
        from core.actors import Actor

        import_set_mapping(
            contact_import=contact_import,
            mapping=contact_import.mapping | {"consent": [], "consent_date_column": None},
            actor=Actor.system("t"),
        )
        staging._readers.clear()
        with CaptureQueriesContext(connection) as queries:
            stage_chunk(contact_import=contact_import)
        counts.append(len(queries))
        assert len(lines_of(contact_import)) == size
    assert counts[0] == counts[1]


@pytest.mark.postgres
def test_on_postgresql_rows_are_copied_in(import_for, marketing_wording):
    awkward = with_cells(first_name="Tab\there", last_name="\\N", tags='back\\slash, "quoted", ü')
    broken = with_cells(phone="x", first_name="line\nbreak\r")
    with CaptureQueriesContext(connection) as queries:
        contact_import = import_for([HEADER, OK, awkward, broken], wording=marketing_wording, until="staged")
    assert not [q for q in queries if 'INSERT INTO "contacts_importrow"' in q["sql"]]
    rows = {r.line: r for r in ImportRow.objects.filter(contact_import=contact_import)}
    assert rows[2].raw == OK and rows[2].consent == {"marketing": True} and rows[2].tags == ["vip"]
    assert rows[2].opt_ins == {"marketing": "record"} and rows[2].contact_id is None
    assert rows[2].consent_at == datetime(2025, 3, 1, tzinfo=UTC)
    assert rows[3].raw == awkward
    assert (rows[3].first_name, rows[3].last_name) == ("Tab\there", "\\N")
    assert rows[3].tags == ["back\\slash", '"quoted"', "ü"]
    assert rows[4].raw == broken
    assert rows[4].reason_code == "invalid_phone"


def test_the_other_form_from_the_parsed_number_is_the_matchers():
    """``phones.other_form_of`` (no second parse) agrees with ``equivalent_numbers``, and building a
    Brazilian or Mexican form agrees with parsing it, over many numbers of every kind."""
    rng = random.Random(7)
    for _ in range(3000):
        country = rng.choice(["55", "52"])
        national = str(rng.randint(1, 9)) + "".join(
            str(rng.randint(0, 9)) for _ in range(rng.choice([9, 10]))
        )
        if country == "52" and rng.random() < 0.4:
            national = "1" + national[:10]
        e164 = f"+{country}{national}"
        for mobile in (False, True):
            assert phones._is_valid_form(e164, mobile=mobile) == phones._is_valid.__wrapped__(
                e164, mobile=mobile
            )
        try:
            number = phones.parse_phone_number(e164)
        except phones.InvalidPhoneNumber:
            continue
        forms = phones.equivalent_numbers(e164)
        assert phones.other_form_of(number) == (forms[1] if len(forms) > 1 else None), e164
        assert phones.parse_phone_forms(e164) == (
            number,
            e164,
            forms[1] if len(forms) > 1 else "",
            phonenumbers.number_type(number),
        ), e164


def test_one_parse_gives_what_parsing_and_validating_apart_give():
    """``phones.parse_phone_forms`` (one parse, one type lookup) refuses, and accepts, exactly
    what ``parse_phone_number`` does, with the same reason, in every country; the type it gives
    is ``number_type``'s."""
    rng = random.Random(11)
    typed = ["", "abc", "+", "0151 1234", "+49 151 12345678", "+1 415 5550123", "+44 7700 900123"]
    for _ in range(3000):
        typed.append(
            rng.choice(["+55", "+52", "+49", "+1", "+34", "0", "+521", "+5511", "+7", "+44", "+800", "+262"])
            + "".join(str(rng.randint(0, 9)) for _ in range(rng.randint(6, 12)))
        )
    for text in typed:
        try:
            expected = phones.parse_phone_number(text, region="DE")
        except phones.InvalidPhoneNumber as refusal:
            with pytest.raises(phones.InvalidPhoneNumber) as raised:
                phones.parse_phone_forms(text, region="DE")
            assert raised.value.message == refusal.message, text
            continue
        number, e164, other, kind = phones.parse_phone_forms(text, region="DE")
        assert number == expected, text
        assert kind == phonenumbers.number_type(expected), text
        assert e164 == phonenumbers.format_number(expected, phonenumbers.PhoneNumberFormat.E164)
        assert other == (phones.other_form_of(expected) or ""), text
