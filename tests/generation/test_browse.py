"""Generated texts browser and the campaign form's prompt selection with its count preview."""

import pytest
from django.urls import reverse

from generation import selectors
from generation.models import Campaign, Generation, PrePrompt
from tests.factories import make_endpoint, make_generation, make_prompt

XSS = '<script>alert("x")</script>'


@pytest.fixture
def texts(seeded):
    a, b = make_endpoint("model-a"), make_endpoint("model-b")
    p1, p2 = make_prompt(text="Pierwsze pytanie"), make_prompt(text="Drugie pytanie")
    rows = [
        make_generation(p1, a, text=f"Odpowiedź A {XSS}"),
        make_generation(p1, b, text="Odpowiedź B", preprompt_key="safety"),
        make_generation(p2, a, text="Odpowiedź C"),
    ]
    Generation.objects.filter(pk=rows[1].pk).update(echoes_preprompt=True)
    campaign = Campaign.objects.create(name="k1", prompt_filter={"ids": [p1.pk]})
    Generation.objects.filter(pk__in=[rows[0].pk, rows[1].pk]).update(campaign=campaign)
    return {"rows": rows, "campaign": campaign, "prompts": (p1, p2), "endpoints": (a, b)}


def _ids(response):
    return [g.pk for g in response.context["page"]]


def test_browse_filters_and_escapes(client, admin_user, texts):
    client.force_login(admin_user)
    url = reverse("generation:generations")
    rows = texts["rows"]
    response = client.get(url)
    assert response.status_code == 200 and set(_ids(response)) == {r.pk for r in rows}
    body = response.content.decode()
    assert XSS not in body and "&lt;script&gt;" in body
    assert _ids(client.get(url, {"campaign": texts["campaign"].pk})) == [rows[1].pk, rows[0].pk]
    assert _ids(client.get(url, {"prompt": texts["prompts"][1].pk})) == [rows[2].pk]
    assert _ids(client.get(url, {"endpoint": texts["endpoints"][1].pk})) == [rows[1].pk]
    assert _ids(client.get(url, {"preprompt": PrePrompt.objects.get(key="safety").pk})) == [rows[1].pk]
    assert _ids(client.get(url, {"echo": "yes"})) == [rows[1].pk]
    assert set(_ids(client.get(url, {"echo": "no"}))) == {rows[0].pk, rows[2].pk}
    assert _ids(client.get(url, {"q": "Odpowiedź C"})) == [rows[2].pk]


def test_browse_htmx_partial_and_pagination(client, admin_user, texts, monkeypatch):
    from generation import views

    monkeypatch.setattr(views, "GENERATIONS_PAGE_SIZE", 2)
    client.force_login(admin_user)
    url = reverse("generation:generations")
    partial = client.get(url, {"page": 2}, headers={"HX-Request": "true"})
    body = partial.content.decode()
    assert "<html" not in body and 'id="results"' in body and body.count('id="generation-') == 1


@pytest.mark.parametrize("role,expected", [("anonymous", 302), ("annotator", 403), ("qa_lead", 403)])
def test_browse_roles_without_access(client, users, texts, role, expected):
    if users[role]:
        client.force_login(users[role])
    assert client.get(reverse("generation:generations")).status_code == expected


def test_browse_wrong_method(client, admin_user, texts):
    client.force_login(admin_user)
    assert client.post(reverse("generation:generations")).status_code == 405


def test_campaign_preview_counts_new_generations_and_creates_nothing(client, admin_user, texts):
    client.force_login(admin_user)
    p1, p2 = texts["prompts"]
    live = make_endpoint("live", base_url="http://127.0.0.1:9/v1", is_active=True)
    make_generation(p1, live, text="Już jest")  # one combination exists: not made again
    none = PrePrompt.objects.get(key="none")
    safety = PrePrompt.objects.get(key="safety")
    form = {"name": "podgląd", "prompt_ids": f"{p1.pk}, {p2.pk}", "endpoints": [live.pk],
            "preprompts": [none.pk, safety.pk], "samples": 2, "action": "preview"}
    response = client.post(reverse("generation:campaigns"), form)
    assert response.status_code == 200
    preview = response.context["preview"]
    assert (preview.prompts, preview.combinations, preview.existing, preview.new) == (2, 8, 1, 7)
    assert 'id="campaign-preview"' in response.content.decode()
    assert not Campaign.objects.filter(name="podgląd").exists()
    form.update(action="create", start_now="")
    assert client.post(reverse("generation:campaigns"), form).status_code == 302
    assert Campaign.objects.get(name="podgląd").prompt_filter == {"ids": sorted([p1.pk, p2.pk])}


@pytest.mark.parametrize("raw,ok", [("1 2,3", True), ("4-6", True), ("6-4", False), ("x", False), ("1-999999", False)])
def test_campaign_prompt_ids_parsing(seeded, raw, ok):
    from generation.forms import CampaignForm

    form = CampaignForm(data={"prompt_ids": raw})
    form.is_valid()
    assert ("prompt_ids" not in form.errors) is ok


def test_campaign_preview_selector_without_models(seeded, texts):
    preview = selectors.campaign_preview(prompt_filter={}, endpoints=[], preprompts=[], samples=1)
    assert preview.prompts >= 2 and preview.combinations == 0 and preview.new == 0


def test_endpoint_form_states_its_limits(client, admin_user, seeded):
    client.force_login(admin_user)
    body = client.get(reverse("generation:endpoint_create")).content.decode()
    assert 'id="endpoint-limits"' in body and "16384" in body
