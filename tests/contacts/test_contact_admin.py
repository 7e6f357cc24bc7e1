"""The contact pages of the admin: validation, search, recording consent by hand."""

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.merging import contact_merge
from contacts.models import ActivityLogEntry, ConsentEvent, ConsentStatus, Contact, CurrentConsent, Purpose
from core.actors import Actor
from tests.factories import ContactFactory, make_wording

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:contacts_contact_add")


def contact_form(**overrides):
    data = {
        "phone": "0151 2345 6789",
        "first_name": "Pablo",
        "last_name": "Neruda",
        "language": "de",
        "country": "",
        "time_zone": "",
        "attributes": "{}",
    }
    data.update(overrides)
    return data


def test_editor_adds_a_contact_and_the_number_is_normalised(client_for, editor):
    response = client_for(editor).post(ADD_URL, contact_form())
    assert response.status_code == 302
    contact = Contact.objects.get()
    assert contact.phone == "+4915123456789"
    assert contact.country == "DE"  # derived from the number
    assert ActivityLogEntry.objects.filter(action="contact.added", actor_user=editor).exists()


@pytest.mark.parametrize(
    "overrides,field,message",
    [
        ({"phone": "12"}, "phone", "is not a valid phone number"),
        ({"phone": "not a number"}, "phone", "it is not a phone number"),
        ({"phone": ""}, "phone", "needs a phone number"),
        ({"country": "XX"}, "country", "not a two-letter country code"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "not a time zone name"),
        ({"language": "klingon"}, "language", "Select a valid choice"),
        ({"attributes": "[1, 2]"}, "attributes", "must be a JSON object"),
        ({"attributes": "{not json"}, "attributes", "Enter a valid JSON"),
    ],
)
def test_bad_contact_input_is_refused_with_a_clear_message(client_for, editor, overrides, field, message):
    response = client_for(editor).post(ADD_URL, contact_form(**overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field])
    assert not Contact.objects.exists()


