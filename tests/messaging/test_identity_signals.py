"""One person, one contact, through the webhook: both forms of a Brazilian or Mexican number find
the same contact, duplicates are merged, and Meta's own signals of a new number or user id
update the contact instead of creating a second one without consent."""
# ruff: noqa: F811 (the deliver fixture is imported, then named as a test argument)

import time

import pytest

from contacts.merging import contact_merge
from contacts.models import ActivityLogEntry, ConsentEvent, ConsentSource, ConsentStatus, Contact, Purpose
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import InboundMessage
from tests.factories import ContactFactory, opt_in, opt_out
from tests.messaging.webhook_bodies import (
    deliver,  # noqa: F401 (a fixture)
    envelope,
    messages_change,
    new_wamid,
    text_message,
)

pytestmark = pytest.mark.django_db

DIALLED = "+5521987654321"  # Brazil, as the person gave it: with the mobile ninth digit
WA_ID = "552187654321"  # what Meta reports for an account older than the ninth digit


def status_of(contact, purpose=Purpose.MARKETING):
    current = contact.consents.filter(purpose=purpose).first()
    return current.status if current else None


def system_message(system: dict, *, sender: str | None = "4915112345678", wamid: str | None = None, **extra):
    """Meta's system message: no ``contacts`` array, ``from`` is the person's old number."""
    message = {
        "id": wamid or new_wamid("sys"),
        "timestamp": str(int(time.time())),
        "type": "system",
        "system": system,
        **extra,
    }
    if sender is not None:
        message["from"] = sender
    return envelope(messages_change(messages=[message]))


def changed_number(new_wa_id: str, *, old: str = "4915112345678", field: str = "wa_id", **system):
    return system_message(
        {
            "body": f"User Pablo changed from {old} to {new_wa_id}",
            field: new_wa_id,
            "type": "user_changed_number",
            **system,
        },
        sender=old,
    )


# --- Both forms of one number --------------------------------------------------------------------


def test_a_stop_from_the_wa_id_without_the_ninth_digit_opts_out_the_dialled_contact(deliver):
    person = ContactFactory(phone=DIALLED)
    opt_in(person)
    deliver(text_message("STOP", wa_id=WA_ID, name="Ana"))
    assert Contact.objects.count() == 1
    assert status_of(person) == ConsentStatus.OPTED_OUT
    person.refresh_from_db()
    assert person.wa_id == WA_ID
    assert InboundMessage.objects.get().contact == person


def test_a_mexican_wa_id_with_the_1_finds_the_contact_dialled_without_it(deliver):
    person = ContactFactory(phone="+525512345678")
    opt_in(person)
    deliver(text_message("STOP", wa_id="5215512345678"))
    assert Contact.objects.count() == 1
    assert status_of(person) == ConsentStatus.OPTED_OUT


def test_a_contact_created_from_the_wa_id_gets_the_number_as_dialled(deliver):
    deliver(text_message("Oi", wa_id=WA_ID))
    contact = Contact.objects.get()
    assert (contact.phone, contact.wa_id) == (DIALLED, WA_ID)
    assert not ConsentEvent.objects.exists()


def test_a_message_matching_two_rows_merges_them_and_the_earlier_stop_is_not_outvoted(deliver):
    # Two rows left by the time before the matcher: the import's, and the one a STOP created.
    dialled = ContactFactory(phone=DIALLED)
    opt_in(dialled)
    duplicate = ContactFactory(phone=None, wa_id=WA_ID)
    opt_out(duplicate, source=ConsentSource.KEYWORD)
    deliver(text_message("Hello again", wa_id=WA_ID))
    duplicate.refresh_from_db()
    assert duplicate.merged_into == dialled  # the older row survives
    assert status_of(dialled) == ConsentStatus.OPTED_OUT
    assert InboundMessage.objects.get().contact == dialled
    assert ActivityLogEntry.objects.filter(action="contact.merged", object_id=str(dialled.pk)).exists()


