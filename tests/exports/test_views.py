"""Export pages, API and the export_dataset command: roles, methods, htmx, downloads, bad input."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from exports import services
from exports import writers as W
from exports.models import Export
from tests.factories import make_export_corpus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def export_root(settings, tmp_path: Path) -> Path:
    settings.EXPORT_ROOT = tmp_path / "exports"
    return settings.EXPORT_ROOT


@pytest.fixture
def built(seeded, annotator, annotator2, qa_lead, admin_user) -> Export:
    make_export_corpus([annotator, annotator2], reviewer=qa_lead, n_ranking=3, n_rating_pairs=2, n_dialogs=0)
    export = services.export_create(user=admin_user, name="built", params={"eval_ratio": 0.3}, enqueue=False)
    return services.export_build(export_id=export.pk)


def _urls(export: Export) -> list[tuple[str, str]]:
    return [
        ("get", reverse("exports:list")),
        ("get", reverse("exports:create")),
        ("post", reverse("exports:create")),
        ("get", reverse("exports:detail", args=[export.pk])),
        ("get", reverse("exports:progress", args=[export.pk])),
        ("post", reverse("exports:rebuild", args=[export.pk])),
        ("get", reverse("exports:download", args=[export.pk, "README.md"])),
        ("get", reverse("exports_api:exports")),
        ("post", reverse("exports_api:exports")),
        ("get", reverse("exports_api:export-status", args=[export.pk])),
        ("get", reverse("exports_api:export-files", args=[export.pk])),
        ("get", reverse("exports_api:export-download", args=[export.pk, "README.md"])),
    ]


@pytest.mark.parametrize("role", ["anonymous", "annotator", "qa_lead"])
def test_only_admins_get_in(role, users, built, client):
    if users[role] is not None:
        client.force_login(users[role])
    for method, url in _urls(built):
        response = getattr(client, method)(url)
        if role == "anonymous":
            assert response.status_code in (302, 401, 403), url
            if url.startswith("/exports/"):
                assert response.status_code == 302 and "login" in response["Location"]
        else:
            assert response.status_code == 403, (role, url)
    assert Export.objects.count() == 1


def test_wrong_methods(login, admin_user, built):
    client = login(admin_user)
    assert client.post(reverse("exports:list")).status_code == 405
    assert client.get(reverse("exports:rebuild", args=[built.pk])).status_code == 405
    assert client.post(reverse("exports:download", args=[built.pk, "README.md"])).status_code == 405
    assert client.delete(reverse("exports_api:export-status", args=[built.pk])).status_code == 405


def test_list_and_detail_pages(login, admin_user, built):
    client = login(admin_user)
    page = client.get(reverse("exports:list")).content.decode()
    assert "built" in page and reverse("exports:detail", args=[built.pk]) in page
    detail = client.get(reverse("exports:detail", args=[built.pk])).content.decode()
    assert "preference.train.jsonl" in detail and "manifest.json" in detail
    assert "<table>" in detail and "Ocenianie: #promptów" in detail  # the card's Table 1 (Polish export), rendered
    assert reverse("exports:download", args=[built.pk, "preference.train.parquet"]) in detail
    assert f'id="export-progress-{built.pk}"' in detail and "every 2s" not in detail
    Export.objects.filter(pk=built.pk).update(status=Export.Status.RUNNING)
    running = client.get(reverse("exports:detail", args=[built.pk])).content.decode()
    progress_url = reverse("exports:progress", args=[built.pk])
    assert f'hx-get="{progress_url}"' in running
    assert "Rebuild" not in running and "Zbuduj ponownie" not in running


def test_card_is_rendered_sanitised(login, admin_user, built):
    card = Path(built.directory) / "README.md"
    card.write_text(card.read_text(encoding="utf-8") + '\n<script>alert(1)</script> [x](javascript:alert(2))\n',
                    encoding="utf-8")
    html = login(admin_user).get(reverse("exports:detail", args=[built.pk])).content.decode()
    assert "<script>alert(1)" not in html and 'href="javascript:' not in html
    assert "&lt;script&gt;alert(1)" in html


def test_create_form_queues_an_export(login, admin_user, seeded, django_capture_on_commit_callbacks):
    client = login(admin_user)
    form = client.get(reverse("exports:create")).content.decode()
    assert 'name="ranking_strategy"' in form and 'name="review_status"' in form and 'name="hard_share"' in form
    data = {"name": "Wersja 1", "task_types": ["ranking", "dialog"], "ranking_strategy": "ranking-best-vs-all",
            "dialog_strategy": "dialog-last-turn-one-pair", "rating_threshold": "4.5", "ranking_merge": "borda",
            "rating_merge": "median", "seed": "7", "eval_ratio": "0.1", "keep_reject_hardness": "hard",
            "categories": ["qa_polish", "toxic"], "review_status": "not_rejected", "outputs": ["preference", "kto"],
            "parquet": "on", "sft_cap_per_source": "", "date_from": "2026-01-01"}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("exports:create"), data)
    export = Export.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("exports:detail", args=[export.pk])
    assert len(callbacks) == 1 and export.status == Export.Status.QUEUED and export.created_by == admin_user
    p = export.params
    assert p["ranking_strategy"] == "ranking-best-vs-all" and p["seed"] == 7 and p["rating_merge"] == "median"
    assert p["categories"] == ["qa_polish", "toxic"] and p["task_types"] == ["ranking", "dialog"]
    assert p["keep_reject_hardness"] == ["hard"] and p["sft_cap_per_source"] is None and p["include_gold"] is False
    assert p["date_from"] == "2026-01-01" and p["review_status"] == "not_rejected"


def test_create_form_bad_input_keeps_what_was_typed(login, admin_user, seeded):
    client = login(admin_user)
    response = client.post(reverse("exports:create"), {"name": "Moja <b>nazwa</b>", "eval_ratio": "5",
                                                       "task_types": ["ranking"], "outputs": ["kto"]})
    assert response.status_code == 200 and not Export.objects.exists()
    html = response.content.decode()
    assert "errorlist" in html and 'value="Moja &lt;b&gt;nazwa&lt;/b&gt;"' in html and 'value="5"' in html


def test_progress_fragment_polls_while_running_and_refreshes_when_done(login, admin_user, built):
    client = login(admin_user)
    url = reverse("exports:progress", args=[built.pk])
    assert client.get(url).status_code == 302  # without htmx: the detail page
    Export.objects.filter(pk=built.pk).update(status=Export.Status.RUNNING, progress=0.42)
    running = client.get(url, headers={"HX-Request": "true"})
    html = running.content.decode()
    assert "<html" not in html and 'hx-trigger="every 2s"' in html and "42%" in html
    assert f'href="{reverse("exports:detail", args=[built.pk])}"' in html
    assert "HX-Refresh" not in running
    Export.objects.filter(pk=built.pk).update(status=Export.Status.DONE, progress=1.0)
    done = client.get(url, headers={"HX-Request": "true"})
    assert done["HX-Refresh"] == "true" and "every 2s" not in done.content.decode()
    listing = client.get(reverse("exports:list")).content.decode()
    assert "every 2s" not in listing


def test_download_only_files_in_the_manifest(login, admin_user, built):
    client = login(admin_user)
    directory = Path(built.directory)
    response = client.get(reverse("exports:download", args=[built.pk, "preference.train.jsonl"]))
    assert response.status_code == 200 and b"".join(response.streaming_content) == (
        directory / "preference.train.jsonl"
    ).read_bytes()
    assert "attachment" in response["Content-Disposition"]
    manifest = client.get(reverse("exports:download", args=[built.pk, "manifest.json"]))
    assert json.loads(b"".join(manifest.streaming_content))["files"]
    (directory / "secret.txt").write_text("x", encoding="utf-8")
    for name in ("secret.txt", "..", "...", "%2e%2e%2fsettings.py", "..%2F..%2Fconfig%2Fsettings.py"):
        assert client.get(f"/exports/{built.pk}/files/{name}").status_code == 404, name
    Export.objects.filter(pk=built.pk).update(status=Export.Status.RUNNING)
    assert client.get(reverse("exports:download", args=[built.pk, "README.md"])).status_code == 404


def test_rebuild_button_queues_the_same_export(login, admin_user, built, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = login(admin_user).post(reverse("exports:rebuild", args=[built.pk]))
    assert response.status_code == 302 and len(callbacks) == 1
    assert Export.objects.get(pk=built.pk).status == Export.Status.QUEUED


def test_api_create_status_files_download(login, admin_user, built, django_capture_on_commit_callbacks):
    client = login(admin_user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        created = client.post(reverse("exports_api:exports"), {"name": "api", "params": {"seed": 3, "task_types": ["rating"]}},
                              content_type="application/json")
    assert created.status_code == 201 and len(callbacks) == 1
    assert created.json()["status"] == "queued" and created.json()["params"]["seed"] == 3
    bad = client.post(reverse("exports_api:exports"), {"name": "api", "params": {"eval_ratio": 3}},
                      content_type="application/json")
    assert bad.status_code == 400 and "params" in bad.json()
    assert client.post(reverse("exports_api:exports"), {"params": {}}, content_type="application/json").status_code == 400
    status = client.get(reverse("exports_api:export-status", args=[built.pk])).json()
    assert status["status"] == "done" and status["progress"] == 1.0 and status["manifest_sha256"]
    files = client.get(reverse("exports_api:export-files", args=[built.pk])).json()
    names = {f["name"] for f in files}
    assert {"README.md", "manifest.json", "preference.train.jsonl", "scores.jsonl"} <= names
    readme = next(f for f in files if f["name"] == "README.md")
    body = b"".join(client.get(readme["url"]).streaming_content)
    assert W.hashlib.sha256(body).hexdigest() == readme["sha256"]
    assert client.get(reverse("exports_api:export-download", args=[built.pk, "nope.txt"])).status_code == 404
    assert client.get(reverse("exports_api:export-status", args=[999999])).status_code == 404
    listed = client.get(reverse("exports_api:exports")).json()
    assert {e["name"] for e in listed} == {"built", "api"}


def test_command_builds_synchronously_and_prints_the_path(seeded, annotator, annotator2, qa_lead, export_root):
    make_export_corpus([annotator, annotator2], reviewer=qa_lead, n_ranking=3, n_rating_pairs=2, n_dialogs=0)
    out, err = StringIO(), StringIO()
    call_command("export_dataset", "--name", "cli", "--task-types", "ranking,rating", "--no-parquet",
                 "--ranking-strategy", "ranking-best-vs-all", "--annotators", annotator.username, "--seed", "5",
                 "--eval-ratio", "0.2", "--review-status", "not_rejected", "--no-sft-cap", "--outputs",
                 "preference,kto,scores", stdout=out, stderr=err)
    path = Path(out.getvalue().strip())
    export = Export.objects.get()
    assert path == export_root / str(export.pk) and (path / "manifest.json").is_file()
    assert not list(path.glob("*.parquet")) and not list(path.glob("sft.*"))
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parameters"]["ranking_strategy"] == "ranking-best-vs-all"
    assert manifest["parameters"]["filters"]["annotators"] == [annotator.pk]
    assert manifest["parameters"]["sft_cap_per_source"] is None and manifest["parameters"]["seed"] == 5
    with pytest.raises(CommandError, match="eval_ratio"):
        call_command("export_dataset", "--eval-ratio", "1.5", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="unknown annotator"):
        call_command("export_dataset", "--annotators", "nobody", stdout=StringIO(), stderr=StringIO())


def test_django_admin_lists_exports_read_only_and_escaped(login, admin_user, db):
    Export.objects.create(name="<script>alert(1)</script>", params={})
    admin_user.is_superuser = True  # the Django admin goes by Django permissions
    admin_user.save(update_fields=["is_superuser"])
    client = login(admin_user)
    page = client.get(reverse("admin:exports_export_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert client.get(reverse("admin:exports_export_add")).status_code == 403
