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


def test_after_completion_the_results_page_keeps_its_funnel_current_then_stops(
    login, live_server, monkeypatch
):
    """A campaign completed a moment ago: replies still come in. The results page polls (slowly;
    0.2 s here), shows a reply written after the page loaded in the funnel without a reload, and
    stops once the campaign finished longer ago than the reply window."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from messaging import admin_campaign_results
    from messaging.campaign_models import CampaignStatus
    from messaging.models import InboundMessage, MessageStatus
    from tests.factories import CampaignFactory, UserFactory
    from tests.messaging.campaigns.results_world import messages

    monkeypatch.setattr(admin_campaign_results, "SETTLING_POLL_MS", 200)
    now = timezone.now()
    campaign = CampaignFactory(status=CampaignStatus.COMPLETED, finished_at=now)
    read = messages(campaign, MessageStatus.READ, 4, at=now - timedelta(minutes=10))

    page = login(UserFactory(username="audrey", role="Auditor"))
    page.goto(f"{live_server.url}{reverse('admin:messaging_campaign_results', args=[campaign.pk])}")
    assert page.get_attribute("#campaign-progress", "data-pace") == "slow"
    replied = "#campaign-funnel .campaign-funnel-step:nth-of-type(4) text.count"
    assert page.text_content(replied) == "0 (0.0%)"

    # The person writes back without quoting the message: a reply, by the attribution window.
    InboundMessage.objects.create(
        wamid="wamid.browser.settling.1",
        contact=read[0].contact,
        type="text",
        text="Is the offer still on?",
        sent_at=timezone.now(),
    )
    page.wait_for_function(
        "document.querySelector('#campaign-funnel .campaign-funnel-step:nth-of-type(4) text.count')"
        ".textContent === '1 (25.0%)'"
    )
    width = float(page.get_attribute("#campaign-funnel .campaign-funnel-step:nth-of-type(4) rect", "width"))
    assert width > 0
    description = page.eval_on_selector("#campaign-funnel desc", "node => node.textContent")
    assert "Replied: 1 (25.0% of sent)" in description

    campaign.finished_at = now - timedelta(hours=settings.CAMPAIGN_REPLY_ATTRIBUTION_HOURS + 1)
    campaign.save(update_fields=["finished_at"])
    page.wait_for_function("document.getElementById('campaign-progress').dataset.live === 'false'")
    assert page.get_attribute("#campaign-progress", "data-pace") == ""
