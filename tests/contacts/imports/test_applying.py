"""Applying a confirmed import: contacts, fields, tags and the ledger written set-based, in chunks.

The imports are staged and validated by the real code (``staging``, ``validation``) from a CSV
held in the database, as the worker does, then confirmed and applied chunk by chunk.
"""

import csv
import hashlib
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.imports.applying import apply_chunk, import_confirm
from contacts.imports.staging import stage_all
from contacts.imports.validation import applied_rows, validate_import
from contacts.models import (
    ActivityLogEntry,
    AttributeDefinition,
    AttributeType,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    Contact,
    ContactImport,
    CurrentConsent,
    ImportFile,
    ImportKind,
    ImportRow,
    ImportRowStatus,
    ImportStatus,
    Purpose,
    Tag,
)
from contacts.selectors import deciding_event
from core.actors import Actor
from core.errors import ApplicationError
from tests.factories import ContactFactory, TagFactory, make_wording, opt_in, opt_out

pytestmark = pytest.mark.django_db

SOURCE = "Loyalty-card form at the shop counter"


def columns(header: str, **blank: str) -> list[dict]:
    """The mapping's columns for a header whose names are the fields (``attr:key`` for custom fields,
    ``marketing``/``service``/``date`` for consent, left to ``consent_mapping``)."""
    mapped = []
    for index, name in enumerate(header.split(",")):
        if name.startswith("attr:"):
            entry = {"column": index, "field": "attribute", "key": name[5:]}
        elif name in ("marketing", "service", "date"):
            continue
        else:
            entry = {"column": index, "field": name}
        if name in blank:
            entry["blank"] = blank[name]
        mapped.append(entry)
    return mapped


def consent_mapping(header: str, wordings: dict, *, one_date: str | None = "2025-03-01", **blank) -> dict:
    names = header.split(",")
    return {
        "columns": columns(header, **blank),
        "consent": [
            {"column": names.index(purpose), "purpose": purpose, "wording": wording.pk}
            for purpose, wording in wordings.items()
        ],
        "consent_date_column": None if one_date else names.index("date"),
        "consent_date": one_date,
        "consent_source": SOURCE,
        "region": "DE",
    }


def staged_import(user, text: str, mapping: dict, *, kind=ImportKind.CONTACTS) -> ContactImport:
    """An import of ``text`` (a CSV) staged and validated by the real code: in PREVIEW."""
    data = text.encode()
    header = next(csv.reader(io.StringIO(text)))
    contact_import = ContactImport.objects.create(
        kind=kind,
        status=ImportStatus.STAGING,
        file_name="customers.csv",
        file_sha256=hashlib.sha256(data).hexdigest(),
        file_size=len(data),
        encoding="utf-8",
        delimiter=",",
        header=header,
        mapping=mapping,
        total_rows=len(text.strip().splitlines()) - 1,
        created_by=user,
    )
    ImportFile.objects.create(contact_import=contact_import, data=data)
    stage_all(contact_import=contact_import)
    validate_import(contact_import=contact_import)
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.PREVIEW
    return contact_import


def plain_import(user, text: str, **blank) -> ContactImport:
    header = text.splitlines()[0]
    return staged_import(user, text, {"columns": columns(header, **blank), "region": "DE"})


def confirm(contact_import, user):
    return import_confirm(contact_import=contact_import, actor=Actor.for_user(user), user=user)


def apply_all(contact_import) -> int:
    chunks = 1
    while not apply_chunk(contact_import=contact_import):
        chunks += 1
    contact_import.refresh_from_db()
    return chunks


def row(contact_import, line: int) -> ImportRow:
    return ImportRow.objects.get(contact_import=contact_import, line=line)


