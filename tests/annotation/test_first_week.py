"""First-week UX: queue position, previous item, ranking confirmation and skip, the reasons behind empty
queues and skipped prompts, feedback badge and links. Pages, services and the API."""

import uuid

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from annotation import selectors
from annotation.models import Claim, Ranking, Rating, SkipReason, Task, TaskKind
from annotation.services import assignment, submissions
from generation.models import Campaign
from qa.models import Feedback
from tests.annotation.support import SCORES
from tests.factories import make_endpoint, make_generation, make_prompt, make_ranking_task, make_rating_task


def rating_form(**extra):
    data = {f"score_{k}": v for k, v in SCORES.items()}
    data.update(submission_id=str(uuid.uuid4()), comment="", time_ms="1200", **extra)
    return data


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- queue position and the previous item -------------------------------------------------------------

def test_task_page_shows_position_and_remaining(seeded, login, annotator):
    tasks = [make_rating_task() for _ in range(3)]
    client = login(annotator)
    response = client.post(reverse("annotation:rating_next"))
    page = client.get(response["Location"])
    queue = page.context["queue"]
    assert (queue.position, queue.total, queue.left) == (1, 3, 2)
    assert 'id="queue-position"' in page.content.decode()
    assert 'id="previous-item"' not in page.content.decode()  # nothing submitted yet
    response = client.post(reverse("annotation:rating_item", args=[tasks[0].id]), rating_form())
    page = client.get(response["Location"])
    queue = page.context["queue"]
    assert (queue.done_today, queue.position, queue.total, queue.left) == (1, 2, 3, 1)
    assert page.context["previous"].task_id == tasks[0].id
    assert reverse("annotation:rating_item", args=[tasks[0].id]) in page.content.decode()


def test_previous_item_is_revised_and_the_annotator_returns_to_the_held_item(seeded, login, annotator):
    first, second = make_rating_task(), make_rating_task()
    client = login(annotator)
    client.post(reverse("annotation:rating_next"))
    client.post(reverse("annotation:rating_item", args=[first.id]), rating_form())
    assert Claim.objects.get(task=second, annotator=annotator).status == Claim.Status.ACTIVE
    page = client.get(reverse("annotation:rating_item", args=[first.id]))
    assert page.context["revisable"] and page.context["queue"].position is None  # revising: no position
    response = client.post(reverse("annotation:rating_item", args=[first.id]), rating_form(score_safety="2"))
    assert response["Location"] == reverse("annotation:rating_item", args=[second.id])
    rows = Rating.objects.filter(task=first).order_by("revision")
    assert [(r.revision, r.is_current) for r in rows] == [(1, False), (2, True)]
    assert rows[1].scores["safety"] == 2


def test_previous_selector_skips_the_open_item(seeded, annotator):
    task = make_rating_task()
    held = assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING)
    submissions.rating_submit(annotator=annotator, task_id=held.task_id, submission_id=uuid.uuid4(), scores=SCORES)
    assert selectors.annotation_previous(annotator=annotator, kind=TaskKind.RATING).task_id == task.id
    assert selectors.annotation_previous(annotator=annotator, kind=TaskKind.RATING, exclude_task_id=task.id) is None
    assert selectors.annotation_previous(annotator=annotator, kind=TaskKind.RANKING) is None


# --- ranking: confirmation of an untouched order, skip -----------------------------------------------

def _rank_form(order, **extra):
    return {"submission_id": str(uuid.uuid4()), "order": ",".join(map(str, order)), **extra}


def test_untouched_ranking_is_refused_without_confirmation(seeded, login, annotator):
    task = make_ranking_task()
    client = login(annotator)
    client.post(reverse("annotation:ranking_next"))
    shown = Claim.objects.get().display_order
    url = reverse("annotation:ranking_item", args=[task.id])
    response = client.post(url, _rank_form(shown))
    assert response.status_code == 400 and "confirm" in response.content.decode()
    assert not Ranking.objects.exists()
    assert client.post(url, _rank_form(shown, order_confirmed_unchanged="on")).status_code == 302
    row = Ranking.objects.get()
    assert row.order == shown and row.order_confirmed_unchanged


