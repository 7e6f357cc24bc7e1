"""A sending campaign's progress bar in the browser: it follows the messages without a reload and
stops asking once the campaign completed (messaging/static/messaging/campaign_progress.js)."""

import pytest
from django.urls import reverse

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_the_bar_follows_the_campaign_without_a_reload_and_stops_when_it_completes(
    login, live_server, monkeypatch
):
    """The page polls (every 0.2 s here), shows the messages moving, and stops once it completed."""
    from messaging import admin_campaign_results
    from messaging.campaign_models import CampaignStatus
    from messaging.models import MessageStatus
    from tests.factories import CampaignFactory, UserFactory
    from tests.messaging.campaigns.results_world import messages

    monkeypatch.setattr(admin_campaign_results, "PROGRESS_POLL_MS", 200)
    campaign = CampaignFactory(status=CampaignStatus.SENDING)
    queued = messages(campaign, MessageStatus.QUEUED, 3)

    page = login(UserFactory(username="audrey", role="Auditor"))
    page.goto(f"{live_server.url}{reverse('admin:messaging_campaign_change', args=[campaign.pk])}")
    assert page.inner_text('[data-count="queued"]') == "3"

    for message in queued[:2]:
        message.status = MessageStatus.READ
        message.save(update_fields=["status"])
    page.wait_for_function("document.querySelector('[data-count=\"read\"]').textContent === '2'")
    assert page.inner_text('[data-count="queued"]') == "1"
    assert "width: 66.6" in page.get_attribute('.campaign-progress-segment[data-state="read"]', "style")

    queued[2].status = MessageStatus.DELIVERED
    queued[2].save(update_fields=["status"])
    campaign.status = CampaignStatus.COMPLETED
    campaign.save(update_fields=["status"])
    page.wait_for_function("document.getElementById('campaign-progress').dataset.live === 'false'")
    assert page.inner_text('[data-count="delivered"]') == "1"
    assert page.inner_text('[data-count="queued"]') == "0"
    assert page.inner_text('[data-figure="expected_finish"]') == "nothing left to send"
