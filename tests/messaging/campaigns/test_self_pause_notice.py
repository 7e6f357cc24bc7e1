"""Whoever wrote or approved a campaign that paused itself is told: an e-mail after the pause commits,
and a banner on every admin page until they dismiss it or the campaign leaves paused."""

import logging
from smtplib import SMTPException

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contacts.models import ActivityLogEntry
from messaging.campaign_models import CampaignStatus
from messaging.campaigns import notices
from messaging.campaigns.breaker import campaign_breaker_check
from messaging.campaigns.notices import campaign_notices
from messaging.campaigns.workflow import campaign_cancel, campaign_pause, campaign_resume
from templates_app.services import template_apply_status
from tests.factories import UserFactory
from tests.messaging.campaigns.test_breaker import M, sends
from tests.messaging.campaigns.workflow_world import as_actor, status_of

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]
pytestmark = pytest.mark.django_db
S = CampaignStatus
BREAKER_REASON = "Paused by the circuit breaker: 100 % of its last 60 sends failed (threshold 20 %)."


@pytest.fixture
def people(editor, approver):
    editor.email, approver.email = "erin@shop.example", "alex@shop.example"
    editor.save()
    approver.save()
    return editor, approver


@pytest.fixture
def bystander(db):
    """An Approver who neither wrote nor approved the campaign."""
    return UserFactory(username="blake_approver", role="Approver", email="blake@shop.example")


def trip(campaign, capture):
    sends(campaign, M.FAILED, 60)
    with capture(execute=True):
        assert campaign_breaker_check([campaign.pk]) == [campaign]


def banner_of(client, user) -> str:
    client.force_login(user)
    page = client.get(reverse("admin:index")).content.decode()
    start = page.find('class="campaign-self-pause"')
    return "" if start < 0 else page[start : page.index("</div>", start)]


# --- The e-mail ---------------------------------------------------------------------------------


