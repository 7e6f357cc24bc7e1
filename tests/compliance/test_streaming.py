"""compliance.streaming: awkward text survives both formats exactly; a stream closed mid-COPY is
logged as aborted and leaves the connection usable."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from compliance.audit import ABORTED
from compliance.consent_export import (
    CONSENT_AUDIT,
    ConsentFilters,
    consent_columns,
    consent_events,
    export_report,
)
from compliance.streaming import CSV, INSTANT, JSON, JSONL, NUMBER, Column, ExportProgress, export_chunks
from contacts.models import ActivityLogEntry, ConsentEvent
from core.actors import Actor
from tests.factories import ContactFactory

AWKWARD = 'He said "stop",\nthen \\ left; tab\there; ünïcödé 😀 \x01\x02 end'
WHEN = datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)


def _event(contact, *, text=AWKWARD, evidence=None):
    event = ConsentEvent(
        contact=contact,
        purpose="marketing",
        action="opt_in",
        source="web_form",
        wording_text=text,
        evidence=evidence
        if evidence is not None
        else {"note": AWKWARD, "nested": {"list": [1, "two", None]}},
        occurred_at=WHEN,
        recorded_at=WHEN,
    )
    event.set_actor(Actor.system("tests"))
    event.save()
    return event


COLUMNS = [
    Column("id", "id", NUMBER),
    Column("text", "wording_text"),
    Column("evidence", "evidence", JSON),
    Column("at", "occurred_at", INSTANT),
    Column("wording", "wording_id", NUMBER),
]


def test_awkward_text_round_trips_in_csv_and_jsonl(db):
    event = _event(ContactFactory())
    rows = ConsentEvent.objects.filter(pk=event.pk)
    progress = ExportProgress()
    text = b"".join(export_chunks(rows, COLUMNS, output=CSV, progress=progress)).decode()
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["text"] == AWKWARD
    assert json.loads(row["evidence"]) == event.evidence
    assert row["at"] == "2026-03-01T09:00:00.123456Z"
    assert row["wording"] == ""
    assert (progress.rows, progress.finished) == (1, True)

    lines = (
        b"".join(export_chunks(rows, COLUMNS, output=JSONL, metadata={"report": "x"})).decode().splitlines()
    )
    assert json.loads(lines[0]) == {"metadata": {"report": "x"}}
    assert json.loads(lines[1]) == {
        "id": event.pk,
        "text": AWKWARD,
        "evidence": event.evidence,
        "at": "2026-03-01T09:00:00.123456Z",
        "wording": None,
    }
    assert len(lines) == 2


def test_an_unknown_output_is_refused(db):
    with pytest.raises(ValueError, match="Unknown output"):
        list(export_chunks(ConsentEvent.objects.none(), COLUMNS, output="xlsx"))


@pytest.mark.postgres
def test_a_stream_closed_in_the_middle_of_copy_is_logged_and_the_connection_still_works(db):
    # 8 MB: more than the socket buffers hold, so the cancel reaches the server mid-COPY and fails
    # it; inside the test's transaction that needs the COPY's own savepoint to leave it usable.
    contact = ContactFactory()
    for _ in range(400):
        _event(contact, text="x" * 20_000, evidence={})
    export = export_report(
        report=CONSENT_AUDIT,
        rows=consent_events(ConsentFilters()),
        columns=consent_columns(mask=False),
        actor=Actor.system("tests"),
        described_filters={},
    )
    next(export.chunks)  # the header
    next(export.chunks)  # the first quarter megabyte of rows, from inside the COPY
    export.chunks.close()
    aborted = ActivityLogEntry.objects.get(action=ABORTED)
    assert 0 < aborted.details["rows_written"] < 400
    assert ConsentEvent.objects.count() == 400  # the connection answers again
