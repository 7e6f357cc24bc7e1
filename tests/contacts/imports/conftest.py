"""Shared fixtures of the import tests: file builders and ``import_for``, an import taken to a step.

Kept stable for every import test module (reading, staging, validation, applying, the admin):

- ``csv_file(rows, delimiter=",", encoding="utf-8", bom=False) -> bytes``: rows (the header first)
  as a CSV file; cells are written as given (quoted where needed).
- ``xlsx_file(rows) -> bytes``: the same rows as an Excel workbook (one sheet).
- ``import_for(content, *, kind="contacts", file_name="contacts.csv", user=None, until="preview",
  mapping=None, wording=None, **mapping_changes) -> ContactImport``: uploads ``content`` (bytes,
  a str encoded as UTF-8, or a list of rows made into a CSV), then maps it — with ``mapping``
  as given, or the mapping guessed at upload updated with ``mapping_changes`` (top-level keys:
  ``consent_date="2025-03-01"``, ``consent_source=…``, ``region=…``), each consent column
  without a wording getting ``wording`` (a ConsentWording of its purpose) — then stages and
  validates it in this process. ``until`` stops after "uploaded", "staged" or "preview" (the
  default). The uploader is ``user`` or ``importer``.
- ``importer``: an Editor without a usable password (hashing one costs a second per test).
- ``marketing_wording``: a ConsentWording for marketing.
"""

import csv
import io

import pytest

from contacts.imports.services import import_set_mapping, import_upload
from contacts.imports.staging import stage_all
from contacts.imports.validation import validate_import
from contacts.models import ImportStatus, Purpose
from core.actors import Actor
from tests.factories import UserFactory, make_wording

SOURCE = "Loyalty-card form at the shop counter"


def build_csv(rows, *, delimiter=",", encoding="utf-8", bom=False) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    data = buffer.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def build_xlsx(rows) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def csv_file():
    return build_csv


@pytest.fixture
def xlsx_file():
    return build_xlsx


@pytest.fixture
def marketing_wording(db):
    return make_wording(Purpose.MARKETING)


@pytest.fixture
def importer(db):
    return UserFactory(username="ivy_importer", role="Editor", password=None)


@pytest.fixture
def import_for(db, importer):
    def make(
        content,
        *,
        kind="contacts",
        file_name="contacts.csv",
        user=None,
        until="preview",
        mapping=None,
        wording=None,
        **mapping_changes,
    ):
        if isinstance(content, list):
            content = build_csv(content)
        elif isinstance(content, str):
            content = content.encode()
        uploader = user or importer
        actor = Actor.for_user(uploader)
        contact_import = import_upload(
            file_name=file_name, data=content, kind=kind, actor=actor, user=uploader
        )
        if until == "uploaded":
            return contact_import
        if mapping is None:
            mapping = {**contact_import.mapping, **mapping_changes}
            for column in mapping.get("consent") or []:
                if (
                    column.get("wording") is None
                    and wording is not None
                    and column["purpose"] == wording.purpose
                ):
                    column["wording"] = wording.pk
            if mapping.get("consent") and not mapping.get("consent_source"):
                mapping["consent_source"] = SOURCE
        import_set_mapping(contact_import=contact_import, mapping=mapping, actor=actor)
        stage_all(contact_import=contact_import)
        if until != "staged":
            validate_import(contact_import=contact_import)
        contact_import.refresh_from_db()
        assert until == "staged" or contact_import.status == ImportStatus.PREVIEW
        return contact_import

    return make
