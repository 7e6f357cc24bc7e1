"""The thread's survey start form: outside the 24-hour window a start can only fail, so Start is
disabled there with the reason; inside it Start is live."""

import pytest
from django.contrib.auth.context_processors import PermWrapper
from django.template.loader import render_to_string
from django.test import RequestFactory

from tests.factories import ContactFactory
from tests.surveys.conftest import make_survey

pytestmark = pytest.mark.django_db
REASON = "The 24-hour window is closed: a survey can start only from a template's button."


@pytest.mark.parametrize("window_open", [True, False])
def test_start_is_disabled_with_the_reason_only_when_the_window_is_closed(support, window_open):
    make_survey("Visit feedback")
    contact = ContactFactory()
    conversation = type("Conversation", (), {"pk": 1, "contact_id": contact.pk, "contact": contact})()
    request = RequestFactory().get("/admin/inbox/conversation/1/change/")
    request.user = support
    html = render_to_string(
        "surveys/_start_form.html",
        {"conversation": conversation, "perms": PermWrapper(support), "window_open": window_open},
        request=request,
    )
    assert "Visit feedback" in html
    assert (REASON in html) is not window_open
    assert ("disabled" in html) is not window_open
