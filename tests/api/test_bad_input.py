"""Bodies and queries that once answered 500: each is a 400 in the error shape, naming where."""

import json

import pytest

from api.models import Scope
from contacts.models import ConsentEvent
from messaging.models import OutboundMessage
from tests.api.keys import key_and_client
from tests.api.test_consents_api import opt_in_body
from tests.api.test_consents_api import url as consents_url
from tests.api.test_messages_api import order_body
from tests.factories import ContactFactory
from tests.messaging.conftest import ORDER_PARAMETERS

pytest_plugins = ["tests.api.messaging_world"]

pytestmark = pytest.mark.django_db

MESSAGES = "/api/v1/messages/"


@pytest.fixture
def client():
    scopes = (Scope.CONSENT_WRITE, Scope.CONTACTS_READ, Scope.MESSAGES_SEND, Scope.MESSAGES_READ)
    return key_and_client(*scopes)[1]


def post_raw(client, path: str, raw: str):
    """A body as the client wrote it: ``json.dumps`` (ensure_ascii) keeps a lone surrogate as ``\\ud800``."""
    return client.post(path, data=raw.encode(), content_type="application/json")


def error_of(response, status=400) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


def test_deeply_nested_json_is_a_malformed_request(client):
    error = error_of(post_raw(client, MESSAGES, "[" * 100_000 + "]" * 100_000))
    assert error["code"] == "malformed_request" and "nested" in error["message"]


def test_a_body_that_is_not_utf8_is_a_malformed_request(client):
    response = client.post(MESSAGES, data=b'{"text": "\xff\xfe"}', content_type="application/json")
    assert error_of(response)["code"] == "malformed_request"


@pytest.mark.parametrize(
    ("evidence", "path", "problem"),
    [
        ({"page": "a\x00b"}, "evidence.page", "NUL"),
        ({"k\x00": "v"}, "evidence", "key"),
        ({"page": "\ud800"}, "evidence.page", "surrogate"),
        ({"\udfff": 1}, "evidence", "key"),
        ({"pages": [1, {"name": "\ud800"}]}, "evidence.pages.1.name", "surrogate"),
    ],
)
def test_evidence_the_database_cannot_keep_is_refused_naming_the_path(client, evidence, path, problem):
    person = ContactFactory()
    raw = json.dumps(opt_in_body(evidence=evidence))
    error = error_of(post_raw(client, consents_url(person.pk), raw))
    assert error["code"] == "invalid" and error["field"] == "evidence"
    assert error["message"].startswith(f"evidence: {path}: ") and problem in error["message"]
    assert not ConsentEvent.objects.filter(contact=person).exists()


def test_evidence_nested_too_deeply_for_the_ledger_is_refused(client):
    """Some hundreds of levels parse, but the ledger's hashing recursed on them: a 500."""
    person = ContactFactory()
    deep = '{"a":' + "[" * 500 + "]" * 500 + "}"
    raw = json.dumps(opt_in_body(evidence={"x": 1})).replace('{"x": 1}', deep)
    error = error_of(post_raw(client, consents_url(person.pk), raw))
    assert error["field"] == "evidence" and "nested deeper than 32 levels" in error["message"]
    assert not ConsentEvent.objects.filter(contact=person).exists()


@pytest.mark.parametrize("value", ["\ud800", "a\x00"])
def test_template_parameters_the_database_cannot_keep_are_refused(client, customer, order_update, value):
    parameters = {**ORDER_PARAMETERS, "body": ["Pablo", value]}
    raw = json.dumps(order_body(customer, parameters=parameters))
    error = error_of(post_raw(client, MESSAGES, raw))
    assert error["field"] == "template.parameters" and "template.parameters.body.1" in error["message"]
    assert not OutboundMessage.objects.exists()


def test_a_number_too_large_for_json_is_refused_where_it_is(client, customer, order_update):
    """``1e999`` parses to infinity; DRF's JSONField already refuses it, naming the field."""
    person = ContactFactory()
    raw = json.dumps(opt_in_body(evidence={"score": 1})).replace('"score": 1', '"score": 1e999')
    assert error_of(post_raw(client, consents_url(person.pk), raw))["field"] == "evidence"
    parameters = {**ORDER_PARAMETERS, "body": ["Pablo", 1]}
    raw = json.dumps(order_body(customer, parameters=parameters)).replace('"Pablo", 1]', '"Pablo", 1e999]')
    assert error_of(post_raw(client, MESSAGES, raw))["field"] == "template.parameters"


@pytest.mark.parametrize("contact", ["²", "١٢", "٣"])
def test_a_non_ascii_digit_contact_filter_is_refused(client, contact):
    error = error_of(client.get(MESSAGES, {"contact": contact}))
    assert error["field"] == "contact"


def test_a_body_over_the_upload_limit_is_a_413_in_the_error_shape(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    writer = key_and_client(Scope.CONTACTS_WRITE)[1]
    body = json.dumps({"phone": "+4915112345678", "attributes": {"note": "y" * 20_000}})
    error = error_of(post_raw(writer, "/api/v1/contacts/", body), status=413)
    assert error["code"] == "body_too_large"
    assert error["details"] == {"limit_bytes": 10_000}