def test_new_rows_become_contacts_with_their_opt_in_and_the_import_as_evidence(editor):
    AttributeDefinition.objects.create(key="visits", type=AttributeType.NUMBER)
    wording = make_wording(Purpose.MARKETING)
    TagFactory(name="vip")
    header = (
        "phone,first_name,last_name,language,country,time_zone,tags,attr:customer_no,attr:visits,marketing"
    )
    contact_import = staged_import(
        editor,
        f"{header}\n"
        "+49 151 11111111,Ada,Lovelace,en,DE,Europe/Berlin,VIP; newsletter,4711,3,yes\n"
        "0151 22222222,Bob,,,,,,,,no\n",
        consent_mapping(header, {Purpose.MARKETING: wording}),
    )
    assert contact_import.counts["opt_ins"] == 1
    confirm(contact_import, editor)
    assert apply_all(contact_import) == 1

    ada = Contact.objects.get(phone="+4915111111111")
    assert (ada.first_name, ada.last_name, ada.language, ada.country, ada.time_zone) == (
        "Ada",
        "Lovelace",
        "en",
        "DE",
        "Europe/Berlin",
    )
    assert ada.attributes == {"customer_no": "4711", "visits": 3}
    assert sorted(ada.tags.values_list("name", flat=True)) == ["newsletter", "vip"]
    assert Tag.objects.filter(name__iexact="vip").count() == 1
    event = ConsentEvent.objects.get(contact=ada)
    assert (event.purpose, event.action, event.source, event.wording) == (
        Purpose.MARKETING,
        ConsentAction.OPT_IN,
        ConsentSource.IMPORT,
        wording,
    )
    assert event.occurred_at == row(contact_import, 2).consent_at
    assert timezone.localtime(event.occurred_at).date().isoformat() == "2025-03-01"
    assert event.evidence == {
        "import_id": contact_import.pk,
        "file_name": "customers.csv",
        "file_sha256": contact_import.file_sha256,
        "line": 2,
        "uploaded_by": editor.username,
        "source_description": SOURCE,
    }
    assert (event.actor_kind, event.actor_user, event.actor_label) == ("user", editor, editor.username)
    assert event.signal_key == f"import:{contact_import.pk}:2"
    current = CurrentConsent.objects.get(contact=ada, purpose=Purpose.MARKETING)
    assert (current.status, current.event) == (ConsentStatus.OPTED_IN, event)

    bob = Contact.objects.get(phone="+4915122222222")
    assert not bob.consent_events.exists()
    assert bob.country == "DE"  # from the number, as Contact.clean takes it
    assert (row(contact_import, 2).contact, row(contact_import, 3).contact) == (ada, bob)
    assert contact_import.status == ImportStatus.APPLIED
    assert contact_import.finished_at is not None
    assert (contact_import.progress_done, contact_import.progress_total) == (2, 2)
    applied = ActivityLogEntry.objects.get(action="import.applied")
    assert applied.details == {
        "applied_rows": 2,
        "contacts_created": 2,
        "contacts_updated": 0,
        "events_recorded": 1,
    }
    assert {key: contact_import.counts[key] for key in applied.details} == applied.details
    assert applied.actor_user == editor
    assert applied.object_id == str(contact_import.pk)


def test_a_new_contact_takes_its_country_from_the_number_unless_the_file_gives_one(editor):
    contact_import = plain_import(
        editor,
        "phone,country\n+5511987654321,\n+33612345678,\n+4915111111111,\n+436641234567,AT\n"
        # +1, +7 and +44 are shared by several countries: the number tells which.
        "+14155550123,\n+14165550123,\n+77012345678,\n+447400123456,\n+447797123456,\n+390612345678,\n",
    )
    confirm(contact_import, editor)
    apply_all(contact_import)
    assert dict(Contact.objects.values_list("phone", "country")) == {
        "+5511987654321": "BR",
        "+33612345678": "FR",
        "+4915111111111": "DE",
        "+436641234567": "AT",
        "+14155550123": "US",
        "+14165550123": "CA",
        "+77012345678": "KZ",
        "+447400123456": "GB",
        "+447797123456": "JE",
        "+390612345678": "IT",
    }


