"""Contact imports, the staff's steps before confirming: upload a file, map its columns, abandon it.

Confirming and applying are ``contacts.imports.applying``; the background steps (staging,
validation, applying) run as django-q2 tasks (``contacts.imports.tasks``). docs/imports.md.
"""

from __future__ import annotations

import hashlib
import os
import re

from django.conf import settings
from django.db import connection, transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from contacts.imports import mapping as mapping_rules
from contacts.imports.reading import (
    AUTO,
    XLSX,
    count_data_rows,
    detect_format,
    format_of,
    read_header,
    sample_head_rows,
    sample_rows,
)
from contacts.imports.staging import stored_file
from contacts.models import (
    ContactImport,
    ImportFile,
    ImportKind,
    ImportRow,
    ImportStatus,
)
from contacts.phones import InvalidPhoneNumber, parse_phone_number
from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError

# Nothing but a BOM and white space (matched in place: no copy of a large file).
_BLANK = re.compile(rb"(?:\xef\xbb\xbf)?\s*")
# More columns than any customer list has: the mapping page shows one row per column.
MAX_COLUMNS = 200
# Hundreds of thousands of customers is a large shop; a file of tiny rows under the size limit
# could hold millions, each a staged row.
MAX_ROWS = 1_000_000

# An import may be abandoned until applying starts: nothing of it has been written to contacts.
ABANDONABLE = (ImportStatus.UPLOADED, ImportStatus.STAGING, ImportStatus.PREVIEW, ImportStatus.FAILED)
MAPPABLE = (ImportStatus.UPLOADED, ImportStatus.PREVIEW)


def import_upload(
    *,
    file_name: str,
    data: bytes,
    kind: str,
    actor: Actor,
    user=None,
    encoding: str = AUTO,
    delimiter: str = AUTO,
) -> ContactImport:
    """Keep an uploaded file as a new import, with its header and a first mapping; nothing else yet.

    Every check on the file comes before anything is written: its size, that it is a CSV or an
    Excel workbook with text in one encoding, a header naming each column once, and data rows.
    The mapping offered is the one last confirmed for the same headers, else one guessed from
    them. ``user`` is the uploader (default: the actor's user).
    """
    file_name = _clean_file_name(file_name)
    data = bytes(data or b"")
    if kind not in ImportKind.values:
        raise ApplicationError(
            f"“{kind}” is not a kind of import; use one of: {', '.join(ImportKind.values)}.",
            code="import_bad_kind",
            field="kind",
        )
    limit = settings.CONTACT_IMPORT_MAX_BYTES
    if len(data) > limit:
        raise ApplicationError(
            f"{file_name} is {filesizeformat(len(data))}, larger than an import takes "
            f"({filesizeformat(limit)}): split it into smaller files.",
            code="file_too_large",
            field="file",
        )
    if _BLANK.fullmatch(data):
        raise ApplicationError(f"{file_name} is empty.", code="file_empty", field="file")
    fmt = detect_format(file_name=file_name, data=data, encoding=encoding, delimiter=delimiter)
    header = read_header(data, fmt)
    _check_header(header)
    total = count_data_rows(data, fmt, stop_after=MAX_ROWS)
    if total > MAX_ROWS:
        raise ApplicationError(
            f"{file_name} has more than {MAX_ROWS:,} rows, more than one import takes: split it into "
            "smaller files.",
            code="file_too_many_rows",
            field="file",
        )
    if total == 0:
        raise ApplicationError(
            f"{file_name} has a header but no rows below it: there is nobody to import.",
            code="file_no_rows",
            field="file",
        )
    user = user if user is not None else (actor.user if actor.is_staff_user else None)
    with transaction.atomic():
        contact_import = ContactImport.objects.create(
            kind=kind,
            status=ImportStatus.UPLOADED,
            file_name=file_name,
            file_sha256=hashlib.sha256(data).hexdigest(),
            file_size=len(data),
            encoding=fmt.encoding,
            delimiter=fmt.delimiter,
            header=header,
            mapping=mapping_rules.initial_mapping(header, kind),
            total_rows=total,
            progress_total=total,
            created_by=user,
        )
        _store_file(contact_import, data)
        log_activity(
            actor=actor,
            action="import.uploaded",
            obj=contact_import,
            details={
                "kind": kind,
                "file_name": file_name,
                "file_sha256": contact_import.file_sha256,
                "file_size": len(data),
                "format": fmt.type,
                "encoding": fmt.encoding,
                "delimiter": fmt.delimiter,
                "rows": total,
            },
        )
    return contact_import