def test_a_changed_order_needs_no_confirmation_and_is_not_flagged(seeded, login, annotator):
    task = make_ranking_task()
    client = login(annotator)
    client.post(reverse("annotation:ranking_next"))
    shown = Claim.objects.get().display_order
    # The box ticked but the order changed: what is stored says the order was changed.
    form = _rank_form(shown[::-1], order_confirmed_unchanged="on")
    assert client.post(reverse("annotation:ranking_item", args=[task.id]), form).status_code == 302
    assert not Ranking.objects.get().order_confirmed_unchanged


def test_ranking_skip_with_reason(seeded, login, annotator):
    task = make_ranking_task(overlap=1)
    client = login(annotator)
    client.post(reverse("annotation:ranking_next"))
    url = reverse("annotation:ranking_item", args=[task.id])
    response = client.post(url, {"submission_id": str(uuid.uuid4()), "action": "skip", "skip_reason": ""})
    assert response.status_code == 400 and "skip" in response.content.decode().lower()
    response = client.post(url, {"submission_id": str(uuid.uuid4()), "action": "skip",
                                 "skip_reason": SkipReason.NEEDS_EXPERT})
    assert response.status_code == 302
    row = Ranking.objects.get()
    assert row.skip_reason == SkipReason.NEEDS_EXPERT and row.order == []
    assert Task.objects.get(pk=task.pk).remaining == 1  # the slot went back for someone else
    assert not submissions.annotation_is_revisable(row)


def test_ranking_page_wrong_method_and_roles(seeded, client, login, annotator, qa_lead):
    task = make_ranking_task()
    url = reverse("annotation:ranking_item", args=[task.id])
    assert client.get(url).status_code == 302  # anonymous: to the login page
    assert login(annotator).put(url).status_code == 405


def test_api_ranking_refuses_an_untouched_order_without_confirmation(seeded, login, annotator):
    task = make_ranking_task()
    client = login(annotator)
    item = client.post("/api/tasks/next/", {"kind": "ranking"}, content_type="application/json").json()
    shown = [r["id"] for r in item["responses"]]
    url = f"/api/tasks/{task.id}/ranking/"
    response = client.post(url, {"submission_id": str(uuid.uuid4()), "order": shown}, content_type="application/json")
    assert response.status_code == 400 and "order" in response.json()
    payload = {"submission_id": str(uuid.uuid4()), "order": shown, "order_confirmed_unchanged": True}
    assert client.post(url, payload, content_type="application/json").status_code == 201
    assert Ranking.objects.get().order_confirmed_unchanged


def test_api_ranking_skip(seeded, login, annotator):
    task = make_ranking_task()
    client = login(annotator)
    client.post("/api/tasks/next/", {"kind": "ranking"}, content_type="application/json")
    payload = {"submission_id": str(uuid.uuid4()), "skip_reason": "broken_prompt"}
    response = client.post(f"/api/tasks/{task.id}/ranking/", payload, content_type="application/json")
    assert response.status_code == 201
    assert Ranking.objects.get().skip_reason == "broken_prompt"


# --- rating page: the scale next to every criterion ---------------------------------------------------

def test_rating_page_shows_the_scale_labels_at_each_criterion(seeded, login, annotator, english):
    task = make_rating_task()
    client = login(annotator)
    client.post(reverse("annotation:rating_next"))
    body = client.get(reverse("annotation:rating_item", args=[task.id])).content.decode()
    n_criteria = len(submissions.criterion_keys())
    assert body.count('class="likert-label">very poor<') == n_criteria
    assert body.count('class="likert-label">excellent<') == n_criteria