def test_a_message_from_a_merged_away_rows_wa_id_lands_on_the_survivor(deliver):
    survivor = ContactFactory(phone=DIALLED)
    merged = ContactFactory(phone=None, wa_id=WA_ID)
    contact_merge(survivor=survivor, merged=merged, actor=Actor.system("tests"), reason="one person")
    deliver(text_message("STOP", wa_id=WA_ID))
    assert InboundMessage.objects.get().contact == survivor
    assert ConsentEvent.objects.get(source=ConsentSource.KEYWORD).contact == survivor
    assert Contact.objects.count() == 2


# --- user_changed_number -------------------------------------------------------------------------


@pytest.fixture
def known():
    """Known to WhatsApp by its old number, opted in to marketing."""
    contact = ContactFactory(phone="+4915112345678", wa_id="4915112345678", user_id="DE.1")
    opt_in(contact)
    return contact


@pytest.mark.parametrize("field", ["wa_id", "new_wa_id"])  # new_wa_id: older payloads
def test_a_changed_number_moves_the_contact_to_the_new_number(deliver, known, field):
    deliver(changed_number("4917698765432", field=field))
    assert Contact.objects.count() == 1
    known.refresh_from_db()
    assert (known.phone, known.wa_id, known.user_id) == ("+4917698765432", "4917698765432", None)
    entry = ActivityLogEntry.objects.get(action="contact.phone_changed")
    assert entry.details["old"]["phone"] == "+4915112345678"
    assert entry.details["evidence"]["system_type"] == "user_changed_number"
    stored = InboundMessage.objects.get()
    assert (stored.contact, stored.type) == (known, "system")


def test_a_changed_number_keeps_the_persons_consent_and_their_next_stop_lands_on_them(deliver, known):
    deliver(changed_number("4917698765432"))
    assert status_of(known) == ConsentStatus.OPTED_IN
    deliver(text_message("STOP", wa_id="4917698765432"))
    assert Contact.objects.count() == 1
    assert status_of(known) == ConsentStatus.OPTED_OUT


def test_the_new_user_id_a_changed_number_reports_is_kept(deliver, known):
    deliver(changed_number("4917698765432", user_id="DE.2", previous_user_id="DE.1"))
    known.refresh_from_db()
    assert known.user_id == "DE.2"


def test_a_changed_number_replayed_changes_nothing_more(deliver, known):
    body = changed_number("4917698765432")
    deliver(body)
    deliver(body)
    assert ActivityLogEntry.objects.filter(action="contact.phone_changed").count() == 1
    assert InboundMessage.objects.count() == 1


def test_a_changed_number_another_contact_already_has_merges_the_old_row_into_it(deliver, known):
    new_row = ContactFactory(phone="+4917698765432")
    deliver(changed_number("4917698765432"))
    known.refresh_from_db()
    assert known.merged_into == new_row  # the row with the current address survives
    assert status_of(new_row) == ConsentStatus.OPTED_IN
    assert InboundMessage.objects.get().contact == new_row


def test_a_changed_number_of_someone_unknown_creates_nobody(deliver):
    deliver(changed_number("4917698765432"))
    assert not Contact.objects.exists()
    assert not InboundMessage.objects.exists()


def test_a_system_message_does_not_open_the_window(deliver, known):
    deliver(changed_number("4917698765432"))
    known.refresh_from_db()
    assert known.last_inbound_at is None


@pytest.mark.parametrize(
    "system",
    [
        {"type": "user_changed_number", "body": "no new id"},
        {"type": "user_changed_number", "wa_id": "4915112345678"},  # the same number
        {"type": "user_changed_number", "wa_id": ["not", "text"]},
        {"type": "customer_identity_changed", "identity": "abc"},
        "not an object",
    ],
)
def test_a_system_message_without_a_new_identity_is_stored_and_changes_nothing(deliver, known, system):
    response = deliver(system_message(system))
    assert response.status_code == 200
    known.refresh_from_db()
    assert (known.phone, known.wa_id, known.user_id) == ("+4915112345678", "4915112345678", "DE.1")
    assert InboundMessage.objects.get().contact == known
    assert not ActivityLogEntry.objects.filter(action="contact.phone_changed").exists()


