"""A contact's phone number changes: what belonged to the old number is cleared and logged, consent
stays with the person, and queued messages go to the new number."""
# ruff: noqa: F811 (fixtures imported from the messaging world, then named as test arguments)

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.identity import contact_change_phone, contact_phone_change_check
from contacts.merging import contact_merge
from contacts.models import ActivityLogEntry, ConsentStatus, Contact, Purpose
from core.actors import Actor
from core.errors import ApplicationError
from messaging.sending.dispatch import send_queued
from messaging.sending.service import send_message
from tests.factories import ContactFactory, UserFactory, opt_in
from tests.messaging.conftest import ORDER_PARAMETERS, demo_templates, order_update  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

NOW_ON_WHATSAPP = {"wa_id": "4915112345678", "user_id": "DE.42"}


@pytest.fixture
def staff():
    return Actor.for_user(UserFactory(username="erin", role="Editor"))


@pytest.fixture
def known(db):
    """A contact WhatsApp has identified: its wa_id and user id came from Meta for +49 151 12345678."""
    return ContactFactory(phone="+4915112345678", **NOW_ON_WHATSAPP)


def test_a_new_number_clears_the_wa_id_and_user_id_of_the_old_one(known, staff):
    contact_change_phone(contact=known, phone="0176 98765432", actor=staff)
    known.refresh_from_db()
    assert (known.phone, known.wa_id, known.user_id) == ("+4917698765432", None, None)


def test_the_change_is_logged_with_old_and_new_values_and_what_was_cleared(known, staff):
    contact_change_phone(contact=known, phone="+4917698765432", actor=staff)
    entry = ActivityLogEntry.objects.get(action="contact.phone_changed")
    assert entry.actor_user == staff.user and entry.object_id == str(known.pk)
    assert entry.details["old"] == {
        "phone": "+4915112345678",
        **NOW_ON_WHATSAPP,
        "not_on_whatsapp_since": None,
    }
    assert entry.details["new"] == {"phone": "+4917698765432", "wa_id": None, "user_id": None}
    assert entry.details["cleared"] == ["wa_id", "user_id"]


def test_the_instance_passed_in_reflects_the_change(known, staff):
    returned = contact_change_phone(contact=known, phone="+4917698765432", actor=staff)
    assert returned == known
    assert (known.phone, known.wa_id, known.user_id) == ("+4917698765432", None, None)


def test_a_number_reported_unreachable_is_forgotten_with_the_old_number(staff):
    contact = ContactFactory(phone="+4915112345678", not_on_whatsapp_since=timezone.now())
    contact_change_phone(contact=contact, phone="+4917698765432", actor=staff)
    contact.refresh_from_db()
    assert contact.not_on_whatsapp_since is None


def test_consent_stays_with_the_person_across_a_phone_change(known, staff):
    event = opt_in(known)
    contact_change_phone(contact=known, phone="+4917698765432", actor=staff)
    current = known.consents.get(purpose=Purpose.MARKETING)
    assert (current.status, current.event) == (ConsentStatus.OPTED_IN, event)


def test_the_same_number_typed_differently_changes_nothing(known, staff):
    contact_change_phone(contact=known, phone="0151 1234 5678", actor=staff)
    known.refresh_from_db()
    assert known.wa_id == NOW_ON_WHATSAPP["wa_id"]
    assert not ActivityLogEntry.objects.filter(action="contact.phone_changed").exists()


def test_the_number_of_the_wa_id_in_its_other_form_keeps_the_whatsapp_identity(staff):
    # Mexico: Meta's wa_id keeps the 1 after +52 that the number as dialled no longer has.
    contact = ContactFactory(phone=None, wa_id="5215512345678", user_id="MX.1")
    contact_change_phone(contact=contact, phone="+52 55 1234 5678", actor=staff)
    contact.refresh_from_db()
    assert (contact.phone, contact.wa_id, contact.user_id) == ("+525512345678", "5215512345678", "MX.1")
    assert ActivityLogEntry.objects.get(action="contact.phone_changed").details["cleared"] == []