def test_duplicate_number_in_another_format_is_refused(client_for, editor, contact):
    response = client_for(editor).post(ADD_URL, contact_form(phone="+49 (151) 234-56789"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["phone"] == [
        f"+4915123456789 already belongs to contact #{contact.pk} (Pablo Neruda); open that contact "
        "instead of adding a second one for the same person."
    ]
    assert Contact.objects.count() == 1


@pytest.mark.parametrize(
    "on_file",
    [
        {"phone": None, "wa_id": "4915123456789", "user_id": "DE.1"},  # known to WhatsApp, no number yet
        {"phone": None, "wa_id": None, "user_id": "DE.1"},  # merged-into below, holding the number
    ],
    ids=["by its wa_id", "through a merged-away row"],
)
def test_adding_a_number_the_matcher_finds_is_refused_naming_the_contact(client_for, editor, on_file):
    person = ContactFactory(**on_file)
    if person.wa_id is None:
        old_row = ContactFactory(phone="+4915123456789", user_id="DE.old")
        contact_merge(survivor=person, merged=old_row, actor=Actor.system("tests"), reason="one person")
    response = client_for(editor).post(ADD_URL, contact_form(phone="0151 2345 6789"))
    assert response.status_code == 200
    message = " ".join(response.context["adminform"].form.errors["phone"])
    assert f"contact #{person.pk}" in message and "open that contact" in message
    assert Contact.objects.filter(merged_into__isnull=True).count() == 1


def test_adding_the_other_form_of_a_brazilian_number_is_refused(client_for, editor):
    person = ContactFactory(phone=None, wa_id="552187654321")
    response = client_for(editor).post(ADD_URL, contact_form(phone="+55 21 98765-4321", country="BR"))
    assert f"contact #{person.pk}" in " ".join(response.context["adminform"].form.errors["phone"])
    assert Contact.objects.count() == 1


@pytest.mark.parametrize(
    "typed", ["+4915123456789", "0151 23456789", "0049 151 234 567 89", "(0151) 2345-6789"]
)
def test_search_finds_a_number_written_any_way(client_for, editor, contact, typed):
    ContactFactory(phone="+4915199999999")
    response = client_for(editor).get(reverse("admin:contacts_contact_changelist"), {"q": typed})
    assert list(response.context["cl"].result_list) == [contact]


def test_search_by_partial_digits_and_by_name(client_for, editor, contact):
    ContactFactory(phone="+4915199999999", first_name="Gabriela", last_name="Mistral")
    changelist = reverse("admin:contacts_contact_changelist")
    client = client_for(editor)
    assert list(client.get(changelist, {"q": "2345 6789"}).context["cl"].result_list) == [contact]
    assert list(client.get(changelist, {"q": "neruda"}).context["cl"].result_list) == [contact]


def test_filter_by_consent_state(client_for, editor, contact_with_consent):
    other = ContactFactory()
    changelist = reverse("admin:contacts_contact_changelist")
    client = client_for(editor)
    assert list(client.get(changelist, {"marketing": "opted_in"}).context["cl"].result_list) == [
        contact_with_consent
    ]
    assert list(client.get(changelist, {"marketing": "none"}).context["cl"].result_list) == [other]


def record_url(contact, action):
    return reverse("admin:contacts_contact_record_consent", args=[contact.pk, action])


def test_contact_page_shows_consent_history_and_buttons(client_for, editor, contact_with_consent):
    page = client_for(editor).get(reverse("admin:contacts_contact_change", args=[contact_with_consent.pk]))
    html = page.content.decode()
    assert "consent-history" in html and "Record opt-in" in html and "Record opt-out" in html
    assert html.count("Opted in") >= 2


def test_editor_records_an_opt_in_with_a_wording(client_for, editor, contact):
    wording = make_wording(Purpose.MARKETING, "de")
    response = client_for(editor).post(
        record_url(contact, "opt_in"),
        {
            "purpose": "marketing",
            "wording": wording.pk,
            "source": "staff",
            "occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "note": "Asked in the shop, receipt 4711",
        },
    )
    assert response.status_code == 302
    event = ConsentEvent.objects.get()
    assert (event.action, event.wording, event.actor_user) == ("opt_in", wording, editor)
    assert event.evidence["note"] == "Asked in the shop, receipt 4711"
    assert CurrentConsent.objects.get(contact=contact, purpose="marketing").status == ConsentStatus.OPTED_IN


@pytest.mark.parametrize(
    "data,field,message",
    [
        ({"wording_text": ""}, "wording", "Pick the wording"),
        ({"source": ""}, "source", "This field is required"),
        ({"source": "whatsapp_signal"}, "source", "Select a valid choice"),
        ({"occurred_at": "2999-01-01T00:00"}, "occurred_at", "in the future"),
        ({"occurred_at": "yesterday"}, "occurred_at", "Enter a valid date/time"),
    ],
)
def test_bad_opt_in_forms_are_refused(client_for, editor, contact, data, field, message):
    form = {
        "purpose": "marketing",
        "wording_text": "Yes",
        "source": "staff",
        "occurred_at": "2026-01-01T10:00",
    }
    form.update(data)
    response = client_for(editor).post(record_url(contact, "opt_in"), form)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not ConsentEvent.objects.exists()


def test_support_records_an_opt_out_of_every_purpose(client_for, support, contact_with_consent):
    response = client_for(support).post(
        record_url(contact_with_consent, "opt_out"),
        {"purpose": "all", "source": "staff", "occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 302
    assert set(
        CurrentConsent.objects.filter(contact=contact_with_consent).values_list("status", flat=True)
    ) == {ConsentStatus.OPTED_OUT}


def test_support_may_not_record_an_opt_in(client_for, support, contact):
    assert client_for(support).get(record_url(contact, "opt_in")).status_code == 403
    assert (
        client_for(support).post(record_url(contact, "opt_in"), {"purpose": "marketing"}).status_code == 403
    )


@pytest.mark.parametrize("role_fixture", ["approver", "auditor"])
def test_readers_may_not_record_consent(request, client_for, contact, role_fixture):
    client = client_for(request.getfixturevalue(role_fixture))
    for action in ("opt_in", "opt_out"):
        assert client.get(record_url(contact, action)).status_code == 403


def test_unknown_consent_action_is_404(client_for, editor, contact):
    assert client_for(editor).get(record_url(contact, "maybe")).status_code == 404


def test_consent_wording_versions_through_the_admin(client_for, editor):
    client = client_for(editor)
    url = reverse("admin:contacts_consentwording_add")
    for text in ("First text", "Second text"):
        assert client.post(url, {"purpose": "marketing", "language": "en", "text": text}).status_code == 302
    versions = list(
        ActivityLogEntry.objects.filter(action="consent_wording.created").values_list(
            "details__version", flat=True
        )
    )
    assert sorted(versions) == [1, 2]
    response = client.post(url, {"purpose": "marketing", "language": "en", "text": "  "})
    assert response.status_code == 200


def test_the_country_filter_lists_each_country_once(client_for, editor):
    from django.core.cache import cache

    cache.delete("contacts:countries")
    ContactFactory.create_batch(3)  # all DE
    ContactFactory(phone="+447911123456", country="GB")
    response = client_for(editor).get(reverse("admin:contacts_contact_changelist"))
    country_filter = next(f for f in response.context["cl"].filter_specs if f.title == "country")
    assert [value for value, _ in country_filter.lookup_choices] == ["DE", "GB"]


def test_a_contact_with_a_consent_ledger_offers_no_delete_button(client_for, editor, contact_with_consent):
    from django.urls import reverse

    page = client_for(editor).get(reverse("admin:contacts_contact_change", args=[contact_with_consent.pk]))
    assert page.status_code == 200
    delete_url = reverse("admin:contacts_contact_delete", args=[contact_with_consent.pk])
    assert delete_url not in page.content.decode()


def test_the_ledger_page_shows_evidence_as_json_and_the_effective_time(client_for, auditor, contact):
    from django.urls import reverse

    from contacts.models import Purpose
    from tests.factories import opt_in

    event = opt_in(contact, Purpose.MARKETING, evidence={"note": "signed the in-store form", "page": "/join"})
    page = client_for(auditor).get(reverse("admin:contacts_consentevent_change", args=[event.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "&quot;note&quot;: &quot;signed the in-store form&quot;" in html
    assert "Effective at" in html or "effective at" in html
