"""Consent is checked again after the rate limiter's slot is taken, right before the request.

A message can wait for its slot; an opt-out (or a merge) recorded during that wait wins: the
message is skipped, nothing reaches WhatsApp, and the slot is simply spent.
"""

import pytest
from django.core.cache import cache
from django.utils import timezone

from contacts.models import ConsentSource, Contact, Purpose
from contacts.services import record_opt_out_everywhere
from core.actors import Actor
from messaging.models import MessageStatus, OutboundMessage, RateLimiterSlot
from messaging.sending import batch as batches
from messaging.sending import halt as halt_module
from messaging.sending.dispatch import send_queued
from messaging.sending.limiter import limiter_key
from messaging.sending.rules import SkipReason
from messaging.sending.service import send_message
from tests.factories import ContactFactory, opt_in, opt_out
from tests.messaging.conftest import ORDER_PARAMETERS, PROMOTION_PARAMETERS, inbound_message
from tests.messaging.test_dispatch_sandbox import received, sandbox_templates
from tests.sandbox import control

SYSTEM = Actor.system("tests")


@pytest.fixture
def memory(memory_backend):
    return memory_backend


@pytest.fixture
def during_the_wait(monkeypatch):
    """Run a function while the dispatcher waits for its slots (the real limiter still reserves them)."""
    actions = []
    real_wait = batches.wait_for_slots

    def wait_for_slots(count, **kwargs):
        slots = real_wait(count, **kwargs)
        for action in actions:
            action()
        return slots

    monkeypatch.setattr(batches, "wait_for_slots", wait_for_slots)
    return actions.append


def promote(contact) -> OutboundMessage:
    from templates_app.models import MessageTemplate

    template = MessageTemplate.objects.get(name="spring_promotion")
    return send_message(contact=contact, actor=SYSTEM, template=template, parameters=PROMOTION_PARAMETERS)


def assert_skipped_unsent(message, reason):
    message.refresh_from_db()
    assert (message.status, message.error_class) == (MessageStatus.SKIPPED, reason)
    assert message.finished_at is not None
    assert not message.attempts.exists()


def test_an_opt_out_recorded_while_waiting_for_the_slot_wins(memory, during_the_wait, customer, promotion):
    message = promote(customer)
    during_the_wait(lambda: opt_out(customer, Purpose.MARKETING, source=ConsentSource.KEYWORD))
    slot_before = RateLimiterSlot.objects.filter(key=limiter_key()).values_list("next_at", flat=True).first()

    result = send_queued(message.pk)

    assert result.startswith("skipped")
    assert_skipped_unsent(message, SkipReason.OPTED_OUT)
    assert memory.sent == []
    # The slot was reserved and is simply spent.
    slot_after = RateLimiterSlot.objects.get(key=limiter_key()).next_at
    assert slot_before is None or slot_after > slot_before


def test_an_opt_out_of_every_purpose_while_waiting_stops_a_utility_message(
    memory, during_the_wait, customer, order_update
):
    message = send_message(contact=customer, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS)
    during_the_wait(
        lambda: record_opt_out_everywhere(
            contact=customer, source=ConsentSource.KEYWORD, actor=Actor.system("tests")
        )
    )
    send_queued(message.pk)
    assert_skipped_unsent(message, SkipReason.OPTED_OUT)
    assert memory.sent == []


def test_a_merge_while_waiting_for_the_slot_wins(memory, during_the_wait, customer, promotion):
    message = promote(customer)
    survivor = ContactFactory()
    during_the_wait(
        lambda: Contact.objects.filter(pk=customer.pk).update(merged_into=survivor, merged_at=timezone.now())
    )
    send_queued(message.pk)
    assert_skipped_unsent(message, SkipReason.CONTACT_MERGED)
    assert memory.sent == []


def test_a_new_opt_in_while_waiting_becomes_the_proof(memory, during_the_wait, customer, promotion):
    message = promote(customer)
    newer = []
    during_the_wait(lambda: newer.append(opt_in(customer, Purpose.MARKETING)))
    send_queued(message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.ACCEPTED
    assert message.authorising_event_id == newer[0].pk


def test_a_stop_confirmation_still_goes_after_the_opt_out_it_confirms(memory, during_the_wait, customer):
    stop = inbound_message(customer, "STOP")
    reply = send_message(contact=customer, actor=SYSTEM, text="You will get no more offers.", reply_to=stop)
    during_the_wait(lambda: opt_out(customer, Purpose.MARKETING, source=ConsentSource.KEYWORD))
    send_queued(reply.pk)
    reply.refresh_from_db()
    assert reply.status == MessageStatus.ACCEPTED and len(memory.sent) == 1


# --- The same over real HTTP: nothing reaches the sandbox ------------------------------------------


@pytest.fixture
def whatsapp(app_sandbox, demo_templates, settings):
    settings.WHATSAPP_MESSAGES_PER_SECOND = 1000
    settings.MARKETING_SENDING_HOURS = ""
    cache.delete(halt_module.CACHE_KEY)
    control(app_sandbox, "templates", {"templates": sandbox_templates(demo_templates.values())})
    yield app_sandbox
    cache.delete(halt_module.CACHE_KEY)


def test_an_opt_out_during_the_wait_sends_nothing_to_the_sandbox(
    whatsapp, during_the_wait, customer, promotion
):
    held_back = promote(customer)
    during_the_wait(lambda: opt_out(customer, Purpose.MARKETING, source=ConsentSource.KEYWORD))
    send_queued(held_back.pk)
    assert_skipped_unsent(held_back, SkipReason.OPTED_OUT)
    assert received(whatsapp) == []
