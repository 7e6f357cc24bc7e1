"""Two Approvers approve the same campaign at the same moment: one wins, the other is told who did.

Each Approver runs in a thread of its own, with its own PostgreSQL connection and transaction. Both
pass every check before either writes (a barrier inside the approval), so both reach the
conditional UPDATE: PostgreSQL makes the second wait for the first's commit, then finds the row
no longer awaiting approval.
"""

import threading

import pytest
from django.db import connection

from core.errors import ApplicationError
from messaging.campaign_models import Campaign, CampaignStatus, CampaignTransition
from messaging.campaigns import workflow
from tests.messaging.campaigns.workflow_world import as_actor

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]  # its fixtures
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_two_approvers_at_once_one_wins_the_other_is_told(pending, approver, second_approver, monkeypatch):
    both_checked = threading.Barrier(2, timeout=30)
    real_freeze = workflow.campaign_freeze

    def freeze_when_both_have_checked(campaign, **kwargs):
        frozen = real_freeze(campaign, **kwargs)
        both_checked.wait()
        return frozen

    monkeypatch.setattr(workflow, "campaign_freeze", freeze_when_both_have_checked)
    outcomes = {}

    def approve(user):
        try:
            outcomes[user.username] = workflow.campaign_approve(campaign=pending, actor=as_actor(user))
        except ApplicationError as exc:
            outcomes[user.username] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(user,)) for user in (approver, second_approver)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    won = [name for name, outcome in outcomes.items() if isinstance(outcome, Campaign)]
    lost = [outcome for outcome in outcomes.values() if isinstance(outcome, ApplicationError)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert lost[0].code == "campaign_wrong_status"
    assert f"approved (by {won[0]})" in lost[0].message
    campaign = Campaign.objects.get(pk=pending.pk)
    assert (campaign.status, campaign.approved_by.username) == (CampaignStatus.APPROVED, won[0])
    approvals = CampaignTransition.objects.filter(campaign=campaign, to_status=CampaignStatus.APPROVED)
    assert [row.actor_label for row in approvals] == won
