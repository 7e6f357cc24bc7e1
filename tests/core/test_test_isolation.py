"""Tests do not leak into each other through the cache (tests/conftest.py, ``empty_cache``)."""

import pytest
from django.core.cache import cache

KEY = "tests:left-behind"
# Kept on one xdist worker and in this order (pytest-django runs transactional tests after the
# others, keeping their order), so the second test meets what the first committed.
pytestmark = pytest.mark.xdist_group("cache-isolation")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_transactional_test_commits_a_cached_value():
    cache.set(KEY, "from an earlier test", 300)
    assert cache.get(KEY) == "from an earlier test"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_next_test_starts_with_an_empty_cache():
    assert cache.get(KEY) is None


def test_the_tests_cache_is_the_test_databases_own(settings):
    """Not a Redis that every xdist worker (and a developer's other runs) would share."""
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
