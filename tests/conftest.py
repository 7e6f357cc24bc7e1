"""The shared test world and the rules for tests that need PostgreSQL or a browser.

Tests marked ``postgres`` or ``browser`` skip with a reason when their dependency is missing; CI
(``REQUIRE_ALL_TESTS=1``, set by ``.ci/run``) turns any such skip into a failed run.

Only the test configuration may empty the append-only ledger: Django flushes the database between
transactional tests, so ``pytest_configure`` lets ``manage.py flush`` run with ledger rows and lets
every PostgreSQL connection of this process (the test's, the live server's and the sandbox's
threads) TRUNCATE the ledger tables (docs/architecture.md, "Append-only, at every level").
"""

import os
import shutil

import pytest

# The sandbox fixtures (a sandbox in a thread, a webhook receiver) serve every app's tests.
pytest_plugins = ["tests.sandbox"]

CHROMIUM = "/usr/bin/chromium"
_required_skips: list[str] = []


def pytest_configure(config):
    from django.conf import settings
    from django.db.backends.signals import connection_created
    from django.test.signals import clear_cache_handlers

    settings.ALLOW_LEDGER_FLUSH = True
    connection_created.connect(allow_ledger_truncate, dispatch_uid="tests.allow_ledger_truncate")
    # Each xdist worker's own test database holds the cache, whatever REDIS_URL a developer's .env
    # sets: one Redis shared by every worker would let one test's halt or cached list reach another.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "cache_table"}
    }
    clear_cache_handlers(setting="CACHES")


def allow_ledger_truncate(sender, connection, **kwargs):
    """Let this session TRUNCATE the ledger, as Django's flush does (the trigger reads this setting).

    Runs on the driver's own cursor, outside Django's query log, so that opening a connection never
    adds a query to a test that counts them.
    """
    from core.db import ALLOW_TRUNCATE_SETTING

    if connection.vendor == "postgresql":
        with connection.connection.cursor() as cursor:
            cursor.execute(f"SET {ALLOW_TRUNCATE_SETTING} = on")


@pytest.fixture(autouse=True)
def empty_cache(request):
    """Every test that uses the database starts with an empty cache.

    The cache lives in the test database's ``cache_table``; a transactional or live-server test
    commits its entries and Django's flush leaves that table alone (it is no model), so a list or a
    halt cached by one test would otherwise be read by the next, until its timeout ran out.
    """
    names = request.fixturenames
    if "transactional_db" in names or "live_server" in names:
        request.getfixturevalue("transactional_db")
    elif "db" in names:
        request.getfixturevalue("db")
    elif not request.node.get_closest_marker("django_db"):
        return
    from django.core.cache import cache

    cache.clear()


def _transactional_unserialized(item) -> bool:
    """A transactional test (by its marker, or by asking for ``transactional_db`` or
    ``live_server``) without ``serialized_rollback``."""
    marker = item.get_closest_marker("django_db")
    serialized = marker is not None and marker.kwargs.get("serialized_rollback")
    by_marker = marker is not None and marker.kwargs.get("transaction")
    by_fixture = bool({"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ())))
    return (by_marker or by_fixture) and not serialized


def pytest_collection_modifyitems(config, items):
    from django.db import connection

    on_postgres = connection.vendor == "postgresql"
    has_chromium = shutil.which(CHROMIUM) is not None
    # A transactional test's flush without serialized_rollback recreates content types and
    # permissions (and drops the roles), and the next serialized test on that worker then fails
    # to restore its own: an order-dependent failure. Refuse such a test when it is collected.
    unserialized = [item.nodeid for item in items if _transactional_unserialized(item)]
    if unserialized:
        raise pytest.UsageError(
            "transactional tests must use serialized_rollback=True: " + ", ".join(unserialized)
        )
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (see README)"))
        if "browser" in item.keywords and not has_chromium:
            item.add_marker(pytest.mark.skip(reason="needs Debian's chromium: `apt-get install -y chromium`"))


def pytest_runtest_logreport(report):
    if report.skipped and ("postgres" in report.keywords or "browser" in report.keywords):
        _required_skips.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("REQUIRE_ALL_TESTS") == "1" and _required_skips:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if os.environ.get("REQUIRE_ALL_TESTS") == "1" and _required_skips:
        terminalreporter.section("required tests were skipped", red=True)
        for nodeid in _required_skips:
            terminalreporter.write_line(f"SKIPPED but required in CI: {nodeid}")


# --- The shared world: one staff user per role, a contact with consent --------------------------


@pytest.fixture
def editor(db):
    from tests.factories import UserFactory

    return UserFactory(username="erin_editor", role="Editor")


@pytest.fixture
def approver(db):
    from tests.factories import UserFactory

    return UserFactory(username="alex_approver", role="Approver")


@pytest.fixture
def support(db):
    from tests.factories import UserFactory

    return UserFactory(username="sam_support", role="Support")


@pytest.fixture
def auditor(db):
    from tests.factories import UserFactory

    return UserFactory(username="audrey_auditor", role="Auditor")


@pytest.fixture
def administrator(db):
    from tests.factories import UserFactory

    return UserFactory(username="ada_administrator", role="Administrator")


@pytest.fixture
def contact(db):
    from tests.factories import ContactFactory

    return ContactFactory(phone="+4915123456789", first_name="Pablo", last_name="Neruda")


@pytest.fixture
def contact_with_consent(contact):
    from contacts.models import Purpose
    from tests.factories import opt_in

    opt_in(contact, Purpose.MARKETING)
    opt_in(contact, Purpose.SERVICE)
    return contact


@pytest.fixture
def client_for(client):
    """Log the test client in as the given user and return it."""

    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def memory_backend(settings, db):
    """Sends go to the in-memory backend (no HTTP), at any hour, without waiting for the limiter."""
    from cloud_api.backends import get_backend

    settings.WHATSAPP_BACKEND = "memory"
    settings.MARKETING_SENDING_HOURS = ""
    settings.WHATSAPP_MESSAGES_PER_SECOND = 1000
    memory = get_backend()
    memory.reset()
    yield memory
    memory.reset()