def import_set_mapping(*, contact_import: ContactImport, mapping: dict, actor: Actor) -> ContactImport:
    """Check and keep the mapping, remember it for these headers, and have the rows staged.

    Only before confirming (uploaded, or previewed: mapping again stages the file again, so its
    rows staged under the old mapping are deleted), and only while the file is kept: staging
    reads it again. A mapping ``check_mapping`` refuses changes nothing.
    """
    with transaction.atomic():
        current = ContactImport.objects.select_for_update().get(pk=contact_import.pk)
        if current.status not in MAPPABLE:
            raise ApplicationError(
                f"{current} is “{current.get_status_display()}”: its columns can be mapped only after "
                "uploading or from its preview.",
                code="import_not_mappable",
            )
        _check_file_kept(current)
        checked = mapping_rules.check_mapping(mapping, header=current.header, kind=current.kind)
        ImportRow.objects.filter(contact_import=current).delete()
        current.mapping = checked
        current.status = ImportStatus.STAGING
        current.phase = "staging"
        current.counts = {}
        current.progress_done = 0
        current.progress_total = current.total_rows
        # No heartbeat: the staging task claims the import by it (contacts.imports.tasks).
        current.heartbeat_at = None
        current.error = ""
        current.save(
            update_fields=[
                "mapping",
                "status",
                "phase",
                "counts",
                "progress_done",
                "progress_total",
                "heartbeat_at",
                "error",
            ]
        )
        mapping_rules.remember_mapping(current.header, current.kind, checked)
        log_activity(actor=actor, action="import.mapped", obj=current, details={"mapping": checked})
        from contacts.imports.tasks import enqueue_stage  # the tasks module imports the services

        import_id = current.pk
        transaction.on_commit(lambda: enqueue_stage(import_id))
    _refresh(contact_import, current)
    return contact_import


def import_abandon(*, contact_import: ContactImport, actor: Actor) -> ContactImport:
    """Give the import up before anything of it is applied: its staged rows go, the record stays.

    The file and its hash stay too (until the retention period ends), as the record of what was
    uploaded. Refused once applying has started: then the import finishes or fails on its own.
    """
    with transaction.atomic():
        current = ContactImport.objects.select_for_update().get(pk=contact_import.pk)
        if current.status not in ABANDONABLE:
            raise ApplicationError(
                f"{current} is “{current.get_status_display()}”: only an import not confirmed yet can "
                "be abandoned.",
                code="import_not_abandonable",
            )
        staged = ImportRow.objects.filter(contact_import=current).delete()[0]
        previous = current.status
        current.status = ImportStatus.ABANDONED
        current.phase = ""
        current.finished_at = timezone.now()
        current.save(update_fields=["status", "phase", "finished_at"])
        log_activity(
            actor=actor,
            action="import.abandoned",
            obj=current,
            details={"status_before": previous, "staged_rows_deleted": staged},
        )
    _refresh(contact_import, current)
    return contact_import


def import_samples(*, contact_import: ContactImport, rows: int = 5) -> list[list[str]]:
    """The first few values of each column (``[column][row]``), for the mapping page.

    A CSV file is read from its first bytes only, as many as hold those rows (a file may be
    50 MB; the page shows five rows). A workbook is a zip archive, readable only whole.
    ApplicationError if the file was deleted after the retention period.
    """
    _check_file_kept(contact_import)
    try:
        head = _stored_head(contact_import, 4)
        fmt = format_of(data=head, encoding=contact_import.encoding, delimiter=contact_import.delimiter)
        if fmt.type == XLSX:
            found = sample_rows(stored_file(contact_import), fmt, count=rows)
        else:
            found = sample_head_rows(lambda size: _stored_head(contact_import, size), fmt, count=rows)
    except ImportFile.DoesNotExist:  # deleted since the check (the daily purge)
        raise _file_gone(contact_import) from None
    return [
        [cells[index].strip() for cells in found if index < len(cells) and cells[index].strip()]
        for index in range(len(contact_import.header))
    ]


