"""End to end: the sandbox posts signed webhooks into the live server, and they land."""

import functools

import pytest
from django.db import OperationalError
from django_q.tasks import async_task

import messaging.webhooks.tasks
from contacts.models import ConsentEvent, ConsentSource, Contact, Purpose
from contacts.selectors import current_consent
from messaging.models import InboundMessage, MessagingTier, WebhookEvent, WebhookOutcome
from tests.sandbox import APP_SECRET, control, wait_until

PERSON = "+4915198765432"


def soon(query):
    """Poll ``query`` until truthy. SQLite's shared in-memory test database refuses a read while the
    live server's thread holds a write ("table is locked") instead of waiting: that is a retry."""

    def attempt():
        try:
            return query()
        except OperationalError:
            return None

    return wait_until(attempt)


def settled(sandbox):
    """Every webhook delivered and answered: the server has finished writing what they carried."""
    wait_until(lambda: control(sandbox, "health")["pending_webhooks"] == 0)


@pytest.fixture
def live_sandbox(live_server, make_sandbox, settings, monkeypatch):
    """A sandbox whose webhooks go to the live server; the webhook task runs in sync mode there."""
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    monkeypatch.setattr(messaging.webhooks.tasks, "async_task", functools.partial(async_task, sync=True))
    return make_sandbox(webhook_url=live_server.url + "/webhooks/whatsapp/")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_sandbox_posts_signed_webhooks_that_land(live_sandbox):
    wamid = control(
        live_sandbox, "inbound", {"from": PERSON, "kind": "text", "body": "Hi, is my order on its way?"}
    )["wamid"]
    inbound = soon(lambda: InboundMessage.objects.filter(wamid=wamid).select_related("contact").first())
    settled(live_sandbox)
    assert inbound.text == "Hi, is my order on its way?"
    contact = inbound.contact
    assert contact.phone == PERSON
    assert contact.whatsapp_profile_name
    assert Contact.objects.get(pk=contact.pk).last_inbound_at is not None
    assert not ConsentEvent.objects.filter(contact=contact).exists()

    # A keyword, Meta's own signal and a tier change travel the same way.
    control(live_sandbox, "inbound", {"from": PERSON, "kind": "text", "body": "START"})
    soon(lambda: ConsentEvent.objects.filter(contact=contact, source=ConsentSource.KEYWORD).exists())
    control(live_sandbox, "user_preferences", {"wa_id": PERSON, "value": "stop"})
    soon(lambda: ConsentEvent.objects.filter(contact=contact, source=ConsentSource.WHATSAPP_SIGNAL).exists())
    settled(live_sandbox)
    assert current_consent(contact=contact, purpose=Purpose.MARKETING).status == "opted_out"
    control(live_sandbox, "tier", {"tier": "TIER_10K"})
    tier = soon(lambda: MessagingTier.objects.filter(source="business_capability_update").first())
    assert (tier.tier, tier.limit) == ("TIER_10K", 10000)

    # Every signed body the sandbox delivered is stored and processed; none waits for a retry.
    settled(live_sandbox)
    assert set(WebhookEvent.objects.values_list("outcome", flat=True)) == {WebhookOutcome.PROCESSED}
    attempts = control(live_sandbox, "webhooks")["attempts"]
    assert attempts and all(a["status"] == 200 for a in attempts)
