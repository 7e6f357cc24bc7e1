"""An Auditor filters the consent audit export in the browser, sees the count, downloads the file
and finds exactly the filtered events in it."""

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contacts.models import ActivityLogEntry, ConsentAction, ConsentSource
from tests.factories import ContactFactory, UserFactory, ledger_event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_auditor_downloads_a_filtered_export_and_finds_its_rows(login, live_server):
    when = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    ana = ContactFactory(phone="+4915123456701")
    ben = ContactFactory(phone="+4915123456702")
    ledger_event(
        ana, action=ConsentAction.OPT_IN, source=ConsentSource.WEB_FORM, occurred_at=when, recorded_at=when
    )
    stop = ledger_event(
        ana, action=ConsentAction.OPT_OUT, source=ConsentSource.KEYWORD, occurred_at=when, recorded_at=when
    )
    ledger_event(
        ben, action=ConsentAction.OPT_OUT, source=ConsentSource.STAFF, occurred_at=when, recorded_at=when
    )
    page = login(UserFactory(username="audrey", role="Auditor"))

    page.goto(f"{live_server.url}/admin/")
    page.click("text=Consent audit export")
    page.select_option("#id_action", "opt_out")
    page.fill("#id_phone", "0151 234 567 01")  # Ana, in another form of her number
    page.click("#count")
    page.wait_for_selector("#rows-matched")
    assert "1 row matches" in page.inner_text("#rows-matched")

    with page.expect_download() as info:
        page.click("#download")
    path = info.value.path()
    rows = list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8-sig"))))
    assert [(int(r["event_id"]), r["action"], r["source"]) for r in rows] == [(stop.pk, "opt_out", "keyword")]
    assert rows[0]["phone"] == "'+4915123456701"
    finished = ActivityLogEntry.objects.get(action="compliance.exported")
    assert finished.details["rows"] == 1 and finished.actor_label == "audrey"

    page.goto(f"{live_server.url}/admin/compliance/consentauditexport/?date_from=tomorrow")
    assert "Enter a valid date/time" in page.inner_text("#report-form")
