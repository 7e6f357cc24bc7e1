"""What the schemathesis tests check of every answer (their fixture ``connection_kept`` is in
``tests/api/conftest.py``)."""

from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# No 5xx, every status documented, every answer in the documented shape and content type.
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
