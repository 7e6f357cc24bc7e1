"""An opt-out arriving while the person's answer is being recorded: the answer holds the run's row
lock and queues the next question; the opt-out's abandon waits for it, then sees that question and
withdraws it. Nothing the survey queued goes after the opt-out.

The interleaving is forced, not hoped for: the answer's transaction stays open until the opt-out's
UPDATE is seen waiting on a lock in PostgreSQL (``pg_stat_activity``); only then does it commit.
"""

import threading

import pytest
from django.db import connections, transaction
from django.utils import timezone

from contacts.models import Purpose
from messaging.models import InboundMessage, MessageStatus
from surveys.models import RunState
from surveys.questions import reply_id
from surveys.services import answer_record, start_survey
from tests.factories import opt_out
from tests.locks import someone_waits_on_a_lock
from tests.sandbox import wait_until
from tests.surveys.conftest import AGENT, inbound_message, make_survey, option, questions

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_an_opt_out_during_an_answer_withdraws_the_question_that_answer_queued(customer):
    survey = make_survey()
    run = start_survey(contact=customer, survey=survey, actor=AGENT, reply_to=inbound_message(customer))
    first = questions(survey)[0]
    chosen = {"id": reply_id(run.pk, first.pk, option(first, "Great").pk), "title": "Great"}
    pressed = InboundMessage.objects.create(
        wamid="wamid.tests.race.1",
        contact=customer,
        type="interactive",
        payload={"type": "interactive", "interactive": {"type": "button_reply", "button_reply": chosen}},
        sent_at=timezone.now(),
    )
    recorded, release = threading.Event(), threading.Event()

    def answer():
        try:
            with transaction.atomic():
                answer_record(inbound=pressed)
                recorded.set()
                assert release.wait(30)
        finally:
            connections.close_all()  # this thread's connection

    def stop():
        try:
            assert recorded.wait(30)
            opt_out(customer, Purpose.SERVICE)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=answer), threading.Thread(target=stop)]
    for thread in threads:
        thread.start()
    try:
        wait_until(someone_waits_on_a_lock, timeout=10)  # the abandon waits on the run's row
    finally:
        release.set()
        for thread in threads:
            thread.join(30)
    assert not any(thread.is_alive() for thread in threads)

    run.refresh_from_db()
    assert run.state == RunState.ABANDONED and run.answers.count() == 1
    next_question = run.last_question_message
    assert next_question != run.first_message and next_question.reply_to == pressed
    assert (next_question.status, next_question.error_class) == (MessageStatus.CANCELLED, "survey_abandoned")
