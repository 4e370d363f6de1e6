"""Home, rating and ranking pages and the task API: happy paths, refusals, roles, methods, escaping."""

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from annotation.models import Claim, Ranking, Rating, TaskKind
from annotation.services import assignment
from qa.models import Feedback
from tests.annotation.support import SCORES
from tests.factories import make_prompt, make_ranking_task, make_rating_task

HOSTILE = '<script>alert(1)</script> <img src=x onerror="alert(2)"> [klik](javascript:alert(3))'


@pytest.fixture
def norole(db):
    return get_user_model().objects.create_user(username="nobody", password="x-123456789")


def rating_form(sid=None, **scores):
    data = {f"score_{k}": v for k, v in {**SCORES, **scores}.items()}
    data.update(submission_id=str(sid or uuid.uuid4()), comment="", time_ms="1200")
    return data


# --------------------------------------------------------------------------------------------------
# Home
# --------------------------------------------------------------------------------------------------

def test_home_shows_counts_totals_and_feedback(seeded, login, annotator, annotator2, qa_lead):
    make_rating_task()
    make_rating_task(author=annotator)  # own prompt: not offered
    make_ranking_task()
    Feedback.objects.create(to_user=annotator, from_user=qa_lead, text="Uwaga: <b>fakty</b>!")
    Feedback.objects.create(to_user=annotator2, from_user=qa_lead, text="Not yours")
    client = login(annotator)
    response = client.get(reverse("home:home"))
    assert response.status_code == 200
    assert response.context["available"] == {"rating": 1, "ranking": 1}
    body = response.content.decode()
    assert "Uwaga: &lt;b&gt;fakty&lt;/b&gt;!" in body
    assert "Not yours" not in body
    assert 'href="/dialogs/"' in body and reverse("prompts:prompt_create") in body
    assert client.post(reverse("home:home")).status_code == 405


