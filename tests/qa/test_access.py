"""Role × URL matrix for every QA page and API endpoint: annotators get 403, QA leads and admins get in,
anonymous visitors are sent to the login page (HTML) or refused (API); wrong methods get 405."""

import pytest
from django.urls import reverse

from tests.factories import make_qa_ranking, make_qa_ranking_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def objects(seeded, annotator):
    task, ids = make_qa_ranking_task()
    ranking = make_qa_ranking(task, annotator, ids, custom_text="Moja odpowiedź")
    return {"task": task, "ranking": ranking}


def _pages(objects):
    task, ranking = objects["task"], objects["ranking"]
    return [
        ("get", reverse("qa:dashboard")),
        ("get", reverse("qa:chart_csv", args=["alpha"])),
        ("get", reverse("qa:reviews")),
        ("get", reverse("qa:review_queue", args=["custom"])),
        ("get", reverse("qa:review_queue", args=["identical"])),
        ("get", reverse("qa:review_queue", args=["low_winner"])),
        ("get", reverse("qa:review_queue", args=["dialogs"])),
        ("get", reverse("qa:review_item", args=["ranking", ranking.id])),
        ("get", reverse("qa:gold")),
        ("get", reverse("qa:gold_edit", args=[task.id])),
        ("get", reverse("qa:feedback")),
        ("get", reverse("qa:coverage")),
        ("get", reverse("qa:coverage_csv")),
    ]


def _posts(objects):
    task, ranking = objects["task"], objects["ranking"]
    return [
        reverse("qa:review_item", args=["ranking", ranking.id]),
        reverse("qa:gold_edit", args=[task.id]),
        reverse("qa:feedback"),
    ]


def _api(objects):
    task, ranking = objects["task"], objects["ranking"]
    return [
        ("get", reverse("qa_api:qa-agreement")),
        ("get", reverse("qa_api:qa-coverage")),
        ("get", reverse("qa_api:qa-reviews") + f"?target_kind=ranking&target_id={ranking.id}"),
        ("post", reverse("qa_api:qa-review-decide")),
        ("post", reverse("qa_api:qa-gold", args=[task.id])),
        ("post", reverse("qa_api:qa-feedback")),
    ]


def test_anonymous_is_sent_to_login(client, objects):
    for method, url in _pages(objects):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert reverse("account_login") in response["Location"], url
    for method, url in _api(objects):
        assert getattr(client, method)(url).status_code in (401, 403), url


def test_annotator_gets_403_everywhere(login, annotator, objects):
    client = login(annotator)
    for method, url in _pages(objects):
        assert getattr(client, method)(url).status_code == 403, url
    for url in _posts(objects):
        assert client.post(url, {"decision": "approve"}).status_code == 403, url
    for method, url in _api(objects):
        assert getattr(client, method)(url, content_type="application/json").status_code == 403, url


@pytest.mark.parametrize("role", ["qa_lead", "admin"])
def test_qa_lead_and_admin_get_in(users, login, objects, role):
    client = login(users[role])
    for method, url in _pages(objects):
        assert getattr(client, method)(url).status_code == 200, url
    for method, url in _api(objects):
        if method == "get":
            assert client.get(url).status_code == 200, url


def test_wrong_methods_get_405(login, qa_lead, objects):
    client = login(qa_lead)
    for _method, url in _pages(objects):
        if url in _posts(objects) or url == reverse("qa:coverage"):
            assert client.put(url).status_code == 405, url
        else:
            assert client.post(url).status_code == 405, url
    assert client.get(reverse("qa_api:qa-review-decide")).status_code == 405
    assert client.delete(reverse("qa_api:qa-feedback")).status_code == 405


def test_unknown_objects_are_404(login, qa_lead, objects):
    client = login(qa_lead)
    assert client.get(reverse("qa:review_item", args=["ranking", 999999])).status_code == 404
    assert client.get(reverse("qa:review_item", args=["nonsense", 1])).status_code == 404
    assert client.get(reverse("qa:review_queue", args=["nonsense"])).status_code == 404
    assert client.get(reverse("qa:chart_csv", args=["nonsense"])).status_code == 404
    assert client.get(reverse("qa:gold_edit", args=[999999])).status_code == 404


def test_only_admins_set_coverage_targets(login, qa_lead, admin_user, seeded):
    from prompts.models import Topic

    topic = Topic.objects.filter(categories__isnull=False).first()
    data = {"topic": topic.id, "target": 40}
    assert login(qa_lead).post(reverse("qa:coverage"), data).status_code == 403
    topic.refresh_from_db()
    assert topic.target != 40
    response = login(admin_user).post(reverse("qa:coverage"), data)
    assert response.status_code == 302
    topic.refresh_from_db()
    assert topic.target == 40
