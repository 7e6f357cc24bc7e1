"""The admin pages of contact imports: who may open what, the import's page in each state, bad input."""

import hashlib

import pytest
from django.test import Client
from django.urls import reverse

from contacts.models import ActivityLogEntry, ContactImport, ImportKind, ImportStatus
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CSV = b"Phone;First name;Newsletter\n+49 151 23456789;Anna;yes\n0151 98765432;Ben;\n"


def make_import(user=None, **fields) -> ContactImport:
    """An import as the services leave it in a given state, made directly (no file parsed)."""
    data = fields.pop("data", CSV)
    values = {
        "file_name": "customers.csv",
        "file_sha256": hashlib.sha256(data).hexdigest(),
        "file_size": len(data),
        "encoding": "utf-8",
        "delimiter": ";",
        "header": ["Phone", "First name", "Newsletter"],
        "total_rows": 2,
        "created_by": user,
        **fields,
    }
    return ContactImport.objects.create(**values)


def url(name: str, contact_import=None) -> str:
    args = [contact_import.pk] if contact_import is not None else []
    return reverse(f"admin:contacts_contactimport_{name}", args=args)


# --- Who may open what ----------------------------------------------------------------------------

READ_PAGES = ["changelist", "change", "progress", "refused", "history"]
WRITE_PAGES = ["add", "mapping"]
POSTS = ["confirm", "abandon"]


@pytest.mark.parametrize("role", ["Editor", "Auditor", "Approver", "Support", "Administrator", None])
def test_each_role_reaches_exactly_the_pages_its_permissions_allow(client, role):
    user = UserFactory(role=role)
    contact_import = make_import(status=ImportStatus.APPLYING, progress_total=10)
    client.force_login(user)
    can_view = role in ("Editor", "Auditor")
    can_change = role == "Editor"
    for page in READ_PAGES:
        target = url(page) if page == "changelist" else url(page, contact_import)
        response = client.get(target)
        assert response.status_code == (200 if can_view else 403), (role, page)
    for page in WRITE_PAGES:
        target = url(page) if page == "add" else url(page, contact_import)
        response = client.get(target, follow=False)
        # The mapping of an import being applied sends an Editor back to its page.
        assert response.status_code in ((200, 302) if can_change else (403,)), (role, page)
    for page in POSTS:
        response = client.post(url(page, contact_import))
        assert response.status_code == (302 if can_change else 403), (role, page)
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.APPLYING  # nothing moved it (not in preview)


def test_an_import_is_never_deleted_nor_edited_through_a_model_form(client_for, editor):
    contact_import = make_import(status=ImportStatus.APPLIED)
    client = client_for(editor)
    assert (
        client.get(reverse("admin:contacts_contactimport_delete", args=[contact_import.pk])).status_code
        == 403
    )
    response = client.post(url("change", contact_import), {"file_name": "other.csv", "status": "applied"})
    assert response.status_code == 405
    changelist = client.get(url("changelist"))
    assert "delete_selected" not in changelist.content.decode()
    contact_import.refresh_from_db()
    assert contact_import.file_name == "customers.csv"


def test_posts_need_the_csrf_token(editor):
    contact_import = make_import(status=ImportStatus.PREVIEW)
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    for page in ["confirm", "abandon", "mapping"]:
        assert client.post(url(page, contact_import)).status_code == 403, page
    assert client.post(url("add"), {"kind": "contacts"}).status_code == 403
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.PREVIEW
    assert ContactImport.objects.count() == 1


def test_a_get_never_confirms_or_abandons(client_for, editor):
    contact_import = make_import(status=ImportStatus.PREVIEW)
    client = client_for(editor)
    for page in POSTS:
        assert client.get(url(page, contact_import)).status_code == 405
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.PREVIEW


# --- The progress endpoint -------------------------------------------------------------------------