def test_a_changed_number_a_merged_away_row_holds_merges_into_that_rows_survivor(deliver, known):
    other = ContactFactory(phone="+4915500000000")
    holder = ContactFactory(phone=None, wa_id="4917698765432")
    contact_merge(survivor=other, merged=holder, actor=Actor.system("tests"), reason="one person")
    deliver(changed_number("4917698765432"))
    known.refresh_from_db()
    assert known.merged_into == other
    assert InboundMessage.objects.get().contact == other


def test_a_change_that_is_refused_is_logged_and_the_message_kept_on_the_person(deliver, known, monkeypatch):
    from messaging.webhooks import inbound

    def refuse(**kwargs):
        raise ApplicationError("taken meanwhile", code="wa_id_taken")

    monkeypatch.setattr(inbound, "contact_identity_changed", refuse)
    assert deliver(changed_number("4917698765432")).status_code == 200
    known.refresh_from_db()
    assert known.wa_id == "4915112345678"
    entry = ActivityLogEntry.objects.get(action="contact.identity_change_refused")
    assert entry.details["code"] == "wa_id_taken" and entry.details["system_type"] == "user_changed_number"
    assert InboundMessage.objects.get().contact == known


# --- user_changed_user_id ------------------------------------------------------------------------


def changed_user_id(new: str, previous: str = "DE.1", **extra):
    return system_message(
        {
            "body": "User Pablo changed their business-scoped user id",
            "user_id": new,
            "previous_user_id": previous,
            "type": "user_changed_user_id",
        },
        sender=None,
        from_user_id=new,
        **extra,
    )


def test_a_changed_user_id_updates_the_contact_and_is_logged(deliver, known):
    deliver(changed_user_id("DE.2"))
    known.refresh_from_db()
    assert (known.user_id, known.phone, known.wa_id) == ("DE.2", "+4915112345678", "4915112345678")
    entry = ActivityLogEntry.objects.get(action="contact.user_id_changed")
    assert (entry.details["old"], entry.details["new"]) == ("DE.1", "DE.2")
    assert InboundMessage.objects.get().contact == known


def test_a_changed_user_id_another_contact_has_merges_the_two(deliver, known):
    other = ContactFactory(phone=None, wa_id=None, user_id="DE.2")
    opt_out(other, source=ConsentSource.KEYWORD)
    deliver(changed_user_id("DE.2"))
    known.refresh_from_db()
    assert known.merged_into == other
    assert status_of(other) == ConsentStatus.OPTED_OUT  # the later STOP is not outvoted


def test_a_changed_user_id_of_someone_unknown_creates_nobody(deliver):
    deliver(changed_user_id("DE.2", previous="DE.unknown"))
    assert not Contact.objects.exists()


# --- A recycled number ---------------------------------------------------------------------------


def test_a_changed_number_never_hands_the_previous_owners_opt_in_to_the_person(deliver):
    """Numbers are recycled: the row holding the new number with a ledger is its previous owner."""
    from datetime import timedelta

    from django.utils import timezone

    from contacts.models import ActivityLogEntry
    from messaging.sending.rules import consent_verdict

    now = timezone.now()
    pablo = ContactFactory(phone="+4915112345678", wa_id="4915112345678")
    opt_out(pablo, occurred_at=now - timedelta(days=2))
    previous_owner = ContactFactory(phone="+4917698765432", first_name="Previous owner")
    opt_in(previous_owner, occurred_at=now - timedelta(days=1))

    deliver(changed_number("4917698765432"))

    pablo.refresh_from_db()
    previous_owner.refresh_from_db()
    assert pablo.merged_into_id is None and previous_owner.merged_into_id is None
    assert (pablo.phone, pablo.wa_id) == ("+4917698765432", "4917698765432")
    assert status_of(pablo) == ConsentStatus.OPTED_OUT
    assert not consent_verdict(contact_id=pablo.pk, purpose="marketing").go
    # The previous owner keeps their ledger, but not the number that is someone else's now.
    assert (previous_owner.phone, previous_owner.wa_id) == (None, None)
    assert previous_owner.number_reassigned_at is not None
    assert status_of(previous_owner) == ConsentStatus.OPTED_IN
    entry = ActivityLogEntry.objects.get(action="contact.number_reassigned")
    assert entry.details["phone"] == "+4917698765432" and entry.details["now_with_contact_id"] == pablo.pk


