"""API token authentication: one query for token, user and roles; DRF's refusals kept."""

import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core import roles

pytestmark = pytest.mark.django_db

PING = "/api/tasks/ping/"
ADMIN_ONLY = "/api/endpoints/"


def api(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def token(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def test_a_token_call_reads_token_user_and_roles_in_one_query(annotator, django_assert_num_queries):
    client = api(token(annotator))
    with django_assert_num_queries(1):
        response = client.get(PING)
    assert response.status_code == 200 and response.json() == {"user": annotator.pk}


def test_unknown_key_and_inactive_user_are_401(annotator):
    assert api("0" * 40).get(PING).status_code == 401
    key = token(annotator)
    annotator.is_active = False
    annotator.save(update_fields=["is_active"])
    response = api(key).get(PING, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 401 and "inactive" in response.json()["detail"]


def test_roles_come_from_the_groups_read_with_the_token(annotator, qa_lead, admin_user, django_user_model):
    assert api(token(annotator)).get(ADMIN_ONLY).status_code == 403
    assert api(token(qa_lead)).get(PING).status_code == 200  # QA leads may do what annotators may
    assert api(token(qa_lead)).get(ADMIN_ONLY).status_code == 403
    assert api(token(admin_user)).get(ADMIN_ONLY).status_code == 200
    nobody = django_user_model.objects.create_user(username="nikt", password=None)
    assert api(token(nobody)).get(PING).status_code == 403
    superuser = django_user_model.objects.create_superuser(username="root", password=None)
    assert api(token(superuser)).get(ADMIN_ONLY).status_code == 200  # a superuser is an admin without groups
    # two groups: both count (the join gives one row per group)
    nobody.groups.add(Group.objects.get(name=roles.ANNOTATOR), Group.objects.create(name="extra"))
    assert api(token(nobody)).get(PING).status_code == 200
    # a role taken away takes effect on the next call (nothing is cached between requests)
    annotator.groups.clear()
    assert api(token(annotator)).get(PING).status_code == 403
