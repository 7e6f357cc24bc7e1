"""Merging two rows that are one person: identifiers and ledgers kept, consent carried over, the
order rule deciding, messaging's rows re-pointed, nothing half-applied."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.merging import contact_merge, contact_merge_preview
from contacts.models import (
    ActivityLogEntry,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    Contact,
    CurrentConsent,
    Purpose,
)
from contacts.selectors import consent_status, deciding_event
from contacts.signals import contact_merged
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import InboundMessage, MessageKind, OutboundMessage
from tests.factories import ContactFactory, TagFactory, UserFactory, make_wording, opt_in, opt_out

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


def status_of(contact, purpose=Purpose.MARKETING):
    current = CurrentConsent.objects.filter(contact=contact, purpose=purpose).first()
    return current.status if current else None


def merge(survivor, merged, reason="Same person: imported twice"):
    return contact_merge(survivor=survivor, merged=merged, actor=SYSTEM, reason=reason)


def ago(**kwargs):
    return timezone.now() - timedelta(**kwargs)


@pytest.fixture
def dialled():
    """The row staff imported: the number as dialled in Brazil, opted in to marketing a week ago."""
    contact = ContactFactory(phone="+5521987654321", first_name="Ana", last_name="Lima", country="BR")
    opt_in(contact, occurred_at=ago(days=7))
    return contact


@pytest.fixture
def from_whatsapp():
    """The row a STOP created: Meta's wa_id without the ninth digit."""
    return ContactFactory(
        phone=None, wa_id="552187654321", first_name="", last_name="", language="", country=""
    )


# --- Identifiers and ledgers -----------------------------------------------------------------


def test_the_merged_away_row_keeps_its_identifiers_and_ledger_and_points_to_the_survivor(
    dialled, from_whatsapp
):
    stop = opt_out(from_whatsapp, source=ConsentSource.KEYWORD, occurred_at=ago(hours=1))
    merge(dialled, from_whatsapp)
    from_whatsapp.refresh_from_db()
    assert from_whatsapp.merged_into == dialled and from_whatsapp.merged_at is not None
    assert from_whatsapp.wa_id == "552187654321"
    assert list(ConsentEvent.objects.filter(contact=from_whatsapp)) == [stop]
    dialled.refresh_from_db()
    assert dialled.phone == "+5521987654321" and dialled.wa_id is None  # the survivor keeps its own


def test_each_event_of_the_merged_row_becomes_a_merge_event_on_the_survivor_citing_the_original(
    dialled, from_whatsapp
):
    wording = make_wording(Purpose.SERVICE)
    when = ago(days=3)
    original = opt_in(from_whatsapp, Purpose.SERVICE, occurred_at=when, wording=wording, wording_text="")
    result = merge(dialled, from_whatsapp, reason="wa_id and dialled number are one account")
    (carried,) = result.carried_events
    assert carried.contact == dialled
    assert (carried.purpose, carried.action, carried.source) == ("service", "opt_in", ConsentSource.MERGE)
    assert carried.occurred_at == when  # the original time, so the order rule decides
    assert carried.wording == wording
    assert carried.signal_key == f"merge:{original.pk}"
    assert carried.evidence["original_event_id"] == original.pk
    assert carried.evidence["original_source"] == original.source
    assert carried.evidence["merge"] == {
        "merged_contact_id": from_whatsapp.pk,
        "survivor_id": dialled.pk,
        "reason": "wa_id and dialled number are one account",
    }
    assert status_of(dialled, Purpose.SERVICE) == ConsentStatus.OPTED_IN


def test_a_stop_on_the_merged_row_is_not_outvoted_by_an_older_opt_in_on_the_survivor(dialled, from_whatsapp):
    opt_out(from_whatsapp, source=ConsentSource.KEYWORD, occurred_at=ago(hours=1))
    assert status_of(dialled) == ConsentStatus.OPTED_IN
    merge(dialled, from_whatsapp)
    assert status_of(dialled) == ConsentStatus.OPTED_OUT


def test_a_stop_on_the_survivor_is_not_outvoted_by_an_older_opt_in_on_the_merged_row(from_whatsapp):
    survivor = ContactFactory(phone="+5521987654321")
    opt_in(from_whatsapp, occurred_at=ago(days=2))
    opt_out(survivor, source=ConsentSource.KEYWORD, occurred_at=ago(hours=1))
    merge(survivor, from_whatsapp)
    assert status_of(survivor) == ConsentStatus.OPTED_OUT


