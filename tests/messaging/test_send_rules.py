"""The send-time rules at chosen instants: quiet hours, frequency cap, budget, halt, window."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from contacts.models import Purpose
from core.actors import Actor
from messaging.models import (
    HoldReason,
    InboundMessage,
    MessageKind,
    MessageStatus,
    MessagingTier,
    OutboundMessage,
    SendingHalt,
)
from messaging.sending import halt as halt_module
from messaging.sending.reach import budget_used
from messaging.sending.rules import SkipReason, send_time_verdict
from messaging.sending.service import send_message
from tests.factories import ContactFactory, opt_in, opt_out
from tests.messaging.conftest import ORDER_PARAMETERS, PROMOTION_PARAMETERS, inbound_message

SYSTEM = Actor.system("tests")
# A Wednesday in January: no DST change near it anywhere, southern-hemisphere summer time on.
NOON_UTC = datetime(2026, 1, 14, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def rules(settings, db):
    settings.MARKETING_SENDING_HOURS = "09:00-20:00"
    settings.MARKETING_FREQUENCY_CAP = 2
    settings.MARKETING_FREQUENCY_DAYS = 7
    settings.WHATSAPP_MESSAGING_LIMIT = "TIER_250"
    cache.delete(halt_module.CACHE_KEY)
    yield
    cache.delete(halt_module.CACHE_KEY)


def promote(contact, **kwargs) -> OutboundMessage:
    return send_message(
        contact=contact, actor=SYSTEM, template=kwargs.pop("template"), parameters=PROMOTION_PARAMETERS
    )


def marketing_contact(phone: str, time_zone: str = ""):
    contact = ContactFactory(phone=phone, time_zone=time_zone)
    opt_in(contact, Purpose.MARKETING)
    opt_in(contact, Purpose.SERVICE)
    return contact


def past_message(
    contact, *, accepted_at, purpose=Purpose.MARKETING, status=MessageStatus.DELIVERED, **fields
):
    return OutboundMessage.objects.create(
        contact=contact,
        kind=MessageKind.TEMPLATE,
        purpose=purpose,
        status=status,
        accepted_at=accepted_at,
        claimed_at=accepted_at,
        actor_kind="system",
        actor_label="tests",
        **fields,
    )


# --- Go, and the proof --------------------------------------------------------------------------


def test_an_allowed_message_goes_with_the_deciding_consent_event(customer, promotion):
    message = promote(customer, template=promotion)
    verdict = send_time_verdict(message, NOON_UTC)
    assert verdict.go
    assert verdict.authorising_event_id == customer.consents.get(purpose=Purpose.MARKETING).event_id
    assert verdict.template_version_id == promotion.approved_version_id


def test_an_opt_out_after_queueing_skips_the_message(customer, promotion):
    message = promote(customer, template=promotion)
    opt_out(customer, Purpose.MARKETING)
    verdict = send_time_verdict(message, NOON_UTC)
    assert verdict.skipped and verdict.reason == SkipReason.OPTED_OUT


def test_a_template_paused_after_queueing_holds_and_a_disabled_one_skips(customer, promotion):
    message = promote(customer, template=promotion)
    promotion.status = "PAUSED"
    promotion.save(update_fields=["status"])
    verdict = send_time_verdict(message, NOON_UTC)
    assert verdict.held and verdict.reason == HoldReason.TEMPLATE_PAUSED and verdict.until > NOON_UTC
    promotion.status = "DISABLED"
    promotion.save(update_fields=["status"])
    verdict = send_time_verdict(message, NOON_UTC)
    assert verdict.skipped and verdict.reason == SkipReason.TEMPLATE_NOT_SENDABLE


# --- Quiet hours -------------------------------------------------------------------------------


def test_quiet_hours_in_the_contacts_own_zone(customer, promotion):
    message = promote(customer, template=promotion)  # Europe/Berlin, UTC+1 in January
    early = datetime(2026, 1, 14, 6, 30, tzinfo=UTC)  # 07:30 in Berlin
    verdict = send_time_verdict(message, early)
    assert verdict.held and verdict.reason == HoldReason.QUIET_HOURS
    assert verdict.until == datetime(2026, 1, 14, 8, 0, tzinfo=UTC)
    late = datetime(2026, 1, 14, 19, 30, tzinfo=UTC)  # 20:30 in Berlin: next morning
    assert send_time_verdict(message, late).until == datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
    assert send_time_verdict(message, NOON_UTC).go


def test_quiet_hours_use_the_numbers_zone_when_the_contact_has_none(promotion):
    contact = marketing_contact("+4915199990001")  # German mobile, no time zone set
    message = promote(contact, template=promotion)
    verdict = send_time_verdict(message, datetime(2026, 1, 14, 6, 30, tzinfo=UTC))
    assert verdict.held and verdict.until == datetime(2026, 1, 14, 8, 0, tzinfo=UTC)


def test_a_multi_zone_number_waits_until_it_is_daytime_everywhere(promotion):
    # An Australian mobile: phonenumbers gives every zone from Cocos (UTC+6:30) to Lord Howe (UTC+11).
    contact = marketing_contact("+61412345678")
    message = promote(contact, template=promotion)
    one_am = datetime(2026, 1, 14, 1, 0, tzinfo=UTC)  # noon in Sydney, 07:30 on the Cocos Islands
    verdict = send_time_verdict(message, one_am)
    assert verdict.held and verdict.reason == HoldReason.QUIET_HOURS
    assert verdict.until == datetime(2026, 1, 14, 2, 30, tzinfo=UTC)  # 09:00 on the Cocos Islands
    # 09:30 UTC is 20:30 at Lord Howe: the east is closed although Perth (17:30) is open.
    assert send_time_verdict(message, datetime(2026, 1, 14, 9, 30, tzinfo=UTC)).held


def test_a_us_number_without_an_area_zone_uses_every_us_zone(settings, promotion):
    # A non-geographic +1 number: zones from Guam (UTC+10) to Pago Pago (UTC-11). Marketing to US
    # numbers is blocked while Meta does not deliver it (test_us_marketing.py); lifted here.
    settings.WHATSAPP_US_MARKETING_BLOCKED = False
    contact = marketing_contact("+15005550006")
    message = promote(contact, template=promotion)
    verdict = send_time_verdict(message, NOON_UTC)
    assert verdict.held
    # The only common daytime: 23:00 UTC = 09:00 Guam, 12:00 Pago Pago, 19:30 St John's.
    assert verdict.until == datetime(2026, 1, 14, 23, 0, tzinfo=UTC)


def test_zones_with_no_common_sending_hours_skip_the_message(settings, promotion):
    settings.MARKETING_SENDING_HOURS = "09:00-10:00"
    contact = marketing_contact("+61412345678")
    message = promote(contact, template=promotion)
    verdict = send_time_verdict(message, NOON_UTC)
    assert verdict.skipped and verdict.reason == SkipReason.NO_COMMON_SENDING_HOURS


def test_quiet_hours_do_not_apply_to_service_messages(customer, order_update):
    message = send_message(contact=customer, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS)
    assert send_time_verdict(message, datetime(2026, 1, 14, 2, 0, tzinfo=UTC)).go


def test_no_sending_hours_means_no_quiet_hours(settings, customer, promotion):
    settings.MARKETING_SENDING_HOURS = ""
    message = promote(customer, template=promotion)
    assert send_time_verdict(message, datetime(2026, 1, 14, 2, 0, tzinfo=UTC)).go


# --- Frequency cap -----------------------------------------------------------------------------


def test_the_marketing_frequency_cap_holds_until_the_oldest_leaves_the_period(customer, promotion):
    past_message(customer, accepted_at=NOON_UTC - timedelta(days=3))
    past_message(customer, accepted_at=NOON_UTC - timedelta(days=1))
    past_message(customer, accepted_at=NOON_UTC - timedelta(days=8))  # outside the 7 days
    past_message(
        customer, accepted_at=NOON_UTC - timedelta(hours=1), purpose=Purpose.SERVICE
    )  # not marketing
    message = promote(customer, template=promotion)
    verdict = send_time_verdict(message, NOON_UTC)
    assert verdict.held and verdict.reason == HoldReason.FREQUENCY_CAP
    assert verdict.until == NOON_UTC + timedelta(days=4)


def test_a_marketing_message_still_sending_counts_towards_the_cap(customer, promotion):
    past_message(customer, accepted_at=NOON_UTC - timedelta(days=1))
    in_flight = past_message(customer, accepted_at=None, status=MessageStatus.UNKNOWN)
    OutboundMessage.objects.filter(pk=in_flight.pk).update(claimed_at=NOON_UTC - timedelta(minutes=5))
    message = promote(customer, template=promotion)
    assert send_time_verdict(message, NOON_UTC).reason == HoldReason.FREQUENCY_CAP


def test_the_cap_does_not_hold_service_messages(customer, order_update):
    for days in (1, 2, 3):
        past_message(customer, accepted_at=NOON_UTC - timedelta(days=days))
    message = send_message(contact=customer, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS)
    assert send_time_verdict(message, NOON_UTC).go


# --- Messaging-limit budget --------------------------------------------------------------------


def test_the_budget_holds_new_people_once_the_tier_is_used_up(settings, customer, order_update):
    MessagingTier.objects.create(tier="TIER_TEST", limit=2, source="tests")
    first, second = ContactFactory(), ContactFactory()
    past_message(first, accepted_at=NOON_UTC - timedelta(hours=20), purpose=Purpose.SERVICE)
    past_message(first, accepted_at=NOON_UTC - timedelta(hours=2), purpose=Purpose.SERVICE)
    past_message(second, accepted_at=NOON_UTC - timedelta(hours=5), purpose=Purpose.SERVICE)
    past_message(ContactFactory(), accepted_at=NOON_UTC - timedelta(hours=25), purpose=Purpose.SERVICE)
    assert budget_used(NOON_UTC) == 2

    message = send_message(contact=customer, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS)
    verdict = send_time_verdict(message, NOON_UTC)
    assert verdict.held and verdict.reason == HoldReason.BUDGET
    # `second` (last reached 5 hours ago) leaves the moving 24 hours first.
    assert verdict.until == NOON_UTC + timedelta(hours=19)

    # Someone already reached today costs nothing more.
    opt_in(first, Purpose.SERVICE)
    again = send_message(contact=first, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS)
    assert send_time_verdict(again, NOON_UTC).go


def test_messages_inside_an_open_window_do_not_use_the_budget(settings, customer, order_update):
    settings.WHATSAPP_MESSAGING_LIMIT = "1"
    talker = ContactFactory()
    InboundMessage.objects.create(
        wamid="wamid.talk", contact=talker, type="text", payload={}, sent_at=NOON_UTC - timedelta(hours=3)
    )
    past_message(talker, accepted_at=NOON_UTC - timedelta(hours=2), purpose=Purpose.SERVICE)
    assert budget_used(NOON_UTC) == 0
    message = send_message(contact=customer, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS)
    assert send_time_verdict(message, NOON_UTC).go

    # And a person whose own window is open now may be reached with the budget used up.
    past_message(ContactFactory(), accepted_at=NOON_UTC - timedelta(hours=1), purpose=Purpose.SERVICE)
    assert send_time_verdict(message, NOON_UTC).held
    customer.last_inbound_at = NOON_UTC - timedelta(minutes=10)
    customer.save(update_fields=["last_inbound_at"])
    assert send_time_verdict(message, NOON_UTC).go


def test_an_unlimited_tier_never_holds(settings, customer, order_update):
    MessagingTier.objects.create(tier="TIER_UNLIMITED", limit=None, source="business_capability_update")
    settings.WHATSAPP_MESSAGING_LIMIT = "1"
    past_message(ContactFactory(), accepted_at=NOON_UTC - timedelta(hours=1), purpose=Purpose.SERVICE)
    message = send_message(contact=customer, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS)
    assert send_time_verdict(message, NOON_UTC).go


# --- Halt and replies --------------------------------------------------------------------------


def test_a_halt_holds_every_message_including_replies(customer, stranger, order_update):
    business = send_message(
        contact=customer, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS
    )
    reply = send_message(
        contact=stranger, actor=SYSTEM, text="Happy to help", reply_to=inbound_message(stranger)
    )
    SendingHalt.objects.create(reason="token expired", error_code=190)
    cache.delete(halt_module.CACHE_KEY)
    for message in (business, reply):
        verdict = send_time_verdict(message)
        assert verdict.held and verdict.reason == HoldReason.HALT and verdict.until is None


def test_a_reply_ignores_consent_and_the_budget_but_not_the_window(settings, stranger, order_update):
    """A reply needs no opt-in; quiet hours and the cap are for marketing, which is never a reply
    (tests/messaging/test_replies.py)."""
    settings.WHATSAPP_MESSAGING_LIMIT = "1"
    past_message(ContactFactory(), accepted_at=timezone.now() - timedelta(hours=1), purpose=Purpose.SERVICE)
    question = inbound_message(stranger, at=timezone.now() - timedelta(hours=1))
    reply = send_message(
        contact=stranger, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS, reply_to=question
    )
    verdict = send_time_verdict(reply)
    assert verdict.go and verdict.authorising_event_id is None
    # The window closed while it waited: a reply can never go now.
    verdict = send_time_verdict(reply, question.sent_at + timedelta(hours=24))
    assert verdict.skipped and verdict.reason == SkipReason.WINDOW_CLOSED