def test_updates_replace_given_fields_keep_blank_ones_clear_mapped_ones_and_merge_attributes(editor):
    AttributeDefinition.objects.create(key="visits", type=AttributeType.NUMBER)
    AttributeDefinition.objects.create(key="member", type=AttributeType.BOOLEAN)
    AttributeDefinition.objects.create(key="since", type=AttributeType.DATE)
    existing = ContactFactory(
        phone="+4915133333333",
        first_name="Grace",
        last_name="Hopper",
        language="de",
        time_zone="Europe/Berlin",
        attributes={"customer_no": "1", "since": "2020-01-01", "other": "kept"},
    )
    existing.tags.add(TagFactory(name="Old"))
    untouched = ContactFactory(phone="+4915144444444", first_name="Linus", last_name="", language="de")
    untouched.tags.add(TagFactory(name="vip"))
    before = Contact.objects.get(pk=untouched.pk).updated_at
    contact_import = plain_import(
        editor,
        "phone,first_name,last_name,language,time_zone,tags,attr:customer_no,attr:visits,attr:member,attr:since\n"
        "+4915133333333,,,en,,vip,4711,12,yes,\n"
        "+4915144444444,Linus,,,,VIP,,,,\n",
        last_name="clear",
        **{"attr:since": "clear"},
    )
    assert row(contact_import, 2).status == ImportRowStatus.UPDATE
    assert row(contact_import, 3).status == ImportRowStatus.UNCHANGED
    confirm(contact_import, editor)
    apply_all(contact_import)

    existing.refresh_from_db()
    assert (existing.first_name, existing.last_name, existing.language, existing.time_zone) == (
        "Grace",
        "",
        "en",
        "Europe/Berlin",
    )
    # Typed values stay typed; a field mapped "clear" with a blank cell is removed, others kept.
    assert existing.attributes == {"customer_no": "4711", "visits": 12, "member": True, "other": "kept"}
    assert sorted(existing.tags.values_list("name", flat=True)) == ["Old", "vip"]
    assert Contact.objects.get(pk=untouched.pk).updated_at == before
    assert Contact.objects.count() == 2
    contact_import.refresh_from_db()
    assert contact_import.counts["contacts_updated"] == 1
    assert contact_import.counts["applied_rows"] == 2
    assert applied_rows(contact_import).count() == 2


def test_tags_cleared_when_the_cell_is_blank_and_mapped_so(editor):
    existing = ContactFactory(phone="+4915133333333")
    existing.tags.add(TagFactory(name="old"), TagFactory(name="older"))
    contact_import = plain_import(editor, "phone,tags\n+4915133333333,\n", tags="clear")
    confirm(contact_import, editor)
    apply_all(contact_import)
    assert not existing.tags.exists()
    assert Tag.objects.filter(name="old").exists()  # the tag itself stays for the others


def test_refused_rows_are_never_written(editor):
    wording = make_wording()
    header = "phone,first_name,marketing"
    contact_import = staged_import(
        editor,
        f"{header}\n+4915155555555,Ann,yes\n0151 55555555,Dup,yes\nnot a number,X,yes\n,Y,yes\n"
        "+4915166666666,Z,perhaps\n",
        consent_mapping(header, {Purpose.MARKETING: wording}),
    )
    assert contact_import.counts["refused"] == 4
    confirm(contact_import, editor)
    assert contact_import.progress_total == 1
    apply_all(contact_import)
    assert list(Contact.objects.values_list("first_name", flat=True)) == ["Ann"]
    assert ConsentEvent.objects.count() == 1
    assert contact_import.status == ImportStatus.APPLIED
    assert set(applied_rows(contact_import).values_list("line", flat=True)) == {2}
    assert contact_import.applied_through == 2


def test_a_suppression_list_records_opt_outs_creating_contacts_where_needed(editor):
    known = ContactFactory(phone="+4915166666666")
    opted_in = opt_in(known, Purpose.MARKETING)
    contact_import = staged_import(
        editor,
        "phone\n+4915166666666\n+4915177777777\n",
        {
            "columns": [{"column": 0, "field": "phone"}],
            "suppress_purposes": ["marketing", "service"],
            "region": "DE",
        },
        kind=ImportKind.SUPPRESSION,
    )
    assert contact_import.counts["opt_outs"] == 4
    confirm(contact_import, editor)
    apply_all(contact_import)

    new = Contact.objects.get(phone="+4915177777777")
    for contact in (known, new):
        for purpose in (Purpose.MARKETING, Purpose.SERVICE):
            event = ConsentEvent.objects.get(contact=contact, purpose=purpose, source=ConsentSource.IMPORT)
            assert event.action == ConsentAction.OPT_OUT
            assert event.wording is None
            assert event.evidence["import_id"] == contact_import.pk
            current = CurrentConsent.objects.get(contact=contact, purpose=purpose)
            assert (current.status, current.event) == (ConsentStatus.OPTED_OUT, event)
    # Without a date of its own the opt-out happened when we learnt of it: it beats the older opt-in.
    known_opt_out = ConsentEvent.objects.get(contact=known, purpose=Purpose.MARKETING, source="import")
    assert known_opt_out.occurred_at > opted_in.occurred_at
    assert contact_import.counts["events_recorded"] == 4
    assert contact_import.counts["contacts_created"] == 1


