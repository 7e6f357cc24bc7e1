"""Uploading a file, mapping it and abandoning it: the services before confirming."""

import hashlib
import sys
import types
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from contacts.imports import reading
from contacts.imports.reading import CSV, FileFormat
from contacts.imports.services import import_abandon, import_samples, import_set_mapping, import_upload
from contacts.models import (
    ActivityLogEntry,
    ContactImport,
    ImportFile,
    ImportKind,
    ImportMapping,
    ImportRow,
    ImportStatus,
    Purpose,
)
from core.actors import Actor
from core.errors import ApplicationError
from tests.contacts.imports.conftest import build_csv, build_xlsx

pytestmark = pytest.mark.django_db

CUSTOMERS = [
    ["Telefon", "Vorname", "Nachname", "Sprache", "Einwilligung", "Datum"],
    ["0151 23456789", "Jörg", "Müller", "de", "ja", "01.03.2025"],
    ["+49 151 98765432", "Anna", "Öztürk", "", "", ""],
]


def upload(user, data, *, file_name="kunden.csv", kind=ImportKind.CONTACTS, **choices) -> ContactImport:
    return import_upload(
        file_name=file_name, data=data, kind=kind, actor=Actor.for_user(user), user=user, **choices
    )


def test_an_upload_keeps_the_file_its_hash_header_row_count_and_a_guessed_mapping(importer):
    data = build_csv(CUSTOMERS, delimiter=";", encoding="cp1252")
    contact_import = upload(importer, data, file_name="C:\\exports\\kun\x1bden.csv")
    assert contact_import.status == ImportStatus.UPLOADED
    assert contact_import.file_name == "kunden.csv"
    assert contact_import.file_sha256 == hashlib.sha256(data).hexdigest()
    assert contact_import.file_size == len(data)
    assert (contact_import.encoding, contact_import.delimiter) == ("cp1252", ";")
    assert contact_import.header == CUSTOMERS[0]
    assert contact_import.total_rows == 2
    assert contact_import.created_by == importer
    assert bytes(ImportFile.objects.get(contact_import=contact_import).data) == data
    assert contact_import.mapping == {
        "columns": [
            {"column": 0, "field": "phone"},
            {"column": 1, "field": "first_name", "blank": "keep"},
            {"column": 2, "field": "last_name", "blank": "keep"},
            {"column": 3, "field": "language", "blank": "keep"},
        ],
        "consent": [{"column": 4, "purpose": "marketing", "wording": None}],
        "consent_date_column": 5,
        "consent_date": None,
        "consent_source": "",
        "suppress_purposes": [],
        "region": "DE",
    }
    entry = ActivityLogEntry.objects.get(action="import.uploaded")
    assert entry.object_id == str(contact_import.pk)
    assert entry.details["file_sha256"] == contact_import.file_sha256
    assert entry.details["rows"] == 2
    assert entry.actor_user == importer


def test_a_workbook_uploads_too(importer):
    contact_import = upload(importer, build_xlsx(CUSTOMERS), file_name="kunden.xlsx")
    assert (contact_import.encoding, contact_import.delimiter) == ("", "")
    assert contact_import.header == CUSTOMERS[0]
    assert contact_import.total_rows == 2


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            ["Teléfono", "Nombre", "Apellidos", "Idioma", "País", "Etiquetas"],
            ["phone", "first_name", "last_name", "language", "country", "tags"],
        ),
        (["Celular", "Nome", "Sobrenome", "Fuso horário"], ["phone", "first_name", "last_name", "time_zone"]),
        (["Prénom", "Nom", "Téléphone portable", "Langue"], ["first_name", "last_name", "phone", "language"]),
        (["Customer no", "Mobile phone (private)", "First name"], ["ignore", "phone", "first_name"]),
        (["Name", "WhatsApp"], ["ignore", "phone"]),
    ],
)
def test_the_mapping_is_guessed_from_headers_in_five_languages(importer, header, expected):
    contact_import = upload(importer, build_csv([header, ["x"] * len(header)]))
    assert [c["field"] for c in contact_import.mapping["columns"]] == expected


