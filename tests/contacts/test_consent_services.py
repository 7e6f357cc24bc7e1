"""record_consent: the only writer of the ledger and of current consent."""

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from contacts.merging import contact_merge
from contacts.models import (
    ON_THEIR_BEHALF_SOURCES,
    WHATSAPP_SOURCES,
    ActivityLogEntry,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    CurrentConsent,
    Purpose,
)
from contacts.selectors import consent_status, current_consent, decide_among, has_opt_in, origin_of
from contacts.services import record_consent, record_opt_out_everywhere
from core.actors import Actor
from core.errors import ApplicationError
from tests.factories import ContactFactory, make_wording, opt_in, opt_out

pytestmark = pytest.mark.django_db


def test_opt_in_then_opt_out_ends_opted_out(contact):
    t0 = timezone.now() - timedelta(days=2)
    opt_in(contact, occurred_at=t0)
    assert has_opt_in(contact=contact, purpose=Purpose.MARKETING)
    event = opt_out(contact, occurred_at=t0 + timedelta(hours=1))
    current = current_consent(contact=contact, purpose=Purpose.MARKETING)
    assert current.status == ConsentStatus.OPTED_OUT
    assert current.event == event
    assert current.since == event.occurred_at


def test_purposes_are_independent(contact):
    opt_in(contact, Purpose.MARKETING)
    opt_out(contact, Purpose.SERVICE)
    assert has_opt_in(contact=contact, purpose=Purpose.MARKETING)
    assert not has_opt_in(contact=contact, purpose=Purpose.SERVICE)


def test_back_dated_event_recorded_late_does_not_override_newer_state(contact):
    now = timezone.now()
    opt_out(contact, occurred_at=now - timedelta(hours=1))
    # Recorded now, but the person opted in last week: the later opt-out still decides.
    opt_in(contact, occurred_at=now - timedelta(days=7), source=ConsentSource.OPT_IN_LINK)
    assert current_consent(contact=contact, purpose=Purpose.MARKETING).status == ConsentStatus.OPTED_OUT
    # Reported on the person's behalf, it is refused outright: it is not an opt-in after the opt-out
    # (docs/consent.md, "Opting back in"), so it could not change anything.
    with pytest.raises(ApplicationError) as exc:
        opt_in(contact, occurred_at=now - timedelta(days=7), source=ConsentSource.WEB_FORM)
    assert exc.value.code == "opt_in_not_after_opt_out"


def test_back_dated_event_newer_than_current_takes_over(contact):
    now = timezone.now()
    opt_in(contact, occurred_at=now - timedelta(days=7))
    late = opt_out(contact, occurred_at=now - timedelta(days=1))
    current = current_consent(contact=contact, purpose=Purpose.MARKETING)
    assert current.event == late


def test_tie_on_occurred_at_goes_to_the_later_recorded(contact):
    moment = timezone.now() - timedelta(hours=3)
    opt_in(contact, occurred_at=moment)
    second = opt_out(contact, occurred_at=moment)
    assert current_consent(contact=contact, purpose=Purpose.MARKETING).event == second


def test_no_event_means_no_current_consent(contact):
    assert current_consent(contact=contact, purpose=Purpose.MARKETING) is None
    assert not has_opt_in(contact=contact, purpose=Purpose.MARKETING)


def test_opt_out_everywhere_covers_every_purpose(contact_with_consent):
    events = record_opt_out_everywhere(contact=contact_with_consent, source="keyword", actor=Actor.system())
    assert {e.purpose for e in events} == set(Purpose.values)
    assert not CurrentConsent.objects.filter(
        contact=contact_with_consent, status=ConsentStatus.OPTED_IN
    ).exists()


def test_opt_in_with_a_saved_wording_keeps_the_version(contact):
    wording = make_wording(Purpose.MARKETING, "de")
    event = record_consent(
        contact=contact,
        purpose=Purpose.MARKETING,
        action=ConsentAction.OPT_IN,
        source="web_form",
        actor=Actor.system(),
        wording=wording,
        evidence={"ip": "203.0.113.7", "user_agent": "Firefox"},
    )
    assert event.wording == wording and event.wording.version == 1
    assert event.evidence["ip"] == "203.0.113.7"


def test_staff_consent_is_written_to_the_activity_log(contact, editor):
    event = opt_in(contact, actor=Actor.for_user(editor))
    entry = ActivityLogEntry.objects.get(action="consent.recorded")
    assert entry.actor_user == editor and entry.actor_label == editor.username
    assert entry.object_id == str(contact.pk) and entry.details["event_id"] == event.pk
    assert event.actor_kind == "user" and event.actor_user == editor


def test_system_consent_is_not_logged_twice(contact):
    opt_in(contact)
    assert not ActivityLogEntry.objects.filter(action="consent.recorded").exists()


