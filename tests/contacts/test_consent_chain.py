"""The consent ledger's HMAC chains: every writer links its events, verification names the first
event that does not match, anchors cover the heads (docs/consent-chain.md)."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from contacts import ledger_chain
from contacts.bulk import contacts_record_opt_out
from contacts.ledger_chain import (
    anchor_heads,
    canonical_event,
    evidence_digest,
    key_id,
    latest_anchor,
    link_mac,
)
from contacts.ledger_verify import Reason, last_verification, verify_chunk, verify_ledger
from contacts.merging import contact_merge
from contacts.models import ConsentAction, ConsentChainLink, ConsentEvent, ConsentSource, Contact, Purpose
from core.actors import Actor
from core.roles import ROLES
from tests.contacts.imports.test_applying import apply_all, confirm, consent_mapping, staged_import
from tests.factories import ContactFactory, ledger_event, make_wording, opt_in, opt_out

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


def links_of(contact) -> list[ConsentChainLink]:
    return list(ConsentChainLink.objects.filter(contact=contact).order_by("position"))


def assert_verifies():
    verification = verify_ledger()
    assert verification.ok, verification.failure
    return verification


def history(contact) -> list[ConsentEvent]:
    """Opt-in, opt-out, opt-in again (with evidence), and a service opt-in: four events."""
    now = timezone.now()
    events = [
        opt_in(contact, occurred_at=now - timedelta(days=3)),
        opt_out(contact, occurred_at=now - timedelta(days=2)),
        opt_in(
            contact,
            occurred_at=now - timedelta(days=1),
            source=ConsentSource.STAFF,
            evidence={"form": "signed in store", "ticket": 4711},
        ),
        opt_in(contact, Purpose.SERVICE, wording=make_wording(Purpose.SERVICE), wording_text=""),
    ]
    return events


# --- Writers -------------------------------------------------------------------------------------


def test_record_consent_links_each_event_to_the_one_before(contact):
    events = history(contact)
    links = links_of(contact)
    assert [link.event_id for link in links] == [event.pk for event in events]
    assert [link.position for link in links] == [1, 2, 3, 4]
    assert links[0].previous_mac == ""
    assert [link.previous_mac for link in links[1:]] == [link.mac for link in links[:-1]]
    assert {link.key_id for link in links} == {key_id(ledger_chain.settings.CONSENT_CHAIN_KEY)}
    assert_verifies()


def test_chains_are_per_contact(contact):
    other = ContactFactory()
    opt_in(contact)
    opt_in(other)
    opt_out(contact)
    assert [link.position for link in links_of(contact)] == [1, 2]
    assert [link.position for link in links_of(other)] == [1]


def test_a_replayed_signal_adds_no_link(contact):
    first = opt_out(contact, signal_key="wamid:once")
    again = opt_out(contact, signal_key="wamid:once")
    assert first.pk == again.pk
    assert len(links_of(contact)) == 1


@pytest.mark.postgres
def test_evidence_as_postgresql_stores_it_still_verifies(contact):
    """jsonb rewrites numbers (1e20 comes back as an integer) and sorts keys: the digest does not care."""
    opt_out(
        contact,
        evidence={
            "z": 1e20,
            "a": [1.0, 0.5, -0.0, 1.5e-7, 10**30],
            "ü": {"b": True, "a": None},
            "text": "“STOP” 🛑",
        },
    )
    assert_verifies()


def test_the_bulk_opt_out_links_every_event_it_inserts(contact, editor):
    others = [ContactFactory(), ContactFactory()]
    opt_in(contact)
    outcome = contacts_record_opt_out(
        contacts=Contact.objects.filter(pk__in=[contact.pk, *(c.pk for c in others)]),
        purposes=[Purpose.MARKETING, Purpose.SERVICE],
        reason="Asked us by phone",
        actor=Actor.for_user(editor),
    )
    assert outcome.changed == 6
    assert [link.position for link in links_of(contact)] == [1, 2, 3]
    assert ConsentChainLink.objects.count() == ConsentEvent.objects.count() == 7
    assert_verifies()


def test_an_import_links_the_events_it_records(editor):
    known = ContactFactory(phone="+4915111111111")
    opt_in(known, Purpose.SERVICE)
    wording = make_wording(Purpose.MARKETING)
    header = "phone,marketing"
    contact_import = staged_import(
        editor,
        f"{header}\n+49 151 11111111,yes\n0151 22222222,yes\n0151 33333333,no\n",
        consent_mapping(header, {Purpose.MARKETING: wording}, one_date="2025-03-01"),
    )
    confirm(contact_import, editor)
    apply_all(contact_import)
    imported = ConsentEvent.objects.filter(source=ConsentSource.IMPORT)
    assert imported.count() == 2
    assert ConsentChainLink.objects.filter(event__in=imported).count() == 2
    assert [link.position for link in links_of(known)] == [1, 2]
    assert_verifies()


def test_a_merge_links_the_copies_it_records(editor):
    survivor = ContactFactory()
    merged = ContactFactory()
    opt_in(survivor)
    opt_in(merged, Purpose.SERVICE, source=ConsentSource.KEYWORD)
    contact_merge(survivor=survivor, merged=merged, actor=Actor.for_user(editor), reason="Same person")
    copies = ConsentEvent.objects.filter(contact=survivor, source=ConsentSource.MERGE)
    assert copies.exists()
    assert ConsentChainLink.objects.filter(event__in=copies).count() == copies.count()
    assert_verifies()


def test_two_links_cannot_take_one_place_in_a_chain(contact):
    """The constraint behind the row lock: a writer that read a stale head fails instead of forking."""
    opt_in(contact)
    event = ledger_event(
        contact,
        action=ConsentAction.OPT_OUT,
        source=ConsentSource.STAFF,
        occurred_at=timezone.now(),
        recorded_at=timezone.now(),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        ConsentChainLink.objects.create(
            event=event, contact=contact, position=1, previous_mac="", mac="0" * 64, key_id="x", form=1
        )


def test_the_migration_chains_events_recorded_before_it(contact):
    chain_existing_events = __import__(
        "contacts.migrations.0014_consent_chain", fromlist=["chain_existing_events"]
    ).chain_existing_events
    opt_in(contact)
    now = timezone.now()
    unlinked = [
        ledger_event(
            contact,
            action=ConsentAction.OPT_OUT,
            source=ConsentSource.STAFF,
            occurred_at=now,
            recorded_at=now,
        ),
        ledger_event(
            ContactFactory(), action=ConsentAction.OPT_IN, source="web_form", occurred_at=now, recorded_at=now
        ),
    ]
    assert verify_ledger().failure.reason == Reason.MISSING_LINK
    chain_existing_events(apps, None)
    chain_existing_events(apps, None)  # a second run adds nothing
    assert ConsentChainLink.objects.filter(event__in=unlinked).count() == 2
    assert [link.position for link in links_of(contact)] == [1, 2]
    assert_verifies()


# --- The canonical form --------------------------------------------------------------------------


def test_the_evidence_enters_the_chain_by_its_digest_only(contact):
    event = opt_out(contact, evidence={"ip": "203.0.113.7", "user_agent": "Mozilla/5.0"})
    row = ConsentEvent.objects.filter(pk=event.pk).values(*ledger_chain.EVENT_FIELDS).get()
    content = canonical_event(row)
    assert b"203.0.113.7" not in content
    assert evidence_digest(event.evidence).encode() in content
    assert evidence_digest({"b": 1, "a": 2.0}) == evidence_digest({"a": 2, "b": 1})
    assert evidence_digest({"a": "x"}) != evidence_digest({"a": "y"})


def test_the_mac_needs_the_key():
    content = b'{"event":1}'
    assert link_mac(b"key one", content, 1, "") != link_mac(b"key two", content, 1, "")
    assert link_mac(b"key one", content, 1, "") != link_mac(b"key one", content, 2, "")


# --- Tampering (a superuser with the triggers off) -----------------------------------------------


def raw(sql: str, params=(), *, table: str = "contacts_consentevent") -> None:
    """Run ``sql`` with the table's triggers (the append-only ones and its foreign keys') disabled."""
    with connection.cursor() as cursor:
        # The test's transaction has foreign-key checks pending (Django defers them), which ALTER
        # TABLE refuses to run past: check them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
        cursor.execute(sql, params)
        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER ALL")


def assert_fails_at(event_id, reason):
    verification = verify_ledger()
    assert not verification.ok
    assert (verification.failure.event_id, verification.failure.reason) == (event_id, reason)
    return verification


@pytest.mark.postgres
@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE contacts_consentevent SET action = 'opt_in' WHERE id = %s",
        "UPDATE contacts_consentevent SET occurred_at = occurred_at - interval '1 microsecond' WHERE id = %s",
        'UPDATE contacts_consentevent SET evidence = \'{"form": "nothing"}\' WHERE id = %s',
        "UPDATE contacts_consentevent SET actor_label = 'someone else' WHERE id = %s",
    ],
    ids=["action", "occurred-at", "evidence", "actor"],
)
def test_an_edited_event_fails_verification_at_that_event(contact, edit):
    ContactFactory()  # another chain, before and untouched
    events = history(contact)
    assert_verifies()
    raw(edit, [events[1].pk])
    failure = assert_fails_at(events[1].pk, Reason.MAC_MISMATCH).failure
    assert failure.contact_id == contact.pk


@pytest.mark.postgres
def test_a_deleted_event_fails_verification_at_its_link(contact):
    events = history(contact)
    raw("DELETE FROM contacts_consentevent WHERE id = %s", [events[1].pk])
    assert_fails_at(events[1].pk, Reason.MISSING_EVENT)


@pytest.mark.postgres
def test_an_event_deleted_with_its_link_fails_at_the_next_link(contact):
    events = history(contact)
    raw(
        "DELETE FROM contacts_consentchainlink WHERE event_id = %s",
        [events[1].pk],
        table="contacts_consentchainlink",
    )
    raw("DELETE FROM contacts_consentevent WHERE id = %s", [events[1].pk])
    assert_fails_at(events[2].pk, Reason.ORDER)


@pytest.mark.postgres
def test_an_event_inserted_behind_the_chains_back_fails_as_missing_link(contact):
    events = history(contact)
    raw(
        "INSERT INTO contacts_consentevent (contact_id, purpose, action, source, wording_text, evidence, "
        "occurred_at, recorded_at, signal_key, carried_source, actor_kind, actor_ref, actor_label) "
        "SELECT contact_id, purpose, 'opt_in', 'staff', 'Yes', '{}', occurred_at, recorded_at, '', '', "
        "actor_kind, actor_ref, actor_label FROM contacts_consentevent WHERE id = %s",
        [events[0].pk],
    )
    forged = ConsentEvent.objects.filter(contact=contact).order_by("-pk").first()
    assert_fails_at(forged.pk, Reason.MISSING_LINK)


@pytest.mark.postgres
def test_links_swapped_between_events_fail_at_the_first_swapped(contact):
    events = history(contact)
    first, second = events[1].pk, events[2].pk
    raw(
        "UPDATE contacts_consentchainlink SET event_id = CASE event_id WHEN %s THEN %s ELSE %s END "
        "WHERE event_id IN (%s, %s)",
        [first, -1, first, first, second],
        table="contacts_consentchainlink",
    )
    raw(
        "UPDATE contacts_consentchainlink SET event_id = %s WHERE event_id = -1",
        [second],
        table="contacts_consentchainlink",
    )
    assert_fails_at(second, Reason.MAC_MISMATCH)


@pytest.mark.postgres
def test_a_link_forged_with_another_key_fails_at_its_event(contact):
    events = history(contact)
    links = links_of(contact)
    row = ConsentEvent.objects.filter(pk=events[2].pk).values(*ledger_chain.EVENT_FIELDS).get()
    raw("UPDATE contacts_consentevent SET action = 'opt_out' WHERE id = %s", [events[2].pk])
    row["action"] = "opt_out"
    forged = link_mac(b"a key the attacker chose", canonical_event(row), 3, links[1].mac)
    raw(
        "UPDATE contacts_consentchainlink SET mac = %s WHERE id = %s",
        [forged, links[2].pk],
        table="contacts_consentchainlink",
    )
    assert_fails_at(events[2].pk, Reason.MAC_MISMATCH)


def test_a_ledger_verified_with_the_wrong_key_fails_at_the_first_event(contact, settings):
    events = history(contact)
    settings.CONSENT_CHAIN_KEY = "another key, not the one that made these links"
    assert_fails_at(events[0].pk, Reason.UNKNOWN_KEY)


def test_a_rotated_key_keeps_old_links_verifiable_and_new_links_use_the_new_key(contact, settings):
    old = settings.CONSENT_CHAIN_KEY
    opt_in(contact)
    settings.CONSENT_CHAIN_KEY = "the new key, after a rotation, at least 32 characters"
    settings.CONSENT_CHAIN_PREVIOUS_KEYS = [old]
    opt_out(contact)
    assert [link.key_id for link in links_of(contact)] == [key_id(old), key_id(settings.CONSENT_CHAIN_KEY)]
    assert_verifies()
    settings.CONSENT_CHAIN_PREVIOUS_KEYS = []
    assert verify_ledger().failure.reason == Reason.UNKNOWN_KEY


# --- Chunks, the command, the record of the last run --------------------------------------------


def test_verification_goes_in_chunks_and_resumes_after_a_contact():
    contacts = [ContactFactory() for _ in range(5)]
    for each in contacts[1:]:
        opt_in(each)
    first = verify_chunk(contacts=2)  # the first two contacts, one of them without events
    assert (first.last_contact_id, first.contacts, first.events, first.failure) == (
        contacts[1].pk,
        1,
        1,
        None,
    )
    rest = verify_ledger(after_contact_id=first.last_contact_id, chunk_contacts=2)
    assert (rest.ok, rest.contacts, rest.events) == (True, 3, 3)
    assert verify_chunk(after_contact_id=contacts[-1].pk).last_contact_id is None


@pytest.mark.postgres
def test_events_whose_contact_row_is_gone_are_still_verified():
    kept, gone = ContactFactory(), ContactFactory()
    opt_in(kept)
    event = opt_in(gone)
    raw("DELETE FROM contacts_contact WHERE id = %s", [gone.pk], table="contacts_contact")
    raw("UPDATE contacts_consentevent SET action = 'opt_out' WHERE id = %s", [event.pk])
    assert verify_ledger(chunk_contacts=1).failure.event_id == event.pk


def test_the_command_reports_success_and_logs_it(contact, capsys):
    history(contact)
    assert last_verification() is None
    call_command("verify_ledger")
    assert "verifies: 4 events of 1 contacts" in capsys.readouterr().out
    last = last_verification()
    assert (last.ok, last.complete, last.events, last.failure) == (True, True, 4, None)


@pytest.mark.postgres
def test_the_command_names_the_first_event_that_does_not_match_and_exits_non_zero(contact):
    events = history(contact)
    raw("UPDATE contacts_consentevent SET source = 'api' WHERE id = %s", [events[3].pk])
    with pytest.raises(CommandError, match=f"contact {contact.pk}, event {events[3].pk} \\(mac_mismatch\\)"):
        call_command("verify_ledger")
    last = last_verification()
    assert not last.ok
    assert last.failure["event_id"] == events[3].pk


def test_the_command_refuses_bad_arguments():
    with pytest.raises(CommandError, match="--chunk"):
        call_command("verify_ledger", "--chunk", "0")
    with pytest.raises(CommandError, match="--after-contact"):
        call_command("verify_ledger", "--after-contact", "-1")


# --- Anchors -------------------------------------------------------------------------------------


def test_the_anchor_digests_every_head_and_is_the_latest_anchor(contact, monkeypatch):
    monkeypatch.setattr(ledger_chain, "ANCHOR_MARGIN", timedelta(0))
    assert latest_anchor() is None
    history(contact)
    opt_in(ContactFactory())
    anchor = anchor_heads()
    assert (anchor.chains, anchor.links) == (2, 5)
    assert latest_anchor() == anchor
    assert anchor.digest in str(anchor)
    assert assert_verifies().anchor == anchor


def test_an_anchor_ignores_links_newer_than_its_margin(contact):
    opt_in(contact)
    assert (anchor_heads().chains, latest_anchor().links) == (0, 0)


@pytest.mark.postgres
def test_a_chain_cut_at_its_tail_fails_against_the_anchor(contact, monkeypatch):
    """Deleting the last event and its link leaves a shorter chain that verifies by itself."""
    monkeypatch.setattr(ledger_chain, "ANCHOR_MARGIN", timedelta(0))
    events = history(contact)
    anchor_heads()
    raw(
        "DELETE FROM contacts_consentchainlink WHERE event_id = %s",
        [events[-1].pk],
        table="contacts_consentchainlink",
    )
    raw(
        "DELETE FROM contacts_currentconsent WHERE event_id = %s",
        [events[-1].pk],
        table="contacts_currentconsent",
    )
    raw("DELETE FROM contacts_consentevent WHERE id = %s", [events[-1].pk])
    verification = verify_ledger()
    assert verification.failure.reason == Reason.ANCHOR_MISMATCH


def test_the_anchor_is_a_daily_schedule():
    from django_q.models import Schedule

    from contacts.apps import ensure_schedules

    ensure_schedules(sender=None)
    schedule = Schedule.objects.get(name=ledger_chain.ANCHOR_SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type) == (
        "contacts.ledger_chain.consent_chain_anchor",
        Schedule.DAILY,
    )


# --- Roles ---------------------------------------------------------------------------------------


def test_auditors_and_administrators_read_the_links_and_nobody_writes_them():
    def codenames(role):
        return set(
            Permission.objects.filter(group__name=role, codename__endswith="consentchainlink").values_list(
                "codename", flat=True
            )
        )

    rights = {role: codenames(role) for role in ROLES}
    assert rights == {
        "Editor": set(),
        "Approver": set(),
        "Support": set(),
        "Auditor": {"view_consentchainlink"},
        "Administrator": {"view_consentchainlink"},
    }
    assert Group.objects.filter(name__in=ROLES).count() == len(ROLES)


# --- Two processes, one contact ------------------------------------------------------------------

WRITER = """
import os, sys, time
import django

