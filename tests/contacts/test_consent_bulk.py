"""The set-based current-consent refresh agrees with ``deciding_event`` on any ledger."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from contacts.consent_bulk import current_consent_refresh_bulk, lock_contacts
from contacts.models import ConsentAction, ConsentSource, Contact, CurrentConsent, Purpose
from contacts.selectors import consent_status, deciding_event
from core.actors import Actor
from core.errors import ApplicationError
from tests.factories import ContactFactory, ledger_event

pytestmark = pytest.mark.django_db

SOURCES = [
    (ConsentSource.WEB_FORM, ""),
    (ConsentSource.IMPORT, ""),
    (ConsentSource.STAFF, ""),
    (ConsentSource.KEYWORD, ""),
    (ConsentSource.WHATSAPP_SIGNAL, ""),
    (ConsentSource.MERGE, ConsentSource.KEYWORD),
    (ConsentSource.MERGE, ConsentSource.IMPORT),
    (ConsentSource.MERGE, ""),  # a copy from before carried_source: its evidence names the original
]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from([ConsentAction.OPT_IN, ConsentAction.OPT_OUT]),
                st.sampled_from(SOURCES),
                # Whole and fractional seconds around the one-second precedence, and back-dating.
                st.sampled_from([0, 0.25, 0.5, 0.999999, 1, 1.000001, 1.5, 2, 3600]),
                st.sampled_from([0, 0, 0.5, 1, 7200]),  # recorded this much after it happened
            ),
            max_size=6,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_the_bulk_refresh_points_every_contact_at_its_deciding_event(ledgers):
    base = timezone.now().replace(microsecond=0) - timedelta(days=1)
    contacts = []
    for ledger in ledgers:
        contact = ContactFactory()
        contacts.append(contact)
        for action, (source, carried), offset, delay in ledger:
            occurred = base + timedelta(seconds=offset)
            ledger_event(
                contact,
                action=action,
                source=source,
                carried=carried,
                occurred_at=occurred,
                recorded_at=occurred + timedelta(seconds=delay),
            )
    # A stale row that must be corrected, and one for a contact whose ledger is empty.
    with transaction.atomic():
        ids = Contact.objects.filter(pk__in=[c.pk for c in contacts]).values("pk")
        lock_contacts(ids)
        current_consent_refresh_bulk(contacts=ids, purpose=Purpose.MARKETING)
    for contact in contacts:
        expected = deciding_event(contact=contact, purpose=Purpose.MARKETING)
        current = CurrentConsent.objects.filter(contact=contact, purpose=Purpose.MARKETING).first()
        assert (current.event_id if current else None) == (expected.pk if expected else None)
        if current:
            assert current.status == consent_status(expected)
            assert current.since == expected.effective_at


def test_a_contact_without_events_loses_its_current_consent_row():
    contact = ContactFactory()
    now = timezone.now()
    event = ledger_event(
        contact,
        action=ConsentAction.OPT_IN,
        source=ConsentSource.STAFF,
        carried="",
        occurred_at=now,
        recorded_at=now,
        purpose=Purpose.SERVICE,
    )
    CurrentConsent.objects.create(
        contact=contact, purpose=Purpose.SERVICE, status="opted_in", event=event, since=now
    )
    ids = Contact.objects.filter(pk=contact.pk).values("pk")
    assert current_consent_refresh_bulk(contacts=ids, purpose=Purpose.MARKETING) == 0
    assert CurrentConsent.objects.filter(contact=contact, purpose=Purpose.SERVICE).exists()


def test_the_refresh_is_two_statements_whatever_the_number_of_contacts():
    now = timezone.now()
    for size in (2, 40):
        contacts = [ContactFactory() for _ in range(size)]
        for contact in contacts:
            ledger_event(
                contact,
                action=ConsentAction.OPT_OUT,
                source=ConsentSource.STAFF,
                carried="",
                occurred_at=now,
                recorded_at=now,
            )
        ids = Contact.objects.filter(pk__in=[c.pk for c in contacts]).values("pk")
        with CaptureQueriesContext(connection) as queries:
            assert current_consent_refresh_bulk(contacts=ids, purpose=Purpose.MARKETING) == size
        assert len(queries) == 2


def test_a_writer_that_gave_every_contact_an_event_skips_the_pruning_statement():
    now = timezone.now()
    contacts = [ContactFactory() for _ in range(3)]
    events = [
        ledger_event(
            contact,
            action=ConsentAction.OPT_IN,
            source=ConsentSource.STAFF,
            carried="",
            occurred_at=now,
            recorded_at=now,
        )
        for contact in contacts
    ]
    ids = Contact.objects.filter(pk__in=[c.pk for c in contacts]).values("pk")
    with CaptureQueriesContext(connection) as queries:
        assert current_consent_refresh_bulk(contacts=ids, purpose=Purpose.MARKETING, each_has_event=True) == 3
    assert len(queries) == 1
    assert {(c.contact_id, c.event_id) for c in CurrentConsent.objects.all()} == {
        (event.contact_id, event.pk) for event in events
    }


def test_an_unknown_purpose_is_refused():
    with pytest.raises(ApplicationError, match="not a purpose"):
        current_consent_refresh_bulk(contacts=Contact.objects.values("pk"), purpose="sales")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_locking_a_merged_away_row_locks_the_contact_it_was_merged_into_too():
    import psycopg

    from contacts.merging import contact_merge

    survivor, merged, bystander = ContactFactory(), ContactFactory(), ContactFactory()
    contact_merge(survivor=survivor, merged=merged, actor=Actor.system("tests"), reason="one person")
    params = connection.settings_dict
    other = psycopg.connect(
        dbname=params["NAME"],
        user=params["USER"] or None,
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        autocommit=True,
    )
    try:
        with transaction.atomic():
            lock_contacts(Contact.objects.filter(pk=merged.pk).values("pk"))
            for contact, locked in ((merged, True), (survivor, True), (bystander, False)):
                try:
                    other.execute(
                        "SELECT 1 FROM contacts_contact WHERE id = %s FOR UPDATE NOWAIT", [contact.pk]
                    )
                except psycopg.errors.LockNotAvailable:
                    assert locked, contact
                else:
                    assert not locked, contact
    finally:
        other.close()
