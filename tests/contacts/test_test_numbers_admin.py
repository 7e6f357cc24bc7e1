"""Staff test numbers in the admin: Administrators add them with the owner's opt-in and deactivate
them; Editors and Auditors read; nobody deletes; bad input is refused on its field."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.models import ActivityLogEntry, ConsentEvent, Contact, CurrentConsent, Purpose
from contacts.models import TestNumber as StaffNumber  # not collected as a test class
from contacts.segments.services import segment_create, segment_members
from contacts.staff_test_numbers import test_number_add, test_number_deactivate
from core.actors import Actor
from core.errors import ApplicationError
from tests.factories import ContactFactory, opt_out

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:contacts_testnumber_changelist")
ADD = reverse("admin:contacts_testnumber_add")
GERMANY = {"op": "all", "rules": [{"kind": "country", "in": ["DE"]}]}


def form(**overrides):
    return {
        "phone": "0151 2345 6701",
        "label": "Ada's phone",
        "purposes": ["marketing", "service"],
        "evidence": "confirmed by the owner in person on 2026-11-30",
        **overrides,
    }


def errors_of(response) -> dict:
    assert response.status_code == 200, response.status_code
    return {name: list(errs) for name, errs in response.context["adminform"].form.errors.items()}


def test_an_administrator_adds_a_number_with_its_opt_in(client_for, administrator):
    response = client_for(administrator).post(ADD, form())
    assert response.status_code == 302, errors_of(response)
    number = StaffNumber.objects.get()
    assert (number.label, number.active, number.added_by) == ("Ada's phone", True, administrator)
    assert number.contact.phone == "+4915123456701"
    events = ConsentEvent.objects.filter(contact=number.contact).order_by("purpose")
    assert [(e.purpose, e.action, e.source, e.actor_label) for e in events] == [
        ("marketing", "opt_in", "staff", administrator.username),
        ("service", "opt_in", "staff", administrator.username),
    ]
    assert events[0].evidence["confirmation"] == "confirmed by the owner in person on 2026-11-30"
    assert CurrentConsent.objects.filter(contact=number.contact, status="opted_in").count() == 2
    entry = ActivityLogEntry.objects.get(action="test_number.added")
    assert entry.details["was_customer"] is False and entry.actor_label == administrator.username


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"phone": "12"}, "phone", "not a valid phone number"),
        ({"phone": ""}, "phone", "required"),
        ({"purposes": []}, "purposes", "Choose what the owner agreed to receive"),
        ({"purposes": ["spam"]}, "purposes", "not one of the available choices"),
        ({"evidence": "  ...  "}, "evidence", "Say how the owner confirmed it"),
        ({"label": ""}, "label", "required"),
    ],
)
def test_bad_input_is_refused_on_its_field(client_for, administrator, overrides, field, words):
    found = errors_of(client_for(administrator).post(ADD, form(**overrides)))
    assert any(words in text for text in found.get(field, [])), found
    assert not StaffNumber.objects.exists() and not Contact.objects.exists()


def test_a_number_already_a_test_number_is_refused(client_for, administrator):
    client = client_for(administrator)
    client.post(ADD, form())
    found = errors_of(client.post(ADD, form(phone="+49 151 23456701", label="Again")))
    assert found["phone"] == ["+4915123456701 already is the test number “Ada's phone”."]
    assert StaffNumber.objects.count() == 1


def test_a_customers_number_needs_the_confirmation_and_then_leaves_the_segments(client_for, administrator):
    customer = ContactFactory(phone="+4915123456701", first_name="Carla", country="DE")
    segment = segment_create(name="Germany", rules=GERMANY, actor=Actor.system("tests"))
    assert customer in segment_members(segment)
    client = client_for(administrator)

    page = client.get(ADD)
    assert b"make that contact a test number" in page.content and b"leaves every segment" in page.content
    found = errors_of(client.post(ADD, form()))
    (warning,) = found["confirm_customer"]
    assert (
        "is the contact Carla" in warning
        and f"#{customer.pk}" in warning
        and "leave every segment" in warning
    )
    assert not StaffNumber.objects.exists()

    response = client.post(ADD, form(confirm_customer="on"))
    assert response.status_code == 302
    assert StaffNumber.objects.get().contact == customer
    assert customer not in segment_members(segment)
    assert ActivityLogEntry.objects.get(action="test_number.added").details["was_customer"] is True


def test_a_number_that_opted_out_is_opted_in_again_with_the_owners_confirmation(client_for, administrator):
    staff = ContactFactory(phone="+4915123456701", country="DE")
    opt_out(staff, Purpose.MARKETING, occurred_at=timezone.now() - timedelta(days=3))
    response = client_for(administrator).post(ADD, form(confirm_customer="on", purposes=["marketing"]))
    assert response.status_code == 302, errors_of(response)
    assert CurrentConsent.objects.get(contact=staff, purpose="marketing").status == "opted_in"


def test_deactivating_keeps_the_row_and_a_deactivated_number_can_come_back(client_for, administrator):
    client = client_for(administrator)
    client.post(ADD, form())
    number = StaffNumber.objects.get()
    response = client.post(CHANGELIST, {"action": "deactivate", "_selected_action": [number.pk]}, follow=True)
    assert "Deactivated 1 test number." in response.content.decode()
    number.refresh_from_db()
    assert number.active is False
    assert ActivityLogEntry.objects.filter(
        action="test_number.deactivated", object_id=str(number.pk)
    ).exists()

    response = client.post(ADD, form(label="Ada's new phone", purposes=["service"]))
    assert response.status_code == 302, errors_of(response)
    number.refresh_from_db()
    assert (number.active, number.label) == (True, "Ada's new phone")
    assert ActivityLogEntry.objects.filter(action="test_number.reactivated").exists()


def test_nobody_deletes_or_edits_a_test_number(client_for, administrator):
    client = client_for(administrator)
    client.post(ADD, form())
    number = StaffNumber.objects.get()
    assert client.get(reverse("admin:contacts_testnumber_delete", args=[number.pk])).status_code == 403
    page = client.get(CHANGELIST)
    assert b'value="delete_selected"' not in page.content and b'value="deactivate"' in page.content
    change = client.get(reverse("admin:contacts_testnumber_change", args=[number.pk]))
    assert change.status_code == 200 and b'name="label"' not in change.content
    client.post(reverse("admin:contacts_testnumber_change", args=[number.pk]), {"label": "Renamed"})
    number.refresh_from_db()
    assert number.label == "Ada's phone"


@pytest.mark.parametrize("role", ["editor", "auditor"])
def test_editors_and_auditors_read_the_list_only(client_for, administrator, role, request):
    number = test_number_add(**_service_form(), actor=Actor.for_user(administrator))
    client = client_for(request.getfixturevalue(role))
    page = client.get(CHANGELIST)
    assert page.status_code == 200 and b"Ada&#x27;s phone" in page.content
    assert b'value="deactivate"' not in page.content
    assert client.get(ADD).status_code == 403
    assert client.post(ADD, form(phone="+4915123456702")).status_code == 403
    client.post(CHANGELIST, {"action": "deactivate", "_selected_action": [number.pk]})
    number.refresh_from_db()
    assert number.active and StaffNumber.objects.count() == 1


@pytest.mark.parametrize("role", ["approver", "support"])
def test_other_roles_do_not_see_the_list(client_for, role, request):
    assert client_for(request.getfixturevalue(role)).get(CHANGELIST).status_code == 403


def _service_form():
    data = form()
    return {key: data[key] for key in ("phone", "label", "purposes", "evidence")}


@pytest.mark.parametrize("role", ["editor", "approver", "auditor"])
def test_the_services_refuse_anyone_but_an_administrator(administrator, role, request):
    actor = Actor.for_user(request.getfixturevalue(role))
    with pytest.raises(ApplicationError) as refused:
        test_number_add(**_service_form(), actor=actor)
    assert refused.value.code == "permission_denied"
    number = test_number_add(**_service_form(), actor=Actor.for_user(administrator))
    with pytest.raises(ApplicationError):
        test_number_deactivate(test_number=number, actor=actor)
    with pytest.raises(ApplicationError):
        test_number_deactivate(test_number=number, actor=Actor.system("tests"))
    number.refresh_from_db()
    assert number.active


def test_an_opt_in_that_would_not_outvote_an_opt_out_is_refused_before_anything_is_written(
    client_for, administrator
):
    staff = ContactFactory(phone="+4915123456701", country="DE")
    opt_out(staff, Purpose.MARKETING)  # this very second: an opt-in now would not count after it
    found = errors_of(client_for(administrator).post(ADD, form(confirm_customer="on")))
    assert any("not after the opt-out" in text for text in found["evidence"]), found
    assert not StaffNumber.objects.exists()
