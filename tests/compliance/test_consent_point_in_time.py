"""Consent at a point in time: exact rows on hand-built histories, boundary instants of both
readings, and a property test holding the one-statement query to the order rule in Python."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.point_in_time import HAPPENED, KNOWN, deciding_events_at, opted_in_at
from contacts.models import ConsentAction, ConsentSource, Purpose
from contacts.selectors import decide_among, deciding_event, origin_of
from tests.factories import ContactFactory, ledger_event

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
IN, OUT = ConsentAction.OPT_IN, ConsentAction.OPT_OUT
SECOND = timedelta(seconds=1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def event(
    contact, action, *, occurred, recorded=None, source=ConsentSource.WEB_FORM, purpose=Purpose.MARKETING
):
    return ledger_event(
        contact,
        action=action,
        source=source,
        occurred_at=occurred,
        recorded_at=recorded or occurred,
        purpose=purpose,
    )


def state(moment, reading=HAPPENED, purpose=Purpose.MARKETING):
    rows = deciding_events_at(purpose=purpose, at=moment, reading=reading)
    return {row.contact_id: (row.state, row.pk) for row in rows}


@pytest.fixture
def histories(db):
    """Ana: in at 0, out at 10, in again at 20 (marketing); service in at 5.
    Ben: in at 0; a STOP dated 8 recorded only at 30 (back-dated evidence recorded late)."""
    ana, ben = ContactFactory(), ContactFactory()
    e = {
        "ana_in": event(ana, IN, occurred=at(0)),
        "ana_out": event(ana, OUT, occurred=at(10), source=ConsentSource.KEYWORD),
        "ana_in_again": event(ana, IN, occurred=at(20)),
        "ana_service": event(ana, IN, occurred=at(5), purpose=Purpose.SERVICE),
        "ben_in": event(ben, IN, occurred=at(0)),
        "ben_stop": event(ben, OUT, occurred=at(8), recorded=at(30), source=ConsentSource.KEYWORD),
    }
    return ana, ben, e


def test_opt_in_opt_out_opt_in_again_at_each_stage(histories):
    ana, ben, e = histories
    assert state(at(-1)) == {}
    assert state(at(5)) == {ana.pk: ("opted_in", e["ana_in"].pk), ben.pk: ("opted_in", e["ben_in"].pk)}
    assert state(at(15))[ana.pk] == ("opted_out", e["ana_out"].pk)
    assert state(at(25))[ana.pk] == ("opted_in", e["ana_in_again"].pk)


def test_purposes_are_separate(histories):
    ana, _ben, e = histories
    assert state(at(15), purpose=Purpose.SERVICE) == {ana.pk: ("opted_in", e["ana_service"].pk)}
    assert state(at(4), purpose=Purpose.SERVICE) == {}


def test_back_dated_stop_counts_from_when_it_happened_but_was_known_only_once_recorded(histories):
    _ana, ben, e = histories
    # As it had happened: the STOP dated 8 counts from 8, though recorded at 30.
    assert state(at(10), HAPPENED)[ben.pk] == ("opted_out", e["ben_stop"].pk)
    # As we knew it then: at 10 we did not know it yet; from 30 we did.
    assert state(at(10), KNOWN)[ben.pk] == ("opted_in", e["ben_in"].pk)
    assert state(at(30), KNOWN)[ben.pk] == ("opted_out", e["ben_stop"].pk)


def test_boundary_instants_of_both_readings(histories):
    _ana, ben, e = histories
    stop = e["ben_stop"]
    # By effective time: counted at exactly its effective time, not a microsecond before.
    assert state(stop.effective_at, HAPPENED)[ben.pk][1] == stop.pk
    assert state(stop.effective_at - timedelta(microseconds=1), HAPPENED)[ben.pk][1] == e["ben_in"].pk
    # By recording time: counted at exactly its recorded_at, not a microsecond before.
    assert state(stop.recorded_at, KNOWN)[ben.pk][1] == stop.pk
    assert state(stop.recorded_at - timedelta(microseconds=1), KNOWN)[ben.pk][1] == e["ben_in"].pk


def test_a_future_dated_event_counts_from_when_it_was_recorded(db):
    contact = ContactFactory()
    event(contact, OUT, occurred=at(0))
    ahead = event(contact, IN, occurred=at(60), recorded=at(10))  # a clock running ahead
    assert state(at(9))[contact.pk][0] == "opted_out"
    assert state(at(10))[contact.pk] == ("opted_in", ahead.pk)
    assert state(at(10), KNOWN)[contact.pk] == ("opted_in", ahead.pk)


def test_an_opt_out_within_a_second_before_the_latest_opt_in_wins(db):
    contact = ContactFactory()
    stop = event(contact, OUT, occurred=at(0), source=ConsentSource.KEYWORD)
    event(contact, IN, occurred=at(0) + SECOND - timedelta(microseconds=1))
    assert state(at(1))[contact.pk] == ("opted_out", stop.pk)
    later = event(contact, IN, occurred=at(0) + SECOND)
    assert state(at(1))[contact.pk] == ("opted_in", later.pk)


def test_an_import_opt_in_does_not_count_after_a_whatsapp_opt_out(db):
    contact = ContactFactory()
    stop = event(contact, OUT, occurred=at(0), source=ConsentSource.KEYWORD)
    event(contact, IN, occurred=at(5), source=ConsentSource.IMPORT)
    assert state(at(10))[contact.pk] == ("opted_out", stop.pk)
    assert list(opted_in_at(purpose=Purpose.MARKETING, at=at(10))) == []


def test_opted_in_at_lists_only_the_opted_in_with_their_deciding_event(histories):
    _ana, ben, e = histories
    rows = opted_in_at(purpose=Purpose.MARKETING, at=at(15), reading=HAPPENED)
    assert {(r.contact_id, r.pk) for r in rows} == set()  # Ana out at 10, Ben's STOP dated 8
    rows = opted_in_at(purpose=Purpose.MARKETING, at=at(15), reading=KNOWN)
    assert {(r.contact_id, r.pk) for r in rows} == {(ben.pk, e["ben_in"].pk)}


SOURCES = [
    (ConsentSource.WEB_FORM, ""),
    (ConsentSource.IMPORT, ""),
    (ConsentSource.KEYWORD, ""),
    (ConsentSource.STAFF, ""),
    (ConsentSource.MERGE, ConsentSource.IMPORT),
    (ConsentSource.MERGE, ConsentSource.BUTTON),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ledgers=st.lists(
        st.lists(
            st.tuples(
                st.sampled_from([IN, OUT]),
                st.sampled_from(SOURCES),
                st.sampled_from([0, 0.5, 0.999999, 1, 2, 60]),  # occurred, seconds after base
                st.sampled_from([-30, 0, 0.4, 1, 45]),  # recorded, seconds after occurred
            ),
            min_size=1,
            max_size=6,
        ),
        min_size=1,
        max_size=3,
    ),
    probe=st.sampled_from([-1, 0, 0.5, 1, 1.5, 2, 30, 61, 120]),
)
def test_the_one_statement_agrees_with_the_order_rule_in_python(db, ledgers, probe):
    base = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    moment = base + timedelta(seconds=probe)
    contacts = []
    for ledger in ledgers:
        contact = ContactFactory()
        contacts.append(contact)
        for action, (source, carried), occurred, delay in ledger:
            occurred_at = base + timedelta(seconds=occurred)
            ledger_event(
                contact,
                action=action,
                source=source,
                carried=carried,
                occurred_at=occurred_at,
                recorded_at=occurred_at + timedelta(seconds=delay),
            )
    for reading in (HAPPENED, KNOWN):
        found = state(moment, reading)
        for contact in contacts:
            events = list(contact.consent_events.filter(purpose=Purpose.MARKETING))
            counted = [
                e for e in events if (e.effective_at if reading == HAPPENED else e.recorded_at) <= moment
            ]
            expected = decide_among(
                [(e.action, origin_of(e), e.effective_at, e.recorded_at, e.pk) for e in counted]
            )
            assert found.get(contact.pk, (None, None))[0] == expected, (reading, counted)
            if reading == KNOWN:
                deciding = deciding_event(contact=contact, purpose=Purpose.MARKETING, at=moment)
                assert found.get(contact.pk, (None, None))[1] == (deciding.pk if deciding else None)