def test_a_stop_sent_from_the_new_number_before_metas_notice_goes_with_the_number(deliver):
    """The holder of the new number may be the person: a STOP never leaves with the number."""
    from datetime import timedelta

    from django.utils import timezone

    pablo = ContactFactory(phone="+4915112345678", wa_id="4915112345678")
    opt_in(pablo, occurred_at=timezone.now() - timedelta(days=30), source=ConsentSource.CHECKOUT)
    deliver(text_message("STOP", wa_id="4917698765432"))  # from his new number, first
    deliver(changed_number("4917698765432"))  # Meta's notice, after it
    [holder] = Contact.objects.filter(merged_into__isnull=True, wa_id="4917698765432")
    assert status_of(holder) == ConsentStatus.OPTED_OUT


def test_a_previous_owners_stop_also_stays_with_the_number(deliver):
    """The row gives its number up because of its opt-in, and its opt-outs still go along."""
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    pablo = ContactFactory(phone="+4915112345678", wa_id="4915112345678")
    opt_in(pablo, occurred_at=now - timedelta(days=30))
    holder = ContactFactory(phone="+4917698765432")
    opt_in(holder, occurred_at=now - timedelta(days=3))
    opt_out(holder, occurred_at=now - timedelta(days=1), source=ConsentSource.KEYWORD)
    deliver(changed_number("4917698765432"))
    pablo.refresh_from_db()
    assert pablo.wa_id == "4917698765432"
    assert status_of(pablo) == ConsentStatus.OPTED_OUT


def test_the_holder_of_the_persons_new_user_id_is_the_person_and_is_merged(deliver):
    """User ids are never recycled: Meta's own proof of one person outweighs the holder's ledger."""
    from datetime import timedelta

    from django.utils import timezone

    pablo = ContactFactory(phone="+4915112345678", wa_id="4915112345678", user_id="DE.1")
    opt_in(pablo, occurred_at=timezone.now() - timedelta(days=30), source=ConsentSource.CHECKOUT)
    deliver(text_message("STOP", wa_id="4917698765432", user_id="DE.2"))
    deliver(changed_number("4917698765432", user_id="DE.2", previous_user_id="DE.1"))
    pablo.refresh_from_db()
    survivor = Contact.objects.get(pk=pablo.merged_into_id or pablo.pk)
    assert status_of(survivor) == ConsentStatus.OPTED_OUT
    assert not Contact.objects.filter(merged_into__isnull=True, wa_id="4915112345678").exists()


def test_a_start_from_a_user_id_merged_into_the_contact_is_the_persons_own(deliver):
    """User ids are never given to someone else: unlike a number a merged-away row kept, the
    person's own user id still speaks for them after the merge."""
    from datetime import timedelta

    from django.utils import timezone

    from tests.messaging.webhook_bodies import envelope, messages_change, new_wamid

    person = ContactFactory(phone="+4915112345678", wa_id="4915112345678")
    by_user_id = ContactFactory(phone=None, wa_id=None, user_id="DE.9")  # Meta named them so
    opt_out(by_user_id, occurred_at=timezone.now() - timedelta(minutes=5), source=ConsentSource.KEYWORD)
    contact_merge(survivor=person, merged=by_user_id, actor=Actor.system("tests"), reason="one person")
    start = {
        "from_user_id": "DE.9",
        "id": new_wamid(),
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": "START"},
    }
    deliver(
        envelope(messages_change(messages=[start], contacts=[{"profile": {"name": "A"}, "user_id": "DE.9"}]))
    )
    assert status_of(person) == ConsentStatus.OPTED_IN
    assert not ActivityLogEntry.objects.filter(action="consent.opt_in_refused").exists()
