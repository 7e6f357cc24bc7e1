"""An export whose download ends before its first byte is still logged as aborted: a HEAD request,
a client that closes before reading, a reader that stops part-way. Otherwise only
``export_started`` would stand, which the log's rule reads as "the process died"."""

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections
from django.urls import reverse

from compliance.audit import ABORTED, FINISHED, STARTED
from compliance.consent_export import (
    CONSENT_AUDIT,
    ConsentFilters,
    consent_columns,
    consent_events,
    export_report,
)
from contacts.models import ActivityLogEntry
from core.actors import Actor
from tests.factories import ContactFactory, opt_in

EXPORT = "admin:compliance_consentauditexport_changelist"


def _close(response) -> None:
    """What the WSGI server does with every response. ``close()`` also sends ``request_finished``,
    whose ``close_old_connections`` would close the test transaction's connection: unhooked around
    it, as the test client does around its own closing."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


@pytest.fixture
def ledger(db):
    for _ in range(3):
        opt_in(ContactFactory())


def _ends() -> list[str]:
    return list(
        ActivityLogEntry.objects.filter(action__in=(FINISHED, ABORTED)).values_list("action", flat=True)
    )


def _export():
    return export_report(
        report=CONSENT_AUDIT,
        rows=consent_events(ConsentFilters()),
        columns=consent_columns(mask=False),
        actor=Actor.system("tests"),
        described_filters={},
    )


def test_a_stream_closed_before_its_first_byte_is_logged_as_aborted(ledger):
    export = _export()
    export.chunks.close()
    aborted = ActivityLogEntry.objects.get(action=ABORTED)
    assert aborted.details["rows_written"] == 0
    assert "before its first byte" in aborted.details["reason"]
    assert _ends() == [ABORTED]


def test_closing_twice_or_after_the_end_logs_one_end(ledger):
    export = _export()
    list(export.chunks)
    export.chunks.close()
    export.chunks.close()
    assert _ends() == [FINISHED]


def test_a_head_request_logs_the_start_and_the_abort(client_for, auditor, ledger):
    response = client_for(auditor).head(reverse(EXPORT) + "?download=1")
    assert response.status_code == 200
    _close(response)
    assert ActivityLogEntry.objects.filter(action=STARTED).count() == 1
    assert _ends() == [ABORTED]


def test_a_response_closed_without_reading_logs_the_abort(client_for, auditor, ledger):
    response = client_for(auditor).get(reverse(EXPORT) + "?download=1")
    _close(response)
    assert _ends() == [ABORTED]
    assert ActivityLogEntry.objects.get(action=ABORTED).details["rows_written"] == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_response_read_in_part_then_closed_logs_the_abort(client_for, auditor, ledger):
    """Committed, as in production: the test client's own wrapper around the partly read content
    hooks ``close_old_connections`` back while the response closes, which ends the connection."""
    response = client_for(auditor).get(reverse(EXPORT) + "?download=1")
    next(iter(response.streaming_content))
    response.close()
    assert _ends() == [ABORTED]
    assert "closed" in ActivityLogEntry.objects.get(action=ABORTED).details["reason"]