def test_progress_answers_the_imports_own_state_and_nothing_else(client_for, auditor, editor):
    contact_import = make_import(
        editor,
        status=ImportStatus.APPLYING,
        phase="applying",
        progress_done=12000,
        progress_total=100000,
        counts={"new": 5, "refused": 1},
        mapping={"consent_source": "shop counter"},
    )
    data = client_for(auditor).get(url("progress", contact_import)).json()
    assert data == {
        "status": "applying",
        "status_label": "Applying",
        "phase": "applying",
        "done": 12000,
        "total": 100000,
        "counts": {"new": 5, "refused": 1},
        "error": "",
    }


def test_progress_of_a_missing_import_is_a_404(client_for, auditor):
    assert (
        client_for(auditor).get(reverse("admin:contacts_contactimport_progress", args=[999])).status_code
        == 404
    )


# --- The import's page ------------------------------------------------------------------------------


def test_the_page_of_a_running_import_shows_a_progress_bar_that_follows_the_endpoint(client_for, editor):
    contact_import = make_import(
        editor, status=ImportStatus.APPLYING, phase="applying", progress_done=12000, progress_total=100000
    )
    page = client_for(editor).get(url("change", contact_import)).content.decode()
    assert '<progress id="import-progress-bar" max="100000" value="12000">' in page
    assert "12,000 of 100,000 rows applied" in page
    assert f'data-url="{url("progress", contact_import)}"' in page
    assert "contacts/import_progress.js" in page


def test_the_page_of_an_applied_import_shows_what_was_written_and_the_files_retention(
    client_for, auditor, editor, settings
):
    settings.CONTACT_IMPORT_FILE_RETENTION_DAYS = 30
    contact_import = make_import(
        editor,
        status=ImportStatus.APPLIED,
        confirmed_by=editor,
        counts={"applied_rows": 2, "contacts_created": 1, "contacts_updated": 1, "events_recorded": 1},
        mapping={
            "columns": [
                {"column": 0, "field": "phone"},
                {"column": 1, "field": "first_name", "blank": "clear"},
            ],
            "consent": [],
        },
    )
    page = client_for(auditor).get(url("change", contact_import)).content.decode()
    assert "Contacts created" in page and "Consent events recorded" in page
    until = (contact_import.created_at + __import__("datetime").timedelta(days=30)).date().isoformat()
    assert f"The file is kept until {until}" in page
    assert contact_import.file_sha256 in page
    assert "Column 1 “Phone” → the phone number" in page
    assert "Column 2 “First name” → first name; a blank cell clears it" in page
    assert "import-confirm" not in page

    contact_import.file_purged_at = contact_import.created_at
    contact_import.save()
    page = client_for(auditor).get(url("change", contact_import)).content.decode()
    assert f"The file was deleted on {contact_import.created_at.date().isoformat()}" in page


def test_the_changelist_sums_up_each_import_and_offers_the_upload(client_for, editor, auditor):
    make_import(
        editor, status=ImportStatus.PREVIEW, counts={"new": 1200, "updated": 3, "unchanged": 0, "refused": 2}
    )
    make_import(
        editor, status=ImportStatus.APPLIED, kind=ImportKind.SUPPRESSION, counts={"contacts_created": 7}
    )
    page = client_for(editor).get(url("changelist")).content.decode()
    assert "1,200 new · 3 updated · 0 unchanged · 2 refused" in page
    assert "7 created" in page
    assert 'id="upload-import"' in page
    assert 'id="upload-import"' not in client_for(auditor).get(url("changelist")).content.decode()


# --- Upload -----------------------------------------------------------------------------------------


def upload(client, content: bytes, name="customers.csv", **fields):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {"kind": "contacts", "encoding": "auto", "delimiter": "auto", **fields}
    return client.post(url("add"), {**data, "file": SimpleUploadedFile(name, content, "text/csv")})


def test_the_add_button_leads_to_the_upload_which_keeps_the_file_and_offers_the_mapping(client_for, editor):
    client = client_for(editor)
    page = client.get(url("add")).content.decode()
    assert 'enctype="multipart/form-data"' in page and 'name="delimiter"' in page
    response = upload(client, CSV, delimiter=";")
    contact_import = ContactImport.objects.get()
    assert response.status_code == 302 and response["Location"] == url("mapping", contact_import)
    assert contact_import.created_by == editor and contact_import.delimiter == ";"
    assert bytes(contact_import.file.data) == CSV
    assert contact_import.status == ImportStatus.UPLOADED and contact_import.total_rows == 2


@pytest.mark.parametrize(
    "content,name,message",
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "customers.pdf", "customers.pdf is a PDF document"),
        (b"", "empty.csv", "The submitted file is empty"),
        (b"\xef\xbb\xbf \r\n", "blank.csv", "blank.csv is empty"),
        (b"Phone,First name\n", "header_only.csv", "has a header but no rows"),
    ],
    ids=["pdf", "zero-bytes", "only-a-bom", "no-rows"],
)
def test_a_file_that_is_no_table_is_refused_on_the_form_and_nothing_is_written(
    client_for, editor, content, name, message
):
    response = upload(client_for(editor), content, name=name)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["file"])
    assert not ContactImport.objects.exists()


def test_a_file_larger_than_the_setting_is_refused_while_it_is_read(client_for, editor, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 40
    response = upload(client_for(editor), CSV)  # 77 bytes
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["file"])
    assert "larger than 40\xa0bytes" in errors and "This field is required" not in errors
    assert not ContactImport.objects.exists()


def test_a_chosen_encoding_that_does_not_fit_is_refused_on_its_field(client_for, editor):
    response = upload(
        client_for(editor), "Telefon;Straße\n+4915123456789;Hauptstraße\n".encode("cp1252"), encoding="utf-8"
    )
    assert response.status_code == 200
    assert "is not UTF-8 text" in " ".join(response.context["form"].errors["encoding"])
    assert not ContactImport.objects.exists()


# --- Mapping ----------------------------------------------------------------------------------------


def mapping_data(contact_import, **changes) -> dict:
    """The mapping form as the page offers it (the guessed mapping), with ``changes`` made."""
    from contacts.forms_imports import mapping_initial

    initial = mapping_initial(contact_import.mapping, len(contact_import.header))
    data = {}
    for name, value in {**initial, **changes}.items():
        if value is None or value is False:
            continue
        data[name] = "on" if value is True else value
    return data


def test_the_mapping_page_shows_each_column_with_its_first_values_and_the_guess(
    client_for, editor, import_for, marketing_wording
):
    contact_import = import_for(CSV, until="uploaded")
    response = client_for(editor).get(url("mapping", contact_import))
    page = response.content.decode()
    assert "Anna" in page and "Ben" in page and "+49 151 23456789" in page
    form = response.context["form"]
    assert form["col0_field"].value() == "phone"
    assert form["col1_field"].value() == "first_name"
    assert form["col2_field"].value() == "consent:marketing"  # "Newsletter"
    assert str(marketing_wording) in page
    assert 'for="id_col0_field"' in page  # every select has a label


def test_a_mapping_without_a_phone_column_is_refused_and_nothing_is_staged(client_for, editor, import_for):
    contact_import = import_for(CSV, until="uploaded")
    response = client_for(editor).post(
        url("mapping", contact_import), mapping_data(contact_import, col0_field="ignore", col2_field="ignore")
    )
    assert response.status_code == 200
    assert "No column is mapped to the phone number" in " ".join(response.context["form"].non_field_errors())
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.UPLOADED and not contact_import.rows.exists()


def test_a_consent_column_without_its_wording_date_or_source_shows_every_error_at_once(
    client_for, editor, import_for, marketing_wording, monkeypatch
):
    called = []
    monkeypatch.setattr("contacts.admin_imports.import_set_mapping", lambda **kw: called.append(kw))
    contact_import = import_for(CSV, until="uploaded")
    response = client_for(editor).post(url("mapping", contact_import), mapping_data(contact_import))
    errors = response.context["form"].errors
    assert "Column 3 (“Newsletter”) holds opt-ins to marketing: pick the consent wording" in " ".join(
        errors["wording_marketing"]
    )
    assert "Say when these people opted in" in " ".join(errors["consent_date_column"])
    assert "Say where and how" in " ".join(errors["consent_source"])
    page = response.content.decode()
    assert page.count('class="errorlist') >= 3
    assert called == []  # nothing reaches the service while the form can tell what is missing
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.UPLOADED