# --- why a queue is empty, what assembly skipped ------------------------------------------------------

def test_own_prompts_explain_an_empty_queue(seeded, login, annotator, settings, english):
    settings.STUDIO_NO_OWN_PROMPTS = True
    make_rating_task(author=annotator)
    client = login(annotator)
    home = client.get(reverse("home:home"))
    assert home.context["available"]["rating"] == 0 and home.context["withheld"]["rating"] == 1
    assert 'id="withheld-rating"' in home.content.decode()
    response = client.post(reverse("annotation:rating_next"))
    assert response["Location"] == reverse("home:home")
    assert any("you wrote" in m for m in messages_of(response))


def test_assembly_message_counts_skipped_prompts_with_reasons(seeded, client, admin_user, english):
    client.force_login(admin_user)
    endpoints = [make_endpoint(f"e{i}") for i in range(4)]
    ready, had_tasks, lonely = make_prompt(), make_prompt(), make_prompt()
    for prompt in (ready, had_tasks):
        for i, endpoint in enumerate(endpoints):
            make_generation(prompt, endpoint, text=f"Odpowiedź {i} " + "x" * (i * 40) + f" {prompt.pk}")
    make_generation(lonely, endpoints[0], text="Jedyna odpowiedź.")
    Task.objects.create(kind=TaskKind.RANKING, prompt=had_tasks, overlap=1, remaining=1)
    campaign = Campaign.objects.create(name="c", prompt_filter={"ids": [ready.pk, had_tasks.pk, lonely.pk]})
    response = client.post(reverse("annotation:campaign_assemble", args=[campaign.pk]),
                           {"seed": 1, "rating_min_chars": 600, "rating_min_parts": 6, "overlap": 2})
    assert response.status_code == 302
    (message,) = messages_of(response)
    assert "3 selected prompts" in message and "2 prompts skipped" in message
    assert "1 already had tasks" in message and "1 had fewer than 2 usable responses" in message


# --- feedback: badge refresh and links ----------------------------------------------------------------

def test_mark_read_triggers_the_badge_refresh(seeded, login, annotator, qa_lead):
    note = Feedback.objects.create(to_user=annotator, from_user=qa_lead, text="Uwaga")
    Feedback.objects.create(to_user=annotator, from_user=qa_lead, text="Druga")
    client = login(annotator)
    response = client.post(reverse("home:feedback_read", args=[note.pk]), headers={"HX-Request": "true"})
    assert response.status_code == 200 and response["HX-Trigger"] == "feedbackRead"
    badge = client.get(reverse("home:home"), headers={"HX-Request": "true", "HX-Target": "feedback-unread"})
    body = badge.content.decode()
    assert "<html" not in body and 'id="feedback-unread"' in body and ">1 " in body
    assert client.get(reverse("home:feedback_read", args=[note.pk])).status_code == 405


def test_feedback_links_to_its_item_only_for_its_annotator(seeded, login, annotator, annotator2, qa_lead):
    task = make_rating_task()
    assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING)
    for user in (annotator, annotator2):
        Feedback.objects.create(to_user=user, from_user=qa_lead, text="O tym zadaniu", task=task)
    link = reverse("annotation:rating_item", args=[task.id])
    assert link in login(annotator).get(reverse("home:home")).content.decode()
    assert link not in login(annotator2).get(reverse("home:home")).content.decode()


@pytest.mark.parametrize("kind", [TaskKind.RATING, TaskKind.RANKING])
def test_own_prompts_withheld_counts_per_kind(seeded, annotator, settings, kind):
    settings.STUDIO_NO_OWN_PROMPTS = True
    (make_rating_task if kind == TaskKind.RATING else make_ranking_task)(author=annotator)
    assert selectors.own_prompts_withheld(annotator, kind) == 1
    settings.STUDIO_NO_OWN_PROMPTS = False
    assert selectors.own_prompts_withheld(annotator, kind) == 0
