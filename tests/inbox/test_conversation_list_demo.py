"""The demo inbox is not empty: seed_demo stores a few inbound messages through the real path."""

import pytest
from django.core.management import call_command

from inbox.demo import MESSAGES
from inbox.models import Conversation
from messaging.models import InboundMessage

pytestmark = pytest.mark.django_db


def test_seed_demo_gives_the_inbox_conversations_once(settings):
    settings.DEBUG = True  # the test runner turns it off; `make run` has it on
    call_command("seed_demo")
    assert InboundMessage.objects.filter(wamid__startswith="wamid.DEMO-INBOX-").count() == len(MESSAGES)
    people = {phone for phone, *_ in MESSAGES}
    assert Conversation.objects.count() == len(people)
    anna = Conversation.objects.get(contact__first_name="Anna")
    assert (anna.unread_count, anna.awaiting_reply) == (2, True)
    assert anna.last_message_preview == "Können Sie bitte nachsehen?"
    assert anna.contact.last_inbound_at == anna.last_inbound_at  # her window is open
    carlos = Conversation.objects.get(contact__first_name="Carlos")
    assert carlos.last_message_preview == "Size M"
    call_command("seed_demo")  # idempotent
    assert Conversation.objects.count() == len(people)
    assert Conversation.objects.get(pk=anna.pk).unread_count == 2


def test_seed_demo_gives_agents_canned_replies_and_a_survey_to_start_once(settings):
    from inbox.demo import CANNED_REPLIES
    from inbox.models import CannedReply
    from surveys.demo import NAME
    from surveys.models import Survey

    settings.DEBUG = True
    for _ in range(2):  # idempotent
        call_command("seed_demo")
        assert CannedReply.objects.count() == len(CANNED_REPLIES)
        survey = Survey.objects.get()
        assert (survey.name, survey.active, survey.questions.count()) == (NAME, True, 2)
