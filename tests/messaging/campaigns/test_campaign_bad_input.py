"""Bad input to the campaign admin and services: a clear refusal, never a 500.

``str.isdigit()`` is True for digits ``int()`` refuses (superscripts "²", "³", circled "①"): every
``x.isdigit() and int(x)`` in the campaign code is a ValueError waiting for a forged value. And a
local-time schedule at the edge of the calendar overflows the ±14 h arithmetic.
"""

import json
from datetime import date, time, timedelta

import pytest
from django import forms
from django.urls import reverse
from django.utils import timezone

from contacts.models import Purpose
from contacts.models import TestNumber as StaffNumber
from core.errors import ApplicationError
from messaging.campaign_models import Campaign, CampaignStatus
from messaging.campaigns.readiness import local_instant_bounds, schedule_range_problems
from messaging.campaigns.workflow import campaign_submit, campaign_update
from messaging.forms_campaigns import BindingsField
from tests.factories import ContactFactory, opt_in
from tests.messaging.campaigns.workflow_world import REMINDER_BINDINGS, as_actor, literal

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]

pytestmark = pytest.mark.django_db
S = CampaignStatus
SUPERSCRIPT_TWO = "\u00b2"  # "²".isdigit() is True, int("²") raises ValueError


def test_preview_with_a_forged_contact_id_is_not_a_500(client_for, editor, draft):
    url = reverse("admin:messaging_campaign_preview", args=[draft.pk])
    response = client_for(editor).get(url, {"contact": SUPERSCRIPT_TWO})
    assert response.status_code == 200
    assert "not a member" in response.content.decode()


def test_template_variables_with_a_forged_template_id_is_not_a_500(client_for, editor, draft):
    url = reverse("admin:messaging_campaign_variables")
    response = client_for(editor).get(url, {"template": SUPERSCRIPT_TWO})
    assert response.status_code == 404


def test_test_send_with_a_forged_member_id_is_a_form_error(client_for, editor, draft):
    staff = ContactFactory(phone="+4915100000001", language="en")
    opt_in(staff, Purpose.SERVICE)
    number = StaffNumber.objects.create(contact=staff, label="Erin's phone")
    url = reverse("admin:messaging_campaign_test_send", args=[draft.pk])
    response = client_for(editor).post(
        url, {"test_number": str(number.pk), "values": "member", "member": "#" + SUPERSCRIPT_TWO}
    )
    assert response.status_code == 200
    assert response.context["form"].errors.get("member")


def test_a_button_binding_keyed_by_a_superscript_digit_is_refused_on_submit(editor, draft):
    bindings = {**REMINDER_BINDINGS, "buttons": {SUPERSCRIPT_TWO: literal("x")}}
    campaign_update(campaign=draft, actor=as_actor(editor), bindings=bindings)
    with pytest.raises(ApplicationError) as refused:  # not a ValueError from int("²")
        campaign_submit(campaign=draft, actor=as_actor(editor))
    assert refused.value.code == "campaign_bindings_invalid"


def test_the_admin_form_takes_such_bindings_and_the_submit_button_is_not_a_500(client_for, editor, draft):
    bindings = {**REMINDER_BINDINGS, "buttons": {SUPERSCRIPT_TWO: literal("x")}}
    campaign_update(campaign=draft, actor=as_actor(editor), bindings=bindings)
    client = client_for(editor)
    response = client.post(reverse("admin:messaging_campaign_do", args=[draft.pk, "submit"]))
    assert response.status_code == 302  # a message on the page, not a 500


def form_data(reminder, segment, **schedule) -> dict:
    return {
        "name": "Far future",
        "template": str(reminder.pk),
        "segment": str(segment.pk),
        "bindings": json.dumps(REMINDER_BINDINGS),
        "header_media_source": "",
        "header_media_link": "",
        "rate_cap": "",
        "schedule_kind": "local",
        "send_at_0": "",
        "send_at_1": "",
        "local_date": "",
        "local_time": "",
        "latest_send_at_0": "",
        "latest_send_at_1": "",
        **schedule,
    }


def test_a_local_time_at_the_end_of_the_calendar_is_a_form_error(client_for, editor, reminder, segment):
    data = form_data(reminder, segment, local_date="9999-12-31", local_time="23:00")
    # local_instant_bounds would add 12 h to 9999-12-31 23:00: an OverflowError, a 500
    response = client_for(editor).post(reverse("admin:messaging_campaign_add"), data)
    assert response.status_code == 200
    assert "more than a year ahead" in str(response.context["adminform"].form.errors["local_date"])