def _check_file_kept(contact_import: ContactImport) -> None:
    """ApplicationError unless the import's uploaded bytes are still stored."""
    if (
        contact_import.file_purged_at is not None
        or not ImportFile.objects.filter(contact_import_id=contact_import.pk).exists()
    ):
        raise _file_gone(contact_import)


def _file_gone(contact_import: ContactImport) -> ApplicationError:
    when = f" on {contact_import.file_purged_at:%Y-%m-%d}" if contact_import.file_purged_at else ""
    return ApplicationError(
        f"The file of this import ({contact_import.file_name}) was deleted{when} after the retention "
        f"period of {settings.CONTACT_IMPORT_FILE_RETENTION_DAYS} days: upload it again to import it.",
        code="import_file_deleted",
    )


def _stored_head(contact_import: ContactImport, size: int) -> bytes:
    """The first ``size`` bytes of the stored file; the database sends no more than those."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT substr(data, 1, %s) FROM contacts_importfile WHERE contact_import_id = %s",
            [size, contact_import.pk],
        )
        found = cursor.fetchone()
    if found is None:
        raise ImportFile.DoesNotExist(f"The file of import #{contact_import.pk} was deleted.")
    return bytes(found[0])


def _store_file(contact_import: ContactImport, data: bytes) -> None:
    """Keep the file's bytes. On PostgreSQL as a binary parameter: Django's client-side binding
    would first spell them out as a hex literal twice their size inside the SQL text."""
    if connection.vendor != "postgresql":
        ImportFile.objects.create(contact_import=contact_import, data=data)
        return
    import psycopg  # only on PostgreSQL

    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            "INSERT INTO contacts_importfile (contact_import_id, data) VALUES (%s, %b)",
            [contact_import.pk, data],
        )


def _clean_file_name(file_name: str) -> str:
    """The name without a path or control characters: it is shown to staff and kept as evidence."""
    name = os.path.basename((file_name or "").replace("\\", "/"))
    return "".join(ch for ch in name if ch.isprintable()).strip()[:255] or "upload"


def _check_header(header: list[str]) -> None:
    if len(header) > MAX_COLUMNS:
        raise ApplicationError(
            f"The file has {len(header)} columns; an import reads at most {MAX_COLUMNS}. Delete the "
            "columns you do not import.",
            code="header_too_wide",
            field="file",
        )
    for name in header:
        if sum(ch.isdigit() for ch in name) >= 6 and _is_phone(name):
            raise ApplicationError(
                f"The first row should name the columns, but “{name}” is a phone number: add a "
                "header row (e.g. Phone, First name) above the data.",
                code="file_no_header",
                field="file",
            )
    blank = [index + 1 for index, name in enumerate(header) if not name]
    if blank:
        columns = ", ".join(str(n) for n in blank)
        raise ApplicationError(
            f"The first row names no column {columns}: give every column a name in the header "
            "(e.g. Phone, First name), or delete the empty column.",
            code="header_blank",
            field="file",
        )
    seen: dict[str, int] = {}
    for index, name in enumerate(header):
        key = mapping_rules.normalise_header(name) or name.lower()
        if key in seen:
            raise ApplicationError(
                f"Columns {seen[key] + 1} and {index + 1} are both named “{header[seen[key]]}”"
                + (f" / “{name}”" if name != header[seen[key]] else "")
                + ": give each column its own name.",
                code="header_duplicate",
                field="file",
            )
        seen[key] = index


def _is_phone(text: str) -> bool:
    try:
        parse_phone_number(text)
    except InvalidPhoneNumber:
        return False
    return True


def _refresh(instance: ContactImport, current: ContactImport) -> None:
    """Bring the caller's instance up to date with the locked copy just saved."""
    for model_field in ContactImport._meta.concrete_fields:
        setattr(instance, model_field.attname, getattr(current, model_field.attname))