def test_opt_in_words_guess_a_marketing_consent_column_and_its_date(importer):
    header = ["Phone", "Marketing opt-in", "Opt-in date"]
    mapping = upload(importer, build_csv([header, ["1", "2", "3"]])).mapping
    assert mapping["consent"] == [{"column": 1, "purpose": Purpose.MARKETING, "wording": None}]
    assert mapping["consent_date_column"] == 2
    assert mapping["columns"] == [{"column": 0, "field": "phone"}]


def test_a_suppression_list_guesses_only_the_phone_and_every_purpose(importer):
    mapping = upload(importer, build_csv(CUSTOMERS), kind=ImportKind.SUPPRESSION).mapping
    assert [c["field"] for c in mapping["columns"]] == ["phone"] + ["ignore"] * 5
    assert mapping["consent"] == []
    assert mapping["suppress_purposes"] == list(Purpose.values)


def test_the_last_confirmed_mapping_is_offered_for_the_same_headers(importer, marketing_wording):
    first = upload(importer, build_csv(CUSTOMERS))
    mapping = {
        **first.mapping,
        "columns": [*first.mapping["columns"], {"column": 5, "field": "ignore"}],
        "consent": [{"column": 4, "purpose": "marketing", "wording": marketing_wording.pk}],
        "consent_date_column": None,
        "consent_date": "2025-01-15",
        "consent_source": "Shop counter form",
    }
    import_set_mapping(contact_import=first, mapping=mapping, actor=Actor.for_user(importer))
    # The same headers written differently (case, accents, spaces) are the same set.
    again = [["TELEFON", "vorname", "NACHNAME", "Sprache ", "Einwilligung", "datum"], CUSTOMERS[1]]
    second = upload(importer, build_csv(again))
    assert second.mapping["consent"] == [
        {"column": 4, "purpose": "marketing", "wording": marketing_wording.pk}
    ]
    assert second.mapping["consent_source"] == "Shop counter form"
    assert second.mapping["consent_date"] is None  # one file's date is given again for the next
    assert ImportMapping.objects.count() == 1
    # A suppression list with the same headers keeps its own.
    assert upload(importer, build_csv(again), kind=ImportKind.SUPPRESSION).mapping["consent"] == []


# --- File-level refusals: nothing written -----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code", "says"),
    [
        (b"", "file_empty", "is empty"),
        (b"\xef\xbb\xbf \r\n\n", "file_empty", "is empty"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "file_not_table", "PDF"),
        (b"\n\n", "file_empty", "is empty"),
        (b"Phone;Name\n", "file_no_rows", "no rows"),
        (b"Phone;Name\n;\n ; \n", "file_no_rows", "no rows"),
        (b"Phone;;Name\n1;2;3\n", "header_blank", "names no column 2"),
        (b"Phone;Name;name \n1;2;3\n", "header_duplicate", "Columns 2 and 3 are both named “Name” / “name”"),
        (b"\nPhone\n1\n", "file_no_header", "first row"),
        (b"+49 151 23456789;Anna\n+49 151 98765432;Ben\n", "file_no_header", "“+49 151 23456789” is a phone"),
        (b";".join(b"c%d" % n for n in range(201)) + b"\n1\n", "header_too_wide", "201 columns"),
    ],
)
def test_bad_files_are_refused_before_anything_is_written(importer, data, code, says):
    with pytest.raises(ApplicationError) as caught:
        upload(importer, data)
    assert caught.value.code == code
    assert says in caught.value.message
    assert not ContactImport.objects.exists()
    assert not ActivityLogEntry.objects.filter(action="import.uploaded").exists()


