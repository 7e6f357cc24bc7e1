"""schemathesis against the OpenAPI schema of the contacts and templates endpoints: whatever it
sends, no 5xx, every status documented, every answer in the documented shape."""

import pytest
import schemathesis
from django.test import override_settings
from hypothesis import HealthCheck, settings

from api.models import Scope
from config.wsgi import application
from core.actors import Actor
from templates_app.demo import seed_templates
from tests.api.keys import create_key
from tests.api.schema_fuzz import CHECKS
from tests.factories import ContactFactory, opt_in

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application).include(
    path_regex=r"/contacts/$|/contacts/\{contact_id\}/$|/contacts/bulk/$|/templates/$"
)


@pytest.fixture
def raw_key(db, connection_kept):
    """A key with every scope; contacts to find (one with consent and a window) and templates."""
    opt_in(ContactFactory(phone="+4915123456789"))
    ContactFactory()
    seed_templates(actor=Actor.system("tests"))
    _, raw = create_key(*Scope.values)
    return raw


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.slow
@pytest.mark.django_db
@override_settings(API_THROTTLE_RATE="100000/min")
def test_the_contacts_and_templates_endpoints_keep_to_their_schema(case, raw_key):
    case.call_and_validate(headers={"Authorization": f"Bearer {raw_key}"}, checks=CHECKS)
