"""The sending halt: started once, shown from the cache, cleared by an Administrator."""

import pytest
from django.core.cache import cache

from contacts.models import ActivityLogEntry
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import HoldReason, MessageStatus, OutboundMessage, SendingHalt
from messaging.sending import halt as halt_module
from messaging.sending.enqueue import DISPATCH_TASK
from messaging.sending.halt import active_halt, clear_halt, halt_sending
from messaging.sending.service import send_message
from tests.factories import UserFactory
from tests.messaging.conftest import ORDER_PARAMETERS


@pytest.fixture(autouse=True)
def fresh_cache(db):
    cache.delete(halt_module.CACHE_KEY)
    yield
    cache.delete(halt_module.CACHE_KEY)


def test_halting_twice_keeps_one_active_halt():
    first = halt_sending(reason="token expired", code=190)
    second = halt_sending(reason="payment problem", code=131042)
    assert first.pk == second.pk
    assert SendingHalt.objects.filter(active=True).count() == 1
    assert ActivityLogEntry.objects.filter(action="sending.halted").count() == 1


def test_a_concurrent_halt_losing_the_race_returns_the_winner(monkeypatch):
    winner = SendingHalt.objects.create(reason="first", error_code=190)
    # Our read saw no halt; the insert then meets the one-active-halt constraint.
    real_filter = SendingHalt.objects.filter
    calls = []

    def filter_seeing_nothing_once(*args, **kwargs):
        calls.append(kwargs)
        qs = real_filter(*args, **kwargs)
        return qs.none() if len(calls) == 1 else qs

    monkeypatch.setattr(SendingHalt.objects, "filter", filter_seeing_nothing_once)
    assert halt_sending(reason="second", code=368).pk == winner.pk


def test_inside_a_transaction_the_halt_is_read_from_the_database(django_assert_num_queries):
    """A transaction may hold an uncommitted halt (or roll one back): the shared cache never sees it."""
    halt_sending(reason="token expired", code=190)
    with django_assert_num_queries(1):  # the halt table, not the cache
        info = active_halt()
    assert info.reason == "token expired" and info.error_code == 190 and not info.manual
    assert cache.get(halt_module.CACHE_KEY) is None


def test_a_phantom_in_the_cache_is_never_believed_inside_a_transaction():
    cache.set(halt_module.CACHE_KEY, halt_module.HaltInfo(1, "left by another test", 190, None), None)
    assert active_halt() is None


def test_an_admin_page_costs_the_same_queries_whatever_the_cache_holds(admin_client):
    """The contact list's query-count test renders the banner: its cost must not depend on the clock."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    counts = []
    for state in ("empty", "warm", "phantom"):
        if state == "empty":
            cache.delete(halt_module.CACHE_KEY)
        elif state == "phantom":
            cache.set(halt_module.CACHE_KEY, halt_module.HaltInfo(9, "phantom", 190, None), None)
        with CaptureQueriesContext(connection) as captured:
            html = admin_client.get(reverse("admin:index")).content.decode()
        counts.append(len(captured))
        assert "Sending is halted" not in html
    assert len(set(counts)) == 1, counts


@pytest.fixture
def committed_cache(transactional_db):
    cache.delete(halt_module.CACHE_KEY)
    yield
    cache.delete(halt_module.CACHE_KEY)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_outside_a_transaction_the_halt_is_read_from_the_cache(committed_cache, django_assert_num_queries):
    assert active_halt() is None
    with django_assert_num_queries(1):  # the cache's own lookup, not the halt table
        assert active_halt() is None
    halt = halt_sending(reason="token expired", code=190)
    # The writer published the new state when it committed: no expiry to wait for.
    with django_assert_num_queries(1):
        assert active_halt().id == halt.pk
    clear_halt(actor=Actor.for_user(UserFactory(role="Administrator")))
    with django_assert_num_queries(1):
        assert active_halt() is None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_reader_that_loaded_before_a_halt_committed_cannot_hide_it(committed_cache, monkeypatch):
    """The classic stale-cache race: the reader misses, reads "no halt", the halt commits and is
    published, then the reader stores what it read. It must not overwrite the newer entry."""
    real_load = halt_module._load
    started = []

    def load_then_lose_the_race():
        before = real_load()
        if not started:
            started.append(None)  # the writer's own publishing reads through here too
            started[0] = halt_sending(reason="token expired", code=190)
        return before

    monkeypatch.setattr(halt_module, "_load", load_then_lose_the_race)
    assert active_halt() is None  # what this reader saw before the commit
    monkeypatch.setattr(halt_module, "_load", real_load)
    assert active_halt().id == started[0].pk


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_halt_rolled_back_is_never_published(committed_cache):
    from django.db import transaction

    assert active_halt() is None
    with pytest.raises(RuntimeError), transaction.atomic():
        halt_sending(reason="token expired", code=190)
        assert active_halt() is not None  # this transaction sees its own halt
        raise RuntimeError("the surrounding work failed")
    assert active_halt() is None
    assert not SendingHalt.objects.exists()


def test_clearing_needs_an_administrator(support):
    halt_sending(reason="token expired", code=190)
    with pytest.raises(ApplicationError) as info:
        clear_halt(actor=Actor.for_user(support))
    assert info.value.code == "permission_denied"
    with pytest.raises(ApplicationError):
        clear_halt(actor=Actor.system("tests"))
    assert active_halt() is not None


def test_clearing_releases_the_held_messages_and_is_logged(
    administrator, customer, order_update, django_capture_on_commit_callbacks, monkeypatch
):
    enqueued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kw: enqueued.append(func))
    message = send_message(
        contact=customer, actor=Actor.system("tests"), template=order_update, parameters=ORDER_PARAMETERS
    )
    OutboundMessage.objects.filter(pk=message.pk).update(hold_reason=HoldReason.HALT, next_attempt_at=None)
    halt_sending(reason="token expired", code=190, message=message)
    assert active_halt() is not None

    with django_capture_on_commit_callbacks(execute=True):
        halt = clear_halt(actor=Actor.for_user(administrator))
    assert not halt.active and halt.cleared_by == administrator and halt.cleared_at
    assert active_halt() is None
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED and message.hold_reason == "" and message.next_attempt_at
    assert enqueued == [DISPATCH_TASK]
    entry = ActivityLogEntry.objects.get(action="sending.halt_cleared")
    assert entry.actor_user == administrator and entry.details["released_messages"] == 1
    # A new halt can start after a clear.
    assert halt_sending(reason="again", code=0).pk != halt.pk


def test_clearing_without_a_halt_is_refused(administrator):
    with pytest.raises(ApplicationError) as info:
        clear_halt(actor=Actor.for_user(administrator))
    assert info.value.code == "no_active_halt"
