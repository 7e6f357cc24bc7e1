"""Consent sent from an address a merged-away row keeps. The matcher follows that row's identifiers
to the survivor, but the number may be someone else's by now: an opt-out from it lands on the
survivor (safe), an opt-in (START) opts nobody in and is logged for staff."""
# ruff: noqa: F811 (the deliver fixture is imported, then named as a test argument)

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.merging import contact_merge
from contacts.models import (
    ActivityLogEntry,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    Purpose,
)
from contacts.selectors import current_consent
from contacts.services import record_consent
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import OutboundMessage
from tests.factories import ContactFactory, opt_in, opt_out
from tests.messaging.webhook_bodies import deliver, text_message  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")
OLD_NUMBER = "4917611112222"


@pytest.fixture
def survivor():
    """A person whose old second number was merged into their row, and who stopped an hour ago."""
    person = ContactFactory(phone="+4915112345678", wa_id="4915112345678")
    old_row = ContactFactory(phone="+" + OLD_NUMBER)
    contact_merge(survivor=person, merged=old_row, actor=SYSTEM, reason="same person")
    opt_out(person, source=ConsentSource.KEYWORD, occurred_at=timezone.now() - timedelta(hours=1))
    return person


def marketing(contact):
    return current_consent(contact=contact, purpose=Purpose.MARKETING).status


def test_a_start_from_a_merged_away_number_opts_nobody_in_and_is_logged_for_staff(deliver, survivor):
    deliver(text_message("START", wa_id=OLD_NUMBER, name="New owner"))
    assert marketing(survivor) == ConsentStatus.OPTED_OUT
    assert not ConsentEvent.objects.filter(action=ConsentAction.OPT_IN).exists()
    entry = ActivityLogEntry.objects.get(action="consent.opt_in_refused")
    assert entry.object_id == str(survivor.pk)
    assert entry.details["reason"] == "opt_in_from_another_address"
    assert entry.details["sent_from"]["wa_id"] == OLD_NUMBER
    # Nothing is confirmed: a reply would go to the survivor's own address, not to whoever wrote.
    assert not OutboundMessage.objects.filter(contact=survivor).exists()


def test_a_replayed_start_is_logged_once(deliver, survivor):
    body = text_message("START", wa_id=OLD_NUMBER)
    deliver(body)
    deliver(body)
    assert ActivityLogEntry.objects.filter(action="consent.opt_in_refused").count() == 1


def test_a_stop_from_a_merged_away_number_lands_on_the_survivor(deliver):
    person = ContactFactory(phone="+4915112345678", wa_id="4915112345678")
    opt_in(person)
    old_row = ContactFactory(phone="+" + OLD_NUMBER)
    contact_merge(survivor=person, merged=old_row, actor=SYSTEM, reason="same person")
    deliver(text_message("STOP", wa_id=OLD_NUMBER))
    assert marketing(person) == ConsentStatus.OPTED_OUT


def test_a_start_from_the_survivors_own_number_counts(deliver, survivor):
    deliver(text_message("START", wa_id="4915112345678"))
    assert marketing(survivor) == ConsentStatus.OPTED_IN


def test_a_start_from_the_other_form_of_the_survivors_number_counts(deliver):
    person = ContactFactory(phone="+5521987654321", wa_id=None)
    opt_out(person, source=ConsentSource.KEYWORD, occurred_at=timezone.now() - timedelta(hours=1))
    deliver(text_message("START", wa_id="552187654321"))  # Meta's wa_id without the ninth digit
    assert marketing(person) == ConsentStatus.OPTED_IN


def test_a_start_naming_the_survivors_user_id_counts_whatever_number_it_comes_from(survivor):
    survivor.user_id = "DE.person"
    survivor.save()
    record_consent(
        contact=survivor,
        purpose=Purpose.MARKETING,
        action=ConsentAction.OPT_IN,
        source=ConsentSource.KEYWORD,
        actor=SYSTEM,
        wording_text="START",
        sent_from={"wa_id": OLD_NUMBER, "user_id": "DE.person"},
    )
    assert marketing(survivor) == ConsentStatus.OPTED_IN


@pytest.mark.parametrize(
    "sent_from", [{"wa_id": OLD_NUMBER}, {"wa_id": "", "user_id": ""}, {"wa_id": "not a number"}, {}]
)
def test_the_service_refuses_an_opt_in_from_an_address_that_is_not_the_contacts_own(survivor, sent_from):
    with pytest.raises(ApplicationError) as exc:
        record_consent(
            contact=survivor,
            purpose=Purpose.MARKETING,
            action=ConsentAction.OPT_IN,
            source=ConsentSource.KEYWORD,
            actor=SYSTEM,
            wording_text="START",
            sent_from=sent_from,
        )
    assert exc.value.code == "opt_in_from_another_address"
    assert marketing(survivor) == ConsentStatus.OPTED_OUT
