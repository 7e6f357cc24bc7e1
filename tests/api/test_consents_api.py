"""POST and GET /api/v1/contacts/{id}/consents/: opt-ins and opt-outs another system collected."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from api.keys import api_key_revoke
from api.models import KeyContact, Scope
from contacts.merging import contact_merge
from contacts.models import ConsentEvent, ConsentStatus, CurrentConsent, Purpose
from core.actors import Actor
from tests.api.keys import client_for_key, create_key, key_and_client
from tests.factories import ContactFactory, make_wording, opt_in, opt_out

pytestmark = pytest.mark.django_db

EVIDENCE = {"form": "checkout", "order": "ORD-9271", "ip": "203.0.113.7"}


def url(contact_id) -> str:
    return f"/api/v1/contacts/{contact_id}/consents/"


def opt_in_body(**changes) -> dict:
    body = {
        "action": "opt_in",
        "purpose": "marketing",
        "source": "checkout",
        "wording_text": "Yes, send me offers on WhatsApp from Demo Shop.",
        "evidence": EVIDENCE,
        "occurred_at": (timezone.now() - timedelta(minutes=2)).isoformat(),
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


@pytest.fixture
def writer():
    return key_and_client(Scope.CONSENT_WRITE, Scope.CONTACTS_READ)


@pytest.fixture
def person():
    return ContactFactory(phone="+4915123456789", first_name="Pablo", last_name="Neruda")


def error_of(response) -> dict:
    return response.json()["error"]


def test_an_opt_in_is_recorded_with_the_key_as_actor_and_the_key_knows_the_contact(writer, person):
    key, client = writer
    response = client.post(url(person.pk), opt_in_body(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    event = ConsentEvent.objects.get(pk=body["id"])
    assert (event.actor_kind, event.actor_ref) == (Actor.API_KEY, str(key.pk))
    assert event.source == "checkout" and event.evidence == EVIDENCE
    assert body["contact"] == person.pk and body["recorded_by"] == "api_key" and body["recorded_by_this_key"]
    assert body["evidence"] == EVIDENCE and body["effective_at"]
    current = CurrentConsent.objects.get(contact=person, purpose=Purpose.MARKETING)
    assert current.status == ConsentStatus.OPTED_IN and current.event_id == event.pk
    assert KeyContact.objects.filter(key=key, contact=person).exists()


def test_an_opt_in_may_name_a_wording_version(writer, person):
    wording = make_wording(Purpose.SERVICE, "en")
    _, client = writer
    body = opt_in_body(purpose="service", wording_text=None, wording_id=wording.pk)
    response = client.post(url(person.pk), body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["wording"]["id"] == wording.pk
    assert response.json()["wording"]["version"] == wording.version


def test_an_opt_out_needs_no_evidence_nor_time(writer, person):
    opt_in(person)
    _, client = writer
    response = client.post(
        url(person.pk), {"action": "opt_out", "purpose": "marketing", "source": "web_form"}
    )
    assert response.status_code == 201, response.content
    assert CurrentConsent.objects.get(contact=person, purpose="marketing").status == ConsentStatus.OPTED_OUT


@pytest.mark.parametrize("missing", ["occurred_at", "evidence", "wording_text"])
def test_an_opt_in_without_its_time_evidence_or_wording_is_400_naming_the_field(writer, person, missing):
    _, client = writer
    response = client.post(url(person.pk), opt_in_body(**{missing: None}), format="json")
    assert response.status_code == 400
    field = "wording_id" if missing == "wording_text" else missing
    assert error_of(response)["code"] == "invalid" and field in error_of(response)["details"]["fields"]
    assert not ConsentEvent.objects.filter(contact=person).exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"evidence": {}}, "evidence"),
        ({"evidence": ["not", "an", "object"]}, "evidence"),
        ({"evidence": {"blob": "x" * 20_000}}, "evidence"),
        ({"occurred_at": "2026-11-30T14:05:00"}, "occurred_at"),  # no offset
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"action": "maybe"}, "action"),
        ({"purpose": "newsletter"}, "purpose"),
        ({"wording_id": 1}, "wording_id"),  # and wording_text: one of them
    ],
)
def test_a_malformed_field_is_400_naming_it(writer, person, changes, field):
    _, client = writer
    response = client.post(url(person.pk), opt_in_body(**changes), format="json")
    assert response.status_code == 400, response.content
    assert field in error_of(response)["details"]["fields"]
    assert not ConsentEvent.objects.exists()


@pytest.mark.parametrize(
    "source", ["keyword", "button", "whatsapp_signal", "staff", "merge", "import", "opt_in_link", "fax"]
)
def test_sources_of_other_paths_are_refused_naming_the_allowed_ones(writer, person, source):
    _, client = writer
    for body in (opt_in_body(source=source), {"action": "opt_out", "purpose": "marketing", "source": source}):
        response = client.post(url(person.pk), body, format="json")
        assert response.status_code == 422
        error = error_of(response)
        assert error["code"] == "source_not_allowed" and error["field"] == "source"
        assert error["details"]["allowed"] == ["web_form", "checkout", "api"]
        assert "web_form, checkout, api" in error["message"]
    assert not ConsentEvent.objects.exists()


def test_opting_back_in_before_the_opt_out_is_refused_with_its_own_code(writer, person):
    opt_out(person, occurred_at=timezone.now() - timedelta(hours=1))
    _, client = writer
    earlier = (timezone.now() - timedelta(hours=2)).isoformat()
    response = client.post(url(person.pk), opt_in_body(occurred_at=earlier), format="json")
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "opt_in_not_after_opt_out" and error["field"] == "occurred_at"
    # The key may record consent without reading contacts: the refusal names no one.
    assert "Pablo" not in error["message"] and f"contact {person.pk}" in error["message"]
    assert ConsentEvent.objects.filter(contact=person).count() == 1


def test_opting_back_in_after_the_opt_out_with_evidence_is_recorded(writer, person):
    opt_out(person, occurred_at=timezone.now() - timedelta(hours=1))
    _, client = writer
    response = client.post(url(person.pk), opt_in_body(), format="json")
    assert response.status_code == 201, response.content
    assert CurrentConsent.objects.get(contact=person, purpose="marketing").status == ConsentStatus.OPTED_IN


def test_opting_back_in_with_evidence_that_says_nothing_is_refused(writer, person):
    opt_out(person, occurred_at=timezone.now() - timedelta(hours=1))
    _, client = writer
    response = client.post(url(person.pk), opt_in_body(evidence={"recorded_in": "api"}), format="json")
    assert response.status_code == 422
    assert error_of(response)["code"] == "opt_in_evidence_required"


def test_a_time_in_the_future_is_refused(writer, person):
    _, client = writer
    later = (timezone.now() + timedelta(days=1)).isoformat()
    response = client.post(url(person.pk), opt_in_body(occurred_at=later), format="json")
    assert response.status_code == 422 and error_of(response)["code"] == "occurred_in_future"


def test_an_unknown_wording_or_one_for_another_purpose_is_refused(writer, person):
    _, client = writer
    response = client.post(url(person.pk), opt_in_body(wording_text=None, wording_id=999_999), format="json")
    assert response.status_code == 422 and error_of(response)["code"] == "wording_not_found"
    service_wording = make_wording(Purpose.SERVICE, "en")
    body = opt_in_body(wording_text=None, wording_id=service_wording.pk)  # purpose: marketing
    response = client.post(url(person.pk), body, format="json")
    assert response.status_code == 422 and error_of(response)["code"] == "wording_purpose_mismatch"
    assert not ConsentEvent.objects.exists()


@pytest.mark.parametrize("contact_id", ["999999", "abc", "-1", "9" * 40])
def test_an_unknown_contact_is_a_json_404(writer, contact_id):
    _, client = writer
    response = client.post(url(contact_id), opt_in_body(), format="json")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


def test_a_merged_away_contact_records_on_the_contact_it_went_into(writer, person):
    other = ContactFactory(phone="+4915199999999")
    contact_merge(survivor=person, merged=other, actor=Actor.system("tests"), reason="same person")
    key, client = writer
    response = client.post(url(other.pk), {"action": "opt_out", "purpose": "service", "source": "api"})
    assert response.status_code == 201, response.content
    assert response.json()["contact"] == person.pk
    assert ConsentEvent.objects.get(pk=response.json()["id"]).contact_id == person.pk
    assert KeyContact.objects.filter(key=key, contact=person).exists()
    history = client.get(url(other.pk)).json()
    assert history["contact"] == person.pk and [e["id"] for e in history["results"]] == [
        response.json()["id"]
    ]


def test_the_history_is_newest_first_paginated_and_hides_others_evidence(writer, person):
    staff_event = opt_in(person, evidence={"ip": "198.51.100.1"})
    _, client = writer
    ids = [client.post(url(person.pk), opt_in_body(purpose="service"), format="json").json()["id"]]
    ids.append(
        client.post(url(person.pk), {"action": "opt_out", "purpose": "service", "source": "api"}).json()["id"]
    )
    first = client.get(url(person.pk), {"page_size": 2})
    assert first.status_code == 200
    page = first.json()
    assert [e["id"] for e in page["results"]] == ids[::-1]
    second = client.get(page["next"]).json()
    assert [e["id"] for e in second["results"]] == [staff_event.pk] and second["next"] is None
    shown = second["results"][0]
    assert (
        shown["evidence"] is None and not shown["recorded_by_this_key"] and shown["recorded_by"] == "system"
    )
    only_marketing = client.get(url(person.pk), {"purpose": "marketing"}).json()["results"]
    assert [e["id"] for e in only_marketing] == [staff_event.pk]
    assert client.get(url(person.pk), {"purpose": "newsletter"}).status_code == 400


def test_scopes_keys_and_bodies(person):
    _, reader = key_and_client(Scope.CONTACTS_READ)
    assert reader.post(url(person.pk), opt_in_body(), format="json").status_code == 403
    _, writer_only = key_and_client(Scope.CONSENT_WRITE)
    denied = writer_only.get(url(person.pk))
    assert denied.status_code == 403 and error_of(denied)["code"] == "missing_scope"
    assert (
        client_for_key("wak_nonsense").post(url(person.pk), opt_in_body(), format="json").status_code == 401
    )
    _, raw = create_key(Scope.CONSENT_WRITE)
    bad_json = client_for_key(raw).post(url(person.pk), "{not json", content_type="application/json")
    assert bad_json.status_code == 400 and error_of(bad_json)["code"] == "malformed_request"
    assert not ConsentEvent.objects.exists()


def test_an_idempotent_repeat_records_one_event(writer, person):
    _, client = writer
    body = opt_in_body()
    first = client.post(url(person.pk), body, format="json", HTTP_IDEMPOTENCY_KEY="consent-1")
    again = client.post(url(person.pk), body, format="json", HTTP_IDEMPOTENCY_KEY="consent-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert ConsentEvent.objects.filter(contact=person).count() == 1


@pytest.mark.parametrize(("method", "scope"), [("post", Scope.CONSENT_WRITE), ("get", Scope.CONTACTS_READ)])
def test_both_methods_refuse_no_key_a_revoked_key_a_missing_scope_and_too_many_calls(
    person, settings, method, scope
):
    def call(client):
        body = {"action": "opt_out", "purpose": "marketing", "source": "api"} if method == "post" else None
        return getattr(client, method)(url(person.pk), body)

    nobody = APIClient()
    nobody.default_format = "json"
    anonymous = call(nobody)
    assert anonymous.status_code == 401 and error_of(anonymous)["code"] == "not_authenticated"
    assert anonymous["WWW-Authenticate"] == 'Bearer realm="api"'
    key, client = key_and_client(scope)
    api_key_revoke(key=key, actor=Actor.system("tests"))
    revoked = call(client)
    assert revoked.status_code == 401 and error_of(revoked)["code"] == "invalid_key"
    _, without = key_and_client(*[s for s in Scope.values if s != scope], name="Without")
    missing = call(without)
    assert missing.status_code == 403 and scope in error_of(missing)["message"]
    settings.API_THROTTLE_RATE = "1/hour"
    _, once = key_and_client(scope, name="Once")
    assert call(once).status_code in (200, 201)
    throttled = call(once)
    assert throttled.status_code == 429 and throttled["Retry-After"]
    assert error_of(throttled)["code"] == "throttled"
    assert ConsentEvent.objects.count() == (1 if method == "post" else 0)
