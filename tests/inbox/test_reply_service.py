"""inbox.services.reply: inside the window a reply quoting their latest message, outside only a
template (with consent), the opted-out person, two agents at once, and every refusal."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import ActivityLogEntry, Purpose
from core.errors import ApplicationError
from inbox.models import Conversation
from inbox.services import reply
from messaging.models import InboundMessage, MessageKind, OutboundMessage
from messaging.sending import content
from tests.factories import opt_in, opt_out
from tests.inbox.thread_world import person_writes

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.inbox.thread_world"]


def refused(code, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        reply(**kwargs)
    assert caught.value.code == code, caught.value.message
    return caught.value


def test_inside_the_window_a_text_answers_their_latest_message(conversation, support):
    latest = person_writes(conversation.contact, "And one more question")
    message = reply(conversation, user=support, content=content.text("Happy to help!"), seen_outbound_id=None)
    assert message.is_reply and message.reply_to == latest
    assert message.kind == MessageKind.TEXT and message.rendered_text == "Happy to help!"
    conversation.refresh_from_db()
    assert conversation.awaiting_reply is False
    assert conversation.last_message_inbound is False
    assert conversation.last_message_preview == "Happy to help!"
    entry = ActivityLogEntry.objects.get(action="conversation.replied")
    assert entry.object_id == str(conversation.pk) and entry.details["message"] == message.pk


def test_buttons_and_lists_go_as_interactive_replies(conversation, support):
    question = content.buttons("Did this help?", [("yes", "Yes"), ("no", "No")])
    message = reply(conversation, user=support, content=question, seen_outbound_id=None)
    assert message.kind == MessageKind.INTERACTIVE and message.is_reply
    rows = [("a", "Monday", ""), ("b", "Tuesday", "after 2 pm")]
    listed = reply(
        conversation,
        user=support,
        content=content.choice_list("Which day?", "Pick a day", [("Days", rows)]),
        seen_outbound_id=message.pk,
    )
    assert listed.content["sections"][0]["rows"][1]["description"] == "after 2 pm"


def test_more_buttons_than_meta_allows_and_an_empty_text_are_refused(conversation, support):
    four = content.buttons("Pick", [(str(n), f"Option {n}") for n in range(4)])
    error = refused(
        "message_content_invalid",
        conversation=conversation,
        user=support,
        content=four,
        seen_outbound_id=None,
    )
    assert error.field == "buttons"
    refused(
        "message_content_invalid",
        conversation=conversation,
        user=support,
        content=content.text("  "),
        seen_outbound_id=None,
    )
    refused("message_content_invalid", conversation=conversation, user=support, seen_outbound_id=None)
    assert not OutboundMessage.objects.exists()


def test_outside_the_window_free_form_is_refused_with_the_time_it_closed(person, support):
    person_writes(person, at=timezone.now() - timedelta(hours=30))
    conversation = Conversation.objects.get(contact=person)
    error = refused(
        "window_closed",
        conversation=conversation,
        user=support,
        content=content.text("Hi"),
        seen_outbound_id=None,
    )
    closed = timezone.localtime(person.last_inbound_at + timedelta(hours=24))
    assert f"closed at {closed:%Y-%m-%d %H:%M}" in error.message
    assert not OutboundMessage.objects.exists()


def test_outside_the_window_a_template_goes_business_initiated_with_consent_only(
    person,
    support,
    order_update,
):
    from tests.messaging.conftest import ORDER_PARAMETERS

    person_writes(person, at=timezone.now() - timedelta(hours=30))
    conversation = Conversation.objects.get(contact=person)
    refused(
        "no_consent",
        conversation=conversation,
        user=support,
        template=order_update,
        parameters=ORDER_PARAMETERS,
        seen_outbound_id=None,
    )
    opt_in(person, Purpose.SERVICE)
    message = reply(
        conversation, user=support, template=order_update, parameters=ORDER_PARAMETERS, seen_outbound_id=None
    )
    assert message.is_reply is False and message.reply_to is None
    assert message.kind == MessageKind.TEMPLATE


def test_after_an_opt_out_of_everything_only_a_later_message_is_answered(person, support):
    stop = person_writes(person, "STOP ALL")
    opt_in(person, Purpose.SERVICE, occurred_at=stop.sent_at - timedelta(days=3))
    for purpose in (Purpose.MARKETING, Purpose.SERVICE):
        opt_out(person, purpose, occurred_at=stop.sent_at, evidence={"inbound_message_id": stop.pk})
    conversation = Conversation.objects.get(contact=person)
    refused(
        "opted_out_everywhere",
        conversation=conversation,
        user=support,
        content=content.text("Sorry to see you go"),
        seen_outbound_id=None,
    )
    later = person_writes(person, "Wait, where is my parcel?", at=stop.sent_at + timedelta(seconds=5))
    message = reply(conversation, user=support, content=content.text("On its way!"), seen_outbound_id=None)
    assert message.reply_to == later


def test_two_agents_the_second_sees_the_first_reply_and_sends_when_asked_again(conversation, support):
    from tests.factories import UserFactory

    other = UserFactory(username="sasha_support", role="Support")
    seen = None  # both pages showed no message of ours
    first = reply(conversation, user=other, content=content.text("I'm on it"), seen_outbound_id=seen)
    error = refused(
        "someone_replied",
        conversation=conversation,
        user=support,
        content=content.text("Hello!"),
        seen_outbound_id=seen,
    )
    assert error.details["by"] == "sasha_support" and error.details["message"] == first.pk
    assert "I'm on it" in error.message
    second = reply(conversation, user=support, content=content.text("Hello!"), seen_outbound_id=first.pk)
    assert second.pk > first.pk


def test_an_auditor_or_editor_cannot_reply(conversation, auditor, editor):
    for user in (auditor, editor):
        refused(
            "permission_denied",
            conversation=conversation,
            user=user,
            content=content.text("Hi"),
            seen_outbound_id=None,
        )
    assert not OutboundMessage.objects.exists()
    assert InboundMessage.objects.count() == 1