django.setup()
from django.utils import timezone

from contacts.models import Contact
from contacts.services import record_consent
from core.actors import Actor

contact_id, slot, meeting, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
open(os.path.join(meeting, slot), "w").close()
deadline = time.monotonic() + 30
while len(os.listdir(meeting)) < 2 and time.monotonic() < deadline:
    time.sleep(0.01)
for n in range(count):
    action = "opt_in" if n % 2 else "opt_out"
    record_consent(
        contact=Contact(pk=contact_id),
        purpose="marketing",
        action=action,
        source="keyword",  # the person themselves: no rule refuses either action
        actor=Actor.system(f"writer {slot}"),
        wording_text="Yes please" if action == "opt_in" else "",
        evidence={"writer": slot, "n": n},
    )
"""


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_processes_recording_for_one_contact_at_once_make_one_chain_without_a_fork():
    import subprocess
    import sys
    import tempfile

    from tests.messaging.test_limiter import ROOT, worker_env

    contact = ContactFactory()
    count = 25
    with tempfile.TemporaryDirectory() as meeting:
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(contact.pk), str(slot), meeting, str(count)],
                env=worker_env("http://127.0.0.1:9"),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for slot in range(2)
        ]
        for writer in writers:
            _, err = writer.communicate(timeout=120)
            assert writer.returncode == 0, err
    events = ConsentEvent.objects.filter(contact=contact)
    assert events.count() == 2 * count
    links = links_of(contact)
    assert [link.position for link in links] == list(range(1, 2 * count + 1))
    assert [link.event_id for link in links] == sorted(events.values_list("pk", flat=True))
    # Both writers' events interleave in the one chain.
    labels = [e.actor_label for e in events.order_by("pk")]
    assert len({tuple(labels[i : i + 2]) for i in range(len(labels) - 1)}) > 1
    assert_verifies()


# --- Set-based, whatever the size ----------------------------------------------------------------


@pytest.mark.parametrize("size", [3, 30])
def test_linking_a_set_of_events_takes_the_same_statements_whatever_its_size(size, editor):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    people = [ContactFactory() for _ in range(size)]
    for person in people[::2]:
        opt_in(person)  # some chains continue, some begin
    with CaptureQueriesContext(db) as queries:
        contacts_record_opt_out(
            contacts=Contact.objects.filter(pk__in=[p.pk for p in people]),
            purposes=[Purpose.MARKETING],
            reason="Asked us by phone",
            actor=Actor.for_user(editor),
        )
    chain_statements = [q["sql"] for q in queries.captured_queries if "consentchainlink" in q["sql"]]
    # The heads' read, then one insert of the links: a COPY on PostgreSQL, which the query log
    # does not see.
    assert len(chain_statements) == (1 if db.vendor == "postgresql" else 2)
    assert "contacts_contact" not in chain_statements[0]
    assert ConsentChainLink.objects.count() == ConsentEvent.objects.count()
    assert_verifies()


def test_a_verification_chunk_is_three_reads_whatever_its_size(django_assert_num_queries):
    for _ in range(4):
        history(ContactFactory())
    with django_assert_num_queries(3):
        result = verify_chunk(contacts=10)
    assert (result.contacts, result.events, result.failure) == (4, 16, None)
