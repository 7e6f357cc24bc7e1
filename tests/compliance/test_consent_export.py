"""The consent audit export through its admin page and its command: exact rows for each filter,
formula-safe cells, masking, the audit entries, role rights and refused input."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.urls import reverse

from compliance.audit import ABORTED, FINISHED, STARTED
from compliance.consent_export import (
    CONSENT_AUDIT,
    ConsentFilters,
    consent_columns,
    consent_events,
    export_report,
)
from contacts.models import ActivityLogEntry, ConsentAction, ConsentSource, ConsentWording, Purpose, Tag
from core.actors import Actor
from tests.factories import ContactFactory, ledger_event, make_segment

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
IN, OUT = ConsentAction.OPT_IN, ConsentAction.OPT_OUT
URL = "/admin/compliance/consentauditexport/"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def event(contact, action, *, occurred, recorded=None, source=ConsentSource.WEB_FORM, purpose="marketing"):
    return ledger_event(
        contact,
        action=action,
        source=source,
        occurred_at=occurred,
        recorded_at=recorded or occurred,
        purpose=purpose,
    )


@pytest.fixture
def ledger(db):
    """Ana (+4915123456701, tagged VIP): in, out, in again (marketing), in (service).
    Ben (+4915123456702): in; a STOP dated 8 recorded at 30, with evidence naming IP and browser."""
    ana = ContactFactory(phone="+4915123456701", language="de")
    ben = ContactFactory(phone="+4915123456702", language="en")
    ana.tags.add(Tag.objects.create(name="VIP"))
    e = {
        "ana_in": event(ana, IN, occurred=at(0)),
        "ana_out": event(ana, OUT, occurred=at(10), source=ConsentSource.KEYWORD),
        "ana_in_again": event(ana, IN, occurred=at(20)),
        "ana_service": event(ana, IN, occurred=at(5), purpose=Purpose.SERVICE),
        "ben_in": event(ben, IN, occurred=at(0)),
    }
    stop = ledger_event(
        ben,
        action=OUT,
        source=ConsentSource.STAFF,
        occurred_at=at(8),
        recorded_at=at(30),
        purpose="marketing",
    )
    e["ben_stop"] = stop
    return ana, ben, e


def rows_of(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(body)))


def ids(rows) -> list[int]:
    return [int(row["event_id"]) for row in rows]


def download(client, **params):
    return client.get(URL, {**params, "download": "1"})


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["ana_in", "ana_out", "ana_in_again", "ana_service", "ben_in", "ben_stop"]),
        ({"purpose": "service"}, ["ana_service"]),
        ({"action": "opt_out"}, ["ana_out", "ben_stop"]),
        ({"source": "keyword"}, ["ana_out"]),
        # By occurrence, Ben's STOP (dated 8) falls in 5..10; by recording (at 30) it does not.
        (
            {"date_from": "2026-03-01T09:05:00Z", "date_to": "2026-03-01T09:10:00Z"},
            ["ana_out", "ana_service", "ben_stop"],
        ),
        (
            {
                "date_field": "recorded",
                "date_from": "2026-03-01T09:05:00Z",
                "date_to": "2026-03-01T09:10:00Z",
            },
            ["ana_out", "ana_service"],
        ),
        ({"date_field": "recorded", "date_from": "2026-03-01T09:30:00Z"}, ["ben_stop"]),
        ({"phone": "+49 151 23456702"}, ["ben_in", "ben_stop"]),
        ({"phone": "015123456702"}, ["ben_in", "ben_stop"]),
        (
            {"purpose": "marketing", "action": "opt_in", "actor": "tests"},
            ["ana_in", "ana_in_again", "ben_in"],
        ),
        ({"actor": "nobody"}, []),
    ],
)
def test_filters_give_exactly_these_events(client_for, auditor, ledger, params, expected):
    _ana, _ben, e = ledger
    response = download(client_for(auditor), **params)
    assert response.status_code == 200
    assert ids(rows_of(response)) == [e[name].pk for name in expected]


def test_tag_segment_and_contact_filters(client_for, auditor, ledger):
    ana, _ben, e = ledger
    client = client_for(auditor)
    ana_events = [e[n].pk for n in ("ana_in", "ana_out", "ana_in_again", "ana_service")]
    assert ids(rows_of(download(client, tag=Tag.objects.get(name="VIP").pk))) == ana_events
    english = make_segment("English", {"op": "all", "rules": [{"kind": "language", "in": ["en"]}]})
    assert ids(rows_of(download(client, segment=english.pk))) == [e["ben_in"].pk, e["ben_stop"].pk]
    assert ids(rows_of(download(client, contact=ana.pk))) == ana_events


def test_a_row_has_the_full_evidence_and_the_wording_text(client_for, auditor, db):
    contact = ContactFactory(phone="+4915123456703")
    wording = ConsentWording.objects.create(purpose="marketing", language="de", version=1, text="Ja, bitte.")
    from contacts.models import ConsentEvent

    stamped = ConsentEvent(
        contact=contact,
        purpose="marketing",
        action=IN,
        source=ConsentSource.WEB_FORM,
        wording=wording,
        evidence={"ip": "203.0.113.7", "user_agent": "Firefox", "page": "https://shop.example/join"},
        occurred_at=at(0),
        recorded_at=at(1),
    )
    stamped.set_actor(Actor.system("web shop"))
    stamped.save()
    [row] = rows_of(download(client_for(auditor)))
    assert row["phone"] == "'+4915123456703"  # "+" starts a formula in a spreadsheet
    assert (row["wording_text"], row["wording_version"], row["wording_language"]) == ("Ja, bitte.", "1", "de")
    assert json.loads(row["evidence"]) == {
        "ip": "203.0.113.7",
        "user_agent": "Firefox",
        "page": "https://shop.example/join",
    }
    assert (row["occurred_at"], row["recorded_at"]) == (
        "2026-03-01T09:00:00.000000Z",
        "2026-03-01T09:01:00.000000Z",
    )
    assert row["effective_at"] == row["occurred_at"]
    assert (row["actor"], row["actor_kind"], row["purpose"], row["action"]) == (
        "web shop",
        "system",
        "marketing",
        IN,
    )


def test_formula_cells_are_neutralised_in_csv_but_not_in_jsonl(client_for, auditor, db):
    contact = ContactFactory()
    ledger_event(contact, action=IN, source="web_form", occurred_at=at(0), recorded_at=at(0))
    from contacts.models import ConsentEvent

    evil = ConsentEvent(
        contact=contact,
        purpose="marketing",
        action=OUT,
        source=ConsentSource.STAFF,
        wording_text='=HYPERLINK("http://evil.example","click")',
        occurred_at=at(1),
        recorded_at=at(1),
    )
    evil.set_actor(Actor(kind="user", label="@SUM(A1)"))
    evil.save()
    client = client_for(auditor)
    row = rows_of(download(client, action="opt_out"))[0]
    assert row["wording_free_text"] == '\'=HYPERLINK("http://evil.example","click")'
    assert row["actor"] == "'@SUM(A1)"
    lines = (
        b"".join(download(client, action="opt_out", output="jsonl").streaming_content).decode().splitlines()
    )
    record = json.loads(lines[1])
    assert record["wording_free_text"] == '=HYPERLINK("http://evil.example","click")'
    assert record["actor"] == "@SUM(A1)"


def test_masking_for_users_without_the_permission_and_on_request(client_for, auditor, editor, db):
    contact = ContactFactory(phone="+4915123456704")
    from contacts.models import ConsentEvent

    with_evidence = ConsentEvent(
        contact=contact,
        purpose="marketing",
        action=IN,
        source=ConsentSource.WEB_FORM,
        wording_text="Yes",
        evidence={"ip": "203.0.113.7", "user_agent": "Firefox", "order": "A-1"},
        occurred_at=at(0),
        recorded_at=at(0),
    )
    with_evidence.set_actor(Actor.system("tests"))
    with_evidence.save()
    masked_evidence = {"ip": "masked", "user_agent": "masked", "order": "A-1"}

    [row] = rows_of(download(client_for(auditor)))
    assert row["phone"] == "'+4915123456704"
    assert json.loads(row["evidence"])["ip"] == "203.0.113.7"

    [row] = rows_of(download(client_for(auditor), mask="on"))
    assert row["phone"] == "'+49…04"
    assert json.loads(row["evidence"]) == masked_evidence

    editor.user_permissions.add(Permission.objects.get(codename="export_consent_audit"))
    [row] = rows_of(download(client_for(editor)))  # no personal-data permission: always masked
    assert row["phone"] == "'+49…04"
    assert json.loads(row["evidence"]) == masked_evidence
    entry = ActivityLogEntry.objects.filter(action=FINISHED).first()
    assert entry.details["masked"] is True and entry.actor_label == editor.username


def test_every_export_is_logged_with_report_filters_and_rows(client_for, auditor, ledger):
    client = client_for(auditor)
    response = download(client, purpose="marketing", action="opt_out", output="jsonl")
    assert response["X-Rows-Matched"] == "2"
    started = ActivityLogEntry.objects.get(action=STARTED)
    assert started.details["rows_matched"] == 2  # written before the first byte
    assert not ActivityLogEntry.objects.filter(action=FINISHED).exists()
    body = b"".join(response.streaming_content).decode()
    finished = ActivityLogEntry.objects.get(action=FINISHED)
    assert finished.actor_label == auditor.username
    assert finished.details["export_id"] == started.details["export_id"]
    assert finished.details["report"] == CONSENT_AUDIT
    assert finished.details["filters"] == {
        "purpose": "marketing",
        "action": "opt_out",
        "date_field": "occurred",
    }
    assert finished.details["rows"] == 2
    assert finished.details["output"] == "jsonl"
    metadata = json.loads(body.splitlines()[0])["metadata"]
    assert metadata["filters"] == finished.details["filters"]


def test_an_abandoned_download_is_logged_as_aborted(auditor, ledger):
    export = export_report(
        report=CONSENT_AUDIT,
        rows=consent_events(ConsentFilters()),
        columns=consent_columns(mask=False),
        actor=Actor.for_user(auditor),
        described_filters={},
    )
    next(export.chunks)  # the header line; then the client goes away and the server closes the stream
    export.chunks.close()
    aborted = ActivityLogEntry.objects.get(action=ABORTED)
    assert aborted.details["rows_written"] == 0
    assert "closed" in aborted.details["reason"]
    assert not ActivityLogEntry.objects.filter(action=FINISHED).exists()


def test_an_empty_result_is_a_file_with_headers(client_for, auditor, db):
    response = download(client_for(auditor), bom="on")
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")
    assert body.decode("utf-8-sig").strip() == ",".join(c.name for c in consent_columns(mask=False))
    assert ActivityLogEntry.objects.get(action=FINISHED).details["rows"] == 0


def test_the_page_counts_before_the_download(client_for, auditor, ledger):
    response = client_for(auditor).get(URL, {"action": "opt_out"})
    assert response.status_code == 200
    assert b'id="rows-matched"><strong>2</strong> rows match' in response.content
    assert b"download=1" in response.content
    assert not ActivityLogEntry.objects.filter(action__startswith="compliance.").exists()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"date_from": "2026-03-02T00:00:00Z", "date_to": "2026-03-01T00:00:00Z"},
            "The range ends before it starts",
        ),
        ({"purpose": "newsletter"}, "Select a valid choice"),
        ({"date_from": "last tuesday"}, "Enter a valid date/time"),
        ({"phone": "12ab"}, "is not a valid phone number"),
        ({"output": "xlsx"}, "Select a valid choice"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_is_exported(
    client_for, auditor, ledger, params, message
):
    client = client_for(auditor)
    for query in (params, {**params, "download": "1"}):
        response = client.get(URL, query)
        assert response.status_code == 200
        assert "attachment" not in response.get("Content-Disposition", "")
        assert message in response.content.decode()
    assert not ActivityLogEntry.objects.filter(action__startswith="compliance.").exists()


def test_role_rights(client, auditor, editor, approver, support, administrator, ledger):
    for user, allowed in [
        (auditor, True),
        (editor, False),
        (approver, False),
        (support, False),
        (administrator, False),
    ]:
        client.force_login(user)
        assert (client.get(URL).status_code == 200) is allowed, user.username
        assert (download(client).status_code == 200) is allowed, user.username
        assert (client.get(reverse("admin:compliance_consent_at")).status_code == 200) is allowed
    editor.user_permissions.add(Permission.objects.get(codename="export_consent_audit"))
    client.force_login(editor)
    assert client.get(URL).status_code == 200


def test_auditors_hold_both_permissions_and_change_nothing(auditor):
    assert auditor.has_perm("compliance.export_consent_audit")
    assert auditor.has_perm("compliance.view_personal_data")
    assert not any(
        p.startswith("compliance.") and not p.endswith(("export_consent_audit", "view_personal_data"))
        for p in auditor.get_all_permissions()
    )


def test_point_in_time_page_exports_the_deciding_events(client_for, auditor, ledger):
    _ana, ben, e = ledger
    client = client_for(auditor)
    url = reverse("admin:compliance_consent_at")
    params = {"purpose": "marketing", "at": "2026-03-01T09:15:00Z", "output": "csv", "download": "1"}
    happened = rows_of(client.get(url, {**params, "reading": "happened", "everyone": "on"}))
    assert [(r["state"], int(r["event_id"])) for r in happened] == [
        ("opted_out", e["ana_out"].pk),
        ("opted_out", e["ben_stop"].pk),
    ]
    known = rows_of(client.get(url, {**params, "reading": "known"}))
    assert [(r["state"], int(r["event_id"]), int(r["contact_id"])) for r in known] == [
        ("opted_in", e["ben_in"].pk, ben.pk)
    ]
    refused = client.get(url, {"purpose": "marketing", "at": "soon", "download": "1"})
    assert "Enter a valid date/time" in refused.content.decode()


def test_the_command_writes_the_same_export_and_refuses_bad_input(ledger, tmp_path, capsys):
    _ana, _ben, e = ledger
    target = tmp_path / "archive.csv"
    call_command("compliance_export", "consent_audit", "--action", "opt_out", "-o", str(target))
    with target.open(encoding="utf-8") as handle:
        assert ids(csv.DictReader(handle)) == [e["ana_out"].pk, e["ben_stop"].pk]
    finished = ActivityLogEntry.objects.get(action=FINISHED)
    assert finished.details["rows"] == 2 and finished.actor_kind == "system"
    with pytest.raises(CommandError, match="range ends before it starts"):
        call_command("compliance_export", "consent_audit", "--from", "2026-03-02", "--to", "2026-03-01")
    with pytest.raises(CommandError, match="purpose"):
        call_command("compliance_export", "consent_at", "--purpose", "newsletter", "--at", "2026-03-01")


def test_the_service_streams_in_the_recording_order(ledger):
    _ana, _ben, e = ledger
    export = export_report(
        report=CONSENT_AUDIT,
        rows=consent_events(ConsentFilters(purpose="marketing")),
        columns=consent_columns(mask=False),
        actor=Actor.system("tests"),
        described_filters={"purpose": "marketing"},
    )
    assert export.rows_matched == 5
    text = b"".join(export.chunks).decode()
    assert [int(line.split(",")[0]) for line in text.splitlines()[1:]] == sorted(
        e[n].pk for n in ("ana_in", "ana_out", "ana_in_again", "ben_in", "ben_stop")
    )


def test_an_export_states_the_ledger_anchor_covering_it(client_for, auditor, ledger):
    from contacts.ledger_chain import anchor_heads

    client = client_for(auditor)
    before = download(client, output="jsonl")
    assert "ledger_anchor" not in json.loads(b"".join(before.streaming_content).splitlines()[0])["metadata"]
    anchor = anchor_heads()
    response = download(client, output="jsonl")
    metadata = json.loads(b"".join(response.streaming_content).decode().splitlines()[0])["metadata"]
    assert metadata["ledger_anchor"]["digest"] == anchor.digest
    csv_response = download(client)
    assert csv_response["X-Ledger-Anchor"] == anchor.digest
    b"".join(csv_response.streaming_content)
    entry = ActivityLogEntry.objects.filter(action=FINISHED).first()
    assert entry.details["ledger_anchor"]["digest"] == anchor.digest


def test_auditors_find_past_exports_in_the_activity_log(client_for, auditor, ledger):
    client = client_for(auditor)
    b"".join(download(client, purpose="service").streaming_content)
    index = client.get("/admin/").content.decode()
    assert "Consent audit export" in index
    log = client.get(
        reverse("admin:contacts_activitylogentry_changelist"), {"action__startswith": "compliance."}
    )
    assert log.status_code == 200
    assert list(log.context["cl"].result_list.values_list("action", flat=True)) == [FINISHED, STARTED]