def test_home_requires_login(client):
    response = client.get(reverse("home:home"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_feedback_mark_read_plain_and_htmx(seeded, login, annotator, annotator2, qa_lead):
    mine = Feedback.objects.create(to_user=annotator, from_user=qa_lead, text="A")
    other = Feedback.objects.create(to_user=annotator2, from_user=qa_lead, text="B")
    client = login(annotator)
    assert client.get(reverse("home:feedback_read", args=[mine.pk])).status_code == 405
    assert client.post(reverse("home:feedback_read", args=[other.pk])).status_code == 404
    response = client.post(reverse("home:feedback_read", args=[mine.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert f'id="feedback-{mine.pk}"' in response.content.decode()
    assert "<html" not in response.content.decode()
    mine.refresh_from_db()
    assert mine.read_at is not None
    assert client.post(reverse("home:feedback_read", args=[mine.pk])).status_code == 302


# --------------------------------------------------------------------------------------------------
# Rating pages
# --------------------------------------------------------------------------------------------------

def test_rating_flow_claim_rate_and_next(seeded, login, annotator):
    first = make_rating_task(text=HOSTILE)
    second = make_rating_task()
    client = login(annotator)
    assert client.get(reverse("annotation:rating_next")).status_code == 405
    response = client.post(reverse("annotation:rating_next"))
    assert response["Location"] == reverse("annotation:rating_item", args=[first.id])
    page = client.get(response["Location"]).content.decode()
    assert "<script>alert(1)" not in page and "<img" not in page and 'href="javascript' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown as text
    response = client.post(reverse("annotation:rating_item", args=[first.id]), rating_form())
    assert response.status_code == 302
    assert response["Location"] == reverse("annotation:rating_item", args=[second.id])
    row = Rating.objects.get(task=first)
    assert row.scores == SCORES and row.time_ms == 1200


def test_rating_errors_keep_what_was_typed(seeded, login, annotator):
    task = make_rating_task()
    client = login(annotator)
    client.post(reverse("annotation:rating_next"))
    data = rating_form(safety="")
    data["comment"] = "mój komentarz <i>"
    response = client.post(reverse("annotation:rating_item", args=[task.id]), data)
    assert response.status_code == 400
    body = response.content.decode()
    assert "mój komentarz &lt;i&gt;" in body
    assert 'name="score_truthfulness" value="5" checked' in body
    assert data["submission_id"] in body  # the retry keeps its id
    assert not Rating.objects.exists()


def test_rating_double_post_stores_one_row(seeded, login, annotator):
    task = make_rating_task()
    client = login(annotator)
    client.post(reverse("annotation:rating_next"))
    data = rating_form()
    assert client.post(reverse("annotation:rating_item", args=[task.id]), data).status_code == 302
    assert client.post(reverse("annotation:rating_item", args=[task.id]), data).status_code == 302
    assert Rating.objects.count() == 1


def test_rating_skip_needs_a_reason(seeded, login, annotator):
    task = make_rating_task()
    client = login(annotator)
    client.post(reverse("annotation:rating_next"))
    data = {"submission_id": str(uuid.uuid4()), "action": "skip", "skip_reason": ""}
    assert client.post(reverse("annotation:rating_item", args=[task.id]), data).status_code == 400
    data["skip_reason"] = "cannot_fact_check"
    assert client.post(reverse("annotation:rating_item", args=[task.id]), data).status_code == 302
    assert Rating.objects.get().skip_reason == "cannot_fact_check"


def test_an_item_held_by_someone_else_is_not_visible(seeded, login, annotator, annotator2):
    task = make_rating_task()
    assignment.task_claim_next(annotator=annotator2, kind=TaskKind.RATING)
    client = login(annotator)
    assert client.get(reverse("annotation:rating_item", args=[task.id])).status_code == 404
    assert client.post(reverse("annotation:rating_item", args=[task.id]), rating_form()).status_code == 404
    assert not Rating.objects.exists()


def test_revision_through_the_page(seeded, login, annotator):
    task = make_rating_task()
    client = login(annotator)
    client.post(reverse("annotation:rating_next"))
    client.post(reverse("annotation:rating_item", args=[task.id]), rating_form())
    page = client.get(reverse("annotation:rating_item", args=[task.id]))
    assert page.status_code == 200 and page.context["revisable"]
    assert client.post(reverse("annotation:rating_item", args=[task.id]), rating_form(safety=2)).status_code == 302
    assert list(Rating.objects.filter(task=task).order_by("revision").values_list("is_current", flat=True)) == [
        False, True,
    ]


@pytest.mark.parametrize("who,expected", [("anonymous", 302), ("norole", 403)])
def test_task_pages_need_the_annotator_role(seeded, client, norole, who, expected):
    task = make_rating_task()
    if who == "norole":
        client.force_login(norole)
    for url in (reverse("annotation:rating_next"), reverse("annotation:ranking_next"), reverse("annotation:claim_release", args=[task.id])):
        assert client.post(url).status_code == expected
    for url in (reverse("annotation:rating_item", args=[task.id]), reverse("annotation:ranking_item", args=[task.id])):
        assert client.get(url).status_code == expected


def test_release_through_the_page(seeded, login, annotator):
    task = make_rating_task(overlap=1)
    client = login(annotator)
    client.post(reverse("annotation:rating_next"))
    assert client.post(reverse("annotation:claim_release", args=[task.id])).status_code == 302
    assert Claim.objects.get().status == Claim.Status.RELEASED
    assert client.post(reverse("annotation:claim_release", args=[task.id])).status_code == 404


# --------------------------------------------------------------------------------------------------
# Ranking pages
# --------------------------------------------------------------------------------------------------

def test_ranking_without_javascript_uses_rank_selects(seeded, login, annotator):
    task = make_ranking_task()
    client = login(annotator)
    client.post(reverse("annotation:ranking_next"))
    claim = Claim.objects.get()
    shown = claim.display_order
    data = {"submission_id": str(uuid.uuid4())}
    for position, rid in enumerate(reversed(shown), start=1):
        data[f"rank_{rid}"] = str(position)
        data[f"hardness_{rid}"] = "hard" if position == 4 else "soft"
    response = client.post(reverse("annotation:ranking_item", args=[task.id]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    row = Ranking.objects.get()
    assert row.order == list(reversed(shown))
    assert row.hardness[str(shown[0])] == "hard"
    assert str(shown[-1]) not in row.hardness  # the best one is not rejected


def test_ranking_tied_ranks_are_refused_with_input_kept(seeded, login, annotator):
    task = make_ranking_task()
    client = login(annotator)
    client.post(reverse("annotation:ranking_next"))
    shown = Claim.objects.get().display_order
    data = {"submission_id": str(uuid.uuid4()), "comment": "remis"}
    for rid in shown:
        data[f"rank_{rid}"] = "1"
    response = client.post(reverse("annotation:ranking_item", args=[task.id]), data)
    assert response.status_code == 400
    assert "remis" in response.content.decode()
    assert not Ranking.objects.exists()


def test_ranking_page_escapes_hostile_text_and_shows_tiebreak(seeded, login, annotator):
    prompt = make_prompt(text=HOSTILE + " prompt")
    task = make_ranking_task(prompt=prompt, texts=[HOSTILE, "b", "c", "d"])
    client = login(annotator)
    client.post(reverse("annotation:ranking_next"))
    response = client.get(reverse("annotation:ranking_item", args=[task.id]))
    body = response.content.decode()
    assert "<script>alert(1)" not in body
    assert "<img" not in body
    assert 'href="javascript' not in body
    assert 'id="tiebreak"' in body
    assert "response-texts" in body  # raw texts for copy-and-edit, as JSON, escaped


def test_ranking_custom_answer_through_the_page(seeded, login, annotator):
    task = make_ranking_task()
    client = login(annotator)
    client.post(reverse("annotation:ranking_next"))
    shown = Claim.objects.get().display_order
    data = {
        "submission_id": str(uuid.uuid4()),
        "order": ",".join(map(str, shown)),
        "all_unacceptable": "on",
        "custom_text": "Własna odpowiedź.",
        "custom_from": str(shown[1]),
        f"hardness_{shown[0]}": "hard",
        "order_confirmed_unchanged": "on",
    }
    assert client.post(reverse("annotation:ranking_item", args=[task.id]), data).status_code == 302
    row = Ranking.objects.get()
    assert row.custom_text == "Własna odpowiedź." and row.custom_from_id == shown[1]
    assert row.hardness[str(shown[0])] == "hard"


# --------------------------------------------------------------------------------------------------
# API
# --------------------------------------------------------------------------------------------------

def api_claim(client, kind="rating"):
    return client.post("/api/tasks/next/", {"kind": kind}, content_type="application/json")


def test_api_claim_submit_replay(seeded, login, annotator):
    task = make_rating_task()
    client = login(annotator)
    response = api_claim(client)
    assert response.status_code == 200
    item = response.json()
    assert item["task_id"] == task.id and len(item["responses"]) == 1 and item["kind"] == "rating"
    payload = {"submission_id": str(uuid.uuid4()), "scores": SCORES, "time_ms": 5000}
    url = f"/api/tasks/{task.id}/rating/"
    first = client.post(url, payload, content_type="application/json")
    again = client.post(url, payload, content_type="application/json")
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert Rating.objects.count() == 1
    assert api_claim(client).status_code == 204


def test_api_refuses_items_held_by_others_and_bad_input(seeded, login, annotator, annotator2):
    task = make_rating_task()
    assignment.task_claim_next(annotator=annotator2, kind=TaskKind.RATING)
    client = login(annotator)
    url = f"/api/tasks/{task.id}/rating/"
    response = client.post(url, {"submission_id": str(uuid.uuid4()), "scores": SCORES}, content_type="application/json")
    assert response.status_code == 409
    client2 = login(annotator2)
    response = client2.post(url, {"submission_id": "nope", "scores": SCORES}, content_type="application/json")
    assert response.status_code == 400
    response = client2.post(
        url, {"submission_id": str(uuid.uuid4()), "scores": {**SCORES, "safety": 9}}, content_type="application/json"
    )
    assert response.status_code == 400 and "score_safety" in response.json()
    assert not Rating.objects.exists()


def test_api_ranking_and_release(seeded, login, annotator):
    task = make_ranking_task()
    other = make_ranking_task()
    client = login(annotator)
    item = api_claim(client, "ranking").json()
    ids = [r["id"] for r in item["responses"]]
    assert [r["label"] for r in item["responses"]] == ["A", "B", "C", "D"]
    payload = {"submission_id": str(uuid.uuid4()), "order": ids[::-1], "hardness": {str(ids[0]): "hard"}}
    assert client.post(f"/api/tasks/{task.id}/ranking/", payload, content_type="application/json").status_code == 201
    assert api_claim(client, "ranking").json()["task_id"] == other.id
    assert client.post(f"/api/tasks/{other.id}/release/").status_code == 204
    assert client.post(f"/api/tasks/{other.id}/release/").status_code == 409


def test_api_needs_an_annotator(seeded, client, norole):
    assert api_claim(client).status_code in (401, 403)
    client.force_login(norole)
    assert api_claim(client).status_code == 403


def test_api_submit_with_next_returns_the_next_item_and_replays_it(seeded, login, annotator):
    first, second = make_rating_task(), make_rating_task()
    client = login(annotator)
    assert api_claim(client).json()["task_id"] == first.id
    payload = {"submission_id": str(uuid.uuid4()), "scores": SCORES, "next": True}
    response = client.post(f"/api/tasks/{first.id}/rating/", payload, content_type="application/json")
    assert response.status_code == 201
    assert response.json()["next"]["task_id"] == second.id
    again = client.post(f"/api/tasks/{first.id}/rating/", payload, content_type="application/json")
    assert again.status_code == 200 and again.json()["next"]["task_id"] == second.id  # resumed, not a new claim
    assert Claim.objects.filter(annotator=annotator).count() == 2
    payload = {"submission_id": str(uuid.uuid4()), "scores": SCORES, "next": True}
    last = client.post(f"/api/tasks/{second.id}/rating/", payload, content_type="application/json")
    assert last.status_code == 201 and last.json()["next"] is None
