"""Fixtures of the live dialog tests."""

import pytest


@pytest.fixture(autouse=True)
def _english(english):
    """Every dialog test asserts its messages in English (`english` is in tests/conftest.py)."""
