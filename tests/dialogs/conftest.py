"""Fixtures of the live dialog tests."""

import pytest


@pytest.fixture(autouse=True)
def english(settings):
    """Messages are asserted in English (the default UI language is Polish)."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield
