"""The shared test world and the rules for tests that need PostgreSQL or a browser.

Tests marked ``postgres`` or ``browser`` skip with a reason when their dependency is missing; CI
(``REQUIRE_ALL_TESTS=1``, set by ``.ci/run``) turns any such skip into a failed run.
"""

import os
import shutil

import pytest

CHROMIUM = "/usr/bin/chromium"
_required_skips: list[str] = []


def pytest_collection_modifyitems(config, items):
    from django.db import connection

    on_postgres = connection.vendor == "postgresql"
    has_chromium = shutil.which(CHROMIUM) is not None
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (see README)"))
        if "browser" in item.keywords and not has_chromium:
            item.add_marker(
                pytest.mark.skip(reason="needs Debian's chromium: `apt-get install -y chromium`")
            )


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