def test_a_file_larger_than_the_setting_is_refused(importer, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 50
    with pytest.raises(ApplicationError) as caught:
        upload(importer, build_csv(CUSTOMERS))
    assert caught.value.code == "file_too_large"
    assert "(50\xa0bytes)" in caught.value.message
    assert not ContactImport.objects.exists()


def test_a_file_with_more_rows_than_an_import_takes_is_refused(importer, monkeypatch):
    from contacts.imports import services

    monkeypatch.setattr(services, "MAX_ROWS", 1)
    with pytest.raises(ApplicationError) as caught:
        upload(importer, build_csv(CUSTOMERS))
    assert caught.value.code == "file_too_many_rows"
    assert not ContactImport.objects.exists()


def test_an_unknown_kind_is_refused(importer):
    with pytest.raises(ApplicationError) as caught:
        upload(importer, build_csv(CUSTOMERS), kind="everything")
    assert caught.value.field == "kind"


# --- Mapping ------------------------------------------------------------------------------------------


@pytest.fixture
def enqueued(monkeypatch):
    """The staging task's queue, recorded (the tasks module's enqueue_stage stands in)."""
    calls = []
    module = sys.modules.get("contacts.imports.tasks")
    if module is None:  # pragma: no cover - before the tasks module exists
        module = types.ModuleType("contacts.imports.tasks")
        monkeypatch.setitem(sys.modules, "contacts.imports.tasks", module)
    monkeypatch.setattr(module, "enqueue_stage", calls.append, raising=False)
    return calls


def test_mapping_stages_the_file_after_commit(importer, enqueued, django_capture_on_commit_callbacks):
    contact_import = upload(importer, build_csv(CUSTOMERS))
    mapping = {**contact_import.mapping, "consent": [], "consent_date_column": None}
    with django_capture_on_commit_callbacks(execute=True):
        result = import_set_mapping(
            contact_import=contact_import, mapping=mapping, actor=Actor.for_user(importer)
        )
    assert enqueued == [contact_import.pk]
    assert result.status == ImportStatus.STAGING
    assert result.heartbeat_at is None  # free for the staging task to claim
    assert result.progress_total == 2
    assert ActivityLogEntry.objects.filter(action="import.mapped", object_id=str(contact_import.pk)).exists()


def test_a_refused_mapping_changes_nothing(importer, enqueued, django_capture_on_commit_callbacks):
    contact_import = upload(importer, build_csv(CUSTOMERS))
    before = contact_import.mapping
    mapping = {**before, "columns": [c for c in before["columns"] if c["field"] != "phone"]}
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ApplicationError) as caught:
        import_set_mapping(contact_import=contact_import, mapping=mapping, actor=Actor.for_user(importer))
    assert caught.value.code == "mapping_no_phone"
    contact_import.refresh_from_db()
    assert (contact_import.status, contact_import.mapping) == (ImportStatus.UPLOADED, before)
    assert enqueued == []
    assert not ImportMapping.objects.exists()


def test_mapping_again_from_the_preview_drops_the_staged_rows(importer, import_for):
    contact_import = import_for(CUSTOMERS, mapping=_no_consent(CUSTOMERS))
    assert ImportRow.objects.filter(contact_import=contact_import).count() == 2
    import_set_mapping(
        contact_import=contact_import, mapping=_no_consent(CUSTOMERS), actor=Actor.for_user(importer)
    )
    assert contact_import.status == ImportStatus.STAGING
    assert contact_import.counts == {}
    assert not ImportRow.objects.filter(contact_import=contact_import).exists()


@pytest.mark.parametrize(
    "status", [ImportStatus.STAGING, ImportStatus.APPLYING, ImportStatus.APPLIED, ImportStatus.ABANDONED]
)
def test_mapping_is_refused_once_staging_started_or_after_confirming(importer, status):
    contact_import = upload(importer, build_csv(CUSTOMERS))
    ContactImport.objects.filter(pk=contact_import.pk).update(status=status)
    with pytest.raises(ApplicationError) as caught:
        import_set_mapping(
            contact_import=contact_import, mapping=_no_consent(CUSTOMERS), actor=Actor.for_user(importer)
        )
    assert caught.value.code == "import_not_mappable"


