"""messaging 0007 on a database written before replies needed the message they answer: rows flagged
as replies with no ``reply_to`` get the inbound message they answered, or become business-initiated,
so the constraints can be added; and Support loses the permission to send templates.

PostgreSQL only: it migrates backwards and forwards inside the test's transaction, which only a
database with transactional DDL rolls back.
"""

import functools
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from contacts.models import Purpose
from core.roles import SUPPORT
from messaging.models import MessageKind, MessageStatus, OutboundMessage
from tests.factories import ContactFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

BEFORE = [("messaging", "0006_outbound_idempotency_key")]


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


@functools.cache
def apps_before():
    """The models as they stood at BEFORE (built once, so their foreign keys agree): today's
    models name columns later migrations add."""
    return MigrationExecutor(connection).loader.project_state(BEFORE).apps


def model_before(name: str):
    return apps_before().get_model("messaging", name)


def written_before(contact, *, purpose=Purpose.SERVICE, reply_to=None, status=MessageStatus.DELIVERED):
    """A reply as the old send_message(is_reply=True) wrote it, created an hour ago."""
    return model_before("OutboundMessage").objects.create(
        contact_id=contact.pk,
        kind=MessageKind.TEXT,
        purpose=purpose,
        is_reply=True,
        reply_to=reply_to,
        status=status,
        created_at=timezone.now() - timedelta(hours=1),
        actor_kind="system",
        actor_label="tests",
    )


def inbound(contact, *, hours_ago, wamid):
    return model_before("InboundMessage").objects.create(
        wamid=wamid,
        contact_id=contact.pk,
        type="text",
        text="Hi",
        payload={},
        sent_at=timezone.now() - timedelta(hours=hours_ago),
    )


def support_may_send_templates() -> bool:
    return Group.objects.get(name=SUPPORT).permissions.filter(codename="send_template_message").exists()


def test_replies_written_before_0007_are_fixed_and_the_constraints_added():
    migrate(BEFORE)
    assert support_may_send_templates()
    asked, never_wrote, long_ago, promoted = (ContactFactory() for _ in range(4))
    inbound(asked, hours_ago=5, wamid="wamid.older")
    question = inbound(asked, hours_ago=2, wamid="wamid.question")
    inbound(asked, hours_ago=0, wamid="wamid.after")  # after the reply was written: not what it answered
    answered = written_before(asked)
    unanswered = written_before(never_wrote, status=MessageStatus.QUEUED)
    inbound(long_ago, hours_ago=30, wamid="wamid.long-ago")
    too_late = written_before(long_ago)
    promotion = written_before(
        promoted, purpose=Purpose.MARKETING, reply_to=inbound(promoted, hours_ago=2, wamid="wamid.promo")
    )
    with connection.cursor() as cursor:
        # Check these rows' foreign keys now, as if they had been committed long ago; what the
        # migration writes is then deferred as on any database (and must not block its DDL).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")

    migrate(None)

    def state(message):
        message.refresh_from_db()
        return message.is_reply, message.reply_to_id

    assert state(answered) == (True, question.pk)
    assert state(unanswered) == (False, None)
    assert state(too_late) == (False, None)
    assert state(promotion)[0] is False
    assert not support_may_send_templates()
    with connection.cursor() as cursor:
        names = connection.introspection.get_constraints(cursor, OutboundMessage._meta.db_table)
    assert {"reply_answers_an_inbound_message", "reply_is_never_marketing"} <= set(names)


def test_0007_runs_backwards_and_gives_support_the_permission_back():
    migrate(BEFORE)
    with connection.cursor() as cursor:
        names = connection.introspection.get_constraints(cursor, OutboundMessage._meta.db_table)
    assert "reply_answers_an_inbound_message" not in names
    assert support_may_send_templates()
    migrate(None)
    assert not support_may_send_templates()
