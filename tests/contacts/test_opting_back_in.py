"""Opting back in after an opt-out (docs/consent.md): the person's own evidence, dated after the
opt-out; an import never reverses an opt-out the person made on WhatsApp. The service enforces it
for every caller; the admin's opt-in form says so before staff type anything."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.models import ConsentAction, ConsentEvent, ConsentSource, ConsentStatus, Purpose
from contacts.selectors import current_consent
from contacts.services import consent_opt_in_check, record_consent
from core.actors import Actor
from core.errors import ApplicationError
from tests.factories import opt_in, opt_out

pytestmark = pytest.mark.django_db

EVIDENCE = {"note": "Signed the in-store form on 2026-11-30, form no. 881"}
ON_SOMEONES_BEHALF = [
    ConsentSource.IMPORT,
    ConsentSource.STAFF,
    ConsentSource.API,
    ConsentSource.WEB_FORM,
    ConsentSource.CHECKOUT,
]
MADE_ON_WHATSAPP = [ConsentSource.KEYWORD, ConsentSource.BUTTON, ConsentSource.WHATSAPP_SIGNAL]


def ago(**kwargs):
    return timezone.now() - timedelta(**kwargs)


def status(contact, purpose=Purpose.MARKETING):
    current = current_consent(contact=contact, purpose=purpose)
    return current.status if current else None


def opt_back_in(contact, **kwargs):
    arguments = {
        "contact": contact,
        "purpose": Purpose.MARKETING,
        "action": ConsentAction.OPT_IN,
        "source": ConsentSource.STAFF,
        "actor": Actor.system("tests"),
        "occurred_at": ago(hours=1),
        "wording_text": "Yes, send me offers from Demo Shop on WhatsApp.",
        "evidence": EVIDENCE,
    }
    arguments.update(kwargs)
    return record_consent(**arguments)


def refused(contact, **kwargs) -> ApplicationError:
    before = ConsentEvent.objects.count()
    with pytest.raises(ApplicationError) as exc:
        opt_back_in(contact, **kwargs)
    assert ConsentEvent.objects.count() == before, "a refused opt-in wrote an event"
    return exc.value


# --- The service: every caller (admin, API, imports) ---------------------------------------------


@pytest.mark.parametrize("stop_source", MADE_ON_WHATSAPP)
def test_an_import_never_reverses_an_opt_out_made_on_whatsapp_even_dated_later_with_evidence(
    contact, stop_source
):
    opt_out(contact, source=stop_source, occurred_at=ago(days=2))
    error = refused(contact, source=ConsentSource.IMPORT, occurred_at=ago(hours=1))
    assert (error.code, error.field) == ("opt_in_import_after_whatsapp_opt_out", "source")
    assert "START" in error.message and "opt-in link" in error.message
    assert status(contact) == ConsentStatus.OPTED_OUT


@pytest.mark.parametrize("source", ON_SOMEONES_BEHALF)
def test_opting_back_in_on_someones_behalf_needs_the_date_it_happened(contact, source):
    opt_out(contact, occurred_at=ago(days=2))
    error = refused(contact, source=source, occurred_at=None)
    assert (error.code, error.field) == ("opt_in_date_required", "occurred_at")
    assert status(contact) == ConsentStatus.OPTED_OUT


@pytest.mark.parametrize(
    "after_the_opt_out",
    [
        timedelta(days=-1),  # before it
        timedelta(0),  # the same moment
        timedelta(seconds=0.5),  # within the second after it: the opt-out would still win
    ],
)
def test_opting_back_in_needs_a_date_after_the_opt_out(contact, after_the_opt_out):
    stopped = ago(days=2)
    opt_out(contact, occurred_at=stopped)
    error = refused(contact, occurred_at=stopped + after_the_opt_out)
    assert (error.code, error.field) == ("opt_in_not_after_opt_out", "occurred_at")


@pytest.mark.parametrize(
    "evidence",
    [
        None,
        {},
        {"recorded_in": "admin"},
        {"recorded_in": "admin", "note": "   "},
        {"note": ""},
        {"note": "\u200b"},
        {"note": "\u2060\u200d", "ref": "—"},
        {"x": 0},
        {"x": True},
    ],
    ids=[
        "none",
        "empty",
        "admin stamp",
        "blank note",
        "empty note",
        "zero-width space",
        "invisible and punctuation",
        "a bare number",
        "a flag",
    ],
)
@pytest.mark.parametrize("source", ON_SOMEONES_BEHALF[1:])
def test_opting_back_in_on_someones_behalf_needs_the_persons_own_evidence(contact, source, evidence):
    opt_out(contact, occurred_at=ago(days=2))
    error = refused(contact, source=source, evidence=evidence)
    assert (error.code, error.field) == ("opt_in_evidence_required", "evidence")


@pytest.mark.parametrize("source", ON_SOMEONES_BEHALF[1:])
def test_a_new_opt_in_dated_after_a_whatsapp_stop_with_evidence_opts_the_person_in(contact, source):
    opt_out(contact, source=ConsentSource.KEYWORD, occurred_at=ago(days=2))
    event = opt_back_in(contact, source=source)
    assert current_consent(contact=contact, purpose=Purpose.MARKETING).event == event


def test_an_import_with_the_persons_own_evidence_reverses_an_opt_out_recorded_by_staff(contact):
    opt_out(contact, source=ConsentSource.STAFF, occurred_at=ago(days=30))
    opt_back_in(contact, source=ConsentSource.IMPORT, evidence={"import_file": "shop.csv", "row": 4})
    assert status(contact) == ConsentStatus.OPTED_IN


@pytest.mark.parametrize("source", [ConsentSource.KEYWORD, ConsentSource.OPT_IN_LINK])
def test_the_person_opts_in_again_themselves_without_more_evidence(contact, source):
    opt_out(contact, source=ConsentSource.KEYWORD, occurred_at=ago(days=2))
    opt_back_in(contact, source=source, occurred_at=None, evidence=None)
    assert status(contact) == ConsentStatus.OPTED_IN


def test_once_a_person_stopped_on_whatsapp_an_import_does_not_count_for_them_again(contact):
    opt_out(contact, source=ConsentSource.KEYWORD, occurred_at=ago(days=10))
    start = opt_back_in(contact, source=ConsentSource.KEYWORD, occurred_at=ago(days=5), evidence=None)
    error = refused(contact, source=ConsentSource.IMPORT, occurred_at=ago(days=1))
    assert error.code == "opt_in_import_after_whatsapp_opt_out"
    assert current_consent(contact=contact, purpose=Purpose.MARKETING).event == start


def test_a_first_opt_in_and_one_while_opted_in_need_nothing_more(contact):
    opt_in(contact, source=ConsentSource.IMPORT, occurred_at=ago(days=3))
    opt_in(contact, source=ConsentSource.STAFF)
    assert status(contact) == ConsentStatus.OPTED_IN


def test_the_rule_is_per_purpose(contact):
    opt_out(contact, Purpose.MARKETING, source=ConsentSource.KEYWORD, occurred_at=ago(days=2))
    opt_in(contact, Purpose.SERVICE, source=ConsentSource.IMPORT)
    assert status(contact, Purpose.SERVICE) == ConsentStatus.OPTED_IN


def test_the_check_writes_nothing_and_says_what_the_service_would(contact):
    opt_out(contact, source=ConsentSource.BUTTON, occurred_at=ago(days=2))
    with pytest.raises(ApplicationError) as exc:
        consent_opt_in_check(
            contact=contact,
            purpose=Purpose.MARKETING,
            source=ConsentSource.IMPORT,
            occurred_at=ago(hours=1),
            evidence=EVIDENCE,
        )
    assert exc.value.code == "opt_in_import_after_whatsapp_opt_out"
    assert ConsentEvent.objects.count() == 1


# --- The admin's opt-in form ------------------------------------------------------------------------


def record_url(contact, action="opt_in"):
    return reverse("admin:contacts_contact_record_consent", args=[contact.pk, action])


def opt_in_form(**overrides):
    data = {
        "purpose": "marketing",
        "wording_text": "Yes, send me offers from Demo Shop on WhatsApp.",
        "source": "staff",
        "occurred_at": timezone.localtime(ago(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "note": "Signed the in-store form on 2026-11-30, form no. 881",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_the_opt_in_form_says_the_contact_opted_out_and_asks_for_date_and_evidence(
    client_for, editor, contact
):
    opt_out(contact, source=ConsentSource.KEYWORD, occurred_at=ago(days=2))
    response = client_for(editor).get(record_url(contact))
    html = response.content.decode()
    assert 'id="opted-out"' in html and "opted out of Marketing" in html
    assert "START" in html and "opt-in link" in html
    form = response.context["form"]
    assert form["occurred_at"].value() in (None, "")  # no "now" to accept without thinking
    assert form.fields["note"].required


def test_the_opt_in_form_of_a_contact_never_opted_out_is_as_before(client_for, editor, contact):
    response = client_for(editor).get(record_url(contact))
    assert 'id="opted-out"' not in response.content.decode()
    assert response.context["form"]["occurred_at"].value()
    assert not response.context["form"].fields["note"].required


def test_the_admin_refuses_an_import_opt_in_after_a_whatsapp_stop_and_says_how_to_opt_in_again(
    client_for, editor, contact
):
    opt_out(contact, source=ConsentSource.KEYWORD, occurred_at=ago(days=1))
    response = client_for(editor).post(record_url(contact), opt_in_form(source="import"))
    assert response.status_code == 200
    message = " ".join(response.context["form"].errors["source"])
    assert "START" in message and "opt-in link" in message
    assert status(contact) == ConsentStatus.OPTED_OUT


@pytest.mark.parametrize(
    "overrides,field,message",
    [
        ({"occurred_at": None}, "occurred_at", "when they opted in again"),
        ({"note": ""}, "note", "what the person did"),
        ({"note": "   "}, "note", "what the person did"),
        ({"occurred_at": "2020-01-01T10:00"}, "occurred_at", "not after the opt-out"),
    ],
)
def test_the_admin_requires_a_later_date_and_the_evidence_to_opt_back_in(
    client_for, editor, contact, overrides, field, message
):
    opt_out(contact, source=ConsentSource.STAFF, occurred_at=ago(days=2))
    response = client_for(editor).post(record_url(contact), opt_in_form(**overrides))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert ConsentEvent.objects.count() == 1


def test_the_admin_records_an_opt_back_in_with_its_date_and_evidence(client_for, editor, contact):
    opt_out(contact, source=ConsentSource.KEYWORD, occurred_at=ago(days=2))
    response = client_for(editor).post(record_url(contact), opt_in_form())
    assert response.status_code == 302
    event = current_consent(contact=contact, purpose=Purpose.MARKETING).event
    assert (event.action, event.source, event.actor_user) == ("opt_in", "staff", editor)
    assert event.evidence["note"] == "Signed the in-store form on 2026-11-30, form no. 881"
