"""Who a campaign is for, as read at each stage: the template's purpose now while a draft or
awaiting approval (the preview an Approver reads), the frozen rules once approved (test sends as
a member too)."""

import pytest

from contacts.models import Purpose
from contacts.models import TestNumber as StaffNumber  # not collected as a test class
from contacts.segments.services import segment_update
from core.errors import ApplicationError
from messaging.campaigns.eligibility import Exclusion, campaign_audience, campaign_recipients
from messaging.campaigns.test_send import campaign_test_send
from messaging.campaigns.workflow import campaign_approve, campaign_create, campaign_submit
from templates_app.services import template_apply_status
from tests.factories import ContactFactory, make_segment, opt_in
from tests.messaging.campaigns.workflow_world import REMINDER_BINDINGS, as_actor

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]

pytestmark = pytest.mark.django_db


def test_a_pending_campaigns_purpose_follows_its_template_recategorised_at_whatsapp(
    pending, reminder, germans
):
    for person in germans:
        opt_in(person, Purpose.SERVICE)
    assert campaign_audience(pending).purpose == Purpose.SERVICE
    template_apply_status(template=reminder, category="MARKETING", source="webhook")
    pending.refresh_from_db()
    assert pending.purpose == Purpose.SERVICE  # stored at submission: stale
    assert campaign_audience(pending).purpose == Purpose.MARKETING
    reasons = set(campaign_recipients(pending).values_list("exclusion", flat=True))
    assert reasons == {Exclusion.NO_CONSENT}  # a service opt-in is no marketing consent


@pytest.fixture
def staff_phone(db) -> StaffNumber:
    contact = ContactFactory(phone="+4915100000009", first_name="Erin", language="en")
    opt_in(contact, Purpose.SERVICE)
    return StaffNumber.objects.create(contact=contact, label="Erin's phone")


def test_a_test_send_as_a_member_after_approval_reads_the_frozen_rules(
    editor, approver, reminder, staff_phone
):
    german = ContactFactory(country="DE", language="en")
    french = ContactFactory(country="FR", language="en")
    base = make_segment(name="Customers")
    wrapper = make_segment(
        name="Our customers", rules={"op": "all", "rules": [{"kind": "in_segment", "segment": base.pk}]}
    )
    erin = as_actor(editor)
    campaign = campaign_create(
        actor=erin, name="Wrapped", template=reminder, segment=wrapper, bindings=REMINDER_BINDINGS
    )
    campaign_submit(campaign=campaign, actor=erin)
    campaign = campaign_approve(campaign=campaign, actor=as_actor(approver))
    # After approval the included segment is edited: France now, Germany no more.
    segment_update(
        segment=base, actor=erin, rules={"op": "all", "rules": [{"kind": "country", "in": ["FR"]}]}
    )

    with pytest.raises(ApplicationError) as refused:
        campaign_test_send(campaign=campaign, test_number=staff_phone, actor=erin, member=french)
    assert refused.value.code == "campaign_test_member_not_in_segment"
    message = campaign_test_send(campaign=campaign, test_number=staff_phone, actor=erin, member=german)
    assert message.is_test and message.contact == staff_phone.contact
