"""A small world for the thread's tests (loaded with ``pytest_plugins``): a person who wrote to us,
their conversation, and the approved templates."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.utils import timezone

from inbox.conversations import record_inbound
from inbox.models import Conversation
from messaging.models import InboundMessage
from tests.factories import ContactFactory
from tests.messaging.conftest import demo_templates, inbound_message, order_update  # noqa: F401 (fixtures)


def person_writes(
    contact, text: str = "Hello, where is my order?", *, at: datetime | None = None
) -> InboundMessage:
    """A message from the person, stored and followed by their conversation as the webhook does."""
    message = inbound_message(contact, text, at=at or timezone.now())
    record_inbound(message)
    return message


@pytest.fixture
def person(db):
    return ContactFactory(phone="+4915112345678", first_name="Pablo", last_name="Neruda", language="de")


@pytest.fixture
def conversation(person) -> Conversation:
    person_writes(person)
    return Conversation.objects.get(contact=person)
