"""Fixtures of the annotation tests."""

import pytest

from annotation.services import submissions


@pytest.fixture(autouse=True)
def _no_gold_fresh_caches(settings):
    """No gold items interleaved into the queue, and the submissions' per-process caches (criteria, guideline
    version) emptied before and after each test: every test sees only the rows it made."""
    settings.STUDIO_GOLD_EVERY = 0
    submissions.cache_clear()
    yield
    submissions.cache_clear()
