"""End to end: a sandbox person completes a survey and its answers are exported.

Everything travels the real way: the dispatcher sends each question to the sandbox over HTTP; the
sandbox's person reads it and presses one of its buttons or list rows; the sandbox posts the signed
webhook to the live server, whose processing records the answer and queues the next question as a
reply. Every wait is on a condition, never on time.
"""

import csv
import functools
import io

import pytest
from django.urls import reverse
from django_q.tasks import async_task

import messaging.webhooks.tasks
from messaging.models import InboundMessage, MessageStatus, OutboundMessage, WebhookEvent
from messaging.sending import batch
from surveys.models import Answer, RunState, SurveyRun
from surveys.services import start_survey
from tests.sandbox import control, point_app_at, wait_until
from tests.surveys.conftest import AGENT, make_survey

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PERSON = "+4915198765400"


@pytest.fixture
def live_whatsapp(live_server, make_sandbox, settings, monkeypatch):
    """A sandbox the app sends to, whose people read every message and press a button of each."""
    sandbox = make_sandbox(
        webhook_url=live_server.url + "/webhooks/whatsapp/",
        read_share=1.0,
        reply_share=1.0,
        reply_mix={"button": 1.0},
    )
    point_app_at(settings, sandbox)
    settings.WHATSAPP_MESSAGING_LIMIT = "TIER_UNLIMITED"
    settings.MARKETING_SENDING_HOURS = ""
    settings.WHATSAPP_MESSAGES_PER_SECOND = 1000
    monkeypatch.setattr(messaging.webhooks.tasks, "async_task", functools.partial(async_task, sync=True))
    return sandbox


def test_a_sandbox_person_completes_a_survey_and_its_answers_are_exported(live_whatsapp, client_for, auditor):
    survey = make_survey()
    wamid = control(
        live_whatsapp, "inbound", {"from": PERSON, "kind": "text", "body": "I was in your store today"}
    )["wamid"]
    first_words = wait_until(
        lambda: InboundMessage.objects.filter(wamid=wamid).select_related("contact").first()
    )
    contact = first_words.contact
    run = start_survey(contact=contact, survey=survey, actor=AGENT, reply_to=first_words)

    for answered in (1, 2):  # each question: sent, read, pressed, recorded; the next one queued
        batch.dispatch()
        wait_until(lambda n=answered: Answer.objects.filter(run=run).count() == n, timeout=30)
    batch.dispatch()  # the thank-you
    run.refresh_from_db()
    assert run.state == RunState.COMPLETED
    thanks = wait_until(
        lambda: OutboundMessage.objects.filter(
            contact=contact, kind="text", status__in=[MessageStatus.DELIVERED, MessageStatus.READ]
        ).first(),
        timeout=30,
    )
    assert thanks.rendered_text == survey.thank_you_text

    # What the sandbox received: the two questions (buttons, then a list), each quoting what it answers.
    sent = control(live_whatsapp, "messages")["data"]
    interactive = [m["payload"] for m in sent if m["type"] == "interactive"]
    assert [p["interactive"]["type"] for p in interactive] == ["button", "list"]
    assert all(p.get("context", {}).get("message_id") for p in interactive)

    answers = list(
        Answer.objects.filter(run=run).order_by("question__position").select_related("option", "question")
    )
    assert [a.question.position for a in answers] == [1, 2]
    assert all(a.option.question_id == a.question_id and a.option_title == a.option.title for a in answers)
    wait_until(lambda: control(live_whatsapp, "health")["pending_webhooks"] == 0, timeout=30)
    wait_until(lambda: not WebhookEvent.objects.filter(outcome="pending").exists(), timeout=30)
    assert not WebhookEvent.objects.filter(outcome="failed").exists()
    assert SurveyRun.objects.get(pk=run.pk).state == RunState.COMPLETED

    response = client_for(auditor).get(reverse("admin:surveys_survey_export", args=[survey.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    guarded = f"'{PERSON}"  # a leading + is a formula to a spreadsheet (contacts.exports.safe_cell)
    assert [(row[1], row[2], row[3]) for row in rows[1:]] == [
        (guarded, "How was your visit?", answers[0].option_title),
        (guarded, "What could be better?", answers[1].option_title),
    ]
