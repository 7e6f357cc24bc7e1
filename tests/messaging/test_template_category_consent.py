"""Meta re-categorises a UTILITY template as MARKETING: its messages then need a marketing opt-in.

The purpose a template message needs comes from the category WhatsApp treats it as. A
``template_category_update`` changes the template's category, not the approved version's, so the
send path must not keep asking only for service consent.
"""

import pytest

from contacts.models import Purpose
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import MessageStatus, OutboundMessage
from messaging.sending.dispatch import send_queued
from messaging.sending.rules import SkipReason
from messaging.sending.service import send_message
from templates_app.services import template_apply_status
from tests.factories import ContactFactory, opt_in
from tests.messaging.conftest import ORDER_PARAMETERS

SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def backend(memory_backend):
    return memory_backend


@pytest.fixture
def service_only(db):
    contact = ContactFactory(phone="+4915112340000", time_zone="Europe/Berlin")
    opt_in(contact, Purpose.SERVICE)
    return contact


def recategorise_as_marketing(template):
    template_apply_status(template=template, source="webhook", category="MARKETING")
    template.refresh_from_db()


def test_a_template_meta_made_marketing_needs_a_marketing_opt_in_to_be_queued(service_only, order_update):
    recategorise_as_marketing(order_update)
    with pytest.raises(ApplicationError) as error:
        send_message(contact=service_only, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS)
    assert error.value.code in ("consent_wrong_purpose", "no_consent")
    assert not OutboundMessage.objects.exists()


def test_a_queued_message_whose_template_became_marketing_is_skipped_without_marketing_consent(
    backend, service_only, order_update
):
    message = send_message(
        contact=service_only, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS
    )
    assert message.purpose == Purpose.SERVICE
    recategorise_as_marketing(order_update)

    send_queued(message.pk)

    message.refresh_from_db()
    assert backend.sent == []
    assert message.status == MessageStatus.SKIPPED
    assert message.error_class == SkipReason.NO_CONSENT


def test_with_a_marketing_opt_in_it_goes_and_the_marketing_event_is_the_proof(
    backend, service_only, order_update
):
    message = send_message(
        contact=service_only, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS
    )
    recategorise_as_marketing(order_update)
    marketing = opt_in(service_only, Purpose.MARKETING)

    send_queued(message.pk)

    message.refresh_from_db()
    assert message.status == MessageStatus.ACCEPTED
    assert message.purpose == Purpose.MARKETING
    assert message.authorising_event_id == marketing.pk
