"""The demo's campaign: written and submitted by the demo Editor, waiting in the demo Approver's
queue, approvable there (and only by them, of the two)."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from messaging.campaign_models import Campaign, CampaignStatus

pytestmark = pytest.mark.django_db


def test_seed_demo_leaves_a_campaign_for_the_demo_approver(client, settings, capsys):
    settings.DEBUG = True  # the test runner turns it off; `make run` has it on
    call_command("seed_demo")
    assert "log in as approver to approve it" in capsys.readouterr().out
    call_command("seed_demo")  # idempotent
    campaign = Campaign.objects.get()
    assert campaign.status == CampaignStatus.PENDING_APPROVAL
    assert campaign.created_by.username == "editor" and campaign.template.name == "spring_promotion"
    users = get_user_model().objects
    client.force_login(users.get(username="editor"))
    change = reverse("admin:messaging_campaign_change", args=[campaign.pk])
    assert "approve" not in {step.action for step in client.get(change).context["workflow_steps"]}

    client.force_login(users.get(username="approver"))
    queue = client.get(reverse("admin:messaging_campaign_changelist") + "?awaiting=me")
    assert [c.pk for c in queue.context["cl"].result_list] == [campaign.pk]
    preview = client.get(change).context["preview"]  # counted by the seed
    reasons = {row["reason"]: row["count"] for row in preview["exclusions"]}
    assert preview["receive"] > 0 and reasons["opted_out"] >= 1 and reasons["no_consent"] >= 1
    approve = next(step for step in client.get(change).context["workflow_steps"] if step.action == "approve")
    client.post(
        reverse("admin:messaging_campaign_do", args=[campaign.pk, "approve"]),
        {"fingerprint": approve.fingerprint},
    )
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.APPROVED and campaign.approved_by.username == "approver"