def test_a_stop_after_the_preview_wins_and_the_contact_stays_opted_out(editor):
    wording = make_wording()
    stopped = ContactFactory(phone="+4915111111111", first_name="Old")
    told_staff = ContactFactory(phone="+4915122222222")
    header = "phone,first_name,marketing"
    contact_import = staged_import(
        editor,
        f"{header}\n+4915111111111,New,yes\n+4915122222222,,yes\n",
        consent_mapping(header, {Purpose.MARKETING: wording}),
    )
    assert contact_import.counts["opt_ins"] == 2
    # Between the preview and the confirmation: a STOP on WhatsApp, an opt-out told to staff.
    opt_out(stopped, Purpose.MARKETING, source=ConsentSource.KEYWORD)
    opt_out(told_staff, Purpose.MARKETING)
    confirm(contact_import, editor)
    apply_all(contact_import)

    assert not ConsentEvent.objects.filter(source=ConsentSource.IMPORT).exists()
    for contact in (stopped, told_staff):
        assert CurrentConsent.objects.get(contact=contact, purpose=Purpose.MARKETING).status == (
            ConsentStatus.OPTED_OUT
        )
    assert row(contact_import, 2).opt_ins == {"marketing": "opt_in_import_after_whatsapp_opt_out"}
    assert row(contact_import, 3).opt_ins == {"marketing": "opt_in_date_required"}
    stopped.refresh_from_db()
    assert stopped.first_name == "New"  # a refused opt-in does not refuse the row's field updates
    assert contact_import.counts["events_recorded"] == 0


def test_a_contact_created_between_preview_and_apply_is_matched_not_duplicated(editor):
    contact_import = plain_import(editor, "phone,first_name\n+4915111111111,Ada\n")
    assert row(contact_import, 2).status == ImportRowStatus.NEW
    meanwhile = ContactFactory(phone="+4915111111111", first_name="")  # e.g. a webhook's new contact
    confirm(contact_import, editor)
    apply_all(contact_import)
    assert Contact.objects.count() == 1
    meanwhile.refresh_from_db()
    assert meanwhile.first_name == "Ada"
    assert row(contact_import, 2).contact == meanwhile
    assert contact_import.counts["contacts_created"] == 0


def test_an_opt_in_after_an_opt_out_with_its_own_later_date_is_recorded_and_decides(editor):
    wording = make_wording()
    contact = ContactFactory(phone="+4915111111111")
    opt_out(contact, Purpose.MARKETING, occurred_at=datetime(2025, 1, 10, tzinfo=UTC))
    header = "phone,marketing,date"
    contact_import = staged_import(
        editor,
        f"{header}\n+4915111111111,yes,2025-02-01\n",
        consent_mapping(header, {Purpose.MARKETING: wording}, one_date=None),
    )
    confirm(contact_import, editor)
    apply_all(contact_import)
    event = ConsentEvent.objects.get(source=ConsentSource.IMPORT)
    assert event == deciding_event(contact=contact, purpose=Purpose.MARKETING)
    assert CurrentConsent.objects.get(contact=contact, purpose=Purpose.MARKETING).event == event


def test_progress_moves_chunk_by_chunk(editor, settings):
    contact_import = plain_import(
        editor, "phone\n" + "".join(f"+49151000000{n:02d}\n" for n in range(5)) + "nonsense\n"
    )
    settings.CONTACT_IMPORT_CHUNK_ROWS = 2
    confirm(contact_import, editor)
    assert (contact_import.phase, contact_import.progress_done, contact_import.progress_total) == (
        "applying",
        0,
        5,
    )
    seen = []
    while not apply_chunk(contact_import=contact_import):
        contact_import.refresh_from_db()
        seen.append((contact_import.status, contact_import.progress_done))
    contact_import.refresh_from_db()
    assert seen == [(ImportStatus.APPLYING, 2), (ImportStatus.APPLYING, 4)]
    assert (contact_import.status, contact_import.progress_done, contact_import.progress_total) == (
        ImportStatus.APPLIED,
        5,
        5,
    )
    assert Contact.objects.count() == 5
    assert ActivityLogEntry.objects.filter(action="import.applied").count() == 1
    # Called again, it has nothing to do.
    assert apply_chunk(contact_import=contact_import)
    assert ActivityLogEntry.objects.filter(action="import.applied").count() == 1


