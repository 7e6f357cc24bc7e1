"""POST /api/v1/messages/ (queued through send_message) and GET /messages/, /messages/{id}/ (own only)."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from api.keys import api_key_revoke
from api.models import Scope
from contacts.merging import contact_merge
from contacts.models import Contact, Purpose
from core.actors import Actor
from messaging.models import (
    AttemptOutcome,
    HoldReason,
    MessageStatus,
    MessageStatusEvent,
    OutboundMessage,
    SendAttempt,
)
from messaging.sending.dispatch import send_queued
from messaging.sending.halt import halt_sending
from messaging.sending.service import send_message
from messaging.statuses import StatusReport, apply_status_reports
from templates_app.models import TemplateStatus
from tests.api.keys import client_for_key, create_key, key_and_client
from tests.factories import ContactFactory, opt_in, opt_out
from tests.messaging.conftest import ORDER_PARAMETERS, PROMOTION_PARAMETERS, inbound_message

pytest_plugins = ["tests.api.messaging_world"]

pytestmark = pytest.mark.django_db

URL = "/api/v1/messages/"


@pytest.fixture
def sender():
    return key_and_client(Scope.MESSAGES_SEND, Scope.MESSAGES_READ)


def order_body(contact, **template_changes) -> dict:
    template = {"name": "order_update", "language": "en", "parameters": ORDER_PARAMETERS}
    template.update(template_changes)
    return {"contact": contact.pk, "template": {k: v for k, v in template.items() if v is not None}}


def error_of(response) -> dict:
    return response.json()["error"]


def refused(client, body, status=422) -> dict:
    count = OutboundMessage.objects.count()
    response = client.post(URL, body)
    assert response.status_code == status, response.content
    assert OutboundMessage.objects.count() == count, "a refusal must queue nothing"
    return error_of(response)


def test_a_template_is_queued_with_the_key_as_actor(sender, customer, order_update):
    key, client = sender
    response = client.post(URL, order_body(customer))
    assert response.status_code == 202, response.content
    body = response.json()
    message = OutboundMessage.objects.get(public_id=body["id"])
    assert (message.actor_kind, message.actor_ref) == (Actor.API_KEY, str(key.pk))
    assert body["state"] == "queued" and body["hold_reason"] is None and body["contact"] == customer.pk
    assert body["template"] == {"name": "order_update", "language": "en", "version": 1}
    assert body["purpose"] == "service" and body["error"] is None
    assert message.template_version == order_update.approved_version


def test_the_language_defaults_to_the_contacts(sender, customer, order_update):
    _, client = sender
    customer.language = "en_GB"  # no en_GB translation: English's base language it is
    customer.save(update_fields=["language"])
    response = client.post(URL, order_body(customer, language=None))
    assert response.status_code == 202, response.content
    assert response.json()["template"]["language"] == "en"


def test_a_contact_whose_language_has_no_translation_must_name_one(sender, customer, order_update):
    _, client = sender  # the customer's language is de; the template exists in en only
    error = refused(client, order_body(customer, language=None))
    assert error["code"] == "template_language_required" and error["field"] == "template.language"
    assert error["details"]["approved_languages"] == ["en"]


def test_the_recipient_may_be_given_by_phone_in_any_form(sender, customer, order_update):
    _, client = sender
    body = {"phone": "+49 151 12345678", "template": order_body(customer)["template"]}
    response = client.post(URL, body)
    assert response.status_code == 202, response.content
    assert response.json()["contact"] == customer.pk


def test_an_unknown_or_invalid_phone_is_refused_and_no_contact_is_created(sender, order_update):
    _, client = sender
    contacts = Contact.objects.count()
    template = {"name": "order_update", "language": "en", "parameters": ORDER_PARAMETERS}
    error = refused(client, {"phone": "+4915100000001", "template": template})
    assert error["code"] == "contact_not_found" and error["field"] == "phone"
    error = refused(client, {"phone": "+12", "template": template})
    assert error["code"] == "invalid_phone" and error["field"] == "phone"
    assert Contact.objects.count() == contacts


def test_an_unknown_or_merged_contact_is_refused(sender, customer, order_update):
    _, client = sender
    assert refused(client, {**order_body(customer), "contact": 999_999})["code"] == "contact_not_found"
    other = ContactFactory(phone="+4915199999999")
    contact_merge(survivor=customer, merged=other, actor=Actor.system("tests"), reason="same person")
    error = refused(client, order_body(other))
    assert error["code"] == "contact_merged" and error["details"]["merged_into"] == customer.pk


def test_no_consent_is_refused_without_naming_the_person(sender, stranger, order_update):
    _, client = sender
    error = refused(client, order_body(stranger))
    assert error["code"] == "no_consent"
    assert stranger.first_name not in error["message"] and f"contact {stranger.pk}" in error["message"]


def test_an_opt_out_is_refused(sender, customer, order_update):
    opt_out(customer, Purpose.SERVICE)
    _, client = sender
    assert refused(client, order_body(customer))["code"] == "opted_out"


def test_a_template_that_is_not_approved_is_refused(sender, customer, order_update):
    order_update.status = TemplateStatus.PAUSED
    order_update.save(update_fields=["status"])
    _, client = sender
    error = refused(client, order_body(customer))
    assert error["code"] == "template_not_sendable"
    assert refused(client, order_body(customer, language=None))["code"] == "template_not_sendable"


def test_an_unknown_template_or_language_is_refused(sender, customer, order_update):
    _, client = sender
    error = refused(client, order_body(customer, name="no_such_template"))
    assert error["code"] == "template_not_found" and error["field"] == "template.name"
    error = refused(client, order_body(customer, language="pt_BR"))
    assert error["code"] == "template_not_found" and error["field"] == "template.language"


def test_parameters_that_do_not_fit_are_refused_naming_the_parameter(sender, customer, order_update):
    _, client = sender
    parameters = {**ORDER_PARAMETERS, "body": ["Pablo", ""]}
    error = refused(client, order_body(customer, parameters=parameters))
    assert error["code"] == "template_parameters_invalid" and error["field"] == "template.parameters"
    assert any("{{2}}" in problem for problem in error["details"]["problems"])
    error = refused(client, order_body(customer, parameters=None))
    assert error["code"] == "template_parameters_invalid" and error["details"]["problems"]


def test_free_text_goes_inside_the_window_only(sender, customer):
    _, client = sender
    error = refused(client, {"contact": customer.pk, "text": "Your parcel is at the door."})
    assert error["code"] == "window_closed"
    inbound_message(customer, at=timezone.now() - timedelta(hours=1))
    response = client.post(URL, {"contact": customer.pk, "text": "Your parcel is at the door."})
    assert response.status_code == 202, response.content
    assert response.json()["kind"] == "text" and response.json()["template"] is None


def test_while_sending_is_halted_the_message_waits_with_the_halt_as_its_hold_reason(
    sender, customer, order_update
):
    halt_sending(reason="token expired", code=190)
    _, client = sender
    response = client.post(URL, order_body(customer))
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["state"] == "queued" and body["hold_reason"] == "halt"
    assert "token expired" not in response.content.decode()  # the staff's reason stays inside
    assert client.get(f"{URL}{body['id']}/").json()["hold_reason"] == "halt"


@pytest.mark.parametrize(
    "body",
    [
        {"template": {"name": "order_update"}},  # no recipient
        {"contact": 1, "phone": "+4915112345678", "text": "Hi"},  # two recipients
        {"contact": 1},  # no content
        {"contact": 1, "text": "Hi", "template": {"name": "order_update"}},  # both contents
        {"contact": "one", "text": "Hi"},
        {"contact": 2**70, "text": "Hi"},  # beyond any id
        {"contact": 1, "template": {"language": "en"}},  # no name
        {"contact": 1, "text": ""},
    ],
)
def test_a_malformed_request_is_400_naming_the_field(sender, body):
    _, client = sender
    error = refused(client, body, status=400)
    assert error["code"] == "invalid" and error["field"]


def test_keys_scopes_and_json(customer, order_update):
    _, reader = key_and_client(Scope.MESSAGES_READ)
    response = reader.post(URL, order_body(customer))
    assert response.status_code == 403 and error_of(response)["code"] == "missing_scope"
    _, sender_only = key_and_client(Scope.MESSAGES_SEND)
    assert sender_only.get(URL).status_code == 403
    assert client_for_key("wak_unknown").post(URL, order_body(customer)).status_code == 401
    _, raw = create_key(Scope.MESSAGES_SEND)
    bad = client_for_key(raw).post(URL, '{"contact": ', content_type="application/json")
    assert bad.status_code == 400 and error_of(bad)["code"] == "malformed_request"
    assert not OutboundMessage.objects.exists()


# --- reading messages back --------------------------------------------------------------------


def test_a_message_reads_with_its_attempts_statuses_and_error(sender, customer, order_update):
    _, client = sender
    public_id = client.post(URL, order_body(customer)).json()["id"]
    message = OutboundMessage.objects.get(public_id=public_id)
    first = SendAttempt.objects.create(
        message=message, number=1, outcome=AttemptOutcome.ACCEPTED, wamid="wamid.api.1", status="delivered"
    )
    for status in ("sent", "delivered"):
        MessageStatusEvent.objects.create(wamid="wamid.api.1", attempt=first, status=status, applied=True)
    SendAttempt.objects.create(
        message=message,
        number=2,
        outcome=AttemptOutcome.REFUSED,
        wamid="wamid.api.2",
        status="failed",
        error_code=131026,
        error_class="recipient-permanent",
        error_text="Message undeliverable",
    )
    MessageStatusEvent.objects.create(
        wamid="wamid.api.2",
        attempt=SendAttempt.objects.get(wamid="wamid.api.2"),
        status="failed",
        errors=[{"code": 131026, "title": "Message undeliverable"}],
    )
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=MessageStatus.FAILED, error_code=131026, error_class="recipient-permanent", attempt_count=2
    )
    body = client.get(f"{URL}{public_id}/").json()
    assert body["state"] == "failed" and body["attempt_count"] == 2
    assert body["error"]["code"] == 131026 and body["error"]["meaning"]
    assert [(a["number"], a["wamid"], a["outcome"]) for a in body["attempts"]] == [
        (1, "wamid.api.1", "accepted"),
        (2, "wamid.api.2", "refused"),
    ]
    assert body["attempts"][1]["error"]["code"] == 131026
    assert [s["status"] for s in body["statuses"]] == ["sent", "delivered", "failed"]
    assert body["statuses"][2]["errors"][0]["code"] == 131026 and body["statuses"][2]["errors"][0]["meaning"]


def test_another_keys_or_staffs_message_is_404(sender, customer, order_update, editor):
    _, client = sender
    _, other = key_and_client(Scope.MESSAGES_SEND, Scope.MESSAGES_READ, name="CRM")
    theirs = other.post(URL, order_body(customer)).json()["id"]
    staff = send_message(
        contact=customer, actor=Actor.for_user(editor), template=order_update, parameters=ORDER_PARAMETERS
    )
    for public_id in (theirs, staff.public_id, uuid.uuid4(), "not-a-uuid"):
        response = client.get(f"{URL}{public_id}/")
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert client.get(URL).json()["results"] == []


def test_the_list_holds_this_keys_messages_newest_first_by_contact_and_in_pages(
    sender, customer, order_update
):
    _, client = sender
    other = ContactFactory(phone="+4915155555555", language="en")
    opt_in(other, Purpose.SERVICE)
    mine = [client.post(URL, order_body(contact)).json()["id"] for contact in (customer, other, customer)]
    _, someone_else = key_and_client(Scope.MESSAGES_SEND, name="CRM")
    someone_else.post(URL, order_body(customer))
    page = client.get(URL, {"page_size": 2}).json()
    assert [m["id"] for m in page["results"]] == mine[:0:-1]
    rest = client.get(page["next"]).json()
    assert [m["id"] for m in rest["results"]] == [mine[0]] and rest["next"] is None
    to_customer = client.get(URL, {"contact": customer.pk}).json()["results"]
    assert [m["id"] for m in to_customer] == [mine[2], mine[0]]
    bad = client.get(URL, {"contact": "pablo"})
    assert bad.status_code == 400 and error_of(bad)["field"] == "contact"


def test_the_list_follows_a_merged_away_contact_to_its_messages(sender, customer, order_update):
    _, client = sender
    sent = client.post(URL, order_body(customer)).json()["id"]
    merged = ContactFactory(phone="+4915166666666")
    contact_merge(survivor=customer, merged=merged, actor=Actor.system("tests"), reason="same person")
    assert [m["id"] for m in client.get(URL, {"contact": merged.pk}).json()["results"]] == [sent]


def test_a_held_message_shows_its_stored_hold_reason(sender, customer, order_update):
    _, client = sender
    public_id = client.post(URL, order_body(customer)).json()["id"]
    OutboundMessage.objects.filter(public_id=public_id).update(hold_reason=HoldReason.QUIET_HOURS)
    assert client.get(f"{URL}{public_id}/").json()["hold_reason"] == "quiet_hours"


def test_a_skip_reason_written_for_staff_names_no_one(sender, customer, order_update):
    _, client = sender
    public_id = client.post(URL, order_body(customer)).json()["id"]
    OutboundMessage.objects.filter(public_id=public_id).update(
        status=MessageStatus.SKIPPED,
        error_class="contact_merged",
        error_text=f"The contact was merged into {customer} (#{customer.pk}); send to that contact instead.",
    )
    error = client.get(f"{URL}{public_id}/").json()["error"]
    assert error["error_class"] == "contact_merged" and error["code"] is None
    assert customer.first_name not in error["text"] and f"contact {customer.pk}" in error["text"]


# --- every endpoint: no key, a revoked key, a missing scope, throttled ---------------------------

ENDPOINTS = [  # method, path ({id}: a message of the key), the scope it needs
    ("post", URL, Scope.MESSAGES_SEND),
    ("get", URL, Scope.MESSAGES_READ),
    ("get", URL + "{id}/", Scope.MESSAGES_READ),
]


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_every_endpoint_refuses_no_key_a_revoked_key_a_missing_scope_and_too_many_calls(
    customer, order_update, settings, method, path, scope
):
    key, client = key_and_client(Scope.MESSAGES_SEND, Scope.MESSAGES_READ)
    path = path.replace("{id}", client.post(URL, order_body(customer)).json()["id"])

    def call(client):
        return getattr(client, method)(path, order_body(customer) if method == "post" else None)

    nobody = APIClient()
    nobody.default_format = "json"
    anonymous = call(nobody)
    assert anonymous.status_code == 401 and error_of(anonymous)["code"] == "not_authenticated"
    assert anonymous["WWW-Authenticate"] == 'Bearer realm="api"'
    _, without = key_and_client(*[s for s in Scope.values if s != scope], name="Without")
    missing = call(without)
    assert missing.status_code == 403 and scope in error_of(missing)["message"]
    settings.API_THROTTLE_RATE = "1/hour"
    _, once = key_and_client(scope, name="Once")
    assert call(once).status_code != 429  # (another key's message: 404, but counted)
    throttled = call(once)
    assert throttled.status_code == 429 and throttled["Retry-After"]
    assert error_of(throttled)["code"] == "throttled"
    api_key_revoke(key=key, actor=Actor.system("tests"))
    revoked = call(client)
    assert revoked.status_code == 401 and error_of(revoked)["code"] == "invalid_key"


# --- through the real send path (the in-memory backend) -----------------------------------------


def test_a_sent_message_reads_back_with_its_wamid_and_the_statuses_whatsapp_reported(
    sender, customer, order_update, memory_backend
):
    _, client = sender
    public_id = client.post(URL, order_body(customer)).json()["id"]
    message = OutboundMessage.objects.get(public_id=public_id)
    assert send_queued(message.pk).startswith("accepted")
    (payload,) = memory_backend.sent
    assert payload["biz_opaque_callback_data"] == public_id
    wamid = message.attempts.get().wamid
    now = timezone.now()
    apply_status_reports(
        reports=[
            StatusReport(wamid=wamid, status=state, timestamp=now + timedelta(seconds=offset))
            for offset, state in enumerate(["sent", "delivered"])
        ]
    )
    body = client.get(f"{URL}{public_id}/").json()
    assert body["state"] == "delivered" and body["delivered_at"]
    assert [(a["wamid"], a["outcome"]) for a in body["attempts"]] == [(wamid, "accepted")]
    assert [s["status"] for s in body["statuses"]] == ["sent", "delivered"]


def test_a_message_the_halt_holds_stays_queued_with_the_halt_as_its_reason(
    sender, customer, order_update, memory_backend
):
    halt_sending(reason="payment problem", code=131042)
    _, client = sender
    public_id = client.post(URL, order_body(customer)).json()["id"]
    send_queued(OutboundMessage.objects.get(public_id=public_id).pk)
    assert not memory_backend.sent
    body = client.get(f"{URL}{public_id}/").json()
    assert (body["state"], body["hold_reason"]) == ("queued", "halt")


def test_a_refusal_names_neither_the_persons_number_nor_their_name(sender, promotion, settings):
    settings.WHATSAPP_US_MARKETING_BLOCKED = True
    american = ContactFactory(phone="+12025550143", first_name="Abigail", language="en")
    opt_in(american, Purpose.MARKETING)
    _, client = sender
    body = {
        "contact": american.pk,
        "template": {"name": "spring_promotion", "parameters": PROMOTION_PARAMETERS},
    }
    error = refused(client, body)
    assert error["code"] == "us_marketing_blocked"
    assert "2025550143" not in error["message"] and "Abigail" not in error["message"]
    assert f"contact {american.pk}" in error["message"]


def test_the_schema_says_what_a_message_really_carries(client):
    """A text message's template is null and a status's errors a list: generated clients rely on it."""
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    shapes = schema["components"]["schemas"]
    assert shapes["MessageOut"]["properties"]["template"]["nullable"] is True
    assert shapes["StatusEventOut"]["properties"]["errors"]["type"] == "array"
    assert "415" in schema["paths"]["/api/v1/messages/"]["post"]["responses"]
    assert "415" in schema["paths"]["/api/v1/contacts/{contact_id}/consents/"]["post"]["responses"]
