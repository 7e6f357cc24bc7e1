"""The messaging world: an approved marketing and utility template, contacts with and without consent.

Shared by the send-path and the webhook tests; add fixtures local to one topic in its own test
module instead of here.
"""

import itertools
from datetime import datetime

import pytest
from django.utils import timezone

from contacts.models import Contact, Purpose
from core.actors import Actor
from messaging.models import InboundMessage
from templates_app.demo import seed_templates
from templates_app.models import MessageTemplate
from tests.factories import ContactFactory, opt_in


@pytest.fixture
def demo_templates(db):
    """order_update (UTILITY, document header, URL button), spring_promotion (MARKETING, image header,
    quick replies with an opt-out button, copy code), appointment_reminder (UTILITY, NAMED)."""
    return {t.name: t for t in seed_templates(actor=Actor.system("tests"))}


@pytest.fixture
def promotion(demo_templates) -> MessageTemplate:
    return demo_templates["spring_promotion"]


@pytest.fixture
def order_update(demo_templates) -> MessageTemplate:
    return demo_templates["order_update"]


PROMOTION_PARAMETERS = {
    "header": {"type": "image", "link": "https://shop.example/spring.jpg"},
    "body": ["Pablo", "Sunday"],
    "buttons": {"2": "SPRING20"},
}
ORDER_PARAMETERS = {
    "header": {"type": "document", "link": "https://shop.example/invoice.pdf"},
    "body": ["Pablo", "ORD-9271"],
    "buttons": {"0": "ORD-9271"},
}


@pytest.fixture
def customer(db):
    """Opted in to marketing and service; a German number, time zone Europe/Berlin."""
    contact = ContactFactory(phone="+4915112345678", first_name="Pablo", time_zone="Europe/Berlin")
    opt_in(contact, Purpose.MARKETING)
    opt_in(contact, Purpose.SERVICE)
    return contact


@pytest.fixture
def stranger(db):
    """No consent recorded at all."""
    return ContactFactory(phone="+4915187654321", first_name="Gabriela")


_inbound_numbers = itertools.count(1)


def inbound_message(contact: Contact, text: str = "Hi", *, at: datetime | None = None) -> InboundMessage:
    """A message from the person (sent ``at``, now by default), stored as the webhook stores one: it
    opens their 24-hour window, and it is what a reply answers (``send_message(reply_to=...)``)."""
    at = at or timezone.now()
    message = InboundMessage.objects.create(
        wamid=f"wamid.tests.in.{next(_inbound_numbers)}",
        contact=contact,
        type="text",
        text=text,
        payload={"type": "text", "text": {"body": text}},
        sent_at=at,
    )
    if contact.last_inbound_at is None or contact.last_inbound_at < at:
        contact.last_inbound_at = at
        contact.save(update_fields=["last_inbound_at"])
    return message