@pytest.mark.parametrize(
    ("schedule", "field", "says"),
    [
        ({"local_date": "0001-01-01", "local_time": "00:00"}, "local_date", "more than a year ago"),
        (
            {"schedule_kind": "at", "send_at_0": "9999-12-31", "send_at_1": "23:59"},
            "send_at",
            "more than a year ahead",
        ),
        (
            {"schedule_kind": "now", "latest_send_at_0": "9999-12-31", "latest_send_at_1": "23:59"},
            "latest_send_at",
            "more than a year ahead",
        ),
    ],
)
def test_every_time_at_the_calendars_edges_is_a_form_error(
    client_for, editor, reminder, segment, schedule, field, says
):
    response = client_for(editor).post(
        reverse("admin:messaging_campaign_add"), form_data(reminder, segment, **schedule)
    )
    assert response.status_code == 200
    assert says in str(response.context["adminform"].form.errors[field])


def test_submitting_a_local_time_at_the_end_of_the_calendar_is_refused_not_crashed(editor, draft):
    campaign_update(
        campaign=draft,
        actor=as_actor(editor),
        schedule_kind="local",
        local_date=date(9999, 12, 31),
        local_time=time(23, 0),
    )
    with pytest.raises(ApplicationError) as refused:  # not an OverflowError
        campaign_submit(campaign=draft, actor=as_actor(editor))
    assert refused.value.code == "campaign_schedule_too_far"


def test_a_draft_saved_with_such_a_day_still_shows(client_for, editor, draft):
    campaign_update(
        campaign=draft,
        actor=as_actor(editor),
        schedule_kind="local",
        local_date=date(1, 1, 1),
        local_time=time(0, 0),
    )
    assert local_instant_bounds(Campaign.objects.get(pk=draft.pk)) is None
    response = client_for(editor).get(reverse("admin:messaging_campaign_change", args=[draft.pk]))
    assert response.status_code == 200
    assert "more than a year ago" in response.content.decode()
    response = client_for(editor).get(reverse("admin:messaging_campaign_changelist"))
    assert response.status_code == 200


def test_a_year_ahead_is_fine_a_year_and_a_week_is_not(editor, draft):
    now = timezone.now()
    campaign_update(
        campaign=draft, actor=as_actor(editor), schedule_kind="at", send_at=now + timedelta(days=360)
    )
    assert schedule_range_problems(Campaign.objects.get(pk=draft.pk), now=now) == []
    campaign_update(campaign=draft, actor=as_actor(editor), send_at=now + timedelta(days=373))
    [problem] = schedule_range_problems(Campaign.objects.get(pk=draft.pk), now=now)
    assert (problem.code, problem.field) == ("campaign_schedule_too_far", "send_at")


def test_the_bindings_field_refuses_a_button_key_that_is_no_ascii_index():
    field = BindingsField()
    with pytest.raises(forms.ValidationError) as refused:
        field.clean(json.dumps({"buttons": {SUPERSCRIPT_TWO: literal("x")}}))
    assert "Buttons are bound by their index" in str(refused.value)
    assert field.clean(json.dumps({"buttons": {"0": literal("x")}})) == {"buttons": {"0": literal("x")}}


def test_the_draft_page_shows_such_bindings_without_a_500(client_for, editor, draft):
    bindings = {**REMINDER_BINDINGS, "buttons": {SUPERSCRIPT_TWO: literal("x")}}
    campaign_update(campaign=draft, actor=as_actor(editor), bindings=bindings)
    response = client_for(editor).get(reverse("admin:messaging_campaign_change", args=[draft.pk]))
    assert response.status_code == 200


def test_a_test_send_link_with_a_forged_member_id_is_not_a_500(client_for, editor, draft):
    url = reverse("admin:messaging_campaign_test_send", args=[draft.pk])
    assert client_for(editor).get(url, {"member": SUPERSCRIPT_TWO}).status_code == 200


def test_sending_a_template_with_a_forged_template_id_is_not_a_500(client_for, editor):
    contact = ContactFactory()
    url = reverse("admin:messaging_send_template", args=[contact.pk])
    response = client_for(editor).post(f"{url}?template={SUPERSCRIPT_TWO}", {})
    assert response.status_code == 200