def test_both_a_date_column_and_one_date_is_refused_on_the_form(
    client_for, editor, import_for, marketing_wording
):
    contact_import = import_for(
        [["Phone", "Newsletter", "Signed up"], ["+4915123456789", "yes", "2025-03-01"]], until="uploaded"
    )
    data = mapping_data(
        contact_import,
        wording_marketing=marketing_wording.pk,
        consent_date_column=2,
        consent_date="2025-03-01",
        consent_source="Shop",
    )
    response = client_for(editor).post(url("mapping", contact_import), data)
    errors = response.context["form"].errors
    assert list(errors) == ["consent_date_column"] and "not both" in errors["consent_date_column"][0]


def test_the_service_stays_the_authority_on_what_the_form_cannot_check(
    client_for, editor, import_for, marketing_wording
):
    contact_import = import_for(CSV, until="uploaded")
    data = mapping_data(
        contact_import,
        wording_marketing=marketing_wording.pk,
        consent_date="2999-01-01",
        consent_source="Shop counter form",
    )
    response = client_for(editor).post(url("mapping", contact_import), data)
    assert "is in the future" in " ".join(response.context["form"].errors["consent_date"])


def test_a_bad_custom_field_key_is_shown_on_its_column(client_for, editor, import_for):
    contact_import = import_for(CSV, until="uploaded")
    response = client_for(editor).post(
        url("mapping", contact_import),
        mapping_data(contact_import, col2_field="attribute", col2_key="Customer No"),
    )
    form = response.context["form"]
    assert "Column 3 (“Newsletter”) is a custom field" in " ".join(form.errors["col2_key"])
    assert 'id="column-2" class="errors"' in response.content.decode()


