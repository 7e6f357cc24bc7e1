"""Sealed anchors and evidence the database spells its own way (docs/consent-chain.md).

An anchor is an HMAC under the chain key over its figures and the seal before it, so someone with
only the database cannot log a newer anchor over chains they cut; evidence is digested as the
database will give it back, so legitimate evidence never fails verification.
"""

import json
from datetime import timedelta

import pytest
from django.db import connection

from contacts import ledger_chain
from contacts.ledger_chain import anchor_heads, anchor_problem, heads_digest, latest_anchor
from contacts.ledger_verify import Reason, verify_ledger
from contacts.models import ActivityLogEntry, ConsentSource
from tests.contacts.test_consent_chain import raw
from tests.factories import ContactFactory, opt_in, opt_out

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_margin(monkeypatch):
    monkeypatch.setattr(ledger_chain, "ANCHOR_MARGIN", timedelta(0))


def test_each_anchor_is_sealed_and_names_the_one_before():
    opt_in(ContactFactory())
    first, second = anchor_heads(), anchor_heads()
    entries = list(ActivityLogEntry.objects.filter(action=ledger_chain.ANCHOR_ACTION).order_by("id"))
    assert entries[0].details["previous_seal"] == ""
    assert entries[1].details["previous_seal"] == entries[0].details["seal"]
    assert latest_anchor() == second != first
    assert anchor_problem() == ""


@pytest.mark.postgres
def test_an_anchor_logged_behind_the_applications_back_after_a_stop_was_deleted_is_caught():
    """The attack: delete a STOP with its link, recompute the heads' digest, log it as an anchor."""
    contact = ContactFactory()
    opt_in(contact)
    stop = opt_out(contact, source=ConsentSource.KEYWORD)
    anchor_heads()
    for table, column in (("contacts_consentchainlink", "event_id"), ("contacts_currentconsent", "event_id")):
        raw(f"DELETE FROM {table} WHERE {column} = %s", [stop.pk], table=table)
    raw("DELETE FROM contacts_consentevent WHERE id = %s", [stop.pk])
    genuine = latest_anchor()
    digest, chains, links = heads_digest(genuine.through)
    forged = {"digest": digest, "through": genuine.through.isoformat(), "chains": chains, "links": links}
    with connection.cursor() as cursor:  # the log takes inserts: no trigger to disable
        cursor.execute(
            "INSERT INTO contacts_activitylogentry (occurred_at, actor_kind, actor_label, actor_ref, action, "
            "object_type, object_id, object_repr, details) "
            "SELECT now(), actor_kind, actor_label, actor_ref, action, object_type, object_id, object_repr, "
            "%s::jsonb FROM contacts_activitylogentry WHERE action = %s LIMIT 1",
            [
                json.dumps({**forged, "seal": "0" * 64, "previous_seal": "", "key_id": "x"}),
                ledger_chain.ANCHOR_ACTION,
            ],
        )
    assert latest_anchor() == genuine  # the forged one is passed over
    assert "not sealed" in anchor_problem()
    failure = verify_ledger().failure
    assert failure.reason == Reason.ANCHOR_FORGED and "not sealed" in failure.detail


@pytest.mark.postgres
def test_a_removed_anchor_breaks_the_next_ones_reference():
    opt_in(ContactFactory())
    anchor_heads(), anchor_heads(), anchor_heads()
    middle = ActivityLogEntry.objects.filter(action=ledger_chain.ANCHOR_ACTION).order_by("id")[1]
    raw("DELETE FROM contacts_activitylogentry WHERE id = %s", [middle.pk], table="contacts_activitylogentry")
    assert "an anchor was removed" in anchor_problem()
    assert verify_ledger().failure.reason == Reason.ANCHOR_FORGED


def test_an_anchor_whose_figures_were_edited_no_longer_holds_its_seal():
    opt_in(ContactFactory())
    anchor_heads()
    entry = ActivityLogEntry.objects.get(action=ledger_chain.ANCHOR_ACTION)
    keys = ledger_chain.chain_keys()[1]
    assert ledger_chain._sealed(entry, keys)
    entry.details["links"] -= 1
    assert not ledger_chain._sealed(entry, keys)


@pytest.mark.parametrize(
    "evidence",
    [
        {"n": 1e23},
        {"n": 1e300, "small": 1e-7, "half": 0.5, "zero": -0.0},
        {True: "yes", None: "none", 2: "two", 1.5: "float key"},
        {"nested": [{"n": 12345678901234567890.0}, {"flag": False}]},
    ],
)
def test_evidence_the_database_spells_its_own_way_still_verifies(evidence):
    contact = ContactFactory()
    opt_in(contact, evidence={"form": "shop", **evidence})
    verification = verify_ledger()
    assert verification.ok, verification.failure
