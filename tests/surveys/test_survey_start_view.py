"""The inbox's start form: Support starts a survey as a reply to the person's latest message and is
sent back to the conversation with the outcome; everything else is refused with a clear message."""

from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from surveys.models import SurveyRun
from tests.surveys.conftest import inbound_message, make_survey

pytestmark = pytest.mark.django_db
BACK = "/admin/inbox/conversation/1/change/"
URL = reverse("admin:surveys_start")


def shown(response):
    return [str(m) for m in response.wsgi_request._messages]


def test_support_starts_a_survey_as_a_reply_to_the_latest_message(client_for, support, customer, survey):
    inbound_message(customer, "Earlier", at=timezone.now() - timedelta(hours=1))
    latest = inbound_message(customer, "Thanks for the help!")
    response = client_for(support).post(URL, {"contact": customer.pk, "survey": survey.pk, "next": BACK})
    assert response.status_code == 302 and response["Location"] == BACK
    run = SurveyRun.objects.get()
    assert run.started_from == latest and run.actor_user == support and run.first_message.is_reply
    assert shown(response) == [f"“Visit feedback” started: its first question is on its way to {customer}."]


def test_outside_the_window_the_refusal_is_shown_and_nothing_starts(client_for, support, customer, survey):
    inbound_message(customer, at=timezone.now() - timedelta(days=2))
    response = client_for(support).post(URL, {"contact": customer.pk, "survey": survey.pk, "next": BACK})
    assert response["Location"] == BACK
    assert "can only start from a template" in shown(response)[0]
    assert not SurveyRun.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"), [("contact", "12345678"), ("contact", "²"), ("survey", "x"), ("survey", "")]
)
def test_an_unknown_contact_or_survey_is_said(client_for, support, customer, survey, field, value):
    data = {"contact": customer.pk, "survey": survey.pk, "next": BACK, field: value}
    response = client_for(support).post(URL, data)
    assert response.status_code == 302 and f"there is no {field}" in shown(response)[0]
    assert not SurveyRun.objects.exists()


def test_an_outside_next_address_is_not_followed(client_for, support, customer, survey):
    inbound_message(customer)
    response = client_for(support).post(
        URL, {"contact": customer.pk, "survey": survey.pk, "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("admin:contacts_contact_change", args=[customer.pk])


@pytest.mark.parametrize("role", ["auditor", "editor", "approver"])
def test_only_who_may_start_surveys_can(client_for, request, customer, survey, role):
    inbound_message(customer)
    response = client_for(request.getfixturevalue(role)).post(
        URL, {"contact": customer.pk, "survey": survey.pk}
    )
    assert response.status_code == 403 and not SurveyRun.objects.exists()


def test_a_get_is_not_allowed(client_for, support):
    assert client_for(support).get(URL).status_code == 405


def test_the_form_lists_active_surveys_for_who_may_start_them(support, auditor, customer, survey):
    make_survey("Inactive one", active=False)
    conversation = type("Conversation", (), {"pk": 1, "contact_id": customer.pk, "contact": customer})()
    request = RequestFactory().get(BACK)
    for user, visible in ((support, True), (auditor, False)):
        request.user = user
        from django.contrib.auth.context_processors import PermWrapper

        html = render_to_string(
            "surveys/_start_form.html",
            {"conversation": conversation, "perms": PermWrapper(user)},
            request=request,
        )
        assert ('id="survey-start-form"' in html) is visible
        if visible:
            assert "Visit feedback" in html and "Inactive one" not in html
            assert f'name="contact" value="{customer.pk}"' in html and f'value="{BACK}"' in html
