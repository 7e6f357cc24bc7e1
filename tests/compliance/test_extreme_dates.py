"""Every date a compliance page or command takes, at the calendar's edges or no date at all: a
clear message (200 with the form's error, or 400) or a CommandError, never a 500 or a traceback.
Years 1 and 9999 overflowed Python's datetime when a day was turned into an instant (a day added
for an inclusive end, the shop's time zone converted to UTC)."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from compliance.dates import OUT_OF_RANGE
from contacts.models import ActivityLogEntry

EXTREMES = [
    ("9999-12-30", "9999-12-31"),
    ("0001-01-01", "0001-01-02"),
    ("0001-01-01", "9999-12-31"),
    ("2026-05-01", "9999-12-31"),
    ("garbage", "2026-05-01"),
    ("2026-13-45", "2026-05-01"),
]
DAYS = ["9999-12-31", "0001-01-01", "garbage", "2026-13-45"]
MESSAGES = (OUT_OF_RANGE, "Enter a valid date", "takes a day", "Correct the period")


def _says_why(html: str) -> bool:
    return any(message in html for message in MESSAGES)


@pytest.mark.parametrize(("start", "end"), EXTREMES)
@pytest.mark.parametrize(
    ("page", "query"),
    [
        ("admin:compliance_consentproof_changelist", "since={start}&until={end}"),
        ("admin:compliance_backdatedoptoutreport_changelist", "since={start}&until={end}"),
        ("admin:compliance_consentauditexport_changelist", "date_from={start}&date_to={end}"),
    ],
)
def test_every_period_page_refuses_extreme_dates_with_a_message(client_for, auditor, page, query, start, end):
    response = client_for(auditor).get(reverse(page) + "?" + query.format(start=start, end=end))
    assert response.status_code in (200, 400)
    assert _says_why(response.content.decode())
    assert not ActivityLogEntry.objects.filter(action__startswith="compliance.").exists()


@pytest.mark.parametrize("day", DAYS)
@pytest.mark.parametrize(
    ("page", "query"),
    [
        ("admin:compliance_consentauditexport_changelist", "date_from={day}T00:00&download=1"),
        ("admin:compliance_consentauditexport_changelist", "date_to={day}T23:59"),
        ("admin:compliance_consent_at", "purpose=marketing&at={day}T23:59"),
        ("admin:compliance_consent_at", "purpose=marketing&at={day}&download=1"),
    ],
)
def test_every_instant_field_refuses_extreme_dates_with_a_message(client_for, auditor, page, query, day):
    response = client_for(auditor).get(reverse(page) + "?" + query.format(day=day))
    assert response.status_code in (200, 400)
    assert _says_why(response.content.decode())
    assert not ActivityLogEntry.objects.filter(action__startswith="compliance.").exists()


@pytest.mark.parametrize(("start", "end"), EXTREMES)
@pytest.mark.parametrize(
    "arguments",
    [
        ["consent_proof", "--from", "{start}", "--to", "{end}"],
        ["compliance_export", "consent_audit", "--from", "{start}", "--to", "{end}"],
    ],
)
def test_every_command_refuses_extreme_dates_with_a_command_error(db, arguments, start, end):
    with pytest.raises(CommandError, match="Nothing exported|Enter a valid|" + OUT_OF_RANGE[:20]):
        call_command(*[argument.format(start=start, end=end) for argument in arguments])
    assert not ActivityLogEntry.objects.filter(action__startswith="compliance.").exists()


@pytest.mark.parametrize("day", DAYS)
@pytest.mark.parametrize("at", ["{day}", "{day}T23:59"])
def test_the_point_in_time_command_refuses_extreme_dates(db, at, day):
    with pytest.raises(CommandError, match="Nothing exported|Enter a valid|" + OUT_OF_RANGE[:20]):
        call_command("compliance_export", "consent_at", "--purpose", "marketing", "--at", at.format(day=day))