def test_a_run_of_refused_rows_longer_than_a_chunk_is_skipped(editor, settings):
    contact_import = plain_import(
        editor, "phone\n+4915100000001\nx\ny\nz\nw\n+4915100000002\nv\n+4915100000003\n"
    )
    settings.CONTACT_IMPORT_CHUNK_ROWS = 2
    confirm(contact_import, editor)
    apply_all(contact_import)
    assert (contact_import.status, contact_import.progress_done) == (ImportStatus.APPLIED, 3)
    assert Contact.objects.count() == 3


def _queries_of_one_chunk(editor, settings, size: int, start: int) -> int:
    """Queries of applying one chunk of ``size`` rows: new and known contacts, fields, tags,
    attributes, opt-ins to record and opt-ins refused."""
    wording = make_wording()
    header = "phone,first_name,tags,attr:n,marketing"
    lines = []
    for n in range(size):
        phone = f"+49152{start + n:08d}"
        if n % 3 == 0:
            contact = ContactFactory(phone=phone, first_name="Old")
            if n % 2 == 0:
                opt_out(contact, Purpose.MARKETING, source=ConsentSource.KEYWORD)
        lines.append(f"{phone},Person{n},vip; t{n % 4},{n},yes\n")
    contact_import = staged_import(
        editor,
        header + "\n" + "".join(lines),
        consent_mapping(header, {Purpose.MARKETING: wording}),
    )
    confirm(contact_import, editor)
    settings.CONTACT_IMPORT_CHUNK_ROWS = size
    with CaptureQueriesContext(connection) as captured:
        assert apply_chunk(contact_import=contact_import)
    contact_import.refresh_from_db()
    assert applied_rows(contact_import).count() == size
    assert Contact.objects.filter(phone__startswith=f"+49152{start // 10**4:04d}").count() == size
    return len(captured)


def test_queries_per_chunk_do_not_grow_with_its_size(editor, settings):
    small = _queries_of_one_chunk(editor, settings, 10, 0)
    # Within one INSERT on SQLite, where Django splits a bulk insert at 999 parameters (124 chain links).
    large = _queries_of_one_chunk(editor, settings, 120, 10_000)
    assert small == large


def test_confirm_once_only_from_preview(editor, django_capture_on_commit_callbacks):
    contact_import = plain_import(editor, "phone\n+4915111111111\n")
    with django_capture_on_commit_callbacks() as callbacks:
        confirmed = confirm(contact_import, editor)
    assert (confirmed.status, confirmed.confirmed_by, confirmed.phase) == (
        ImportStatus.APPLYING,
        editor,
        "applying",
    )
    assert confirmed.confirmed_at is not None
    assert len(callbacks) == 1  # the apply task, queued once the confirmation commits
    entry = ActivityLogEntry.objects.get(action="import.confirmed")
    assert (entry.object_id, entry.actor_user) == (str(contact_import.pk), editor)

    # A double click: the second confirmation finds the import applying already.
    with pytest.raises(ApplicationError) as refused:
        confirm(ContactImport.objects.get(pk=contact_import.pk), editor)
    assert refused.value.code == "import_not_in_preview"
    assert ActivityLogEntry.objects.filter(action="import.confirmed").count() == 1


@pytest.mark.parametrize("status", [ImportStatus.UPLOADED, ImportStatus.STAGING, ImportStatus.ABANDONED])
def test_confirm_refused_before_the_preview_and_after_abandoning(editor, status):
    contact_import = plain_import(editor, "phone\n+4915111111111\n")
    ContactImport.objects.filter(pk=contact_import.pk).update(status=status)
    with pytest.raises(ApplicationError) as refused:
        confirm(contact_import, editor)
    assert refused.value.code == "import_not_in_preview"
    contact_import.refresh_from_db()
    assert contact_import.status == status
    with pytest.raises(ApplicationError) as refused:
        apply_chunk(contact_import=contact_import)
    assert refused.value.code == "import_not_applying"
    assert not Contact.objects.exists()


