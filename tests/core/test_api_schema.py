"""The OpenAPI schema lists every status an operation answers with, and odd ids are 404/400, never 500.

scripts/fuzz_api.py checks the same against a running server with schemathesis (scripts/test.sh, so CI);
these are the fast checks of what it found.
"""

import pytest
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.services import assignment
from core.converters import MAX_ID

pytestmark = pytest.mark.django_db

TOO_BIG = MAX_ID + 1  # a number no primary key can be: it used to reach the database and fail there (500)


def api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def test_schema_is_valid_openapi_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_every_operation_documents_success_and_the_shared_errors():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert schema["paths"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert any(code.startswith("2") for code in codes), (method, path)
            assert {"400", "401", "403"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
                ids = [p for p in operation["parameters"] if p["in"] == "path" and p["schema"]["type"] == "integer"]
                assert all(p["schema"]["maximum"] == MAX_ID for p in ids), (method, path)


def test_paginated_lists_are_documented_as_pages():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path in ("/api/prompts/", "/api/campaigns/"):
        operation = schema["paths"][path]["get"]
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert set(schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]) >= {"count", "results"}
        assert {p["name"] for p in operation["parameters"]} >= {"limit", "offset"}


def test_ids_no_database_holds_are_404_in_urls_and_400_in_bodies(annotator, qa_lead):
    assert api(annotator).post(f"/api/tasks/{TOO_BIG}/release/").status_code == 404
    assert api(annotator).post(f"/api/tasks/{TOO_BIG}/ranking/", {}, format="json").status_code == 404
    assert api(qa_lead).get(f"/api/dialogs/{TOO_BIG}/").status_code == 404
    listed = api(qa_lead).get("/api/qa/reviews/", {"target_kind": "dialog", "target_id": TOO_BIG})
    assert listed.status_code == 400 and "target_id" in listed.json()
    decided = api(qa_lead).post("/api/qa/reviews/decide/", {"target_kind": "dialog", "target_id": TOO_BIG,
                                                            "decision": "approve"}, format="json")
    assert decided.status_code == 400 and "target_id" in decided.json()


def test_pages_take_any_limit_and_offset(annotator):
    for query in ({"limit": 10**30}, {"offset": 10**30}, {"limit": 10**30, "offset": 10**30}, {"limit": -5}):
        response = api(annotator).get("/api/prompts/", query)
        assert response.status_code == 200 and response.json()["results"] == [], query


def test_claim_services_refuse_ids_no_database_holds(annotator):
    """The pages reach these services with `<int:task_id>`, which takes any number of digits."""
    with pytest.raises(assignment.ClaimNotHeld):
        assignment.claim_release(annotator=annotator, task_id=TOO_BIG)
    with pytest.raises(assignment.ClaimNotHeld):
        assignment.claim_lock_for_submit(annotator=annotator, task_id=TOO_BIG)


def test_feedback_naming_nobody_is_a_field_error(qa_lead):
    response = api(qa_lead).post("/api/qa/feedback/", {"to_user": 10**9, "text": "Brawo", "task": TOO_BIG},
                                 format="json")
    assert response.status_code == 400 and {"to_user", "task"} <= set(response.json())


def test_each_role_sees_only_the_operations_it_may_call(annotator, qa_lead, admin_user):
    """/api/schema/ (and the docs built from it) is filtered by the caller's permissions."""

    def operations(user) -> set[tuple[str, str]]:
        response = api(user).get("/api/schema/", {"format": "json"})
        assert response.status_code == 200
        return {(m, p) for p, ops in response.json()["paths"].items() for m in ops}

    mine, lead, admin = operations(annotator), operations(qa_lead), operations(admin_user)
    assert ("post", "/api/tasks/next/") in mine and ("get", "/api/prompts/") in mine
    assert not {p for _, p in mine if p.startswith(("/api/endpoints/", "/api/campaigns/", "/api/exports/"))}
    assert not {p for _, p in mine if p.startswith("/api/qa/")}
    assert {p for _, p in lead if p.startswith("/api/qa/")} and not {p for _, p in lead if p.startswith("/api/endpoints/")}
    assert mine < admin and {p for _, p in admin if p.startswith("/api/endpoints/")}
    assert APIClient().get("/api/schema/").status_code in (401, 403)
