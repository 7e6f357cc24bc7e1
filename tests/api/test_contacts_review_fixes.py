"""The contacts API against an attacker's inputs: numbers without a country code, a write-only key
claiming someone else's contact, and values PostgreSQL cannot store."""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)

import pytest

from api.errors import ApiError
from api.models import ApiKey, CallbackEvent, KeyContact, Scope
from api.recipients import contact_by_phone, contact_id_from_path
from contacts.models import Contact
from messaging.models import OutboundMessage
from tests.api.callback_world import SECRET
from tests.api.keys import client_for_key, create_key
from tests.factories import ContactFactory
from tests.messaging.webhook_bodies import (
    deliver,  # noqa: F401 (a fixture)
    text_message,
)

pytestmark = pytest.mark.django_db

CONTACTS = "/api/v1/contacts/"
BULK = "/api/v1/contacts/bulk/"
HOOKS = "https://shop.example/hooks"
WITHOUT_CODE = "give the number with its country code, e.g. +4915112345678"


def client_with(*scopes, callback_url=""):
    """A client whose key (``client.key``) has these scopes; with a callback URL stored directly,
    since the key service checks that its host resolves."""
    key, raw = create_key(*scopes)
    if callback_url:
        ApiKey.objects.filter(pk=key.pk).update(callback_url=callback_url, callback_secret=SECRET)
        key.refresh_from_db()
    client = client_for_key(raw)
    client.key = key
    return client


@pytest.fixture
def writer():
    return client_with(Scope.CONTACTS_READ, Scope.CONTACTS_WRITE)


# --- a number without its country code -------------------------------------------------------


@pytest.mark.parametrize("phone", ["4915112345678", "015112345678", " 4915112345678"])
def test_a_number_without_a_country_code_is_refused_not_read_as_german(writer, phone):
    answer = writer.post(CONTACTS, {"phone": phone})
    assert answer.status_code == 400, answer.json()
    error = answer.json()["error"]
    assert error["field"] == "phone" and WITHOUT_CODE in error["message"]
    assert not Contact.objects.exists()


def test_a_number_with_00_first_is_international(writer):
    answer = writer.post(CONTACTS, {"phone": "00 49 151 12345678"})
    assert answer.status_code == 201, answer.json()
    assert answer.json()["phone"] == "+4915112345678"


def test_a_bulk_item_without_a_country_code_is_its_own_error(writer):
    items = [{"phone": "4915112345678"}, {"phone": "+4915112345678"}]
    answer = writer.post(BULK, {"contacts": items})
    assert answer.status_code == 200, answer.json()
    bad, good = answer.json()["results"]
    assert bad["status"] == "error" and bad["error"]["field"] == "phone"
    assert WITHOUT_CODE in bad["error"]["message"]
    assert good["status"] == "created"
    assert list(Contact.objects.values_list("phone", flat=True)) == ["+4915112345678"]


def test_the_phone_filter_needs_a_country_code(writer):
    ContactFactory(phone="+494915112345678")
    answer = writer.get(CONTACTS, {"phone": "4915112345678"})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["field"] == "phone" and WITHOUT_CODE in error["message"]


def test_a_send_by_phone_needs_a_country_code():
    """POST /messages/ looks its ``phone`` up here: "4915112345678" must not find +49 4915112345678."""
    ContactFactory(phone="+494915112345678")
    with pytest.raises(ApiError) as refused:
        contact_by_phone("4915112345678")
    assert refused.value.status_code == 422
    assert refused.value.detail.code == "invalid_phone" and WITHOUT_CODE in str(refused.value.detail)


def test_a_send_by_phone_without_a_country_code_queues_nothing():
    ContactFactory(phone="+494915112345678")
    sender = client_with(Scope.MESSAGES_SEND)
    answer = sender.post("/api/v1/messages/", {"phone": "4915112345678", "text": "Hello"})
    assert answer.status_code == 422, answer.json()
    error = answer.json()["error"]
    assert error["code"] == "invalid_phone" and error["field"] == "phone"
    assert WITHOUT_CODE in error["message"]
    assert not OutboundMessage.objects.exists()


# --- a write-only key and someone else's contact -----------------------------------------------


@pytest.fixture
def known_person():
    return ContactFactory(
        phone="+4915112345678", first_name="Pablo", attributes={"vip": True}, time_zone="Europe/Berlin"
    )


def test_a_write_only_key_upserting_an_existing_contact_learns_only_its_id(known_person):
    client = client_with(Scope.CONTACTS_WRITE)
    answer = client.post(CONTACTS, {"phone": "+49 151 12345678", "last_name": "N."})
    assert answer.status_code == 200, answer.json()
    assert answer.json() == {"id": known_person.pk, "phone": "+4915112345678", "created": False}
    known_person.refresh_from_db()
    assert known_person.last_name == "N."  # the write itself is allowed