def test_only_a_role_that_may_record_the_consent_confirms(editor, support, auditor):
    wording = make_wording()
    header = "phone,marketing"
    contact_import = staged_import(
        editor, f"{header}\n+4915111111111,yes\n", consent_mapping(header, {Purpose.MARKETING: wording})
    )
    for user in (support, auditor):
        with pytest.raises(ApplicationError) as refused:
            confirm(contact_import, user)
        assert refused.value.code == "permission_denied"
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.PREVIEW


def test_a_chunk_that_fails_writes_nothing_and_runs_again_without_duplicates(editor, monkeypatch):
    from contacts.imports import applying

    wording = make_wording()
    header = "phone,tags,marketing"
    contact_import = staged_import(
        editor,
        header + "\n" + "".join(f"+49151000000{n:02d},vip,yes\n" for n in range(5)),
        consent_mapping(header, {Purpose.MARKETING: wording}),
    )
    confirm(contact_import, editor)
    real_refresh = applying.current_consent_refresh_bulk

    def crash(**kwargs):
        raise RuntimeError("worker lost")

    monkeypatch.setattr(applying, "current_consent_refresh_bulk", crash)
    with pytest.raises(RuntimeError):
        apply_chunk(contact_import=contact_import)
    assert not Contact.objects.exists()
    assert not ConsentEvent.objects.exists()
    assert not Tag.objects.exists()
    contact_import.refresh_from_db()
    assert contact_import.applied_through == 0 and not applied_rows(contact_import).exists()

    monkeypatch.setattr(applying, "current_consent_refresh_bulk", real_refresh)
    apply_all(contact_import)
    assert Contact.objects.count() == 5
    assert ConsentEvent.objects.count() == 5
    assert CurrentConsent.objects.filter(status=ConsentStatus.OPTED_IN).count() == 5
    assert contact_import.counts["events_recorded"] == 5


def test_an_event_already_in_the_ledger_for_a_row_is_not_recorded_again(editor):
    """Belt and braces: were the import's place lost, a row's signal key still keeps one event."""
    wording = make_wording()
    header = "phone,marketing"
    contact_import = staged_import(
        editor, f"{header}\n+4915111111111,yes\n", consent_mapping(header, {Purpose.MARKETING: wording})
    )
    confirm(contact_import, editor)
    apply_all(contact_import)
    ContactImport.objects.filter(pk=contact_import.pk).update(status=ImportStatus.APPLYING, applied_through=0)
    apply_all(contact_import)
    assert ConsentEvent.objects.count() == 1
    assert Contact.objects.count() == 1


def test_times_in_the_ledger_are_the_rows_and_now(editor):
    wording = make_wording()
    header = "phone,marketing,date"
    contact_import = staged_import(
        editor,
        f"{header}\n+4915111111111,yes,2025-02-01 14:30\n",
        consent_mapping(header, {Purpose.MARKETING: wording}, one_date=None),
    )
    started = timezone.now()
    confirm(contact_import, editor)
    apply_all(contact_import)
    event = ConsentEvent.objects.get()
    assert event.occurred_at == row(contact_import, 2).consent_at
    assert started <= event.recorded_at <= timezone.now() + timedelta(seconds=1)


def test_the_rights_are_checked_against_the_import_as_it_is_when_confirmed(editor):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    wording = make_wording()
    header = "phone,marketing"
    contact_import = staged_import(
        editor, f"{header}\n+4915111111111,yes\n", consent_mapping(header, {Purpose.MARKETING: wording})
    )
    # Someone who may change imports but not record opt-ins, holding the import as it was read
    # before it was mapped with a consent column.
    clerk = UserFactory(username="clerk")
    clerk.user_permissions.add(Permission.objects.get(codename="change_contactimport"))
    stale = ContactImport.objects.get(pk=contact_import.pk)
    stale.mapping = {"columns": [{"column": 0, "field": "phone"}], "region": "DE"}
    with pytest.raises(ApplicationError) as refused:
        confirm(stale, clerk)
    assert refused.value.code == "permission_denied"
    assert not ConsentEvent.objects.exists()