def test_a_good_mapping_has_the_rows_checked_and_the_page_follows_it(
    client_for, editor, import_for, marketing_wording, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr(
        "contacts.imports.tasks.async_task", lambda func, *args, **kw: queued.append((func, args))
    )
    contact_import = import_for(CSV, until="uploaded")
    client = client_for(editor)
    data = mapping_data(
        contact_import,
        col1_clear=True,
        wording_marketing=marketing_wording.pk,
        consent_date="2025-03-01",
        consent_source="Shop counter form",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("mapping", contact_import), data)
    assert response.status_code == 302 and response["Location"] == url("change", contact_import)
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.STAGING
    assert queued == [("contacts.imports.tasks.import_stage", (contact_import.pk,))]
    assert {"column": 1, "field": "first_name", "blank": "clear"} in contact_import.mapping["columns"]
    assert contact_import.mapping["consent"] == [
        {"column": 2, "purpose": "marketing", "wording": marketing_wording.pk}
    ]
    page = client.get(url("change", contact_import)).content.decode()
    assert "0 of 2 rows checked" in page and 'id="import-progress-bar"' in page


def test_an_import_being_applied_is_not_mapped_again(client_for, editor):
    contact_import = make_import(editor, status=ImportStatus.APPLYING, mapping={"columns": []})
    client = client_for(editor)
    response = client.post(url("mapping", contact_import), {"col0_field": "phone"}, follow=True)
    assert "can be mapped only before" in response.content.decode()
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.APPLYING and contact_import.mapping == {"columns": []}


# --- The preview, confirm, abandon ------------------------------------------------------------------

PREVIEW_ROWS = [
    ["Phone", "First name", "Newsletter", "Signed up"],
    ["+4915123456789", "Anna", "yes", "2025-03-01"],  # on file as "Anne": a change, an opt-in
    ["+4915198765432", "Ben", "yes", "2025-03-01"],  # new
    ["12", "Carl", "", ""],  # refused: not a number
    ["+4915111122233", "Dora", "yes", "2025-03-01"],  # opted out since: opt-in refused
    ["+4915123456789", "Anna", "yes", "2025-03-01"],  # duplicate of line 2
]


@pytest.fixture
def previewed(import_for, marketing_wording, editor):
    from contacts.models import Purpose
    from tests.factories import ContactFactory, opt_out

    ContactFactory(phone="+4915123456789", first_name="Anne")
    dora = ContactFactory(phone="+4915111122233", first_name="Dora")
    opt_out(dora, Purpose.MARKETING)
    return import_for(PREVIEW_ROWS, wording=marketing_wording, consent_date_column=3)


def test_the_preview_shows_counts_refused_rows_changes_and_opt_in_refusals(client_for, editor, previewed):
    page = client_for(editor).get(url("change", previewed)).content.decode()
    counts = previewed.counts
    assert counts["new"] == 1 and counts["refused"] == 2 and counts["opt_ins_refused"] == 1
    assert f'<tr id="count-new"><th scope="row">New contacts</th><td>{counts["new"]}</td></tr>' in page
    assert f"<td>{counts['refused']}</td>" in page
    assert "duplicate of line 2" in page and "+4915123456789" in page
    assert "first name: Anne → Anna" in page  # the change, field by field
    assert "Opt-in to marketing refused" in page and "is not after the opt-out" in page
    assert 'id="import-confirm"' in page and 'id="import-abandon"' in page
    assert url("refused", previewed) in page and url("mapping", previewed) in page


def test_an_auditor_reads_the_preview_but_gets_no_buttons(client_for, auditor, previewed):
    page = client_for(auditor).get(url("change", previewed)).content.decode()
    assert 'id="import-preview"' in page and url("refused", previewed) in page
    assert 'id="import-confirm"' not in page and 'id="import-abandon"' not in page
    assert url("mapping", previewed) not in page


def test_the_preview_lists_are_paginated(client_for, editor, import_for):
    rows = [["Phone", "First name"]] + [[f"bad{n}", "X"] for n in range(60)]
    contact_import = import_for(rows)
    client = client_for(editor)
    first = client.get(url("change", contact_import))
    assert len(first.context["refused_rows"]) == 50
    assert "Page 1 of 2 (60 in all)" in first.content.decode()
    second = client.get(url("change", contact_import), {"refused_page": 2, "changes_page": "x"})
    assert [row["line"] for row in second.context["refused_rows"]] == list(range(52, 62))


def test_the_refused_rows_download_streams_a_csv_with_a_reason_column(client_for, auditor, previewed):
    response = client_for(auditor).get(url("refused", previewed))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="refused-{previewed.pk}-customers.csv"' in response["Content-Disposition"] or (
        "attachment" in response["Content-Disposition"]
    )
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with a BOM
    lines = body.decode("utf-8-sig").splitlines()
    logged = ActivityLogEntry.objects.get(action="import.refused_rows_downloaded")
    assert logged.actor_user == auditor and logged.object_id == str(previewed.pk)
    assert lines[0] == "Phone,First name,Newsletter,Signed up,reason"
    assert any(line.startswith("12,Carl") for line in lines)
    assert any("duplicate of line 2" in line for line in lines)


def test_confirm_applies_from_the_preview_once(client_for, editor, previewed, monkeypatch):
    monkeypatch.setattr("contacts.imports.tasks.async_task", lambda *args, **kwargs: None)
    from contacts.imports.applying import preview_token

    client = client_for(editor)
    token = preview_token(previewed)
    response = client.post(url("confirm", previewed), {"previewed": token}, follow=True)
    assert "Confirmed: the rows are being applied." in response.content.decode()
    previewed.refresh_from_db()
    assert previewed.status == ImportStatus.APPLYING and previewed.confirmed_by == editor
    confirmed_at = previewed.confirmed_at
    again = client.post(url("confirm", previewed), {"previewed": token}, follow=True)  # a double click
    assert "cannot be confirmed" in again.content.decode()
    previewed.refresh_from_db()
    assert previewed.confirmed_at == confirmed_at
    assert 'id="import-progress-bar"' in again.content.decode()


