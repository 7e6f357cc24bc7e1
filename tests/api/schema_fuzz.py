"""What the schemathesis tests share: the checks every answer must pass, and a fixture keeping the
test's database connection open between schemathesis's WSGI calls.

Test modules import the fixture: ``from tests.api.schema_fuzz import CHECKS, connection_kept``.
"""

import pytest
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# No 5xx, every status documented, every answer in the documented shape and content type.
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
