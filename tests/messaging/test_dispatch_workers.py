"""Two worker processes given the same messages: each message is claimed, and sent, exactly once."""

import json
import subprocess
import sys
import time

import pytest

from contacts.models import Purpose
from core.actors import Actor
from messaging.models import AttemptOutcome, MessageStatus, OutboundMessage, SendAttempt
from messaging.sending.service import send_message
from tests.factories import ContactFactory, opt_in
from tests.messaging.conftest import ORDER_PARAMETERS
from tests.messaging.test_dispatch_sandbox import sandbox_templates
from tests.messaging.test_limiter import ROOT, worker_env
from tests.sandbox import control

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

WORKER = r"""
import json, sys, time
import django
django.setup()
from messaging.sending.dispatch import send_queued

ids, start_at = json.loads(sys.argv[1]), float(sys.argv[2])
time.sleep(max(0.0, start_at - time.time()))
for message_id in ids:
    send_queued(message_id)
"""


def test_two_workers_never_send_the_same_message(app_sandbox, demo_templates):
    control(app_sandbox, "templates", {"templates": sandbox_templates(demo_templates.values())})
    order_update = demo_templates["order_update"]
    ids = []
    for _ in range(30):
        contact = ContactFactory()
        opt_in(contact, Purpose.SERVICE)
        message = send_message(
            contact=contact, actor=Actor.system("tests"), template=order_update, parameters=ORDER_PARAMETERS
        )
        ids.append(message.pk)

    env = worker_env(
        app_sandbox.url,
        WHATSAPP_MESSAGES_PER_SECOND="200",
        WHATSAPP_MESSAGING_LIMIT="TIER_UNLIMITED",
        MARKETING_SENDING_HOURS="",
    )
    start_at = time.time() + 3.0
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(ids), str(start_at)],
            env=env,
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=60)
        assert worker.returncode == 0, stderr

    received = [m["biz_opaque_callback_data"] for m in control(app_sandbox, "messages")["data"]]
    assert len(received) == len(ids) == len(set(received))
    messages = OutboundMessage.objects.filter(pk__in=ids)
    assert set(received) == {str(m.public_id) for m in messages}
    assert all(m.status == MessageStatus.ACCEPTED for m in messages)
    assert SendAttempt.objects.filter(message_id__in=ids).count() == len(ids)
    assert (
        not SendAttempt.objects.filter(message_id__in=ids).exclude(outcome=AttemptOutcome.ACCEPTED).exists()
    )
