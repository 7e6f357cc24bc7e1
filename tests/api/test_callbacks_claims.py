"""Two deliverers at once on PostgreSQL: a claim skips the events another worker has locked instead
of waiting for them, and never takes an event twice."""

import threading

import pytest
from django.db import connection, transaction

from api.callbacks.delivery import claim_due
from api.models import CallbackEvent
from tests.api.callback_world import make_key


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_claim_skips_events_another_worker_holds():
    key = make_key(callback_url="https://shop.example/hooks")
    events = [CallbackEvent.objects.create(key=key, type="message.status", payload={}) for _ in range(6)]
    held = [e.pk for e in events[:3]]
    locked, release = threading.Event(), threading.Event()

    def other_worker():
        try:
            with transaction.atomic():
                list(CallbackEvent.objects.select_for_update().filter(pk__in=held).order_by("pk"))
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    worker = threading.Thread(target=other_worker)
    worker.start()
    try:
        assert locked.wait(10)
        _, mine = claim_due()  # returns at once: locked rows are skipped, not waited for
        assert sorted(e.pk for e in mine) == [e.pk for e in events[3:]]
    finally:
        release.set()
        worker.join(10)
    _, rest = claim_due()
    assert sorted(e.pk for e in rest) == held  # free again once the other worker let go
    assert claim_due()[1] == []