@pytest.mark.parametrize(
    "kwargs,code,field",
    [
        ({"wording_text": ""}, "wording_required", "wording"),
        ({"source": "carrier_pigeon"}, "invalid_source", "source"),
        ({"purpose": "politics"}, "invalid_purpose", "purpose"),
        ({"action": "maybe"}, "invalid_action", "action"),
        ({"occurred_at": "future"}, "occurred_in_future", "occurred_at"),
        ({"evidence": ["not", "a", "dict"]}, "evidence_invalid", "evidence"),
    ],
)
def test_bad_consent_input_is_refused_and_nothing_is_written(contact, kwargs, code, field):
    arguments = {
        "contact": contact,
        "purpose": Purpose.MARKETING,
        "action": ConsentAction.OPT_IN,
        "source": "web_form",
        "actor": Actor.system(),
        "wording_text": "Yes please",
    }
    arguments.update(kwargs)
    if arguments.get("occurred_at") == "future":
        arguments["occurred_at"] = timezone.now() + timedelta(days=1)
    with pytest.raises(ApplicationError) as exc:
        record_consent(**arguments)
    assert exc.value.code == code and exc.value.field == field
    assert not ConsentEvent.objects.exists() and not CurrentConsent.objects.exists()


def test_wording_for_another_purpose_is_refused(contact):
    with pytest.raises(ApplicationError) as exc:
        record_consent(
            contact=contact,
            purpose=Purpose.MARKETING,
            action=ConsentAction.OPT_IN,
            source="web_form",
            actor=Actor.system(),
            wording=make_wording(Purpose.SERVICE),
        )
    assert exc.value.code == "wording_purpose_mismatch"


def test_opt_out_needs_no_wording(contact):
    event = opt_out(contact)
    assert event.action == ConsentAction.OPT_OUT


def test_wording_versions_count_up_per_purpose_and_language():
    first = make_wording(Purpose.MARKETING, "en", "v1 text")
    second = make_wording(Purpose.MARKETING, "en", "v2 text")
    other = make_wording(Purpose.MARKETING, "de", "de text")
    assert (first.version, second.version, other.version) == (1, 2, 1)


SOURCES = [
    ConsentSource.WEB_FORM,
    ConsentSource.IMPORT,
    ConsentSource.STAFF,
    ConsentSource.KEYWORD,
    ConsentSource.BUTTON,
]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 1]),  # which of two rows of one person
            st.sampled_from([ConsentAction.OPT_IN, ConsentAction.OPT_OUT]),
            st.sampled_from(SOURCES),
            st.integers(0, 5),  # the day it happened
            st.booleans(),  # with the person's own evidence
        ),
        min_size=1,
        max_size=8,
    ),
    st.booleans(),  # then merge the second row into the first
)
def test_current_consent_follows_the_order_rule(events, then_merge):
    """Whatever the sources, the order of recording, the back-dating and merges, the order rule holds;
    and an opt-in is refused exactly when the opting-back-in rule says so."""
    rows = [ContactFactory(), ContactFactory()]
    base = timezone.now() - timedelta(days=30)
    for row, action, source, day, with_evidence in events:
        arguments = {
            "contact": rows[row],
            "purpose": Purpose.MARKETING,
            "action": action,
            "source": source,
            "actor": Actor.system("tests"),
            "occurred_at": base + timedelta(days=day),
            "wording_text": "Yes please" if action == ConsentAction.OPT_IN else "",
            "evidence": {"note": "Signed the form, no. 4711"} if with_evidence else None,
        }
        expected = _opting_back_in_refusal(list(ConsentEvent.objects.filter(contact=rows[row])), **arguments)
        try:
            record_consent(**arguments)
        except ApplicationError as exc:
            assert exc.code == expected
        else:
            assert expected is None
    if then_merge:
        contact_merge(survivor=rows[0], merged=rows[1], actor=Actor.system("tests"), reason="one person")
    for row in rows[: 1 if then_merge else 2]:
        ledger = list(ConsentEvent.objects.filter(contact=row))
        current = current_consent(contact=row, purpose=Purpose.MARKETING)
        decided = _order_rule(ledger)
        assert (current.event if current else None) == decided
        in_memory = [(e.action, origin_of(e), e.effective_at, e.recorded_at, e.pk) for e in ledger]
        assert decide_among(in_memory) == consent_status(decided)


def _origin(e):
    return e.carried_source or e.source


def _order_rule(events):
    """docs/consent.md's order rule, written out plainly as the test's oracle."""

    def effective(e):
        return min(e.occurred_at, e.recorded_at)

    def order(e):
        return (effective(e), e.recorded_at, e.id)

    if any(e.action == ConsentAction.OPT_OUT and _origin(e) in WHATSAPP_SOURCES for e in events):
        events = [e for e in events if not (e.action == ConsentAction.OPT_IN and _origin(e) == "import")]
    if not events:
        return None
    latest = max(effective(e) for e in events)
    close_opt_outs = [
        e
        for e in events
        if e.action == ConsentAction.OPT_OUT and effective(e) > latest - timedelta(seconds=1)
    ]
    return max(close_opt_outs or events, key=order)


def _opting_back_in_refusal(events, *, action, source, occurred_at, evidence, **_):
    """docs/consent.md's opting-back-in rule, written out plainly: the code of the refusal, or None."""
    if action != ConsentAction.OPT_IN or source not in ON_THEIR_BEHALF_SOURCES:
        return None
    if source == ConsentSource.IMPORT and any(
        e.action == ConsentAction.OPT_OUT and _origin(e) in WHATSAPP_SOURCES for e in events
    ):
        return "opt_in_import_after_whatsapp_opt_out"
    deciding = _order_rule(events)
    if deciding is None or deciding.action != ConsentAction.OPT_OUT:
        return None
    if occurred_at < min(deciding.occurred_at, deciding.recorded_at) + timedelta(seconds=1):
        return "opt_in_not_after_opt_out"
    return None if evidence else "opt_in_evidence_required"