def test_a_number_matching_the_wa_id_keeps_it(staff):
    contact = ContactFactory(phone=None, wa_id="552187654321")
    contact_change_phone(contact=contact, phone="+55 21 98765-4321", actor=staff)
    contact.refresh_from_db()
    assert (contact.phone, contact.wa_id) == ("+5521987654321", "552187654321")


def test_adding_the_number_of_a_contact_known_only_by_user_id_keeps_the_user_id(staff):
    contact = ContactFactory(phone=None, wa_id=None, user_id="DE.7")
    contact_change_phone(contact=contact, phone="+4917698765432", actor=staff)
    contact.refresh_from_db()
    assert (contact.phone, contact.user_id) == ("+4917698765432", "DE.7")


def test_meta_reporting_the_new_wa_id_sets_it_instead_of_clearing(known):
    contact_change_phone(
        contact=known,
        phone="+4917698765432",
        wa_id="4917698765432",
        user_id="DE.43",
        actor=Actor.system("WhatsApp webhook"),
        evidence={"wamid": "wamid.sys"},
    )
    known.refresh_from_db()
    assert (known.phone, known.wa_id, known.user_id) == ("+4917698765432", "4917698765432", "DE.43")
    entry = ActivityLogEntry.objects.get(action="contact.phone_changed")
    assert entry.details["evidence"] == {"wamid": "wamid.sys"}


# --- Queued messages ---------------------------------------------------------------------------


def test_a_message_queued_before_the_change_goes_to_the_new_number(memory_backend, order_update, staff):
    contact = ContactFactory(phone="+4915112345678", wa_id="4915112345678")
    opt_in(contact, Purpose.SERVICE)
    message = send_message(
        contact=contact, actor=Actor.system("tests"), template=order_update, parameters=ORDER_PARAMETERS
    )
    contact_change_phone(contact=contact, phone="+4917698765432", actor=staff)
    send_queued(message.pk)
    (payload,) = memory_backend.sent
    assert payload["to"] == "+4917698765432"


# --- Refusals ----------------------------------------------------------------------------------


def refused(contact, phone, actor):
    before = Contact.objects.values().get(pk=contact.pk)
    with pytest.raises(ApplicationError) as exc:
        contact_change_phone(contact=contact, phone=phone, actor=actor)
    assert Contact.objects.values().get(pk=contact.pk) == before
    assert not ActivityLogEntry.objects.filter(action="contact.phone_changed").exists()
    return exc.value


@pytest.mark.parametrize(
    "phone,message", [("12", "not a valid phone number"), ("hello", "not a phone number")]
)
def test_an_invalid_number_is_refused_saying_why(known, staff, phone, message):
    error = refused(known, phone, staff)
    assert error.field == "phone" and message in error.message


@pytest.mark.parametrize("phone", ["", None, "   "])
def test_removing_the_number_is_refused(known, staff, phone):
    error = refused(known, phone, staff)
    assert (error.code, error.field) == ("phone_required", "phone")


def test_a_number_another_contact_has_is_refused_naming_it(known, staff):
    other = ContactFactory(phone="+4917698765432", first_name="Gabriela", last_name="Mistral")
    error = refused(known, "+4917698765432", staff)
    assert (error.code, error.field) == ("phone_taken", "phone")
    assert f"#{other.pk}" in error.message and "merge" in error.message


def test_a_number_another_contact_has_in_its_other_form_is_refused(staff):
    contact = ContactFactory(phone="+4915112345678")
    other = ContactFactory(phone=None, wa_id="552187654321")
    error = refused(contact, "+5521987654321", staff)
    assert error.code == "phone_taken" and f"#{other.pk}" in error.message


