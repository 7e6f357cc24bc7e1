"""A sending campaign and WhatsApp's verdicts on its template, end to end through the webhook and the
dispatcher: paused (a status webhook, or a 132015 refusal on send) it pauses itself and the dispatcher
claims none of its messages; approved again it resumes by itself and they go; edited or re-categorised
it goes back to approval (docs/campaigns.md, "The template's fate")."""
# ruff: noqa: F811 (the deliver fixture is imported, then named as a test argument)

import pytest
from django.core import mail
from django.utils import timezone

from cloud_api.errors import ErrorClass, MetaError
from cloud_api.outcomes import Refused
from messaging.campaign_models import CampaignStatus
from messaging.models import HoldReason, MessageStatus, OutboundMessage
from messaging.sending import batch as batches
from messaging.tasks import dispatch
from templates_app.models import TemplateVersion, VersionReview
from templates_app.services import template_apply_status
from tests.messaging.campaigns.workflow_world import status_of, transitions
from tests.messaging.test_batch_dispatch import campaign_messages
from tests.messaging.test_webhook_account import template_update
from tests.messaging.webhook_bodies import change, deliver, envelope  # noqa: F401 (a fixture)

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]
pytestmark = pytest.mark.django_db
S = CampaignStatus
M = MessageStatus


@pytest.fixture(autouse=True)
def backend(memory_backend):
    return memory_backend


@pytest.fixture
def people(editor, approver):
    editor.email, approver.email = "erin@shop.example", "alex@shop.example"
    editor.save()
    approver.save()


@pytest.fixture
def queued(sending):
    return campaign_messages(sending, 4)


def states(messages) -> list[str]:
    rows = dict(OutboundMessage.objects.filter(pk__in=[m.pk for m in messages]).values_list("pk", "status"))
    return [rows[m.pk] for m in messages]


def claimed_ids() -> set[int]:
    return {m.pk for m in batches.claim_batch().claimed}


def last_transition(campaign):
    return campaign.transitions.order_by("id").last()


def category_update(template, category: str) -> dict:
    value = {
        "message_template_id": int(template.meta_template_id),
        "message_template_name": template.name,
        "message_template_language": template.language,
        "previous_category": template.category,
        "new_category": category,
    }
    return envelope(change("template_category_update", value))


# --- Paused by WhatsApp, approved again -------------------------------------------------------


def test_a_paused_webhook_pauses_it_holds_its_messages_and_approval_resumes_it(
    sending, reminder, queued, people, deliver
):
    deliver(template_update(reminder, "PAUSED"))
    sending.refresh_from_db()
    assert (sending.status, sending.paused_from) == (S.PAUSED, S.SENDING)
    assert last_transition(sending).details["cause"] == "template"
    assert sorted(m.to[0] for m in mail.outbox) == ["alex@shop.example", "erin@shop.example"]
    assert claimed_ids() == set()
    assert states(queued) == [M.QUEUED] * 4

    deliver(template_update(reminder, "APPROVED"))
    assert status_of(sending) == S.SENDING
    assert transitions(sending)[-2:] == [(S.SENDING, S.PAUSED), (S.PAUSED, S.SENDING)]
    assert claimed_ids() == {m.pk for m in queued}


def test_a_132015_refusal_on_send_pauses_it_and_the_rest_waits(
    sending, reminder, queued, people, backend, monkeypatch, django_capture_on_commit_callbacks
):
    """Batches of two: the first message is refused as paused, the campaign pauses with its template,
    the other message of that batch was already claimed and goes, the two after it wait."""
    monkeypatch.setattr(batches, "batch_size", lambda: 2)
    paused = MetaError(code=132015, error_class=ErrorClass.TEMPLATE_PAUSED, message="Template is paused")
    backend.script(Refused(error=paused))
    with django_capture_on_commit_callbacks(execute=True):
        dispatch()
    reminder.refresh_from_db()
    assert reminder.status == "PAUSED"
    sending.refresh_from_db()
    assert (sending.status, last_transition(sending).details["cause"]) == (S.PAUSED, "template")
    assert states(queued) == [M.QUEUED, M.ACCEPTED, M.QUEUED, M.QUEUED]
    refused = OutboundMessage.objects.get(pk=queued[0].pk)
    assert (refused.hold_reason, refused.error_code) == (HoldReason.TEMPLATE_PAUSED, 132015)
    assert len(mail.outbox) == 2
    assert claimed_ids() == set()

    with django_capture_on_commit_callbacks(execute=True):
        template_apply_status(template=reminder, source="webhook", status="APPROVED")
    assert status_of(sending) == S.SENDING
    # The refused one waits for its recheck time; the two that never left go now.
    assert claimed_ids() == {queued[2].pk, queued[3].pk}


def test_the_dispatcher_completes_nothing_while_it_is_paused(sending, reminder, queued, deliver):
    deliver(template_update(reminder, "PAUSED"))
    OutboundMessage.objects.filter(pk__in=[m.pk for m in queued]).update(next_attempt_at=timezone.now())
    dispatch()
    assert status_of(sending) == S.PAUSED
    assert states(queued) == [M.QUEUED] * 4


# --- Edited or re-categorised: back to approval -----------------------------------------------


def test_an_edit_approved_at_whatsapp_sends_it_back_to_approval(sending, reminder, queued, deliver):
    components = [dict(c) for c in reminder.approved_version.components]
    components[1]["text"] = "Hello {{first_name}}, see you {{date}} at {{time}} in {{store}}."
    TemplateVersion.objects.create(
        template=reminder,
        number=2,
        category="UTILITY",
        parameter_format="NAMED",
        components=components,
        review=VersionReview.PENDING,
    )
    deliver(template_update(reminder, "PENDING"))  # the edit under review
    deliver(template_update(reminder, "APPROVED"))
    sending.refresh_from_db()
    assert sending.status == S.PENDING_APPROVAL
    assert transitions(sending)[-2:] == [(S.SENDING, S.PAUSED), (S.PAUSED, S.PENDING_APPROVAL)]
    assert claimed_ids() == set()
    assert states(queued) == [M.QUEUED] * 4


def test_a_category_change_sends_it_back_to_approval(sending, reminder, queued, people, deliver):
    deliver(category_update(reminder, "MARKETING"))
    sending.refresh_from_db()
    assert sending.status == S.PENDING_APPROVAL
    assert "re-categorised appointment_reminder (en) from UTILITY to MARKETING" in sending.status_reason
    assert claimed_ids() == set()
    assert sorted(m.to[0] for m in mail.outbox) == ["alex@shop.example", "erin@shop.example"]
    assert mail.outbox[0].subject == "Campaign “Spring reminders” went back to approval"
    assert "until an Approver approves it again" in mail.outbox[0].body
