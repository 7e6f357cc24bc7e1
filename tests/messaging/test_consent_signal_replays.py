"""One ledger event per signal and purpose, whatever the replays and races.

Each consent signal the webhook records carries a key (the inbound message's wamid; for a
``user_preferences`` item its contact, value and Meta's timestamp, or the stored body's digest and
the item's place in it); the database keeps one event per key and purpose.
"""
# ruff: noqa: F811 (the deliver fixture is imported, then named as a test argument)

import hashlib
import subprocess
import sys
import tempfile
import time

import pytest

from contacts.models import ConsentAction, ConsentEvent, ConsentSource, Purpose
from contacts.selectors import current_consent
from contacts.services import record_consent
from core.actors import Actor
from messaging.models import InboundMessage, OutboundMessage, WebhookEvent, WebhookOutcome
from messaging.webhooks.consent import act_on_inbound
from messaging.webhooks.processing import reprocess_webhook_events
from tests.factories import ContactFactory, opt_in
from tests.messaging.test_limiter import ROOT, worker_env
from tests.messaging.webhook_bodies import (
    METADATA,
    change,
    deliver,  # noqa: F401 (a fixture)
    encode,
    envelope,
    inbound,
    outbound,
    text_message,
)

WA_ID = "4915112345678"  # the `customer` fixture


def stop_preferences(*, wa_id: str = WA_ID, timestamp: str | None = "1750030080", value: str = "stop"):
    item = {
        "wa_id": wa_id,
        "detail": "User stopped marketing",
        "category": "marketing_messages",
        "value": value,
    }
    if timestamp is not None:
        item["timestamp"] = timestamp
    return envelope(
        change(
            "user_preferences",
            {
                "messaging_product": "whatsapp",
                "metadata": METADATA,
                "contacts": [{"profile": {"name": "Pablo N."}, "wa_id": wa_id}],
                "user_preferences": [item],
            },
        )
    )


def signal_events(contact):
    return ConsentEvent.objects.filter(contact=contact, source=ConsentSource.WHATSAPP_SIGNAL)


# --- Replays in sequence -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_user_preferences_stop_without_a_timestamp_delivered_twice_records_one_opt_out(deliver, customer):
    body = stop_preferences(timestamp=None)
    deliver(body)
    deliver(body)
    assert WebhookEvent.objects.count() == 2
    assert signal_events(customer).count() == 1
    assert current_consent(contact=customer, purpose=Purpose.MARKETING).status == "opted_out"


@pytest.mark.django_db
def test_a_user_preferences_stop_replayed_by_reprocess_all_records_one_opt_out(deliver, customer):
    deliver(stop_preferences())
    deliver(stop_preferences(timestamp=None))
    reprocess_webhook_events(outcomes=[WebhookOutcome.PROCESSED])
    reprocess_webhook_events(outcomes=[WebhookOutcome.PROCESSED])
    # Two signals (one with Meta's time, one without), each once.
    assert signal_events(customer).count() == 2


@pytest.mark.django_db
def test_a_later_stop_without_a_timestamp_in_another_body_is_a_new_signal(deliver, customer):
    deliver(stop_preferences(timestamp=None))
    opt_in(customer, Purpose.MARKETING, source=ConsentSource.OPT_IN_LINK)  # they opted in again
    second = stop_preferences(timestamp=None)
    second["entry"][0]["changes"][0]["value"]["user_preferences"][0]["detail"] = "Stopped again"
    deliver(second)
    assert signal_events(customer).count() == 2
    assert current_consent(contact=customer, purpose=Purpose.MARKETING).status == "opted_out"


@pytest.mark.django_db
def test_the_same_stop_at_another_time_is_a_new_signal(deliver, customer):
    deliver(stop_preferences(timestamp="1750030080"))
    deliver(stop_preferences(timestamp="1750030999"))
    assert signal_events(customer).count() == 2


@pytest.mark.django_db
def test_a_signal_already_recorded_is_not_a_failure(deliver, customer):
    record_consent(
        contact=customer,
        purpose=Purpose.MARKETING,
        action=ConsentAction.OPT_OUT,
        source=ConsentSource.WHATSAPP_SIGNAL,
        actor=Actor.system("tests"),
        signal_key=f"user_preferences:wa:{WA_ID}:stop:1750030080",
    )
    deliver(stop_preferences(timestamp="1750030080"))
    assert WebhookEvent.objects.get().outcome == WebhookOutcome.PROCESSED
    assert signal_events(customer).count() == 1


# --- The key each webhook path records ------------------------------------------------------------


@pytest.mark.django_db
def test_every_webhook_path_records_its_signal_key(deliver, customer, promotion):
    deliver(text_message("STOP", wa_id=WA_ID, wamid="wamid.key.stop"))
    deliver(text_message("START", wa_id=WA_ID, wamid="wamid.key.start"))
    deliver(text_message("STOP ALL", wa_id=WA_ID, wamid="wamid.key.all"))
    message = outbound(customer, template_version=promotion.approved_version, purpose=Purpose.MARKETING)
    deliver(
        inbound(
            "button",
            {"payload": f"optout:marketing:{message.public_id}", "text": "Stop promotions"},
            wa_id=WA_ID,
            wamid="wamid.key.button",
        )
    )
    with_time = stop_preferences(timestamp="1750030080")
    without_time = stop_preferences(timestamp=None)
    deliver(with_time)
    deliver(without_time)
    digest = hashlib.sha256(encode(without_time)).hexdigest()

    keys = set(
        ConsentEvent.objects.filter(contact=customer)
        .exclude(signal_key="")
        .values_list("signal_key", "purpose", "source")
    )
    assert keys == {
        ("wamid:wamid.key.stop", Purpose.MARKETING, ConsentSource.KEYWORD),
        ("wamid:wamid.key.start", Purpose.MARKETING, ConsentSource.KEYWORD),
        ("wamid:wamid.key.all", Purpose.MARKETING, ConsentSource.KEYWORD),
        ("wamid:wamid.key.all", Purpose.SERVICE, ConsentSource.KEYWORD),
        ("wamid:wamid.key.button", Purpose.MARKETING, ConsentSource.BUTTON),
        (f"user_preferences:wa:{WA_ID}:stop:1750030080", Purpose.MARKETING, ConsentSource.WHATSAPP_SIGNAL),
        (f"user_preferences:body:{digest}:0:0", Purpose.MARKETING, ConsentSource.WHATSAPP_SIGNAL),
    }


@pytest.mark.django_db
def test_a_stop_all_acted_on_twice_records_one_event_per_purpose_and_one_confirmation(deliver, customer):
    deliver(text_message("STOP ALL", wa_id=WA_ID, wamid="wamid.twice"))
    message = InboundMessage.objects.get(wamid="wamid.twice")
    again = act_on_inbound(inbound=message, webhook_event=message.webhook_event)
    events = ConsentEvent.objects.filter(contact=customer, source=ConsentSource.KEYWORD)
    assert events.count() == 2
    assert {e.pk for e in again} == set(events.values_list("pk", flat=True))  # "already recorded"
    assert OutboundMessage.objects.filter(contact=customer, is_reply=True).count() == 1


# --- Races: two workers, two stored copies of one body, at once (PostgreSQL) ---------------------

WORKER = r"""
import os, sys, time
import django
django.setup()
import messaging.webhooks.consent as consent
from messaging.webhooks.processing import process_batch

slot, event_id, meeting, meet = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "meet"
record_consent = consent.record_consent


def record_consent_once_both_are_here(**kwargs):
    # Both workers get here (past any look for an earlier event) before either records: the
    # interleaving the issue saw, made certain instead of left to chance.
    open(os.path.join(meeting, slot), "w").close()
    deadline = time.monotonic() + 30
    while len(os.listdir(meeting)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    return record_consent(**kwargs)


if meet:
    consent.record_consent = record_consent_once_both_are_here
print(process_batch(first_id=event_id, limit=1)[1])
"""


def run_two_workers(events: list[WebhookEvent], *, meet: bool) -> None:
    env = worker_env("http://127.0.0.1:9")
    with tempfile.TemporaryDirectory() as meeting:
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    WORKER,
                    str(slot),
                    str(event.pk),
                    meeting,
                    "meet" if meet else "alone",
                ],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for slot, event in enumerate(events)
        ]
        for worker in workers:
            _, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("with_timestamp", [True, False], ids=["with-timestamp", "without-timestamp"])
def test_two_workers_processing_two_copies_of_a_stop_at_once_record_one_opt_out(with_timestamp):
    contact = ContactFactory(phone="+4915112345678", wa_id=WA_ID, whatsapp_profile_name="Pablo N.")
    opt_in(contact, Purpose.MARKETING)
    body = encode(stop_preferences(timestamp=str(int(time.time()) + 1) if with_timestamp else None))
    events = WebhookEvent.objects.bulk_create([WebhookEvent(body=body), WebhookEvent(body=body)])
    run_two_workers(events, meet=True)
    assert set(WebhookEvent.objects.values_list("outcome", flat=True)) == {WebhookOutcome.PROCESSED}
    assert signal_events(contact).count() == 1
    assert current_consent(contact=contact, purpose=Purpose.MARKETING).status == "opted_out"


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_processing_two_copies_of_a_stop_all_message_record_one_event_per_purpose():
    contact = ContactFactory(phone="+4915112345678", wa_id=WA_ID, whatsapp_profile_name="Pablo N.")
    opt_in(contact, Purpose.MARKETING)
    opt_in(contact, Purpose.SERVICE)
    body = encode(text_message("STOP ALL", wa_id=WA_ID, wamid="wamid.race.all", at=int(time.time())))
    events = WebhookEvent.objects.bulk_create([WebhookEvent(body=body), WebhookEvent(body=body)])
    # No meeting point: the stored inbound message (unique by wamid) makes the second worker wait
    # for the first's commit, so only one of them can reach the consent step.
    run_two_workers(events, meet=False)
    assert set(WebhookEvent.objects.values_list("outcome", flat=True)) == {WebhookOutcome.PROCESSED}
    events = ConsentEvent.objects.filter(contact=contact, source=ConsentSource.KEYWORD)
    assert sorted(events.values_list("purpose", flat=True)) == [Purpose.MARKETING, Purpose.SERVICE]
    assert set(events.values_list("signal_key", flat=True)) == {"wamid:wamid.race.all"}


@pytest.mark.django_db
def test_a_stop_replayed_after_a_merge_is_still_one_signal(deliver, customer):
    """The key names Meta's identifier, not our row: a merge in between does not make it new."""
    from contacts.merging import contact_merge

    deliver(stop_preferences(timestamp="1750030080"))
    survivor = ContactFactory(phone="+4915199999999")
    contact_merge(survivor=survivor, merged=customer, actor=Actor.system("tests"), reason="tests")
    before = ConsentEvent.objects.filter(source=ConsentSource.WHATSAPP_SIGNAL).count()
    deliver(stop_preferences(timestamp="1750030080"))
    assert ConsentEvent.objects.filter(source=ConsentSource.WHATSAPP_SIGNAL).count() == before