def test_a_newer_opt_in_on_the_merged_row_decides_by_the_order_rule(from_whatsapp):
    survivor = ContactFactory(phone="+5521987654321")
    opt_out(survivor, occurred_at=ago(days=2))
    opt_in(from_whatsapp, occurred_at=ago(hours=1), source=ConsentSource.OPT_IN_LINK)
    merge(survivor, from_whatsapp)
    assert status_of(survivor) == ConsentStatus.OPTED_IN


def test_an_opt_out_within_a_second_before_a_carried_opt_in_still_wins(from_whatsapp):
    survivor = ContactFactory(phone="+5521987654321")
    base = ago(hours=1)
    opt_out(survivor, occurred_at=base)
    opt_in(from_whatsapp, occurred_at=base + timedelta(milliseconds=500))
    merge(survivor, from_whatsapp)
    assert status_of(survivor) == ConsentStatus.OPTED_OUT


def test_a_future_dated_opt_in_carried_over_does_not_outvote_a_stop_recorded_in_between(
    from_whatsapp, monkeypatch
):
    # The original counted from when it was recorded (its clock ran four minutes ahead); carried
    # over later, it must not start counting from its later occurred_at and beat the STOP between.
    survivor = ContactFactory(phone="+5521987654321")
    recorded = ago(hours=1)
    monkeypatch.setattr(timezone, "now", lambda: recorded)
    opt_in(from_whatsapp, occurred_at=recorded + timedelta(minutes=4))
    monkeypatch.setattr(timezone, "now", lambda: recorded + timedelta(minutes=2))
    opt_out(survivor, source=ConsentSource.KEYWORD)
    monkeypatch.undo()
    merge(survivor, from_whatsapp)
    assert status_of(survivor) == ConsentStatus.OPTED_OUT


def test_consent_recorded_on_the_merged_row_afterwards_lands_on_the_survivor(dialled, from_whatsapp):
    merge(dialled, from_whatsapp)
    event = opt_out(from_whatsapp, source=ConsentSource.KEYWORD)
    assert event.contact == dialled
    assert status_of(dialled) == ConsentStatus.OPTED_OUT


def test_a_replayed_signal_of_the_merged_row_records_nothing_new(dialled, from_whatsapp):
    opt_out(from_whatsapp, source=ConsentSource.KEYWORD, signal_key="wamid.stop")
    merge(dialled, from_whatsapp)
    before = ConsentEvent.objects.count()
    opt_out(from_whatsapp, source=ConsentSource.KEYWORD, signal_key="wamid.stop")
    assert ConsentEvent.objects.count() == before


def test_rows_merged_into_the_merged_row_now_point_to_the_survivor(dialled, from_whatsapp):
    older_duplicate = ContactFactory(phone="+5521987650000")
    merge(from_whatsapp, older_duplicate)
    merge(dialled, from_whatsapp)
    older_duplicate.refresh_from_db()
    assert older_duplicate.merged_into == dialled


# --- What else moves -------------------------------------------------------------------------


def test_tags_attributes_and_details_the_survivor_lacks_are_copied_and_its_own_kept():
    survivor = ContactFactory(
        first_name="", last_name="", language="", time_zone="", attributes={"customer_no": "4711"}
    )
    merged = ContactFactory(
        first_name="Ana",
        last_name="Lima",
        language="pt_BR",
        time_zone="America/Sao_Paulo",
        whatsapp_profile_name="Ana 🌻",
        attributes={"customer_no": "9999", "vip": True},
    )
    survivor.tags.add(TagFactory(name="newsletter"))
    merged.tags.add(TagFactory(name="vip"), TagFactory(name="newsletter"))
    merge(survivor, merged)
    survivor.refresh_from_db()
    assert (survivor.first_name, survivor.last_name, survivor.language) == ("Ana", "Lima", "pt_BR")
    assert survivor.time_zone == "America/Sao_Paulo" and survivor.whatsapp_profile_name == "Ana 🌻"
    assert survivor.attributes == {"customer_no": "4711", "vip": True}
    assert sorted(t.name for t in survivor.tags.all()) == ["newsletter", "vip"]


def test_a_name_is_copied_only_whole():
    survivor = ContactFactory(first_name="Ana", last_name="")
    merged = ContactFactory(first_name="Anabela", last_name="Lima")
    merge(survivor, merged)
    survivor.refresh_from_db()
    assert (survivor.first_name, survivor.last_name) == ("Ana", "")


def test_messages_move_to_the_survivor_and_the_later_window_is_kept(dialled, from_whatsapp):
    later = ago(minutes=5)
    Contact.objects.filter(pk=dialled.pk).update(last_inbound_at=ago(days=3))
    Contact.objects.filter(pk=from_whatsapp.pk).update(last_inbound_at=later)
    queued = OutboundMessage.objects.create(
        contact=from_whatsapp, kind=MessageKind.TEXT, actor_kind="system", actor_label="tests"
    )
    stop = InboundMessage.objects.create(
        wamid="wamid.stop", contact=from_whatsapp, type="text", text="STOP", sent_at=later
    )
    result = merge(dialled, from_whatsapp)
    assert OutboundMessage.objects.get(pk=queued.pk).contact == dialled
    assert InboundMessage.objects.get(pk=stop.pk).contact == dialled
    dialled.refresh_from_db()
    assert dialled.last_inbound_at == later
    assert result.moved.items() >= {"outbound messages": 1, "inbound messages": 1}.items()


def test_an_earlier_window_of_the_merged_row_does_not_move_the_survivors_back(dialled, from_whatsapp):
    latest = ago(minutes=5)
    Contact.objects.filter(pk=dialled.pk).update(last_inbound_at=latest)
    Contact.objects.filter(pk=from_whatsapp.pk).update(last_inbound_at=ago(days=3))
    merge(dialled, from_whatsapp)
    dialled.refresh_from_db()
    assert dialled.last_inbound_at == latest


def test_the_merge_is_logged_with_both_ids_and_what_moved(dialled, from_whatsapp):
    editor = UserFactory(username="erin", role="Editor")
    stop = opt_out(from_whatsapp, source=ConsentSource.KEYWORD)
    from_whatsapp.tags.add(TagFactory(name="vip"))
    result = contact_merge(
        survivor=dialled, merged=from_whatsapp, actor=Actor.for_user(editor), reason="same person"
    )
    entry = ActivityLogEntry.objects.get(action="contact.merged")
    assert entry.actor_user == editor
    assert entry.object_id == str(dialled.pk)
    details = entry.details
    assert details["survivor_id"] == dialled.pk and details["merged_contact_id"] == from_whatsapp.pk
    assert details["reason"] == "same person"
    assert details["consent_events"] == [{"original": stop.pk, "carried": result.carried_events[0].pk}]
    assert details["tags_added"] == ["vip"]
    assert details["merged_identifiers"] == {"phone": None, "wa_id": "552187654321", "user_id": None}
    # Messaging's rows; apps above it (the inbox, surveys) add their own lines.
    assert details["moved"].items() >= {"outbound messages": 0, "inbound messages": 0}.items()


# --- Refusals, and nothing half-applied -----------------------------------------------------


def test_merging_a_contact_into_itself_is_refused(dialled):
    with pytest.raises(ApplicationError) as exc:
        merge(dialled, Contact.objects.get(pk=dialled.pk))
    assert exc.value.code == "merge_same_contact"


def test_merging_into_a_merged_away_row_is_refused(dialled, from_whatsapp):
    third = ContactFactory()
    merge(dialled, from_whatsapp)
    with pytest.raises(ApplicationError) as exc:
        merge(from_whatsapp, third)
    assert exc.value.code == "merge_into_merged"
    assert "merged into" in exc.value.message
    assert Contact.objects.get(pk=third.pk).merged_into is None


def test_merging_a_merged_away_row_again_is_refused(dialled, from_whatsapp):
    third = ContactFactory()
    merge(dialled, from_whatsapp)
    with pytest.raises(ApplicationError) as exc:
        merge(third, from_whatsapp)
    assert exc.value.code == "merge_already_merged"
    assert Contact.objects.get(pk=from_whatsapp.pk).merged_into == dialled


def test_merging_back_the_other_way_is_refused_so_no_cycle_can_form(dialled, from_whatsapp):
    merge(dialled, from_whatsapp)
    with pytest.raises(ApplicationError) as exc:
        merge(from_whatsapp, dialled)
    assert exc.value.code == "merge_into_merged"
    assert Contact.objects.get(pk=dialled.pk).merged_into is None


