"""The message tables' indexes: what a campaign's messages write on their way out (docs/benchmarks.md,
the batch dispatcher). Each version of a row that changes an indexed column writes every index again."""

import pytest
from django.db import IntegrityError, connection, transaction

from core.actors import Actor
from messaging.models import MessageKind, OutboundMessage, SendAttempt
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def _indexes(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return dict(cursor.fetchall())


@pytest.mark.postgres
def test_only_the_indexes_every_message_needs_cover_every_message():
    """A campaign's message (no reply, no staff author, no idempotency key, a pending attempt without a
    wamid) enters no partial index; no foreign key has an index another one already leads with."""
    partial = {
        name: definition
        for name, definition in {
            **_indexes("messaging_outboundmessage"),
            **_indexes("messaging_sendattempt"),
        }.items()
        if " WHERE " in definition
    }
    assert set(partial) >= {
        "outbound_reply_to_idx",
        "outbound_actor_user_idx",
        "outbound_idempotency_key_unique",
        "attempt_wamid_unique",
        "attempt_unknown_idx",
    }
    messages = _indexes("messaging_outboundmessage")
    assert not [name for name in messages if name.endswith("_like")]
    assert not [d for d in messages.values() if d.endswith("(contact_id)")]
    assert not [d for d in _indexes("messaging_sendattempt").values() if d.endswith("(message_id)")]


@pytest.mark.postgres
def test_the_message_table_keeps_room_for_heap_only_updates():
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'messaging_outboundmessage'")
        assert "fillfactor=80" in cursor.fetchone()[0]


def test_keys_and_wamids_stay_unique_where_given():
    contact = ContactFactory()

    def message(key):
        row = OutboundMessage(contact=contact, kind=MessageKind.TEXT, idempotency_key=key)
        row.set_actor(Actor.system("tests"))
        row.save()
        return row

    first, _, _ = message("k1"), message(None), message(None)
    with pytest.raises(IntegrityError), transaction.atomic():
        message("k1")
    SendAttempt.objects.create(message=first, number=1, wamid="wamid.1")
    SendAttempt.objects.create(message=first, number=2)
    SendAttempt.objects.create(message=first, number=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        SendAttempt.objects.create(message=first, number=4, wamid="wamid.1")


@pytest.mark.postgres
def test_a_keys_message_list_reads_its_own_index():
    """``GET /api/v1/messages/`` pages through one key's messages, newest first."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM messaging_outboundmessage"
            " WHERE actor_kind = 'api_key' AND actor_ref = '7' ORDER BY id DESC LIMIT 51"
        )
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "outbound_api_key_idx" in plan