def test_a_number_a_merged_away_row_holds_is_refused_naming_it(staff):
    survivor = ContactFactory(phone="+4915112345678")
    merged = ContactFactory(phone="+4917698765432")
    contact_merge(survivor=survivor, merged=merged, actor=staff, reason="one person")
    error = refused(survivor, "+4917698765432", staff)
    assert error.code == "phone_taken" and f"#{merged.pk}" in error.message


def test_the_number_of_a_merged_away_row_cannot_be_changed(staff):
    survivor = ContactFactory(phone="+4915112345678")
    merged = ContactFactory(phone="+4917698765432")
    contact_merge(survivor=survivor, merged=merged, actor=staff, reason="one person")
    error = refused(merged, "+4917600000000", staff)
    assert error.code == "contact_merged" and f"#{survivor.pk}" in error.message


def test_the_check_alone_refuses_the_same_and_writes_nothing(known, staff):
    ContactFactory(phone="+4917698765432")
    with pytest.raises(ApplicationError):
        contact_phone_change_check(contact=known, phone="+4917698765432")
    contact_phone_change_check(contact=known, phone="+4917600000000")  # fine: no error
    assert Contact.objects.get(pk=known.pk).wa_id == NOW_ON_WHATSAPP["wa_id"]


# --- The admin's change form goes through the same rule -----------------------------------------


def change_form(contact, **overrides):
    data = {
        "phone": contact.phone or "",
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "language": contact.language,
        "country": contact.country,
        "time_zone": contact.time_zone,
        "attributes": "{}",
    }
    data.update(overrides)
    return data


def test_editing_the_phone_in_the_admin_clears_the_stale_identifiers_and_logs_it(client_for, editor, known):
    url = reverse("admin:contacts_contact_change", args=[known.pk])
    response = client_for(editor).post(url, change_form(known, phone="0176 98765432", first_name="Pablo"))
    assert response.status_code == 302
    known.refresh_from_db()
    assert (known.phone, known.wa_id, known.user_id, known.first_name) == (
        "+4917698765432",
        None,
        None,
        "Pablo",
    )
    entry = ActivityLogEntry.objects.get(action="contact.phone_changed")
    assert entry.actor_user == editor and entry.details["cleared"] == ["wa_id", "user_id"]


def test_saving_the_admin_form_without_touching_the_phone_keeps_the_identifiers(client_for, editor, known):
    url = reverse("admin:contacts_contact_change", args=[known.pk])
    response = client_for(editor).post(url, change_form(known, first_name="Pablo"))
    assert response.status_code == 302
    known.refresh_from_db()
    assert known.wa_id == NOW_ON_WHATSAPP["wa_id"] and known.user_id == NOW_ON_WHATSAPP["user_id"]
    assert not ActivityLogEntry.objects.filter(action="contact.phone_changed").exists()


def test_a_contact_known_only_to_whatsapp_is_saved_without_a_number(client_for, editor):
    contact = ContactFactory(phone=None, wa_id="4915112345678", user_id="DE.42")
    url = reverse("admin:contacts_contact_change", args=[contact.pk])
    response = client_for(editor).post(url, change_form(contact, first_name="Pablo"))
    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.phone, contact.wa_id, contact.first_name) == (None, "4915112345678", "Pablo")


@pytest.mark.parametrize(
    "phone,message",
    [("", "needs a phone number"), ("+5521987654321", "already belongs to contact"), ("12", "not a valid")],
)
def test_a_refused_phone_change_in_the_admin_shows_why_and_saves_nothing(
    client_for, editor, known, phone, message
):
    ContactFactory(phone=None, wa_id="552187654321")
    url = reverse("admin:contacts_contact_change", args=[known.pk])
    response = client_for(editor).post(url, change_form(known, phone=phone, first_name="Changed"))
    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors["phone"])
    known.refresh_from_db()
    assert (known.phone, known.first_name) != (phone, "Changed")
    assert known.wa_id == NOW_ON_WHATSAPP["wa_id"]
