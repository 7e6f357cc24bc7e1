"""record_consent: the only writer of the ledger and of current consent."""

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from contacts.models import (
    ActivityLogEntry,
    ConsentAction,
    ConsentEvent,
    ConsentStatus,
    CurrentConsent,
    Purpose,
)
from contacts.selectors import current_consent, has_opt_in
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
    opt_in(contact, occurred_at=now - timedelta(days=7))
    assert current_consent(contact=contact, purpose=Purpose.MARKETING).status == ConsentStatus.OPTED_OUT


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


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([ConsentAction.OPT_IN, ConsentAction.OPT_OUT]), st.integers(0, 5)),
        min_size=1,
        max_size=8,
    )
)
def test_current_consent_follows_the_order_rule(events):
    """Whatever the order of recording and however events are back-dated, the order rule holds."""
    contact = ContactFactory()
    base = timezone.now() - timedelta(days=30)
    for action, day in events:
        (opt_in if action == ConsentAction.OPT_IN else opt_out)(
            contact, occurred_at=base + timedelta(days=day)
        )
    assert current_consent(contact=contact, purpose=Purpose.MARKETING).event == _order_rule(
        list(ConsentEvent.objects.filter(contact=contact))
    )


def _order_rule(events):
    """docs/consent.md's order rule, written out plainly as the test's oracle."""

    def effective(e):
        return min(e.occurred_at, e.recorded_at)

    def order(e):
        return (effective(e), e.recorded_at, e.id)

    latest = max(effective(e) for e in events)
    close_opt_outs = [
        e
        for e in events
        if e.action == ConsentAction.OPT_OUT and effective(e) > latest - timedelta(seconds=1)
    ]
    return max(close_opt_outs or events, key=order)