def _no_consent(rows) -> dict:
    return {
        "columns": [{"column": 0, "field": "phone"}, {"column": 1, "field": "first_name"}],
        "region": "DE",
    }


# --- Abandoning ---------------------------------------------------------------------------------------


def test_abandoning_a_previewed_import_deletes_its_staged_rows_and_keeps_the_record(importer, import_for):
    contact_import = import_for(CUSTOMERS, mapping=_no_consent(CUSTOMERS))
    import_abandon(contact_import=contact_import, actor=Actor.for_user(importer))
    assert contact_import.status == ImportStatus.ABANDONED
    assert contact_import.finished_at is not None
    assert not ImportRow.objects.filter(contact_import=contact_import).exists()
    assert ImportFile.objects.filter(contact_import=contact_import).exists()
    entry = ActivityLogEntry.objects.get(action="import.abandoned")
    assert entry.details == {"status_before": "preview", "staged_rows_deleted": 2}


@pytest.mark.parametrize("status", [ImportStatus.APPLYING, ImportStatus.APPLIED, ImportStatus.ABANDONED])
def test_abandoning_is_refused_once_applying_started(importer, status):
    contact_import = upload(importer, build_csv(CUSTOMERS))
    ContactImport.objects.filter(pk=contact_import.pk).update(status=status)
    with pytest.raises(ApplicationError) as caught:
        import_abandon(contact_import=contact_import, actor=Actor.for_user(importer))
    assert caught.value.code == "import_not_abandonable"
    contact_import.refresh_from_db()
    assert contact_import.status == status


def test_samples_show_the_first_values_of_each_column(importer):
    contact_import = upload(importer, build_csv(CUSTOMERS, delimiter=";", encoding="cp1252"))
    samples = import_samples(contact_import=contact_import)
    assert samples[1] == ["Jörg", "Anna"]
    assert samples[4] == ["ja"]


def test_samples_of_a_workbook(importer):
    contact_import = upload(importer, build_xlsx(CUSTOMERS), file_name="kunden.xlsx")
    assert import_samples(contact_import=contact_import, rows=1)[1] == ["Jörg"]


def test_samples_read_only_the_first_bytes_of_a_large_file(importer):
    rows = [["Phone", "Name"]] + [[f"+4915100{n:06d}", "x" * 40] for n in range(20_000)]
    contact_import = upload(importer, build_csv(rows))
    assert contact_import.file_size > 1_000_000
    with CaptureQueriesContext(connection) as queries:
        samples = import_samples(contact_import=contact_import, rows=5)
    assert samples[0] == [f"+4915100{n:06d}" for n in range(5)]
    file_reads = [query["sql"] for query in queries if "contacts_importfile" in query["sql"]]
    assert any("substr(data, 1, 65536)" in sql for sql in file_reads)
    # Besides the first bytes, only whether the file is there: never the whole file.
    assert all("substr(data, 1, " in sql or "SELECT 1 AS" in sql for sql in file_reads)


@hypothesis_settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.text(alphabet='ab ,;"\né\r', max_size=12), min_size=1, max_size=4),
        min_size=1,
        max_size=12,
    ),
    first=st.integers(min_value=1, max_value=40),
    count=st.integers(min_value=1, max_value=6),
)
def test_samples_from_the_first_bytes_are_the_files_first_rows(rows, first, count):
    """Whatever the size of the first read, and wherever it cuts a row (in a quoted cell, in a
    two-byte character), the rows are those of the whole file."""
    data = build_csv([["Phone", "Name"], *rows])
    fmt = FileFormat(CSV, encoding="utf-8", delimiter=",")
    with mock.patch.object(reading, "_SAMPLE", first):
        found = reading.sample_head_rows(lambda size: data[:size], fmt, count=count)
    assert found == reading.sample_rows(data, fmt, count=count)


