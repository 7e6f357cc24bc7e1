"""Two worker processes draining the same stored webhooks: each status is applied exactly once."""

import subprocess
import sys
import time

import pytest

from messaging.models import MessageStatus, MessageStatusEvent, OutboundMessage, WebhookEvent
from tests.factories import ContactFactory
from tests.messaging.test_limiter import ROOT, worker_env
from tests.messaging.webhook_bodies import encode, outbound, status, statuses_body

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

WORKER = r"""
import sys, time
import django
django.setup()
from messaging.webhooks.tasks import drain_webhooks

time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
print(drain_webhooks(int(sys.argv[1])))
"""


def test_two_processors_apply_every_status_once():
    contact = ContactFactory()
    messages = [outbound(contact) for _ in range(60)]
    at = int(time.time())
    bodies = []
    for message in messages:
        wamid = message.attempts.get().wamid
        # Meta's duplicates and out-of-order deliveries, one status per POST as Meta sends them.
        bodies += [statuses_body(status(wamid, state, at + i)) for i, state in enumerate(("sent", "read"))]
        bodies.append(statuses_body(status(wamid, "delivered", at + 1)))
        bodies.append(statuses_body(status(wamid, "read", at + 1)))  # a duplicate
    WebhookEvent.objects.bulk_create(WebhookEvent(body=encode(b)) for b in bodies)

    env = worker_env("http://127.0.0.1:9")
    start_at = time.time() + 3.0
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(slot), str(start_at)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for slot in range(2)
    ]
    outputs = []
    for worker in workers:
        out, err = worker.communicate(timeout=90)
        assert worker.returncode == 0, err
        outputs.append(out)

    assert not WebhookEvent.objects.exclude(outcome="processed").exists()
    assert all("processed" in out for out in outputs)
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {MessageStatus.READ}
    for message in messages:
        message.refresh_from_db()
        assert message.sent_at and message.delivered_at and message.read_at  # a late delivered fills in
        history = MessageStatusEvent.objects.filter(attempt__message=message)
        # Each distinct report once (the duplicate read is dropped), each applied at most once.
        assert sorted(history.values_list("status", flat=True)) == ["delivered", "read", "sent"], message.pk
        applied = list(history.filter(applied=True).values_list("status", flat=True))
        assert len(applied) == len(set(applied))
