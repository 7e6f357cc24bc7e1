"""Two worker processes draining the same queue with the batch dispatcher, as the django-q2 task runs
it: each message is claimed, and sent, exactly once."""

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
import sys, time
import django
django.setup()
from messaging.sending.batch import dispatch

slot, start_at = int(sys.argv[1]), float(sys.argv[2])
time.sleep(max(0.0, start_at - time.time()))
print(dispatch(slot))
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
        # Batches of 10: the 30 messages are three batches, so both dispatchers have work.
        WHATSAPP_MESSAGES_PER_SECOND="10",
        WHATSAPP_MESSAGING_LIMIT="TIER_UNLIMITED",
        MARKETING_SENDING_HOURS="",
    )
    start_at = time.time() + 3.0
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(slot), str(start_at)],
            env=env,
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for slot in range(2)
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