def test_a_contact_merged_after_the_chunk_matched_its_rows_gets_the_opt_in_on_its_survivor(
    editor, monkeypatch
):
    """A merge committed between the chunk's matching and its locks: the row is re-pointed to the
    survivor before anything is judged or written, never left on the merged-away contact."""
    from contacts.imports import applying
    from contacts.merging import contact_merge

    wording = make_wording(Purpose.MARKETING)
    merged = ContactFactory(phone="+4915111111111", first_name="Ada")
    survivor = ContactFactory(phone="+4915199999999", first_name="Ada")
    header = "phone,first_name,marketing"
    contact_import = staged_import(
        editor,
        f"{header}\n+49 151 11111111,Ada,yes\n",
        consent_mapping(header, {Purpose.MARKETING: wording}),
    )
    assert row(contact_import, 2).contact == merged
    confirm(contact_import, editor)
    matching = applying.validation.match_rows

    def match_then_merge(*args, **kwargs):
        matching(*args, **kwargs)
        if not Contact.objects.filter(pk=merged.pk, merged_into__isnull=False).exists():
            contact_merge(survivor=survivor, merged=merged, actor=Actor.for_user(editor), reason="One person")

    monkeypatch.setattr(applying.validation, "match_rows", match_then_merge)
    apply_all(contact_import)

    assert contact_import.status == ImportStatus.APPLIED
    assert row(contact_import, 2).contact == survivor
    event = ConsentEvent.objects.get(source=ConsentSource.IMPORT)
    assert event.contact == survivor
    assert not ConsentEvent.objects.filter(contact=merged).exists()
    current = CurrentConsent.objects.get(contact=survivor, purpose=Purpose.MARKETING)
    assert (current.status, current.event) == (ConsentStatus.OPTED_IN, event)
    assert not CurrentConsent.objects.filter(contact=merged).exists()


def test_the_country_of_a_number_built_from_its_digits_is_the_parsed_ones():
    """``applying._country_of`` builds the number instead of parsing it: the same country for the
    calling codes several countries share, Italy's leading zero included."""
    import random

    import phonenumbers

    from contacts.imports.applying import _country_of

    rng = random.Random(3)
    shared = [code for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items() if len(regions) > 1]
    checked = 0
    for _ in range(4000):
        code = rng.choice(shared)
        national = rng.choice(["", "0", "00", "3"]) + "".join(str(rng.randint(0, 9)) for _ in range(9))
        try:
            number = phonenumbers.parse(f"+{code}{national}")
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(number):
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        region = phonenumbers.region_code_for_number(phonenumbers.parse(e164))
        assert _country_of(e164) == (region if region in phonenumbers.SUPPORTED_REGIONS else ""), e164
        checked += 1
    assert checked > 200


def test_a_confirmation_of_a_preview_mapped_again_since_is_refused(editor):
    """Editor A read a preview without opt-ins; B mapped the file again with a consent column. A's
    stale Confirm must not record opt-ins in A's name for a preview A never read."""
    from contacts.imports.applying import import_confirm, preview_token

    wording = make_wording()
    header = "phone,marketing"
    read_by_a = plain_import(editor, f"{header}\n+4915111111111,yes\n")
    token = preview_token(read_by_a)
    remapped = staged_import(
        editor, f"{header}\n+4915111111111,yes\n", consent_mapping(header, {Purpose.MARKETING: wording})
    )
    ContactImport.objects.filter(pk=read_by_a.pk).update(mapping=remapped.mapping, counts=remapped.counts)
    with pytest.raises(ApplicationError) as refused:
        import_confirm(contact_import=read_by_a, actor=Actor.for_user(editor), user=editor, previewed=token)
    assert refused.value.code == "import_preview_changed"
    assert ContactImport.objects.get(pk=read_by_a.pk).status == ImportStatus.PREVIEW
    fresh = ContactImport.objects.get(pk=read_by_a.pk)
    import_confirm(
        contact_import=fresh, actor=Actor.for_user(editor), user=editor, previewed=preview_token(fresh)
    )
    assert ContactImport.objects.get(pk=read_by_a.pk).status == ImportStatus.APPLYING
