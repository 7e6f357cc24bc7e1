"""A small campaign sent through the sandbox with its webhooks on: the browser watches it complete on
its results page and reads the funnel (sent → delivered → read → replied → pressed) and the skips;
after completion the page goes on polling (slower) and shows the answers as they come.

Everything the page counts travels the real way: the dispatcher sends to the sandbox over HTTP, the
sandbox posts signed status webhooks and the people's answers to the live server's webhook view,
which stores them and processes them (the processor runs in the view's thread here, as
``test_webhook_sandbox`` runs it). Every wait is on a condition — the database, the sandbox's
queue, the page's own flag — never on time.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]  # templates, reminder


@pytest.fixture
def live_sandbox(live_server, make_sandbox, settings, monkeypatch, templates):
    """A sandbox the app sends to, whose webhooks go to the live server; reads for every message
    until the test says otherwise; any hour, no budget."""
    import functools

    from django_q.tasks import async_task

    import messaging.webhooks.tasks
    from tests.messaging.test_dispatch_sandbox import sandbox_templates
    from tests.sandbox import control, point_app_at

    sandbox = make_sandbox(webhook_url=live_server.url + "/webhooks/whatsapp/", read_share=1.0)
    point_app_at(settings, sandbox)
    settings.WHATSAPP_MESSAGING_LIMIT = "TIER_UNLIMITED"
    settings.MARKETING_SENDING_HOURS = ""
    settings.WHATSAPP_MESSAGES_PER_SECOND = 1000
    monkeypatch.setattr(messaging.webhooks.tasks, "async_task", functools.partial(async_task, sync=True))
    control(sandbox, "templates", {"templates": sandbox_templates(templates.values())})
    return sandbox


def test_a_small_campaign_completes_and_its_funnel_is_read_from_the_page(
    live_sandbox, login, live_server, monkeypatch, reminder, editor, approver, auditor
):
    from contacts.models import Purpose
    from messaging import admin_campaign_results
    from messaging.campaigns.materialise import campaign_start_and_materialise
    from messaging.campaigns.workflow import campaign_approve, campaign_create, campaign_submit
    from messaging.models import InboundMessage, MessageStatus, OutboundMessage, WebhookEvent
    from messaging.sending import batch
    from tests.factories import ContactFactory, make_segment, opt_in
    from tests.messaging.campaigns.workflow_world import REMINDER_BINDINGS, as_actor
    from tests.sandbox import control, wait_until

    monkeypatch.setattr(admin_campaign_results, "PROGRESS_POLL_MS", 200)
    monkeypatch.setattr(admin_campaign_results, "SETTLING_POLL_MS", 200)
    people = {
        name: ContactFactory(phone=f"+49152111100{ending}", first_name=name.capitalize())
        for name, ending in (("ada", "01"), ("ben", "02"), ("cleo", "03"), ("dan", "26"), ("eve", "05"))
    }
    for name in ("ada", "ben", "cleo", "dan"):  # Eve never opted in: skipped
        opt_in(people[name], Purpose.SERVICE)
    # appointment_reminder (UTILITY: the service purpose) with its Confirm / Reschedule quick replies.
    campaign = campaign_create(
        actor=as_actor(editor),
        name="Reminders",
        template=reminder,
        segment=make_segment(),
        bindings=REMINDER_BINDINGS,
    )
    campaign_submit(campaign=campaign, actor=as_actor(editor))
    campaign_approve(campaign=campaign, actor=as_actor(approver))
    campaign_start_and_materialise(campaign)  # what the campaign starter does once it is approved
    messages = OutboundMessage.objects.filter(campaign=campaign, is_test=False)
    message = {name: messages.get(contact=contact) for name, contact in people.items()}

    # The sandbox has every message read (read_share 1.0). Cleo's is held back (as quiet hours would)
    # and sent after the share is set to 0: delivered, never read. Dan's number ends in 0026, which
    # the sandbox treats as not on WhatsApp: accepted, then failed (131026) by a webhook.
    messages.filter(pk=message["cleo"].pk).update(next_attempt_at=timezone.now() + timedelta(days=1))

    page = login(auditor)
    page.goto(f"{live_server.url}{reverse('admin:messaging_campaign_results', args=[campaign.pk])}")
    assert page.get_attribute("#campaign-progress", "data-live") == "true"
    assert page.inner_text('[data-count="queued"]') == "4"
    assert page.inner_text('[data-count="skipped"]') == "1"

    batch.dispatch()  # Ada, Ben, Dan; Cleo is not due
    wait_until(
        lambda: (
            messages.filter(status=MessageStatus.READ).count() == 2
            and messages.filter(status=MessageStatus.FAILED).count() == 1
        ),
        timeout=30,
    )
    page.wait_for_function("document.querySelector('[data-count=\"read\"]').textContent === '2'")
    assert page.get_attribute("#campaign-progress", "data-live") == "true"  # Cleo is still queued

    control(live_sandbox, "config", {"read_share": 0.0})
    messages.filter(pk=message["cleo"].pk).update(next_attempt_at=timezone.now())
    batch.dispatch()  # Cleo: the last queued message, so the campaign completes

    # The page sees it complete and goes on asking, at the slower pace: answers are still to come.
    page.wait_for_function("document.getElementById('campaign-progress').dataset.pace === 'slow'")
    assert page.get_attribute("#campaign-progress", "data-live") == "true"
    wait_until(
        lambda: messages.filter(pk=message["cleo"].pk, status=MessageStatus.DELIVERED).exists(),
        30,
    )

    # Ada answers her message in words; Ben presses its "Confirm" quick reply (we sent it no payload,
    # so WhatsApp's button webhook carries the button's text as the payload, as the sandbox does).
    sent = {m["biz_opaque_callback_data"]: m["wamid"] for m in control(live_sandbox, "messages")["data"]}
    control(
        live_sandbox,
        "inbound",
        {
            "from": people["ada"].phone,
            "kind": "text",
            "body": "See you then!",
            "context": sent[str(message["ada"].public_id)],
        },
    )
    control(
        live_sandbox,
        "inbound",
        {
            "from": people["ben"].phone,
            "kind": "button",
            "text": "Confirm",
            "context": sent[str(message["ben"].public_id)],
        },
    )
    wait_until(lambda: InboundMessage.objects.filter(in_reply_to__campaign=campaign).count() == 2, 30)
    # Everything the sandbox had to say has been said and processed.
    wait_until(lambda: control(live_sandbox, "health")["pending_webhooks"] == 0, 30)
    wait_until(lambda: not WebhookEvent.objects.filter(outcome="pending").exists(), 30)
    assert not WebhookEvent.objects.filter(outcome="failed").exists()

    # The funnel follows without a reload ...
    page.wait_for_function(
        "document.querySelector('#campaign-funnel .campaign-funnel-step:nth-of-type(4) text.count')"
        ".textContent === '2 (66.7%)'"
    )
    # ... and reads the same after one.
    page.reload()
    assert page.inner_text("#content-main > p").startswith("Completed ·")
    steps = page.eval_on_selector_all(
        "#campaign-funnel .campaign-funnel-step",
        "steps => steps.map(step => Array.from(step.querySelectorAll('text')).map(t => t.textContent))",
    )
    assert steps == [
        ["Sent", "3"],
        ["Delivered", "3 (100.0%)"],
        ["Read", "2 (66.7%)"],
        ["Replied", "2 (66.7%)"],
        ["Pressed a quick-reply button", "1 (33.3%)"],
    ]
    skipped = page.inner_text("#campaign-results-skipped tbody")
    assert skipped.split("\t") == ["No opt-in for the purpose", "1"]
    failures = page.inner_text("#campaign-results-failures tbody")
    assert failures.startswith("131026\t") and failures.endswith("\t1")
    counts = {
        state: page.inner_text(f'[data-count="{state}"]')
        for state in ("queued", "sending", "accepted", "sent", "delivered", "read", "failed", "skipped")
    }
    assert counts == {
        "queued": "0",
        "sending": "0",
        "accepted": "0",
        "sent": "0",
        "delivered": "1",
        "read": "2",
        "failed": "1",
        "skipped": "1",
    }
