"""The data-subject report's content against a hand-built person: two rows merged into one, several
purposes, an opt-in, an opt-out and an opt-in again, messages both ways with their statuses."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance.subject_report import SECTIONS, masked, row_count, subject_contact, subject_report
from contacts.models import ActivityLogEntry, ConsentAction, ConsentSource, Contact, Purpose
from core.errors import ApplicationError
from messaging.models import (
    AttemptOutcome,
    InboundMessage,
    MessageKind,
    MessageStatus,
    MessageStatusEvent,
    OutboundMessage,
    SendAttempt,
)
from tests.factories import ContactFactory, TagFactory, ledger_event

T0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
IN, OUT = ConsentAction.OPT_IN, ConsentAction.OPT_OUT


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def event(contact, action, minutes, *, purpose=Purpose.MARKETING, source=ConsentSource.WEB_FORM, late=0):
    return ledger_event(
        contact,
        action=action,
        source=source,
        purpose=purpose,
        occurred_at=at(minutes),
        recorded_at=at(minutes + late),
    )


def outbound(contact, minutes, *, status=MessageStatus.READ, authorised_by=None, wamid=None):
    message = OutboundMessage.objects.create(
        contact=contact,
        kind=MessageKind.TEMPLATE,
        purpose=Purpose.MARKETING,
        status=status,
        rendered_text=f"Spring sale, message at {minutes}",
        authorising_event=authorised_by,
        created_at=at(minutes),
        accepted_at=at(minutes) if wamid else None,
        actor_kind="system",
        actor_label="tests",
    )
    if wamid:
        attempt = SendAttempt.objects.create(
            message=message, number=1, outcome=AttemptOutcome.ACCEPTED, wamid=wamid, started_at=at(minutes)
        )
        for offset, status_name in enumerate(("sent", "delivered", "read"), start=1):
            MessageStatusEvent.objects.create(
                wamid=wamid,
                attempt=attempt,
                status=status_name,
                meta_timestamp=at(minutes + offset),
                received_at=at(minutes + offset),
                applied=True,
            )
    return message


@pytest.fixture
def person(db):
    """Ana: her row (opt-in, STOP, opt-in again for marketing; service opt-in), and an older row of
    hers merged into it (its own marketing opt-in, with an IP and a user agent in the evidence)."""
    ana = ContactFactory(
        phone="+4915112345678", first_name="Ana", last_name="Lima", attributes={"customer_no": "4711"}
    )
    ana.tags.add(TagFactory(name="vip"))
    old = ContactFactory(phone="+4915187654321", first_name="Ana", last_name="")
    first_in = event(ana, IN, 0)
    stop = event(ana, OUT, 10, source=ConsentSource.KEYWORD)
    again = event(ana, IN, 20, source=ConsentSource.OPT_IN_LINK)
    service = event(ana, IN, 5, purpose=Purpose.SERVICE, source=ConsentSource.CHECKOUT)
    old_in = ledger_event(
        old,
        action=IN,
        source=ConsentSource.WEB_FORM,
        occurred_at=at(-60),
        recorded_at=at(-60),
    )
    Contact.objects.filter(pk=old.pk).update(merged_into=ana, merged_at=at(30))
    sent = outbound(ana, 1, authorised_by=first_in, wamid="wamid.out.1")
    skipped = outbound(ana, 12, status=MessageStatus.SKIPPED)
    InboundMessage.objects.create(
        wamid="wamid.in.stop",
        contact=ana,
        type="text",
        text="STOP",
        payload={"from": "4915112345678", "type": "text"},
        sent_at=at(10),
        received_at=at(10),
    )
    return {
        "ana": ana,
        "old": old,
        "events": [old_in, first_in, service, stop, again],
        "sent": sent,
        "skipped": skipped,
    }


def test_the_report_holds_every_section_in_order(person):
    report = subject_report(person["ana"])

    assert [key for key in report if key in dict(SECTIONS)] == [key for key, _ in SECTIONS]
    assert report["contact"]["id"] == person["ana"].pk
    assert report["contact"]["attributes"] == {"customer_no": "4711"}
    assert report["contact"]["tags"] == ["vip"]
    assert [row["id"] for row in report["merged_rows"]] == [person["old"].pk]
    assert report["merged_rows"][0]["merged_at"] == at(30).isoformat()


def test_the_consent_history_is_every_event_of_the_person_in_the_order_they_took_effect(person):
    history = subject_report(person["ana"])["consent_history"]

    assert [row["id"] for row in history] == [e.pk for e in person["events"]]
    assert [(row["purpose"], row["action"], row["source"]) for row in history] == [
        ("marketing", IN, "web_form"),
        ("marketing", IN, "web_form"),
        ("service", IN, "checkout"),
        ("marketing", OUT, "keyword"),
        ("marketing", IN, "opt_in_link"),
    ]
    assert history[0]["contact_id"] == person["old"].pk  # the merged row's own event
    assert history[1]["wording_text"] == "Yes please"
    assert history[3]["occurred_at"] == at(10).isoformat()


def test_messages_carry_their_attempts_statuses_and_proof(person):
    report = subject_report(person["ana"])

    sent, skipped = report["outbound_messages"]
    assert sent["id"] == str(person["sent"].public_id)
    assert sent["authorising_event_id"] == person["events"][1].pk
    (attempt,) = sent["attempts"]
    assert attempt["wamid"] == "wamid.out.1"
    assert [s["status"] for s in attempt["statuses"]] == ["sent", "delivered", "read"]
    assert skipped["status"] == MessageStatus.SKIPPED and skipped["attempts"] == []
    (inbound,) = report["inbound_messages"]
    assert (inbound["text"], inbound["from"]) == ("STOP", "4915112345678")
    assert row_count(report) == 1 + 1 + 5 + 2 + 1


def test_a_merged_away_row_reports_its_survivor(person):
    old = Contact.objects.get(pk=person["old"].pk)
    assert subject_report(old)["contact"]["id"] == person["ana"].pk


def test_masking_hides_phone_numbers_and_personal_evidence_only(person):
    ana = person["ana"]
    report = subject_report(ana)
    report["consent_history"][1]["evidence"] = {
        "ip": "203.0.113.9",
        "user_agent": "Firefox",
        "page": "/signup",
    }

    hidden = masked(report)

    assert hidden["masked"] is True
    assert hidden["contact"]["phone"] == "+49…78"
    assert hidden["merged_rows"][0]["phone"] == "+49…21"
    assert hidden["consent_history"][1]["evidence"] == {
        "ip": "masked",
        "user_agent": "masked",
        "page": "/signup",
    }
    assert hidden["inbound_messages"][0]["from"] == "491…78"
    assert hidden["contact"]["first_name"] == "Ana"
    assert report["contact"]["phone"] == "+4915112345678"  # the unmasked report is left as it was


def test_the_report_reads_a_constant_number_of_queries(person):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            subject_report(Contact.objects.get(pk=person["ana"].pk))
        return len(captured)

    before = queries()
    for minute in range(40, 45):
        outbound(person["ana"], minute, authorised_by=person["events"][-1], wamid=f"wamid.more.{minute}")
        event(person["ana"], OUT, minute, purpose=Purpose.SERVICE)
    assert queries() == before


@pytest.mark.parametrize(
    ("reference", "expected"),
    [("ana_id", "ana"), ("0151 12345678", "ana"), ("+49 151 87654321", "ana"), ("4915112345678", "ana")],
)
def test_the_person_is_found_by_id_or_by_any_of_their_numbers(person, reference, expected):
    reference = str(person["ana"].pk) if reference == "ana_id" else reference
    assert subject_contact(reference) == person[expected]


@pytest.mark.parametrize(
    ("reference", "code"),
    [
        ("", "subject_missing"),
        ("999999", "subject_unknown"),
        ("+49 30 0000000", "subject_unknown"),
        ("hello", "subject_invalid"),
    ],
)
def test_an_unknown_or_malformed_reference_is_refused_with_a_reason(db, reference, code):
    with pytest.raises(ApplicationError) as refused:
        subject_contact(reference)
    assert refused.value.code == code


def test_the_command_writes_the_report_and_logs_the_export(person, tmp_path):
    target = tmp_path / "ana.json"

    call_command("subject_report", "+49 151 12345678", "--output", str(target), "--masked")

    written = json.loads(target.read_text())
    assert written["contact"]["id"] == person["ana"].pk and written["masked"] is True
    assert written["contact"]["phone"] == "+49…78"
    finished = ActivityLogEntry.objects.get(action="compliance.exported")
    assert finished.details["report"] == "data_subject"
    assert finished.details["rows"] == row_count(written)
    assert finished.details["filters"]["contact_id"] == person["ana"].pk
    assert finished.actor_kind == "system"


def test_the_command_refuses_an_unknown_contact_with_a_message(db):
    with pytest.raises(CommandError, match="no contact with the id 424242"):
        call_command("subject_report", "424242")
    assert not ActivityLogEntry.objects.filter(action__startswith="compliance.").exists()