def test_the_preview_page_carries_its_token_and_a_confirm_without_it_changes_nothing(
    client_for, editor, previewed
):
    from contacts.imports.applying import preview_token

    client = client_for(editor)
    page = client.get(reverse("admin:contacts_contactimport_change", args=[previewed.pk])).content.decode()
    assert f'name="previewed" value="{preview_token(previewed)}"' in page
    response = client.post(url("confirm", previewed), follow=True)  # a forged form without it
    assert "was mapped again since you read its preview" in response.content.decode()
    previewed.refresh_from_db()
    assert previewed.status == ImportStatus.PREVIEW and previewed.confirmed_by is None


@pytest.mark.parametrize("status", [ImportStatus.UPLOADED, ImportStatus.STAGING, ImportStatus.ABANDONED])
def test_confirm_on_an_import_not_ready_says_why_and_changes_nothing(client_for, editor, status):
    contact_import = make_import(editor, status=status)
    response = client_for(editor).post(url("confirm", contact_import), follow=True)
    assert response.status_code == 200
    assert "only an import ready to confirm can be" in response.content.decode()
    contact_import.refresh_from_db()
    assert contact_import.status == status and contact_import.confirmed_by is None


def test_abandon_keeps_the_record_and_drops_the_staged_rows(client_for, editor, previewed):
    response = client_for(editor).post(url("abandon", previewed), follow=True)
    page = response.content.decode()
    assert "Abandoned: nothing of this file was applied." in page
    previewed.refresh_from_db()
    assert previewed.status == ImportStatus.ABANDONED and not previewed.rows.exists()
    again = client_for(editor).post(url("abandon", previewed), follow=True)
    assert "only an import not confirmed yet can be abandoned" in again.content.decode()


def test_change_mapping_from_the_preview_offers_the_mapping_in_use_and_checks_the_rows_again(
    client_for, editor, previewed, marketing_wording, monkeypatch
):
    monkeypatch.setattr("contacts.imports.tasks.async_task", lambda *args, **kwargs: None)
    client = client_for(editor)
    form = client.get(url("mapping", previewed)).context["form"]
    assert form["wording_marketing"].value() == marketing_wording.pk
    assert form["consent_date_column"].value() == 3
    data = mapping_data(previewed, col1_field="last_name")
    response = client.post(url("mapping", previewed), data)
    assert response.status_code == 302
    previewed.refresh_from_db()
    assert previewed.status == ImportStatus.STAGING and not previewed.rows.exists()
    assert {"column": 1, "field": "last_name", "blank": "keep"} in previewed.mapping["columns"]
    page = client.get(url("change", previewed)).content.decode()
    assert 'id="import-abandon"' in page  # checking the rows can still be given up


def test_a_suppression_list_is_mapped_to_the_purposes_it_opts_out_of(
    client_for, editor, import_for, monkeypatch
):
    monkeypatch.setattr("contacts.imports.tasks.async_task", lambda *args, **kwargs: None)
    contact_import = import_for(b"Mobile;Name\n+4915123456789;Ann\n", kind="suppression", until="uploaded")
    client = client_for(editor)
    response = client.get(url("mapping", contact_import))
    form = response.context["form"]
    # Only what a suppression list reads: phone or ignore, the purposes, the region, the source.
    assert dict(form.fields["col0_field"].choices).keys() == {"phone", "ignore"}
    assert "col0_key" not in form.fields and "col0_clear" not in form.fields
    assert "wording_marketing" not in form.fields and "consent_date" not in form.fields
    page = response.content.decode()
    assert "Clear when blank" not in page and "Custom field key" not in page
    assert "Where the list comes from" in page
    assert sorted(form["suppress_purposes"].value()) == ["marketing", "service"]
    response = client.post(url("mapping", contact_import), mapping_data(contact_import, suppress_purposes=[]))
    errors = response.context["form"].errors
    assert "Pick the purposes" in " ".join(errors["suppress_purposes"])
    assert "Say where the list comes from" in " ".join(errors["consent_source"])
    response = client.post(
        url("mapping", contact_import),
        mapping_data(contact_import, suppress_purposes=[], consent_source=" - "),
    )
    assert "Say where the list comes from" in " ".join(response.context["form"].errors["consent_source"])
    response = client.post(
        url("mapping", contact_import),
        mapping_data(
            contact_import,
            suppress_purposes=["marketing"],
            consent_source="Opt-out list of the old SMS provider",
        ),
    )
    assert response.status_code == 302
    contact_import.refresh_from_db()
    assert contact_import.mapping["suppress_purposes"] == ["marketing"]
    assert contact_import.mapping["consent_source"] == "Opt-out list of the old SMS provider"
    assert contact_import.mapping["columns"] == [{"column": 0, "field": "phone"}]
    assert (
        "Every number is opted out of: marketing"
        in client.get(url("change", contact_import)).content.decode()
    )


