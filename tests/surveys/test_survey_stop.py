"""An opt-out in the middle of a survey ends it: the person's STOP wins over the questions left."""

import pytest

from contacts.models import ConsentEvent
from messaging.models import OutboundMessage
from surveys.models import Answer, RunState
from surveys.services import start_survey
from tests.messaging.webhook_bodies import text_message
from tests.surveys.conftest import AGENT, answer_body, inbound_message, questions

pytestmark = pytest.mark.django_db


def test_a_stop_mid_survey_abandons_it_and_a_later_answer_changes_nothing(deliver, customer, survey):
    run = start_survey(contact=customer, survey=survey, actor=AGENT, reply_to=inbound_message(customer))
    first, second = questions(survey)
    deliver(answer_body(run, first, "OK"))
    deliver(text_message("STOP"))
    assert ConsentEvent.objects.filter(contact=customer, action="opt_out").exists()
    run.refresh_from_db()
    assert (run.state, run.end_reason) == (RunState.ABANDONED, "The person opted out.")
    sent = OutboundMessage.objects.count()
    deliver(answer_body(run, second, "Price"))
    assert list(Answer.objects.values_list("option_title", flat=True)) == ["OK"]
    assert OutboundMessage.objects.count() == sent
    # The STOP got its confirmation, as every STOP does.
    assert OutboundMessage.objects.filter(reply_to__text="STOP", is_reply=True).exists()
