"""schemathesis against the OpenAPI schema of the consent and message endpoints: whatever it sends,
no 5xx, every status documented, every answer in the documented shape."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.models import Scope
from config.wsgi import application
from tests.api.keys import create_key

pytest_plugins = ["tests.api.messaging_world"]

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application).include(
    path_regex="consents|messages"
)
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]


@pytest.fixture
def connection_kept():
    """schemathesis calls the WSGI app itself, not through Django's test client, so the end of each
    request would close the database connection — and with it the test's transaction (on
    PostgreSQL). Keep it open, as the test client does."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def raw_key(db, customer, order_update, connection_kept):
    """A key with every scope, a contact with consent and an approved template to find."""
    _, raw = create_key(*Scope.values)
    return raw


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.slow
@pytest.mark.django_db
def test_the_consent_and_message_endpoints_keep_to_their_schema(case, raw_key):
    case.call_and_validate(headers={"Authorization": f"Bearer {raw_key}"}, checks=CHECKS)
