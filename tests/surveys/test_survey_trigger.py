"""A template's quick-reply press starts the survey whose trigger it is, as a reply to the press; a
ButtonTag adds its tag (the appointment example); the opt-out button does neither."""

import pytest

from contacts.models import ActivityLogEntry, Purpose
from messaging.models import InboundMessage, OutboundMessage
from surveys.models import ButtonTag, RunState, SurveyRun
from tests.factories import TagFactory
from tests.messaging.webhook_bodies import inbound, outbound
from tests.surveys.conftest import make_survey

pytestmark = pytest.mark.django_db


@pytest.fixture
def reminder(demo_templates):
    return demo_templates["appointment_reminder"]


def sent_reminder(contact, template):
    return outbound(contact, template_version=template.approved_version, purpose=Purpose.SERVICE)


def press(message, label, **extra):
    wamid = message.attempts.get().wamid
    return inbound(
        "button",
        {"payload": label, "text": label, **extra},
        wa_id=message.contact.phone.lstrip("+"),
        context={"from": "15550783881", "id": wamid},
    )


def test_the_trigger_button_starts_the_survey_as_a_reply_to_the_press(deliver, stranger, reminder):
    survey = make_survey("Appointment confirmed", trigger_template=reminder, trigger_button_text="Confirm")
    # Gabriela never opted in and has not written for long: the press is what opens the window.
    deliver(press(sent_reminder(stranger, reminder), "Confirm"))
    pressed = InboundMessage.objects.get(type="button")
    run = SurveyRun.objects.get()
    assert (run.survey, run.contact, run.state, run.started_from) == (
        survey,
        stranger,
        RunState.RUNNING,
        pressed,
    )
    assert run.first_message.is_reply and run.first_message.reply_to == pressed
    assert run.actor_label == "survey trigger button"


def test_another_button_or_another_template_starts_nothing(deliver, stranger, reminder, demo_templates):
    make_survey("Appointment confirmed", trigger_template=reminder, trigger_button_text="Confirm")
    deliver(press(sent_reminder(stranger, reminder), "Reschedule"))
    deliver(press(sent_reminder(stranger, demo_templates["order_update"]), "Confirm"))
    assert not SurveyRun.objects.exists()


def test_an_inactive_survey_is_not_started_by_its_trigger(deliver, stranger, reminder):
    make_survey(
        "Appointment confirmed", trigger_template=reminder, trigger_button_text="Confirm", active=False
    )
    deliver(press(sent_reminder(stranger, reminder), "Confirm"))
    assert not SurveyRun.objects.exists()


def test_a_press_while_another_survey_runs_is_refused_and_logged(deliver, stranger, reminder):
    make_survey("Appointment confirmed", trigger_template=reminder, trigger_button_text="Confirm")
    deliver(press(sent_reminder(stranger, reminder), "Confirm"))
    deliver(press(sent_reminder(stranger, reminder), "Confirm"))
    assert SurveyRun.objects.count() == 1
    entry = ActivityLogEntry.objects.get(action="survey.start_refused")
    assert entry.details["code"] == "survey_already_running"


def test_the_opt_out_button_is_never_a_trigger(deliver, customer, demo_templates):
    promotion = demo_templates["spring_promotion"]
    # Even a survey saved with the opt-out label (the admin refuses it) is not started by it.
    make_survey("Offers", trigger_template=promotion, trigger_button_text="Stop promotions")
    deliver(press(sent_reminder(customer, promotion), "Stop promotions"))
    assert not SurveyRun.objects.exists()
    stop = InboundMessage.objects.get(type="button")
    assert OutboundMessage.objects.filter(reply_to=stop, is_reply=True).count() == 1  # the confirmation only


def test_reschedule_tags_the_person_once_and_lands_in_the_inbox(deliver, stranger, reminder):
    tag = TagFactory(name="reschedule")
    ButtonTag.objects.create(template=reminder, button_text="Reschedule", tag=tag)
    deliver(press(sent_reminder(stranger, reminder), "Reschedule"))
    deliver(press(sent_reminder(stranger, reminder), "reschedule"))
    assert list(stranger.tags.values_list("name", flat=True)) == ["reschedule"]
    assert ActivityLogEntry.objects.filter(action="contact.tagged", object_id=str(stranger.pk)).count() == 1
    assert InboundMessage.objects.filter(contact=stranger, type="button", text="Reschedule").exists()
    assert stranger.conversation.last_message_preview in ("Reschedule", "reschedule")
