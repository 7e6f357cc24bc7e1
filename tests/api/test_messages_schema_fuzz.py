"""schemathesis against the OpenAPI schema of the consent and message endpoints: whatever it sends,
no 5xx, every status documented, every answer in the documented shape."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.models import Scope
from config.wsgi import application
from tests.api.keys import create_key
from tests.api.schema_fuzz import CHECKS

pytest_plugins = ["tests.api.messaging_world"]

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application).include(
    path_regex="consents|messages"
)


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
