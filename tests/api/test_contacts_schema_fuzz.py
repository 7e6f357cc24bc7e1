"""schemathesis against the OpenAPI schema of the contacts and templates endpoints: whatever it
sends, no 5xx, every status documented, every answer in the documented shape."""

import pytest
import schemathesis
from django.test import override_settings
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.models import Scope
from config.wsgi import application
from core.actors import Actor
from templates_app.demo import seed_templates
from tests.api.api_clients import make_key
from tests.factories import ContactFactory, opt_in

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application).include(
    path_regex=r"/contacts/$|/contacts/\{contact_id\}/$|/contacts/bulk/$|/templates/$"
)
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]


@pytest.fixture
def connection_kept():
    """schemathesis calls the WSGI app itself, not through Django's test client, so the end of each
    request would close the database connection — and with it the test's transaction. Keep it
    open, as the test client does."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def raw_key(db, connection_kept):
    """A key with every scope; contacts to find (one with consent and a window) and templates."""
    opt_in(ContactFactory(phone="+4915123456789"))
    ContactFactory()
    seed_templates(actor=Actor.system("tests"))
    _, raw = make_key(*Scope.values)
    return raw


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.slow
@pytest.mark.django_db
@override_settings(API_THROTTLE_RATE="100000/min")
def test_the_contacts_and_templates_endpoints_keep_to_their_schema(case, raw_key):
    case.call_and_validate(headers={"Authorization": f"Bearer {raw_key}"}, checks=CHECKS)