def test_a_key_that_may_read_gets_the_whole_contact(writer, known_person):
    answer = writer.post(CONTACTS, {"phone": "+4915112345678"})
    assert answer.status_code == 200
    assert answer.json()["first_name"] == "Pablo" and answer.json()["attributes"] == {"vip": True}


def test_a_write_only_key_creating_a_contact_gets_it_whole():
    client = client_with(Scope.CONTACTS_WRITE)
    answer = client.post(CONTACTS, {"phone": "+4915112345678", "first_name": "Pablo"})
    assert answer.status_code == 201
    assert answer.json()["first_name"] == "Pablo" and answer.json()["consent"]["marketing"] is None


def test_matching_an_existing_contact_does_not_claim_its_replies(deliver, known_person):
    claimer = client_with(Scope.CONTACTS_WRITE, callback_url=HOOKS)
    creator = client_with(Scope.CONTACTS_WRITE, callback_url=HOOKS)
    assert claimer.post(CONTACTS, {"phone": "+4915112345678"}).status_code == 200
    assert claimer.post(BULK, {"contacts": [{"phone": "+4915112345678"}]}).status_code == 200
    created = creator.post(CONTACTS, {"phone": "+4915199999999"}).json()["id"]
    assert not KeyContact.objects.filter(key=claimer.key).exists()
    assert list(KeyContact.objects.filter(key=creator.key).values_list("contact_id", flat=True)) == [created]

    owner = client_with(Scope.CONTACTS_WRITE, callback_url=HOOKS)
    KeyContact.objects.create(key=owner.key, contact=known_person)  # as if it had created them

    deliver(text_message("Who is this?", wa_id="4915112345678"))
    assert CallbackEvent.objects.filter(key=owner.key, type="message.received").count() == 1
    assert not CallbackEvent.objects.filter(key=claimer.key).exists()


# --- values that would be a 500 ----------------------------------------------------------------


@pytest.mark.parametrize("value", ["²", "١٢", "12a", ""])
def test_a_contact_id_that_is_not_ascii_digits_is_a_404(value):
    with pytest.raises(ApiError) as refused:
        contact_id_from_path(value)
    assert refused.value.status_code == 404


def test_the_consents_path_with_a_superscript_digit_is_a_404():
    client = client_with(*Scope.values)
    answer = client.get("/api/v1/contacts/²/consents/")
    assert answer.status_code in (404, 405)
    assert answer.json()["error"]["code"] in ("not_found", "method_not_allowed")


@pytest.mark.parametrize(
    ("raw_attributes", "where", "what"),
    [
        ('{"note": "\\ud800"}', "note", "lone surrogate"),
        ('{"deep": {"list": [1, "\\udfff"]}}', "deep.list.1", "lone surrogate"),
        ('{"\\ud800": 1}', "in a key", "lone surrogate"),
        ('{"score": 1e400}', "score", "not finite"),
        ('{"deep": [-1e999]}', "deep.0", "not finite"),
        ('{"note": "a\\u0000b"}', "note", "NUL"),
    ],
)
def test_attributes_postgresql_cannot_store_are_refused_naming_where(writer, raw_attributes, where, what):
    body = '{"phone": "+4915112345678", "attributes": ' + raw_attributes + "}"
    answer = writer.post(CONTACTS, body, content_type="application/json")
    assert answer.status_code == 400, answer.content
    error = answer.json()["error"]
    assert error["field"] == "attributes" and where in error["message"] and what in error["message"]
    assert not Contact.objects.exists()


def test_in_bulk_an_unstorable_item_fails_alone(writer):
    body = (
        '{"contacts": [{"phone": "+4915112345678", "attributes": {"score": 1e400}},'
        ' {"phone": "+4915112345679", "attributes": {"note": "\\ud800"}},'
        ' {"phone": "+4915112345670", "attributes": {"score": 1.5}}]}'
    )
    answer = writer.post(BULK, body, content_type="application/json")
    assert answer.status_code == 200, answer.content
    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["error", "error", "created"]
    assert results[0]["error"]["field"] == "attributes" and "score" in results[0]["error"]["message"]
    assert results[1]["error"]["field"] == "attributes" and "note" in results[1]["error"]["message"]
    assert Contact.objects.get().attributes == {"score": 1.5}


# --- the schema ---------------------------------------------------------------------------------


def test_the_schema_allows_an_empty_language_and_the_write_only_answer(writer):
    ContactFactory(phone="+4915112345678", language="")
    assert writer.get(CONTACTS).json()["results"][0]["language"] == ""
    schema = writer.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]
    language = components["Contact"]["properties"]["language"]
    assert {"$ref": "#/components/schemas/BlankEnum"} in language["oneOf"]
    answer = schema["paths"]["/api/v1/contacts/"]["post"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ContactUpsertAnswer"
    }
