"""Generation pages and API: role × URL matrix, happy paths, wrong methods, htmx partials, escaping."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from generation.models import Campaign, Endpoint, Generation, PrePrompt
from generation.services.campaigns import campaign_create, campaign_start
from tests.factories import make_endpoint, make_generation, make_prompt

XSS = '<script>alert("x")</script>'


@pytest.fixture
def campaign(seeded, admin_user):
    prompt = make_prompt(text=f"Pytanie {XSS}")
    endpoint = make_endpoint("m1", base_url="http://127.0.0.1:9/v1", is_active=True)
    campaign = campaign_create(name=f"Kampania {XSS}", prompt_filter={"ids": [prompt.pk]}, endpoints=[endpoint],
                               preprompts=list(PrePrompt.objects.filter(key__in=["none", "safety"])))
    campaign_start(campaign=campaign)
    failed = Generation.objects.filter(campaign=campaign).first()
    Generation.objects.filter(pk=failed.pk).update(status=Generation.Status.FAILED, error=f"HTTP 400 {XSS}")
    return campaign


def _pages(campaign):
    endpoint = campaign.endpoints.first()
    preprompt = PrePrompt.objects.get(key="safety")
    return [
        reverse("generation:campaigns"),
        reverse("generation:campaign_detail", args=[campaign.pk]),
        reverse("generation:endpoint_list"),
        reverse("generation:endpoint_create"),
        reverse("generation:endpoint_edit", args=[endpoint.pk]),
        reverse("generation:preprompt_list"),
        reverse("generation:preprompt_edit", args=[preprompt.pk]),
        reverse("generation:responses_import"),
        reverse("generation:generations"),
    ]


@pytest.mark.parametrize("role,expected", [("anonymous", 302), ("annotator", 403), ("qa_lead", 403), ("admin", 200)])
def test_page_access_by_role(client, users, campaign, role, expected):
    if users[role]:
        client.force_login(users[role])
    for url in _pages(campaign):
        assert client.get(url).status_code == expected, url


@pytest.mark.parametrize("role", ["anonymous", "annotator", "qa_lead"])
def test_post_actions_refused_without_admin_role(client, users, campaign, role):
    if users[role]:
        client.force_login(users[role])
    generation = Generation.objects.filter(campaign=campaign, status="failed").first()
    posts = [
        reverse("generation:campaign_action", args=[campaign.pk, "pause"]),
        reverse("generation:generation_retry", args=[generation.pk]),
        reverse("generation:endpoint_check", args=[campaign.endpoints.first().pk]),
        reverse("annotation:campaign_assemble", args=[campaign.pk]),
        reverse("annotation:tasks_assemble"),
    ]
    for url in posts:
        assert client.post(url).status_code in (302, 403), url
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.RUNNING
    assert Generation.objects.get(pk=generation.pk).status == Generation.Status.FAILED


def test_wrong_methods(client, admin_user, campaign):
    client.force_login(admin_user)
    assert client.post(reverse("generation:campaign_detail", args=[campaign.pk])).status_code == 405
    assert client.get(reverse("generation:campaign_action", args=[campaign.pk, "pause"])).status_code == 405
    assert client.delete(reverse("generation:campaigns")).status_code == 405
    unknown_action = reverse("generation:campaign_detail", args=[campaign.pk]) + "explode/"
    assert client.post(unknown_action).status_code == 404


def test_campaign_detail_escapes_text_and_polls_with_htmx(client, admin_user, campaign):
    client.force_login(admin_user)
    page = client.get(reverse("generation:campaign_detail", args=[campaign.pk])).content.decode()
    assert XSS not in page and "&lt;script&gt;" in page
    assert 'hx-trigger="every 2s"' in page and "<progress" in page
    partial = client.get(reverse("generation:campaign_detail", args=[campaign.pk]), HTTP_HX_REQUEST="true")
    body = partial.content.decode()
    assert 'id="progress"' in body and "<html" not in body and "Failed generations" not in body


def test_pause_resume_cancel_and_retry_from_the_page(client, admin_user, campaign):
    client.force_login(admin_user)
    url = reverse("generation:campaign_action", args=[campaign.pk, "pause"])
    response = client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'id="progress"' in response.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.PAUSED
    assert client.post(reverse("generation:campaign_action", args=[campaign.pk, "resume"])).status_code == 302
    failed = Generation.objects.get(campaign=campaign, status="failed")
    assert client.post(reverse("generation:generation_retry", args=[failed.pk])).status_code == 302
    failed.refresh_from_db()
    assert failed.status == Generation.Status.PENDING and failed.error == ""
    client.post(reverse("generation:campaign_action", args=[campaign.pk, "cancel"]))
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.CANCELLED


def test_new_campaign_form_keeps_input_on_error_and_creates(client, admin_user, seeded):
    client.force_login(admin_user)
    endpoint = make_endpoint("m1", base_url="http://127.0.0.1:9/v1", is_active=True)
    none = PrePrompt.objects.get(key="none")
    data = {"name": "Pierwsza kampania", "endpoints": [endpoint.pk], "preprompts": [none.pk], "samples": 1,
            "categories": ["qa_polish"]}
    response = client.post(reverse("generation:campaigns"), data)  # no prompts yet
    assert response.status_code == 400
    page = response.content.decode()
    assert "Pierwsza kampania" in page and "no prompts" in page
    make_prompt()
    response = client.post(reverse("generation:campaigns"), {**data, "save_filter_as": "polskie"})
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and campaign.status == Campaign.Status.DRAFT
    assert campaign.prompt_filter == {"categories": ["qa_polish"]}
    response = client.post(reverse("generation:campaigns"), {
        "name": "Druga", "endpoints": [endpoint.pk], "preprompts": [none.pk], "samples": 1,
        "saved_filter": "polskie", "start_now": "on", "max_tokens": 64})
    second = Campaign.objects.get(name="Druga")
    assert second.status == Campaign.Status.RUNNING and second.params == {"max_tokens": 64}
    assert Generation.objects.filter(campaign=second).count() == 1


def test_endpoint_create_validates_and_checks_health(client, admin_user, db):
    client.force_login(admin_user)
    data = {"name": "bielik", "base_url": "http://127.0.0.1:9/v1", "model": "bielik", "api_key_env": "sk-secret!",
            "temperature": 0.3, "top_p": 0.95, "max_tokens": 512, "max_concurrency": 4, "timeout_seconds": 60,
            "supports_system_role": "on", "is_active": "on"}
    response = client.post(reverse("generation:endpoint_create"), data)
    assert response.status_code == 400 and not Endpoint.objects.exists()
    assert "bielik" in response.content.decode()
    response = client.post(reverse("generation:endpoint_create"), {**data, "api_key_env": "BIELIK_KEY",
                                                                  "max_tokens": 4096})
    assert response.status_code == 302
    endpoint = Endpoint.objects.get()
    assert endpoint.api_key_env == "BIELIK_KEY" and endpoint.last_health["ok"] is False
    response = client.post(reverse("generation:endpoint_check", args=[endpoint.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and f'id="health-{endpoint.pk}"' in response.content.decode()


def test_preprompt_edit_creates_a_version(client, admin_user, seeded):
    client.force_login(admin_user)
    safety = PrePrompt.objects.get(key="safety")
    url = reverse("generation:preprompt_edit", args=[safety.pk])
    assert safety.current_version().text in client.get(url).content.decode()
    response = client.post(url, {"name": "Safety", "placement": "prepend", "text": "Nowy tekst."})
    assert response.status_code == 302
    safety.refresh_from_db()
    assert safety.current_version().version == 2 and safety.current_version().text == "Nowy tekst."
    assert safety.placement == "prepend" and safety.versions.get(version=1).text.startswith("Otrzymasz")


def test_responses_import_page_lists_bad_lines(client, admin_user, seeded):
    client.force_login(admin_user)
    prompt = make_prompt()
    bad = SimpleUploadedFile("r.jsonl", b'{"prompt_id": %d, "model": "m"}\n' % prompt.pk)
    response = client.post(reverse("generation:responses_import"), {"file": bad})
    assert response.status_code == 400 and "import-errors" in response.content.decode()
    good = SimpleUploadedFile("r.jsonl", b'{"prompt_id": %d, "model": "m", "response": "ok"}\n' % prompt.pk)
    assert client.post(reverse("generation:responses_import"), {"file": good}).status_code == 302
    assert Generation.objects.filter(imported=True).count() == 1


def test_assemble_from_campaign_page(client, admin_user, seeded):
    client.force_login(admin_user)
    prompt = make_prompt(text="Krótkie pytanie?")
    endpoints = [make_endpoint("a", base_url="http://127.0.0.1:9/v1", is_active=True), make_endpoint("b")]
    for i, key in enumerate(["none", "safety", "verbosity", "incoherence"]):
        make_generation(prompt, endpoints[i % 2], text=f"Odpowiedź numer {i} " + "xyz" * i * 5, preprompt_key=key)
    campaign = Campaign.objects.create(name="c", prompt_filter={"ids": [prompt.pk]})
    response = client.post(reverse("annotation:campaign_assemble", args=[campaign.pk]),
                           {"seed": 5, "rating_min_chars": 600, "rating_min_parts": 6, "overlap": 2})
    assert response.status_code == 302
    assert prompt.tasks.get().task_responses.count() == 4


def test_admin_changelist_escapes_generation_text(client, admin_user, seeded):
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    make_generation(make_prompt(text=f"P {XSS}"), make_endpoint(), text=XSS)
    for name in ["generation", "endpoint", "campaign", "preprompt"]:
        page = client.get(reverse(f"admin:generation_{name}_changelist")).content.decode()
        assert XSS not in page, name


# --- API ---------------------------------------------------------------------------------------------


def _api(user):
    api = APIClient()
    if user:
        api.force_authenticate(user)
    return api


@pytest.mark.parametrize("role", ["anonymous", "annotator", "qa_lead"])
def test_api_refuses_non_admins(users, campaign, role):
    api = _api(users[role])
    for url in [reverse("generation_api:endpoints"), reverse("generation_api:campaigns"), reverse("generation_api:campaign-status", args=[campaign.pk])]:
        assert api.get(url).status_code in (401, 403)
    assert api.post(reverse("generation_api:campaign-pause", args=[campaign.pk])).status_code in (401, 403)
    assert api.post(reverse("generation_api:responses-import")).status_code in (401, 403)
    assert api.post(reverse("annotation_api:tasks-assemble"), {"seed": 1}, format="json").status_code in (401, 403)


def test_api_campaign_lifecycle(admin_user, seeded):
    api = _api(admin_user)
    response = api.post(reverse("generation_api:endpoints"), {"name": "m1", "base_url": "http://127.0.0.1:9/v1", "model": "m1",
                                                   "max_tokens": 2048}, format="json")
    assert response.status_code == 201 and response.json()["last_health"]["ok"] is False
    prompt = make_prompt()
    body = {"name": "api", "prompt_filter": {"ids": [prompt.pk]}, "endpoints": ["m1"],
            "preprompts": ["none", "incorrectness"], "samples": 2, "params": {"max_tokens": 32}}
    response = api.post(reverse("generation_api:campaigns"), body, format="json")
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    assert api.post(reverse("generation_api:campaign-start", args=[pk])).json()["progress"]["total"] == 4
    assert api.post(reverse("generation_api:campaign-pause", args=[pk])).json()["status"] == "paused"
    assert api.post(reverse("generation_api:campaign-pause", args=[pk])).status_code == 409
    assert api.post(reverse("generation_api:campaign-resume", args=[pk])).json()["status"] == "running"
    status = api.get(reverse("generation_api:campaign-status", args=[pk])).json()
    assert status["progress"]["pending"] == 4 and status["preprompts"] == ["none", "incorrectness"]
    assert api.post(reverse("generation_api:campaign-cancel", args=[pk])).json()["progress"]["cancelled"] == 4
    bad = api.post(reverse("generation_api:campaigns"), {**body, "prompt_filter": {"ids": [0]}}, format="json")
    assert bad.status_code == 400 and "no prompts" in bad.json()["detail"]


def test_api_responses_import(admin_user, seeded):
    api = _api(admin_user)
    prompt = make_prompt()
    lines = [{"prompt_id": prompt.pk, "model": "m", "response": "a"}, {"prompt_id": prompt.pk, "model": "m"}]
    upload = SimpleUploadedFile("r.jsonl", "\n".join(json.dumps(x) for x in lines).encode())
    response = api.post(reverse("generation_api:responses-import"), {"file": upload}, format="multipart")
    assert response.status_code == 400 and response.json()["errors"][0]["line"] == 2
    upload = SimpleUploadedFile("r.jsonl", json.dumps(lines[0]).encode())
    response = api.post(reverse("generation_api:responses-import"), {"file": upload}, format="multipart")
    assert response.status_code == 201 and response.json()["created"] == 1
    # One response is not enough for any task: nothing built, nothing to skip (needs two or more).
    response = api.post(reverse("annotation_api:tasks-assemble"), {"seed": 1}, format="json")
    assert response.status_code == 200 and response.json() == {"ranking_items": 0, "rating_pairs": 0, "skipped": []}
    assert api.post(reverse("annotation_api:tasks-assemble"), {"seed": 1, "prompt_filter": {"x": 1}},
                    format="json").status_code == 400


def test_campaigns_page_polls_endpoint_readiness(client, admin_user, db):
    client.force_login(admin_user)
    endpoint = make_endpoint("local", base_url="http://127.0.0.1:9/v1", is_active=True)
    page = client.get(reverse("generation:campaigns")).content.decode()
    assert "part=endpoints" in page and 'hx-trigger="load delay:1s, every 15s"' in page
    response = client.get(reverse("generation:campaigns") + "?part=endpoints", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and 'id="endpoints"' in body and "<html" not in body
    assert Endpoint.objects.get(pk=endpoint.pk).last_health["ok"] is False


def test_assemble_all_after_import(client, admin_user, seeded):
    client.force_login(admin_user)
    prompt = make_prompt(text="Krótkie pytanie?")
    for i, key in enumerate(["none", "safety", "verbosity", "incoherence"]):
        make_generation(prompt, make_endpoint(f"m{i % 2}"), text=f"Odpowiedź numer {i} " + "xyz" * i * 5,
                        preprompt_key=key)
    page = client.get(reverse("generation:responses_import")).content.decode()
    assert reverse("annotation:tasks_assemble") in page
    response = client.post(reverse("annotation:tasks_assemble"), {"seed": 3, "rating_min_chars": 600,
                                                                 "rating_min_parts": 6, "overlap": 2})
    assert response.status_code == 302 and prompt.tasks.get().task_responses.count() == 4
    bad = client.post(reverse("annotation:tasks_assemble"), {"seed": -1})
    assert bad.status_code == 400
