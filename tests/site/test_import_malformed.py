"""Malformed files through both imports, the way an operator (CLI) and a script (API) meet them.

Every case must be refused all or nothing — non-zero exit naming FILE:LINE, or 400 listing the line — and
write nothing. The suite runs on PostgreSQL in CI and on SQLite with STUDIO_TEST_SQLITE=1: NUL bytes used to
be a DataError on one and stored on the other.
"""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from generation.models import Endpoint, Generation
from prompts.models import Prompt
from tests.factories import make_prompt

# The reasons are asserted in English (the default UI language is Polish, and the messages are translated).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def _jsonl(*rows) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r, ensure_ascii=False).encode()) + b"\n" for r in rows)


GOOD_PROMPT = {"text": "Jak działa fotosynteza?", "category": "qa_global"}

# (name, file name, bytes, the bad line, a phrase of the reason)
PROMPT_CASES = [
    ("csv extra cell", "p.csv", "text,category\nDobre pytanie?,qa_global\nZłe pytanie?,qa_global,nadmiar\n".encode(),
     3, "more cells"),
    ("NUL in text", "p.jsonl", _jsonl(GOOD_PROMPT, {"text": "zł\x00e", "category": "qa_global"}), 2,
     "control character"),
    ("control char in category", "p.jsonl", _jsonl({"text": "Pytanie?", "category": "qa_\x07global"}), 1,
     "control character"),
    ("empty file", "p.jsonl", b"", 1, "empty"),
    ("blank file", "p.csv", b"\n  \n\t\n", 1, "empty"),
    ("too long", "p.jsonl", _jsonl(GOOD_PROMPT, {"text": "a" * 20_001, "category": "qa_global"}), 2, "20000"),
    ("object as text", "p.jsonl", _jsonl({"text": {"a": 1}, "category": "qa_global"}), 1, "must be a string"),
    ("number as text", "p.jsonl", _jsonl({"text": 12, "category": "qa_global"}), 1, "must be a string"),
    ("duplicate id", "p.jsonl", _jsonl({"id": 7, **GOOD_PROMPT}, {"id": 7, "text": "Inne pytanie?",
                                                                 "category": "qa_global"}), 2, "repeats line 1"),
    ("bad encoding on line 3", "p.jsonl",
     _jsonl(GOOD_PROMPT, {"text": "Drugie pytanie?", "category": "qa_global"}) + b'{"text": "\xff\xfe"}\n', 3,
     "UTF-8"),
]


def _api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def _cli(command: str, path: Path) -> str:
    err = StringIO()
    with pytest.raises(CommandError, match="nothing imported"):
        call_command(command, str(path), stdout=StringIO(), stderr=err)
    return err.getvalue()


@pytest.mark.parametrize("name,filename,data,line,phrase", PROMPT_CASES, ids=[c[0] for c in PROMPT_CASES])
def test_malformed_prompt_files_are_refused_by_cli_and_api(
    seeded, admin_user, tmp_path, name, filename, data, line, phrase
):
    path = tmp_path / filename
    path.write_bytes(data)
    stderr = _cli("import_prompts", path)
    assert f"{path}:{line}: " in stderr and phrase in stderr, stderr
    response = _api(admin_user).post(
        "/api/prompts/import/", {"file": SimpleUploadedFile(filename, data)}, format="multipart"
    )
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert any(e["line"] == line and phrase in e["reason"] for e in errors), errors
    assert Prompt.objects.count() == 0


def test_a_good_prompt_file_still_imports(seeded, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(_jsonl({"id": 1, **GOOD_PROMPT}, {"id": 2, "text": "Drugie — żółw?", "category": "qa_global"}))
    out = StringIO()
    call_command("import_prompts", str(path), stdout=out)
    assert "imported 2 prompts" in out.getvalue()
    assert sorted(Prompt.objects.values_list("text", flat=True)) == ["Drugie — żółw?", "Jak działa fotosynteza?"]


def _response_cases(prompt_id: int):
    good = {"prompt_id": prompt_id, "model": "bielik", "response": "Odpowiedź."}
    return [
        ("prompt_id true", _jsonl(good, {**good, "prompt_id": True, "response": "Inna."}), 2, "must be an integer"),
        ("sample_index true", _jsonl({**good, "sample_index": True}), 1, "must be an integer"),
        ("prompt_id string", _jsonl({**good, "prompt_id": str(prompt_id)}), 1, "must be an integer"),
        ("identical lines", _jsonl(good, good), 2, "repeats line 1"),
        ("NUL in model", _jsonl({**good, "model": "bie\x00lik"}), 1, "control character"),
        ("NUL in response", _jsonl({**good, "response": "a\x00b"}), 1, "control character"),
        ("response too long", _jsonl({**good, "response": "x" * 100_001}), 1, "100000"),
        ("object as response", _jsonl({**good, "response": {"a": 1}}), 1, "must be a string"),
        ("unknown field", _jsonl({**good, "respones": "literówka"}), 1, "unknown fields"),
        ("empty file", b"", 1, "empty"),
        ("bad encoding on line 2", _jsonl(good) + b'{"model": "\xc3\x28"}\n', 2, "UTF-8"),
    ]


@pytest.mark.parametrize("case", range(11))
def test_malformed_response_files_are_refused_by_cli_and_api(seeded, admin_user, tmp_path, case):
    prompt = make_prompt(text="Pytanie do odpowiedzi?")
    name, data, line, phrase = _response_cases(prompt.pk)[case]
    path = tmp_path / "r.jsonl"
    path.write_bytes(data)
    endpoints = Endpoint.objects.count()
    stderr = _cli("import_responses", path)
    assert f"{path}:{line}: " in stderr and phrase in stderr, (name, stderr)
    response = _api(admin_user).post(
        "/api/responses/import/", {"file": SimpleUploadedFile("r.jsonl", data)}, format="multipart"
    )
    assert response.status_code == 400, (name, response.content)
    errors = response.json()["errors"]
    assert any(e["line"] == line and phrase in e["reason"] for e in errors), (name, errors)
    assert Generation.objects.count() == 0 and Endpoint.objects.count() == endpoints
