"""Staff test numbers: "Administrators alone add them" must hold for the phone they ring.

A test number is a ``TestNumber`` row pointing at an ordinary ``Contact``; the staff opt-in is on
that contact. Editors edit contacts, and a phone change keeps the contact's consent ("it belongs to
the person") — so an Editor who retypes the test number's phone turns a customer's (or anyone's)
number into a test number carrying the staff member's opt-in, and test-sends marketing to it.
"""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from contacts.identity import contact_change_phone
from contacts.merging import contact_merge
from contacts.models import Contact, Purpose
from contacts.models import TestNumber as StaffNumber
from contacts.staff_test_numbers import test_number_add as add_test_number
from core.actors import Actor
from core.errors import ApplicationError
from messaging.campaigns.test_send import campaign_test_send
from tests.factories import ContactFactory
from tests.messaging.campaigns.workflow_world import as_actor

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]

pytestmark = pytest.mark.django_db
STAFF_PHONE = "+4917612345670"
STRANGER = "+4917698765432"  # someone who never opted in to anything here


@pytest.fixture
def staff_phone(administrator):
    return add_test_number(
        phone=STAFF_PHONE,
        label="Ada's phone",
        purposes=[Purpose.MARKETING, Purpose.SERVICE],
        evidence="confirmed by Ada in person",
        actor=as_actor(administrator),
    )


def test_an_editor_cannot_point_a_test_number_at_another_phone(client_for, editor, staff_phone, draft):
    contact = staff_phone.contact
    url = reverse("admin:contacts_contact_change", args=[contact.pk])
    client_for(editor).post(
        url,
        {
            "phone": STRANGER,
            "first_name": contact.first_name,
            "last_name": "",
            "language": contact.language or "",
            "country": contact.country or "",
            "time_zone": contact.time_zone or "",
            "attributes": "{}",
        },
    )
    now_rings = Contact.objects.get(pk=contact.pk).phone
    if now_rings == STAFF_PHONE:
        return  # refused: good
    # The phone changed: then the test number must at least stop taking test sends.
    with pytest.raises(ApplicationError):
        message = campaign_test_send(campaign=draft, test_number=staff_phone, actor=as_actor(editor))
        pytest.fail(
            f"test send queued to {message.contact.phone}, a number no Administrator added, "
            f"authorised by Ada's opt-in"
        )


def contact_form(contact, phone: str) -> dict:
    return {
        "phone": phone,
        "first_name": contact.first_name,
        "last_name": "",
        "language": contact.language or "",
        "country": contact.country or "",
        "time_zone": contact.time_zone or "",
        "attributes": "{}",
    }


def test_the_editor_is_told_why_on_the_phone_field(client_for, editor, staff_phone):
    contact = staff_phone.contact
    url = reverse("admin:contacts_contact_change", args=[contact.pk])
    response = client_for(editor).post(url, contact_form(contact, STRANGER))
    assert response.status_code == 200
    assert "Only an Administrator may change its number" in str(
        response.context["adminform"].form.errors["phone"]
    )
    assert StaffNumber.objects.get(pk=staff_phone.pk).active


def test_the_service_refuses_an_editor_too(editor, staff_phone):
    with pytest.raises(ApplicationError) as refused:
        contact_change_phone(contact=staff_phone.contact, phone=STRANGER, actor=as_actor(editor))
    assert refused.value.code == "test_number_phone_locked"
    assert Contact.objects.get(pk=staff_phone.contact_id).phone == STAFF_PHONE


def test_an_administrators_change_deactivates_the_test_number(
    client_for, administrator, editor, staff_phone, draft
):
    # Administrators do not edit contacts: one who is an Editor too may change the number.
    administrator.groups.add(Group.objects.get(name="Editor"))
    contact = staff_phone.contact
    url = reverse("admin:contacts_contact_change", args=[contact.pk])
    response = client_for(administrator).post(url, contact_form(contact, STRANGER))
    assert response.status_code == 302
    assert Contact.objects.get(pk=contact.pk).phone == STRANGER
    assert not StaffNumber.objects.get(pk=staff_phone.pk).active
    with pytest.raises(ApplicationError) as refused:
        campaign_test_send(campaign=draft, test_number=staff_phone, actor=as_actor(editor))
    assert refused.value.code == "test_number_inactive"


def test_whatsapps_number_change_notice_deactivates_it(staff_phone):
    contact_change_phone(
        contact=staff_phone.contact, phone=STRANGER, wa_id=STRANGER.lstrip("+"), actor=Actor.system("webhook")
    )
    assert not StaffNumber.objects.get(pk=staff_phone.pk).active


def test_other_fields_of_a_test_numbers_contact_stay_editable(client_for, editor, staff_phone):
    contact = staff_phone.contact
    url = reverse("admin:contacts_contact_change", args=[contact.pk])
    response = client_for(editor).post(url, {**contact_form(contact, STAFF_PHONE), "first_name": "Ada L."})
    assert response.status_code == 302
    assert Contact.objects.get(pk=contact.pk).first_name == "Ada L."
    assert StaffNumber.objects.get(pk=staff_phone.pk).active


def test_a_merge_giving_a_test_number_a_number_is_refused_to_an_editor(editor, administrator, staff_phone):
    # The staff contact lost its number (WhatsApp gave it to someone else); a row known by a user id
    # and a stranger's number would hand that number to it.
    contact = staff_phone.contact
    Contact.objects.filter(pk=contact.pk).update(phone=None, wa_id=None, user_id="DE.ada")
    stranger = ContactFactory(phone=STRANGER, user_id="BR.stranger")
    with pytest.raises(ApplicationError) as refused:
        contact_merge(survivor=contact, merged=stranger, actor=as_actor(editor), reason="same person")
    assert refused.value.code == "test_number_phone_locked"
    assert Contact.objects.get(pk=contact.pk).phone is None

    contact_merge(survivor=contact, merged=stranger, actor=as_actor(administrator), reason="same person")
    assert Contact.objects.get(pk=contact.pk).phone == STRANGER
    assert not StaffNumber.objects.get(pk=staff_phone.pk).active
