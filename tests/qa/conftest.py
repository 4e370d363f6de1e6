"""Fixtures of the QA tests."""

import pytest


@pytest.fixture(autouse=True)
def _fresh_dashboard_cache():
    """The dashboard is cached between requests: every test starts from its own data."""
    from django.core.cache import cache

    cache.clear()
