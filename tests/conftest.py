"""Shared fixtures: seeded taxonomy, one fixed user per role, small factories.

Tests run against DATABASE_URL (PostgreSQL in CI) or the SQLite default.
"""

import pytest

from core import roles

pytest_plugins = ["tests.vllm_plugin", "tests.browser"]

PASSWORD = "correct-horse-battery-staple-7"  # noqa: S105 - test users only


@pytest.fixture(scope="session", autouse=True)
def _empty_cache_per_run():
    """The default cache is a directory under $STUDIO_VAR_DIR, shared by processes (config/settings.py), so it
    outlives a test run: each run starts from an empty one, as it did with a per-process cache."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def seeded(db):
    from home.seeding import reference_seed

    reference_seed()


def _user(django_user_model, username, role):
    user = django_user_model.objects.create_user(username=username, email=f"{username}@example.com", password=PASSWORD)
    roles.set_role(user, role)
    return user


@pytest.fixture
def annotator(db, django_user_model):
    return _user(django_user_model, "ania", roles.ANNOTATOR)


@pytest.fixture
def annotator2(db, django_user_model):
    return _user(django_user_model, "bartek", roles.ANNOTATOR)


@pytest.fixture
def qa_lead(db, django_user_model):
    return _user(django_user_model, "celina", roles.QA_LEAD)


@pytest.fixture
def admin_user(db, django_user_model):
    return _user(django_user_model, "dorota", roles.ADMIN)


@pytest.fixture
def users(annotator, annotator2, qa_lead, admin_user):
    return {"anonymous": None, "annotator": annotator, "qa_lead": qa_lead, "admin": admin_user}


@pytest.fixture
def english(settings):
    """Messages asserted in English (the default UI language is Polish): the test's own thread and every request
    of the test client. Autouse for the dialog tests (tests/dialogs/conftest.py); elsewhere, per module."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def login(client):
    def _login(user):
        client.force_login(user)
        return client

    return _login
