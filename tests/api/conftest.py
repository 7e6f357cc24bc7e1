"""Fixtures for the API's tests."""

import pytest


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