def test_a_stale_instance_cannot_merge_a_row_that_was_merged_meanwhile(dialled, from_whatsapp):
    stale = Contact.objects.get(pk=from_whatsapp.pk)
    merge(dialled, from_whatsapp)
    with pytest.raises(ApplicationError) as exc:
        merge(ContactFactory(), stale)
    assert exc.value.code == "merge_already_merged"


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_merge_needs_a_reason(dialled, from_whatsapp, reason):
    with pytest.raises(ApplicationError) as exc:
        merge(dialled, from_whatsapp, reason=reason)
    assert (exc.value.code, exc.value.field) == ("merge_reason_required", "reason")
    assert Contact.objects.get(pk=from_whatsapp.pk).merged_into is None


def test_unsaved_contacts_cannot_be_merged(dialled):
    with pytest.raises(ApplicationError) as exc:
        merge(dialled, Contact(phone="+4915100000000"))
    assert exc.value.code == "contact_unsaved"


def test_a_failure_while_merging_leaves_nothing_half_applied(dialled, from_whatsapp):
    opt_out(from_whatsapp, source=ConsentSource.KEYWORD)
    from_whatsapp.tags.add(TagFactory(name="vip"))
    events_before = ConsentEvent.objects.count()

    def broken_receiver(sender, **kwargs):
        raise RuntimeError("messaging could not move its rows")

    contact_merged.connect(broken_receiver, dispatch_uid="test-broken")
    try:
        with pytest.raises(RuntimeError):
            merge(dialled, from_whatsapp)
    finally:
        contact_merged.disconnect(dispatch_uid="test-broken")
    assert Contact.objects.get(pk=from_whatsapp.pk).merged_into is None
    assert ConsentEvent.objects.count() == events_before
    assert status_of(dialled) == ConsentStatus.OPTED_IN
    assert not dialled.tags.exists()
    assert not ActivityLogEntry.objects.filter(action="contact.merged").exists()


# --- The preview: what a merge would do, computed without writing ---------------------------


SCENARIOS = {
    "stop on the merged row": [("merged", "opt_out", {"hours": 1}), ("survivor", "opt_in", {"days": 7})],
    "stop on the survivor": [("merged", "opt_in", {"days": 2}), ("survivor", "opt_out", {"hours": 1})],
    "newer opt-in carried": [("survivor", "opt_out", {"days": 2}), ("merged", "opt_in", {"hours": 1})],
    "a second apart": [("survivor", "opt_out", {"seconds": 3600}), ("merged", "opt_in", {"seconds": 3599.5})],
    "only the merged row": [("merged", "opt_in", {"days": 1})],
    "nothing at all": [],
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_preview_predicts_the_consent_the_merge_leaves(scenario):
    rows = {"survivor": ContactFactory(), "merged": ContactFactory()}
    for row, action, delta in SCENARIOS[scenario]:
        record = opt_in if action == ConsentAction.OPT_IN else opt_out
        record(rows[row], occurred_at=ago(**delta))
    preview = contact_merge_preview(survivor=rows["survivor"], merged=rows["merged"])
    merge(rows["survivor"], rows["merged"])
    for line in preview.consent:
        actual = consent_status(deciding_event(contact=rows["survivor"], purpose=line.purpose))
        assert line.after == actual, (scenario, line)


def test_the_preview_lists_what_would_move_and_writes_nothing(dialled, from_whatsapp):
    opt_out(from_whatsapp, source=ConsentSource.KEYWORD)
    from_whatsapp.tags.add(TagFactory(name="vip"))
    OutboundMessage.objects.create(
        contact=from_whatsapp, kind=MessageKind.TEXT, actor_kind="system", actor_label="tests"
    )
    counts = (ConsentEvent.objects.count(), ActivityLogEntry.objects.count())
    preview = contact_merge_preview(survivor=dialled, merged=from_whatsapp)
    marketing = next(line for line in preview.consent if line.purpose == Purpose.MARKETING)
    assert (marketing.survivor, marketing.merged, marketing.after) == (
        ConsentStatus.OPTED_IN,
        ConsentStatus.OPTED_OUT,
        ConsentStatus.OPTED_OUT,
    )
    assert preview.events_carried == 1
    assert preview.tags_added == ["vip"]
    assert preview.moves.items() >= {"outbound messages": 1, "inbound messages": 0}.items()
    assert (ConsentEvent.objects.count(), ActivityLogEntry.objects.count()) == counts
    assert Contact.objects.get(pk=from_whatsapp.pk).merged_into is None


def test_the_preview_refuses_what_the_merge_would_refuse(dialled, from_whatsapp):
    merge(dialled, from_whatsapp)
    with pytest.raises(ApplicationError) as exc:
        contact_merge_preview(survivor=ContactFactory(), merged=from_whatsapp)
    assert exc.value.code == "merge_already_merged"