# --- A file deleted after the retention period ---------------------------------------------------------


def _purged(contact_import, settings) -> None:
    """The daily purge, run as if the import were older than the retention period."""
    from contacts.imports.tasks import import_files_purge

    ContactImport.objects.filter(pk=contact_import.pk).update(
        created_at=timezone.now() - timedelta(days=settings.CONTACT_IMPORT_FILE_RETENTION_DAYS + 1)
    )
    assert import_files_purge() == "1 file(s) deleted"
    contact_import.refresh_from_db()


def test_mapping_an_import_whose_file_was_deleted_is_refused_and_changes_nothing(
    importer, import_for, settings, enqueued, django_capture_on_commit_callbacks
):
    contact_import = import_for(CUSTOMERS, mapping=_no_consent(CUSTOMERS))
    _purged(contact_import, settings)
    before = (contact_import.status, contact_import.mapping, contact_import.counts)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ApplicationError) as caught:
        import_set_mapping(
            contact_import=contact_import, mapping=_no_consent(CUSTOMERS), actor=Actor.for_user(importer)
        )
    assert caught.value.code == "import_file_deleted"
    assert caught.value.message == (
        f"The file of this import (contacts.csv) was deleted on {contact_import.file_purged_at:%Y-%m-%d} "
        f"after the retention period of {settings.CONTACT_IMPORT_FILE_RETENTION_DAYS} days: upload it again "
        "to import it."
    )
    contact_import.refresh_from_db()
    assert (contact_import.status, contact_import.mapping, contact_import.counts) == before
    assert ImportRow.objects.filter(contact_import=contact_import).count() == 2  # the preview stays
    assert enqueued == []
    mapped = ActivityLogEntry.objects.filter(action="import.mapped", object_id=str(contact_import.pk))
    assert mapped.count() == 1  # the first mapping's


def test_samples_of_an_import_whose_file_was_deleted_say_so(importer, settings):
    contact_import = upload(importer, build_csv(CUSTOMERS))
    _purged(contact_import, settings)
    with pytest.raises(ApplicationError) as caught:
        import_samples(contact_import=contact_import)
    assert caught.value.code == "import_file_deleted"
    assert f"deleted on {contact_import.file_purged_at:%Y-%m-%d}" in caught.value.message


def test_a_file_deleted_while_the_import_still_says_it_is_kept_is_refused_too(importer):
    """The purge deletes the bytes, then marks the imports: between the two, or for a stale copy of
    the import, the bytes are what counts."""
    contact_import = upload(importer, build_csv(CUSTOMERS))
    ImportFile.objects.filter(contact_import=contact_import).delete()
    for service in (
        lambda: import_samples(contact_import=contact_import),
        lambda: import_set_mapping(
            contact_import=contact_import, mapping=_no_consent(CUSTOMERS), actor=Actor.for_user(importer)
        ),
    ):
        with pytest.raises(ApplicationError) as caught:
            service()
        assert caught.value.code == "import_file_deleted"
        assert "was deleted after the retention period" in caught.value.message
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.UPLOADED


def test_the_mapping_page_of_an_import_whose_file_was_deleted_says_so(client_for, importer, settings):
    contact_import = upload(importer, build_csv(CUSTOMERS))
    _purged(contact_import, settings)
    client = client_for(importer)
    mapping_url = reverse("admin:contacts_contactimport_mapping", args=[contact_import.pk])
    for response in (client.get(mapping_url), client.post(mapping_url, {"col0_field": "phone"})):
        assert response.status_code == 302
        assert response["Location"] == reverse(
            "admin:contacts_contactimport_change", args=[contact_import.pk]
        )
    page = client.get(response["Location"]).content.decode()
    assert f"was deleted on {contact_import.file_purged_at:%Y-%m-%d} after the retention period" in page
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.UPLOADED