def test_a_suppression_list_page_never_speaks_of_refused_opt_ins(client_for, auditor, editor):
    contact_import = make_import(
        editor,
        status=ImportStatus.APPLIED,
        kind=ImportKind.SUPPRESSION,
        counts={"applied_rows": 2, "contacts_created": 1, "opt_ins_refused": 0, "events_recorded": 2},
        mapping={
            "columns": [{"column": 0, "field": "phone"}],
            "consent": [],
            "suppress_purposes": ["marketing"],
        },
    )
    page = client_for(auditor).get(url("change", contact_import)).content.decode()
    assert "Consent events recorded" in page and "opting-back-in" not in page


def test_the_file_size_is_shown_once_and_readable(client_for, auditor, editor):
    page = client_for(auditor).get(url("change", make_import(editor, file_size=710))).content.decode()
    assert "<td>710\xa0bytes</td>" in page and page.count("710") == 1
    page = client_for(auditor).get(url("change", make_import(editor, file_size=3_500_000))).content.decode()
    assert "<td>3.3\xa0MB</td>" in page


def test_abandon_asks_first_and_still_works_as_a_plain_post(client_for, editor, previewed):
    page = client_for(editor).get(url("change", previewed)).content.decode()
    assert 'id="import-abandon"' in page and 'onsubmit="return confirm(' in page
    assert '<form method="get" action="' + url("mapping", previewed) + '" id="import-change-mapping">' in page
    client_for(editor).post(url("abandon", previewed))
    previewed.refresh_from_db()
    assert previewed.status == ImportStatus.ABANDONED


@pytest.mark.parametrize("role", ["auditor", "editor"])
def test_the_applied_page_keeps_the_refused_rows_their_download_and_the_changes(
    client_for, previewed, role, request
):
    previewed.status = ImportStatus.APPLIED
    previewed.save(update_fields=["status"])
    response = client_for(request.getfixturevalue(role)).get(url("change", previewed))
    page = response.content.decode()
    assert 'id="import-result"' in page and 'id="import-preview"' not in page
    assert 'id="import-refused-csv"' in page and url("refused", previewed) in page
    assert "duplicate of line 2" in page and 'id="import-refused"' in page
    assert "first name: Anne → Anna" in page and "Changes made to contacts on file" in page
    assert "is not after the opt-out" in page
    assert 'id="import-confirm"' not in page and 'id="import-abandon"' not in page


def test_the_applied_page_paginates_the_refused_rows(client_for, auditor, import_for):
    contact_import = import_for([["Phone", "First name"]] + [[f"bad{n}", "X"] for n in range(60)])
    contact_import.status = ImportStatus.APPLIED
    contact_import.save(update_fields=["status"])
    second = client_for(auditor).get(url("change", contact_import), {"refused_page": 2})
    assert [row["line"] for row in second.context["refused_rows"]] == list(range(52, 62))
    assert "Page 2 of 2 (60 in all)" in second.content.decode()
