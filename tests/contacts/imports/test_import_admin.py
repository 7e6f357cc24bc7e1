"""The admin pages of contact imports: who may open what, the import's page in each state, bad input."""

import hashlib

import pytest
from django.test import Client
from django.urls import reverse

from contacts.models import ContactImport, ImportKind, ImportStatus
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

READ_PAGES = ["changelist", "change", "progress", "history"]
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
    assert "Column 1 “Phone” → phone number" in page
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
