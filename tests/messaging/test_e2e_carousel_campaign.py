"""A carousel campaign end to end: written, approved and materialised here, sent by a real worker
process through the sandbox, and brought back ``delivered`` by the sandbox's signed webhooks into the
live server. The assertions read what the sandbox received: every recipient's message carries the
template's three cards, each with that recipient's own image link, card text values and link
suffix (PostgreSQL: the worker process shares the test database)."""

from __future__ import annotations

import functools
import subprocess
import sys

import pytest
from django.db import OperationalError
from django_q.tasks import async_task

import messaging.webhooks.tasks
from contacts.models import AttributeDefinition, Contact
from messaging.campaign_models import Campaign, CampaignStatus
from messaging.campaigns.materialise import campaign_start_and_materialise
from messaging.campaigns.workflow import campaign_approve, campaign_create, campaign_submit
from messaging.models import MessageStatus, OutboundMessage
from tests.factories import make_segment
from tests.messaging.campaigns.content_world import approved
from tests.messaging.campaigns.test_bindings_rich_kinds import carousel_bindings, carousel_components
from tests.messaging.campaigns.workflow_world import as_actor
from tests.messaging.test_dispatch_engine_e2e import consenting_contacts
from tests.messaging.test_dispatch_sandbox import sandbox_templates
from tests.messaging.test_limiter import ROOT, worker_env
from tests.sandbox import APP_SECRET, control, point_app_at, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

CARDS = 3
PEOPLE = 4
WORKER = "import django; django.setup(); from messaging.sending import batch; print(batch.dispatch(0))"


@pytest.fixture
def whatsapp(live_server, make_sandbox, settings, monkeypatch):
    """A sandbox that reports sent and delivered (never read) to the live server's webhook, whose
    task runs in the request (sync); the app's settings point at it, and no budget or hours apply."""
    settings.WHATSAPP_MESSAGING_LIMIT = "TIER_UNLIMITED"
    settings.MARKETING_SENDING_HOURS = ""
    settings.WHATSAPP_MESSAGES_PER_SECOND = 1000
    monkeypatch.setattr(messaging.webhooks.tasks, "async_task", functools.partial(async_task, sync=True))
    sandbox = make_sandbox(webhook_url=live_server.url + "/webhooks/whatsapp/", read_share=0.0)
    point_app_at(settings, sandbox)
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    return sandbox


def shoppers() -> list[Contact]:
    """German contacts opted in to marketing, each with their own picks and images per card."""
    for c in range(1, CARDS + 1):
        AttributeDefinition.objects.create(key=f"pick{c}", type="text")
        AttributeDefinition.objects.create(key=f"image{c}", type="text")
    people = consenting_contacts(PEOPLE, purpose="marketing")
    for n, person in enumerate(people):
        person.attributes = {
            **{f"pick{c}": f"plant-{n}-{c}" for c in range(1, CARDS + 1)},
            **{f"image{c}": f"https://cdn.example/{n}/card-{c}.jpg" for c in range(1, CARDS + 1)},
        }
        person.save(update_fields=["attributes"])
    return people


def dispatch_in_a_worker(sandbox) -> str:
    """One dispatcher process, as the django-q2 task runs it, until nothing is due."""
    environment = worker_env(
        sandbox.url,
        WHATSAPP_MESSAGES_PER_SECOND="1000",
        WHATSAPP_MESSAGING_LIMIT="TIER_UNLIMITED",
        MARKETING_SENDING_HOURS="",
    )
    done = subprocess.run(
        [sys.executable, "-c", WORKER], env=environment, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def statuses(messages) -> list[str]:
    try:
        return list(messages.values_list("status", flat=True))
    except OperationalError:  # SQLite's shared test database while the live server writes
        return []


def cards_sent(request: dict) -> list[dict]:
    """The carousel's cards of one request the sandbox received, each as {image, body, suffix}."""
    components = request["payload"]["template"]["components"]
    [carousel] = [c for c in components if c["type"] == "carousel"]
    cards = []
    for card in carousel["cards"]:
        parts = {part["type"]: part for part in card["components"]}
        [url_button] = [p for p in card["components"] if p.get("sub_type") == "url"]
        cards.append(
            {
                "index": card["card_index"],
                "image": parts["header"]["parameters"][0]["image"]["link"],
                "body": [p["text"] for p in parts["body"]["parameters"]],
                "suffix": url_button["parameters"][0]["text"],
            }
        )
    return cards


def test_a_carousel_campaign_reaches_the_sandbox_card_by_card_and_comes_back_delivered(
    whatsapp, editor, approver
):
    people = shoppers()
    template = approved("picks", components=carousel_components(CARDS))
    control(whatsapp, "templates", {"templates": sandbox_templates([template])})
    campaign = campaign_create(
        actor=as_actor(editor),
        name="Picked for you",
        template=template,
        segment=make_segment(),
        bindings=carousel_bindings(CARDS),
    )
    campaign_submit(campaign=campaign, actor=as_actor(editor))
    campaign_approve(campaign=campaign, actor=as_actor(approver))
    campaign_start_and_materialise(campaign)
    messages = OutboundMessage.objects.filter(campaign=campaign, is_test=False)
    assert messages.filter(status=MessageStatus.QUEUED).count() == PEOPLE

    print(dispatch_in_a_worker(whatsapp))

    wait_until(lambda: statuses(messages) == [MessageStatus.DELIVERED] * PEOPLE, timeout=30)
    by_message = {str(m.public_id): m.contact for m in messages.select_related("contact")}
    requests = control(whatsapp, "messages")["data"]
    assert sorted(r["biz_opaque_callback_data"] for r in requests) == sorted(by_message)
    for request in requests:
        contact = by_message[request["biz_opaque_callback_data"]]
        n = people.index(contact)
        assert request["to"].lstrip("+") == contact.phone.lstrip("+")
        assert cards_sent(request) == [
            {
                "index": c - 1,
                "image": f"https://cdn.example/{n}/card-{c}.jpg",
                "body": [f"plant-{n}-{c}", contact.first_name],
                "suffix": f"plant-{n}-{c}",
            }
            for c in range(1, CARDS + 1)
        ]
    assert set(messages.values_list("status", flat=True)) == {MessageStatus.DELIVERED}
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED
