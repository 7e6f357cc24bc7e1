"""The daily, scheduled verification of the consent ledger: one task per chunk, each handing on to
the next, the result recorded for the Auditor's page; runs never interleave (docs/consent-chain.md)."""

import logging

import pytest
from django.core.cache import cache

from contacts import ledger_verify, tasks_ledger
from contacts.ledger_verify import Reason, last_verification
from tests.contacts.test_consent_chain import history, raw
from tests.factories import ContactFactory, opt_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(monkeypatch):
    """Tasks enqueued by the run, in order, instead of django-q2's queue; ``drain`` runs them as a
    worker would, one after the other, and returns what each returned."""
    queued = []

    def enqueue(func, *args, **kwargs):
        assert func == tasks_ledger.CHUNK_TASK
        queued.append(args)

    def drain():
        results = []
        while queued:
            results.append(tasks_ledger.ledger_verify_chunk(*queued.pop(0)))
        return results

    monkeypatch.setattr(tasks_ledger, "async_task", enqueue)
    queue = type("Queue", (), {"tasks": queued, "drain": staticmethod(drain)})
    return queue


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(tasks_ledger, "VERIFY_CHUNK_CONTACTS", 2)


def test_a_run_over_several_chunks_completes_and_records(queue, small_chunks):
    contacts = [ContactFactory() for _ in range(5)]
    for each in contacts:
        opt_in(each)
    assert tasks_ledger.ledger_verify_start().startswith("started run")
    results = queue.drain()
    assert len(results) == 3  # 2 + 2 + 1 contacts, each chunk its own task
    assert results[-1] == "verified 5 events of 5 contacts"
    last = last_verification()
    assert (last.ok, last.complete, last.contacts, last.events, last.failure) == (True, True, 5, 5, None)
    assert cache.get(tasks_ledger.LOCK_KEY) is None  # released: tomorrow's run starts


def test_the_scheduled_run_records_what_the_command_records(queue, small_chunks, contact):
    history(contact)
    opt_in(ContactFactory())
    tasks_ledger.ledger_verify_start()
    queue.drain()
    scheduled = last_verification()
    verification = ledger_verify.verify_ledger(chunk_contacts=2)
    assert (scheduled.ok, scheduled.contacts, scheduled.events) == (True, verification.contacts, 5)


@pytest.mark.postgres
def test_a_tampered_event_is_found_by_the_scheduled_run_and_logged_at_error(queue, small_chunks, caplog):
    ContactFactory()
    opt_in(ContactFactory())
    victim = ContactFactory()
    events = history(victim)
    opt_in(ContactFactory())
    raw("UPDATE contacts_consentevent SET action = 'opt_in' WHERE id = %s", [events[1].pk])
    tasks_ledger.ledger_verify_start()
    with caplog.at_level(logging.ERROR, logger="contacts.tasks_ledger"):
        results = queue.drain()
    assert results[-1] == f"failed at event {events[1].pk} ({Reason.MAC_MISMATCH})"
    last = last_verification()
    assert not last.ok
    assert (last.failure["event_id"], last.failure["contact_id"]) == (events[1].pk, victim.pk)
    assert [record.levelno for record in caplog.records] == [logging.ERROR]
    assert f"event {events[1].pk}" in caplog.records[0].getMessage()
    assert cache.get(tasks_ledger.LOCK_KEY) is None


def test_a_second_start_while_one_runs_does_nothing(queue, small_chunks):
    for _ in range(3):
        opt_in(ContactFactory())
    tasks_ledger.ledger_verify_start()
    first_chunk = queue.tasks.pop(0)
    tasks_ledger.ledger_verify_chunk(*first_chunk)  # the run is between its chunks
    assert tasks_ledger.ledger_verify_start() == "already running"
    assert len(queue.tasks) == 1  # only the first run's next chunk
    queue.drain()
    assert last_verification().events == 3
    from contacts.models import ActivityLogEntry

    assert ActivityLogEntry.objects.filter(action=ledger_verify.VERIFIED_ACTION).count() == 1


def test_a_chunk_of_a_run_that_lost_its_lock_to_another_stops_without_recording(queue, small_chunks):
    opt_in(ContactFactory())
    tasks_ledger.ledger_verify_start()
    stale = queue.tasks.pop(0)
    cache.set(tasks_ledger.LOCK_KEY, "another-run", tasks_ledger.LOCK_SECONDS)
    assert tasks_ledger.ledger_verify_chunk(*stale).startswith("stopped")
    assert (queue.tasks, last_verification()) == ([], None)


def test_a_run_whose_worker_died_leaves_the_lock_when_it_expires(queue, small_chunks):
    """The lock is added with an expiry: a run that never reaches its last chunk does not hold it
    for ever. (Expiry itself is the cache's; here it has run out.)"""
    opt_in(ContactFactory())
    tasks_ledger.ledger_verify_start()
    queue.tasks.clear()  # the worker died: the next chunk was never enqueued
    assert tasks_ledger.ledger_verify_start() == "already running"
    cache.delete(tasks_ledger.LOCK_KEY)  # LOCK_SECONDS later
    assert tasks_ledger.ledger_verify_start().startswith("started run")
    queue.drain()
    assert last_verification().ok


def test_a_chunk_finding_its_lock_expired_takes_it_again_and_finishes(queue, small_chunks):
    opt_in(ContactFactory())
    tasks_ledger.ledger_verify_start()
    cache.delete(tasks_ledger.LOCK_KEY)  # the chunk waited longer than LOCK_SECONDS in the queue
    queue.drain()
    assert last_verification().ok


def test_the_verification_is_a_daily_schedule():
    from django_q.models import Schedule

    from contacts.apps import ensure_schedules

    ensure_schedules(sender=None)
    ensure_schedules(sender=None)
    schedule = Schedule.objects.get(name=tasks_ledger.VERIFY_SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.repeats) == (
        "contacts.tasks_ledger.ledger_verify_start",
        Schedule.DAILY,
        -1,
    )
