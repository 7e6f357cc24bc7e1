"""Every PostgreSQL connection runs without the JIT compiler (config/settings.py,
docs/architecture.md "PostgreSQL's JIT")."""

import pytest
from django.db import connection


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_postgresql_connection_has_jit_off():
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
