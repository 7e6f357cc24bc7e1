"""MARKETING templates to US numbers: Meta does not deliver them, so they are never sent.

Region US by the number Meta would send to (not every +1: Canada is +1 too); a setting lifts the
block when Meta lifts it. Utility templates to US numbers go as before.
"""

import pytest

from contacts.models import Purpose
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import MessageStatus, OutboundMessage
from messaging.sending.dispatch import send_queued
from messaging.sending.rules import SkipReason, send_time_verdict
from messaging.sending.service import send_message
from templates_app.models import Category, MessageTemplate
from tests.core.test_settings import manage
from tests.factories import ContactFactory, opt_in
from tests.messaging.conftest import ORDER_PARAMETERS, PROMOTION_PARAMETERS

SYSTEM = Actor.system("tests")
NEW_YORK = "+12125550123"


@pytest.fixture(autouse=True)
def backend(memory_backend, settings):
    settings.WHATSAPP_US_MARKETING_BLOCKED = True
    return memory_backend


def consenting(**fields):
    contact = ContactFactory(**fields)
    opt_in(contact, Purpose.MARKETING)
    opt_in(contact, Purpose.SERVICE)
    return contact


def promote(contact) -> OutboundMessage:
    return send_message(
        contact=contact,
        actor=SYSTEM,
        template=MessageTemplate.objects.get(name="spring_promotion"),
        parameters=PROMOTION_PARAMETERS,
    )


def queued_while_lifted(settings, contact) -> OutboundMessage:
    settings.WHATSAPP_US_MARKETING_BLOCKED = False
    message = promote(contact)
    settings.WHATSAPP_US_MARKETING_BLOCKED = True
    return message


def test_a_marketing_template_to_a_us_number_is_skipped_at_send_time(settings, backend, promotion):
    contact = consenting(phone=NEW_YORK, country="US")
    message = queued_while_lifted(settings, contact)
    send_queued(message.pk)
    message.refresh_from_db()
    assert (message.status, message.error_class) == (MessageStatus.SKIPPED, SkipReason.US_MARKETING_BLOCKED)
    assert "US" in message.error_text and "WHATSAPP_US_MARKETING_BLOCKED" in message.error_text
    assert not message.attempts.exists() and backend.sent == []


def test_send_message_refuses_a_marketing_template_to_a_us_number(promotion):
    contact = consenting(phone=NEW_YORK, country="US")
    with pytest.raises(ApplicationError) as refused:
        promote(contact)
    assert refused.value.code == "us_marketing_blocked"
    assert not OutboundMessage.objects.exists()


def test_the_number_decides_not_the_country_field(promotion):
    # The country field says Germany; Meta sends to the US number.
    contact = consenting(phone=NEW_YORK, country="DE")
    with pytest.raises(ApplicationError) as refused:
        promote(contact)
    assert refused.value.code == "us_marketing_blocked"


def test_a_us_wa_id_is_blocked_too(settings, promotion):
    contact = consenting(phone=None, wa_id=NEW_YORK.lstrip("+"), country="")
    message = queued_while_lifted(settings, contact)
    verdict = send_time_verdict(message)
    assert verdict.skipped and verdict.reason == SkipReason.US_MARKETING_BLOCKED


@pytest.mark.parametrize("phone", ["+14165550123", "+4915112340000"], ids=["Canada (+1)", "Germany"])
def test_other_numbers_including_other_plus_one_countries_get_marketing(backend, promotion, phone):
    message = promote(consenting(phone=phone))
    send_queued(message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.ACCEPTED and len(backend.sent) == 1


def test_a_utility_template_to_a_us_number_still_goes(backend, order_update):
    contact = consenting(phone=NEW_YORK, country="US")
    message = send_message(contact=contact, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS)
    send_queued(message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.ACCEPTED


def test_a_utility_template_meta_recategorised_as_marketing_is_skipped_for_a_us_number(order_update):
    contact = consenting(phone=NEW_YORK, country="US")
    message = send_message(contact=contact, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS)
    MessageTemplate.objects.filter(pk=order_update.pk).update(category=Category.MARKETING)
    verdict = send_time_verdict(OutboundMessage.objects.get(pk=message.pk))
    assert verdict.skipped and verdict.reason == SkipReason.US_MARKETING_BLOCKED


def test_lifting_the_block_lets_marketing_to_us_numbers_go(settings, backend, promotion):
    settings.WHATSAPP_US_MARKETING_BLOCKED = False
    message = promote(consenting(phone=NEW_YORK, country="US"))
    send_queued(message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.ACCEPTED


@pytest.mark.parametrize("value", ["maybe", "flase"])
def test_a_malformed_setting_stops_start_up_naming_it(value):
    result = manage("check", WHATSAPP_US_MARKETING_BLOCKED=value)
    assert result.returncode != 0
    assert "WHATSAPP_US_MARKETING_BLOCKED" in result.stderr
