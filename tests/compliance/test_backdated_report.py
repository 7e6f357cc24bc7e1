"""The back-dated opt-out report against hand-built ledgers: exact rows, and what it leaves out."""

from datetime import UTC, datetime, timedelta

import pytest

from compliance.backdated import backdated_rows
from contacts.models import ConsentAction, ConsentSource, Contact, Purpose
from messaging.models import MessageKind, MessageStatus, OutboundMessage
from tests.factories import ContactFactory, ledger_event

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
IN, OUT = ConsentAction.OPT_IN, ConsentAction.OPT_OUT


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def event(contact, action, *, occurred, recorded, source=ConsentSource.WEB_FORM, purpose=Purpose.MARKETING):
    return ledger_event(
        contact, action=action, source=source, occurred_at=occurred, recorded_at=recorded, purpose=purpose
    )


def sent(contact, when, *, purpose=Purpose.MARKETING, authorised_by=None, **fields):
    return OutboundMessage.objects.create(
        contact=contact,
        kind=MessageKind.TEMPLATE,
        purpose=purpose,
        status=MessageStatus.DELIVERED,
        accepted_at=when,
        authorising_event=authorised_by,
        actor_kind="system",
        actor_label="tests",
        **fields,
    )


def pairs(**window):
    return [(row["message_id"], row["opt_out_event_id"]) for row in backdated_rows(**window)]


@pytest.fixture
def ana(db):
    """Opted in at 0; a message at 10 and one at 30; a STOP dated 5 but recorded only at 20."""
    contact = ContactFactory()
    opted_in = event(contact, IN, occurred=at(0), recorded=at(0))
    before_stop = sent(contact, at(-1))  # before anything: not after an opt-out
    caught = sent(contact, at(10), authorised_by=opted_in)
    stop = event(contact, OUT, occurred=at(5), recorded=at(20), source=ConsentSource.KEYWORD)
    return contact, opted_in, before_stop, caught, stop


def test_a_message_sent_between_a_stop_and_its_late_recording_is_listed_with_the_events(ana):
    contact, opted_in, _before, caught, stop = ana
    sent(contact, at(30))  # after the recording: the send path knew; not a back-dating question

    rows = list(backdated_rows())

    assert [(r["message_id"], r["opt_out_event_id"]) for r in rows] == [(caught.pk, stop.pk)]
    row = rows[0]
    assert row["contact_id"] == contact.pk
    assert row["sent_at"] == at(10)
    assert row["authorising_event_id"] == opted_in.pk
    assert row["authorising_wording"] == "Yes please"
    assert (row["opt_out_occurred_at"], row["opt_out_recorded_at"]) == (at(5), at(20))
    assert row["opt_out_source"] == ConsentSource.KEYWORD
    assert row["opt_out_evidence"] == {}
    assert row["message_public_id"] == caught.public_id


def test_an_opt_in_after_the_stop_and_before_the_send_takes_over(db):
    contact = ContactFactory()
    event(contact, OUT, occurred=at(5), recorded=at(20))
    event(contact, IN, occurred=at(7), recorded=at(7))
    sent(contact, at(10))

    assert pairs() == []


def test_an_opt_in_within_the_second_after_the_stop_does_not_take_over(db):
    contact = ContactFactory()
    stop = event(contact, OUT, occurred=at(5), recorded=at(20))
    event(contact, IN, occurred=at(5) + timedelta(milliseconds=500), recorded=at(6))
    message = sent(contact, at(10))
    other = ContactFactory()
    event(other, OUT, occurred=at(5), recorded=at(20))
    event(other, IN, occurred=at(5) + timedelta(seconds=1), recorded=at(6))  # the boundary: it takes over
    sent(other, at(10))

    assert pairs() == [(message.pk, stop.pk)]


def test_an_imported_opt_in_never_takes_over_from_a_whatsapp_stop(db):
    contact = ContactFactory()
    stop = event(contact, OUT, occurred=at(5), recorded=at(20), source=ConsentSource.KEYWORD)
    event(contact, IN, occurred=at(7), recorded=at(7), source=ConsentSource.IMPORT)
    message = sent(contact, at(10))

    assert pairs() == [(message.pk, stop.pk)]


def test_only_a_stop_of_the_messages_purpose_counts(db):
    contact = ContactFactory()
    event(contact, OUT, occurred=at(5), recorded=at(20), purpose=Purpose.SERVICE)
    sent(contact, at(10), purpose=Purpose.MARKETING)
    service_stop = event(contact, OUT, occurred=at(40), recorded=at(60), purpose=Purpose.SERVICE)
    service_message = sent(contact, at(50), purpose=Purpose.SERVICE)

    assert pairs() == [(service_message.pk, service_stop.pk)]


def test_replies_test_sends_and_messages_that_never_left_are_not_listed(db, ana):
    contact, *_ = ana
    inbound = contact.inbound_messages.create(wamid="wamid.in.1", type="text", text="hi", sent_at=at(9))
    OutboundMessage.objects.create(
        contact=contact,
        kind=MessageKind.TEXT,
        is_reply=True,
        reply_to=inbound,
        status=MessageStatus.SENT,
        accepted_at=at(11),
        actor_kind="system",
        actor_label="tests",
    )
    OutboundMessage.objects.create(
        contact=contact,
        kind=MessageKind.TEMPLATE,
        purpose=Purpose.MARKETING,
        status=MessageStatus.SKIPPED,
        actor_kind="system",
        actor_label="tests",
    )

    assert [message for message, _ in pairs()] == [ana[3].pk]


def test_a_late_stop_on_a_row_merged_into_the_recipient_counts_and_so_does_the_merges_copy(db):
    survivor = ContactFactory()
    merged = ContactFactory()
    Contact.objects.filter(pk=merged.pk).update(merged_into=survivor, merged_at=at(25))
    stop = event(merged, OUT, occurred=at(5), recorded=at(20), source=ConsentSource.KEYWORD)
    copy = ledger_event(
        survivor,
        action=OUT,
        source=ConsentSource.MERGE,
        carried=ConsentSource.KEYWORD,
        occurred_at=at(5),
        recorded_at=at(25),
    )
    early = sent(survivor, at(10))  # covered by the STOP (recorded at 20) and by its copy (at 25)
    late = sent(survivor, at(22))  # the STOP was on the other row then: only the copy covers it

    assert pairs() == [(early.pk, stop.pk), (early.pk, copy.pk), (late.pk, copy.pk)]
    stranger = ContactFactory()
    event(stranger, OUT, occurred=at(5), recorded=at(20))
    assert len(pairs()) == 3  # a stranger's late STOP reaches no one else's messages


def test_the_send_window_is_half_open(ana):
    _contact, _in, _before, caught, stop = ana

    assert pairs(since=at(10), until=at(11)) == [(caught.pk, stop.pk)]
    assert pairs(since=at(9), until=at(10)) == []
    assert pairs(since=at(11)) == []


def test_whatsapps_sent_time_stands_in_when_no_acceptance_was_recorded(db):
    contact = ContactFactory()
    stop = event(contact, OUT, occurred=at(5), recorded=at(20))
    message = sent(contact, None, sent_at=at(10))

    assert pairs() == [(message.pk, stop.pk)]
