import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from prompts.models import Prompt
from tests.factories import make_prompt

pytestmark = pytest.mark.django_db


def api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def test_create_list_and_duplicates(seeded, annotator, annotator2):
    client = api(annotator)
    response = client.post("/api/prompts/", {"text": "Ile lat ma Wawel?", "category": "qa_polish", "topic": "history"},
                           format="json")
    assert response.status_code == 201, response.content
    assert response.json()["topic"] == "history"
    dup = client.post("/api/prompts/", {"text": "ILE LAT MA WAWEL", "category": "qa_polish"}, format="json")
    assert dup.status_code == 409 and dup.json()["duplicates"][0]["exact"] is True
    kept = client.post("/api/prompts/", {"text": "ILE LAT MA WAWEL", "category": "qa_polish",
                                         "duplicate_reason": "test"}, format="json")
    assert kept.status_code == 201
    make_prompt(text="Pytanie kogoś innego", author=annotator2)
    listed = client.get("/api/prompts/").json()
    assert listed["count"] == 2 and {r["text"] for r in listed["results"]} == {"Ile lat ma Wawel?", "ILE LAT MA WAWEL"}


def test_bad_input_is_400_with_field_errors(seeded, annotator):
    response = api(annotator).post("/api/prompts/", {"text": "", "category": "nope"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) >= {"text", "category"}


def test_import_api_is_admin_only_and_all_or_nothing(seeded, annotator, admin_user):
    body = b"text,category\nDobre pytanie,qa_polish\n,qa_polish\n"
    assert api(annotator).post("/api/prompts/import/", {"file": SimpleUploadedFile("p.csv", body)}).status_code == 403
    response = api(admin_user).post("/api/prompts/import/", {"file": SimpleUploadedFile("p.csv", body)})
    assert response.status_code == 400 and response.json()["errors"][0]["line"] == 3
    assert Prompt.objects.count() == 0
    ok = api(admin_user).post("/api/prompts/import/", {"file": SimpleUploadedFile("p.csv", body[: body.rindex(b",qa")-0].rsplit(b"\n", 1)[0] + b"\n")})
    assert ok.status_code == 201 and ok.json()["created"] == 1


def test_schema_and_docs_need_login(client, annotator, login):
    assert client.get("/api/schema/").status_code in (401, 403)
    logged = login(annotator)
    schema = logged.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/prompts/" in schema.content
    assert logged.get("/api/docs/").status_code == 200