def test_its_authors_and_approver_get_an_email_with_the_reason(
    sending, people, bystander, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://shop.example"
    settings.DEFAULT_FROM_EMAIL = "whatsapp@shop.example"
    trip(sending, django_capture_on_commit_callbacks)
    assert sorted(m.to[0] for m in mail.outbox) == ["alex@shop.example", "erin@shop.example"]
    message = mail.outbox[0]
    assert [len(m.to) for m in mail.outbox] == [1, 1]  # one each: nobody sees the others' addresses
    assert message.subject == "Campaign “Spring reminders” paused itself"
    assert message.from_email == "whatsapp@shop.example"
    assert BREAKER_REASON in message.body
    assert "Nothing more of it goes until an Approver resumes it." in message.body
    assert f"https://shop.example/admin/messaging/campaign/{sending.pk}/change/" in message.body


def test_nothing_is_mailed_before_the_pause_commits(sending, people, django_capture_on_commit_callbacks):
    sends(sending, M.FAILED, 60)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        campaign_breaker_check([sending.pk])
    assert mail.outbox == []
    for callback in callbacks:
        callback()
    assert len(mail.outbox) == 2


def test_a_template_paused_by_whatsapp_tells_them_too(
    sending, reminder, people, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        template_apply_status(template=reminder, source="webhook", status="PAUSED")
    assert status_of(sending) == S.PAUSED
    assert len(mail.outbox) == 2
    assert "paused appointment_reminder (en) for its quality" in mail.outbox[0].body
    assert "then it resumes by itself" in mail.outbox[0].body


def test_a_return_to_approval_names_the_approver_it_had(
    approved, reminder, people, django_capture_on_commit_callbacks
):
    """Approved, not sending yet: the return clears its approver, who is told all the same."""
    with django_capture_on_commit_callbacks(execute=True):
        template_apply_status(template=reminder, source="webhook", status="DISABLED")
    assert status_of(approved) == S.PENDING_APPROVAL
    assert sorted(m.to[0] for m in mail.outbox) == ["alex@shop.example", "erin@shop.example"]
    assert "needs approving again" in mail.outbox[0].body


def test_people_without_an_address_or_an_active_account_are_skipped(
    sending, people, django_capture_on_commit_callbacks
):
    editor, approver = people
    editor.email = ""
    editor.save()
    approver.is_active = False
    approver.save()
    trip(sending, django_capture_on_commit_callbacks)
    assert mail.outbox == []
    assert status_of(sending) == S.PAUSED


def test_a_person_pausing_it_mails_nobody(sending, people, approver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        campaign_pause(campaign=sending, actor=as_actor(approver), reason="Checking the template")
    assert mail.outbox == []


def test_a_mail_server_that_fails_is_logged_and_the_pause_stands(
    sending, people, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def refuse(*args, **kwargs):
        raise SMTPException("451 try again later")

    monkeypatch.setattr(notices, "send_mass_mail", refuse)
    with caplog.at_level(logging.ERROR, logger="messaging.campaigns.notices"):
        trip(sending, django_capture_on_commit_callbacks)
    assert status_of(sending) == S.PAUSED
    [record] = [r for r in caplog.records if r.name == "messaging.campaigns.notices"]
    assert f"campaign {sending.pk}" in record.getMessage()
    assert "451 try again later" in record.exc_text


# --- The banner ---------------------------------------------------------------------------------


def test_the_banner_is_shown_to_its_author_and_approver_only(
    sending, people, bystander, client, django_capture_on_commit_callbacks
):
    editor, approver = people
    trip(sending, django_capture_on_commit_callbacks)
    for user in (editor, approver):
        banner = banner_of(client, user)
        assert "“Spring reminders”" in banner and BREAKER_REASON in banner
        assert reverse("admin:messaging_campaign_change", args=[sending.pk]) in banner
    assert banner_of(client, bystander) == ""


def test_the_banner_goes_when_the_campaign_is_resumed(
    sending, people, approver, client, django_capture_on_commit_callbacks
):
    trip(sending, django_capture_on_commit_callbacks)
    campaign_resume(campaign=sending, actor=as_actor(approver))
    assert campaign_notices(approver) == []
    assert banner_of(client, approver) == ""


def test_the_banner_goes_when_it_is_cancelled_and_not_for_a_persons_pause(
    sending, people, approver, django_capture_on_commit_callbacks
):
    campaign_pause(campaign=sending, actor=as_actor(approver), reason="Checking the template")
    assert campaign_notices(approver) == []
    campaign_resume(campaign=sending, actor=as_actor(approver))
    trip(sending, django_capture_on_commit_callbacks)
    assert [n.campaign_id for n in campaign_notices(approver)] == [sending.pk]
    campaign_cancel(campaign=sending, actor=as_actor(approver))
    assert campaign_notices(approver) == []


def test_a_template_pause_shows_the_banner_and_its_approval_takes_it_away(sending, reminder, people):
    editor, _ = people
    template_apply_status(template=reminder, source="webhook", status="PAUSED")
    [notice] = campaign_notices(editor)
    assert "paused appointment_reminder (en)" in notice.reason
    template_apply_status(template=reminder, source="webhook", status="APPROVED")
    assert status_of(sending) == S.SENDING
    assert campaign_notices(editor) == []


def test_dismissing_hides_it_for_that_user_only_until_it_pauses_itself_again(
    sending, people, approver, client, django_capture_on_commit_callbacks
):
    editor, _ = people
    trip(sending, django_capture_on_commit_callbacks)
    [notice] = campaign_notices(editor)
    client.force_login(editor)
    url = reverse("admin:messaging_campaign_notice_dismiss", args=[sending.pk, notice.transition_id])
    response = client.post(url, {"next": "/admin/messaging/"})
    assert (response.status_code, response["Location"]) == (302, "/admin/messaging/")
    client.post(url)  # twice: one entry
    assert banner_of(client, editor) == ""
    assert banner_of(client, approver) != ""
    entry = ActivityLogEntry.objects.get(action="campaign.notice_dismissed")
    assert (entry.actor_user, entry.object_repr) == (editor, "Spring reminders")
    assert entry.details == {"transition": notice.transition_id, "reason": BREAKER_REASON}
    # Resumed and tripped again: a new pause, a new banner.
    campaign_resume(campaign=sending, actor=as_actor(approver))
    trip(sending, django_capture_on_commit_callbacks)
    assert banner_of(client, editor) != ""


def test_dismissing_needs_a_post_and_a_transition_of_that_campaign(
    sending, people, client, django_capture_on_commit_callbacks
):
    editor, _ = people
    trip(sending, django_capture_on_commit_callbacks)
    [notice] = campaign_notices(editor)
    client.force_login(editor)
    url = reverse("admin:messaging_campaign_notice_dismiss", args=[sending.pk, notice.transition_id])
    assert client.get(url).status_code == 405
    other = reverse("admin:messaging_campaign_notice_dismiss", args=[sending.pk, notice.transition_id + 999])
    response = client.post(other, {"next": "https://evil.example/"}, follow=True)
    assert response.redirect_chain[0][0] == reverse("admin:messaging_campaign_change", args=[sending.pk])
    assert "has no transition" in response.content.decode()
    missing = reverse("admin:messaging_campaign_notice_dismiss", args=[10**30, 1])
    assert client.post(missing).status_code == 404
    assert campaign_notices(editor) != []


def test_the_banner_costs_one_query(sending, people, approver, django_capture_on_commit_callbacks):
    trip(sending, django_capture_on_commit_callbacks)
    with CaptureQueriesContext(connection) as queries:
        assert len(campaign_notices(approver)) == 1
    assert len(queries) == 1
