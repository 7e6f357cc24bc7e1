"""Masking reaches personal data at any depth of the evidence, the same way on PostgreSQL (jsonb_set
for flat evidence, the migration's SQL function for the rest) and on SQLite (the Python walk, as
a SQL function); the exports carry it into CSV and JSON Lines (docs/compliance.md, "Masking")."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from django.db import connection

from compliance.masking import MASK, PERSONAL_EVIDENCE_KEYS, MaskedEvidence, masked_evidence
from contacts.models import ConsentAction, ConsentEvent, ConsentSource
from core.actors import Actor
from tests.factories import ContactFactory

URL = "/admin/compliance/consentauditexport/"
AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

# What the ledger's writers store, and what an API client may send.
NESTED = {
    "page": "https://shop.example/newsletter",
    "web_form": {
        "ip": "203.0.113.7",
        "user_agent": "Firefox",
        "fields": ["email", {"phone": "+4915100000001"}],
    },
    "request": {"headers": {"user_agent": "curl/8"}, "ip_address": "2001:db8::1"},
    "message": {"from": "4915100000001", "profile": {"profile_name": "Ana"}, "wamid": "wamid.X"},
    "wa_id": {"kept": "whatever the personal key holds, all of it goes"},
    "order": "A-1",
}
NESTED_MASKED = {
    "page": "https://shop.example/newsletter",
    "web_form": {"ip": MASK, "user_agent": MASK, "fields": ["email", {"phone": MASK}]},
    "request": {"headers": {"user_agent": MASK}, "ip_address": MASK},
    "message": {"from": MASK, "profile": {"profile_name": MASK}, "wamid": "wamid.X"},
    "wa_id": MASK,
    "order": "A-1",
}
SHAPES = [
    NESTED,
    {"ip": "203.0.113.7", "user_agent": "Firefox", "order": "A-1"},  # flat: the fast path
    {"order": "A-1", "rows": [1, 2.5, None, True]},
    {},
    [{"ip": "203.0.113.7"}, "ip", 3],  # a top-level array
    "a bare string",
    {"note": "ip user_agent are words here", "ip": None},
]


def test_the_python_walk_masks_every_personal_key_at_any_depth():
    assert masked_evidence(NESTED) == NESTED_MASKED
    assert masked_evidence(["ip", {"ip": 1}]) == ["ip", {"ip": MASK}]
    assert masked_evidence("ip") == "ip"
    assert masked_evidence({key: key for key in PERSONAL_EVIDENCE_KEYS}) == dict.fromkeys(
        PERSONAL_EVIDENCE_KEYS, MASK
    )


def record(contact, evidence) -> ConsentEvent:
    event = ConsentEvent(
        contact=contact,
        purpose="marketing",
        action=ConsentAction.OPT_IN,
        source=ConsentSource.API,
        wording_text="Yes",
        evidence=evidence,
        occurred_at=AT,
        recorded_at=AT,
    )
    event.set_actor(Actor.system("tests"))
    event.save()
    return event


@pytest.mark.django_db
def test_the_database_masks_every_shape_as_the_python_walk_does():
    """Run on SQLite and (with DATABASE_URL) on PostgreSQL: one answer for every shape."""
    contact = ContactFactory()
    ids = [record(contact, evidence).pk for evidence in SHAPES]
    masked = dict(
        ConsentEvent.objects.filter(pk__in=ids)
        .annotate(masked=MaskedEvidence("evidence"))
        .values_list("pk", "masked")
    )
    assert [masked[pk] for pk in ids] == [masked_evidence(evidence) for evidence in SHAPES], connection.vendor


@pytest.fixture
def nested_event(db):
    contact = ContactFactory(phone="+4915123456704")
    return record(contact, NESTED)


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def jsonl_rows(response) -> list[dict]:
    lines = b"".join(response.streaming_content).decode().splitlines()
    return [json.loads(line) for line in lines if not line.startswith('{"metadata"')]


@pytest.mark.parametrize("mask", [False, True], ids=["unmasked", "masked"])
def test_nested_evidence_in_csv_and_jsonl(client_for, auditor, nested_event, mask):
    client = client_for(auditor)
    params = {"download": "1", **({"mask": "on"} if mask else {})}
    expected = NESTED_MASKED if mask else NESTED
    [row] = csv_rows(client.get(URL, params))
    assert json.loads(row["evidence"]) == expected
    [line] = jsonl_rows(client.get(URL, {**params, "output": "jsonl"}))
    assert line["evidence"] == expected
    assert line["phone"] == ("+49…04" if mask else "+4915123456704")


def test_without_the_personal_data_permission_nested_evidence_is_always_masked(
    client_for, editor, nested_event
):
    from django.contrib.auth.models import Permission

    editor.user_permissions.add(Permission.objects.get(codename="export_consent_audit"))
    client = client_for(editor)
    [row] = csv_rows(client.get(URL, {"download": "1"}))
    assert json.loads(row["evidence"]) == NESTED_MASKED
    [line] = jsonl_rows(client.get(URL, {"download": "1", "output": "jsonl"}))
    assert line["evidence"] == NESTED_MASKED
