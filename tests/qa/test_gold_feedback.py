"""Gold marking with references, feedback to annotators, coverage, and the QA API."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from annotation.models import Task
from prompts.models import Criterion, Topic
from qa import selectors, services
from qa.models import Feedback, Review
from tests.factories import (
    make_prompt,
    make_qa_dialog,
    make_qa_ranking,
    make_qa_ranking_task,
    make_qa_rating,
    make_qa_rating_pair,
)

pytestmark = pytest.mark.django_db


# --- gold ---------------------------------------------------------------------------------------------

def test_gold_ranking_reference_must_be_a_permutation(seeded, qa_lead):
    task, ids = make_qa_ranking_task()
    with pytest.raises(ValidationError):
        services.gold_mark(task=task, marked_by=qa_lead, reference={"order": ids[:3]})
    with pytest.raises(ValidationError):
        services.gold_mark(task=task, marked_by=qa_lead, reference={"order": [ids[0]] * 4})
    task.refresh_from_db()
    assert not task.is_gold
    services.gold_mark(task=task, marked_by=qa_lead, reference={"order": list(reversed(ids)), "answer": "Wzór"})
    task.refresh_from_db()
    assert task.is_gold
    assert task.gold_reference["order"] == list(reversed(ids))
    assert task.gold_reference["answer"] == "Wzór"
    assert task.gold_reference["marked_by"] == qa_lead.id


def test_gold_rating_reference_scores(seeded, qa_lead):
    a, _b = make_qa_rating_pair()
    with pytest.raises(ValidationError):
        services.gold_mark(task=a, marked_by=qa_lead, reference={"scores": {"truthfulness": 7}})
    with pytest.raises(ValidationError):
        services.gold_mark(task=a, marked_by=qa_lead, reference={"scores": {"nonsense": 3}})
    key = Criterion.objects.first().key
    services.gold_mark(task=a, marked_by=qa_lead, reference={"scores": {key: "4"}})
    a.refresh_from_db()
    assert a.is_gold and a.gold_reference["scores"] == {key: 4}
    services.gold_unmark(task=a)
    a.refresh_from_db()
    assert not a.is_gold and a.gold_reference["scores"] == {key: 4}
    services.gold_mark(task=a, marked_by=qa_lead)
    a.refresh_from_db()
    assert a.is_gold and a.gold_reference is None


def test_gold_edit_page_marks_with_expected_ranking(seeded, login, qa_lead):
    task, ids = make_qa_ranking_task(texts=["<b>raz</b>", "dwa", "trzy", "cztery"])
    client = login(qa_lead)
    url = reverse("qa:gold_edit", args=[task.id])
    page = client.get(url).content.decode()
    assert "<b>raz</b>" not in page and "&lt;b&gt;raz&lt;/b&gt;" in page
    partial = {"is_gold": "on", "rank_1": ids[1], "rank_2": ids[0]}
    response = client.post(url, partial)
    assert response.status_code == 422  # half a ranking is refused, the choices stay selected
    task.refresh_from_db()
    assert not task.is_gold
    full = {"is_gold": "on", "rank_1": ids[1], "rank_2": ids[0], "rank_3": ids[3], "rank_4": ids[2],
            "answer": "Wzorcowa odpowiedź"}
    assert client.post(url, full).status_code == 302
    task.refresh_from_db()
    assert task.is_gold and task.gold_reference["order"] == [ids[1], ids[0], ids[3], ids[2]]
    assert task.gold_reference["answer"] == "Wzorcowa odpowiedź"
    listing = client.get(reverse("qa:gold")).content.decode()
    assert reverse("qa:gold_edit", args=[task.id]) in listing
    assert client.post(url, {}).status_code == 302
    task.refresh_from_db()
    assert not task.is_gold


def test_gold_page_shows_accuracy_per_annotator(seeded, login, qa_lead, annotator, annotator2):
    from qa import reports

    task, ids = make_qa_ranking_task(is_gold=True)
    services.gold_mark(task=task, marked_by=qa_lead, reference={"order": ids})
    make_qa_ranking(task, annotator, ids)
    make_qa_ranking(task, annotator2, [ids[1], ids[0], ids[2], ids[3]])
    a, _b = make_qa_rating_pair(is_gold=True)
    key = Criterion.objects.first().key
    services.gold_mark(task=a, marked_by=qa_lead, reference={"scores": {key: 5}})
    make_qa_rating(a, annotator, 3)
    accuracy = {row.name: row for row in reports.gold_accuracy()}
    assert accuracy["ania"].ranking.top1_agreement == 1.0
    assert accuracy["bartek"].ranking.top1_agreement == 0.0
    assert accuracy["ania"].rating.n == 1 and accuracy["ania"].rating.mean_abs_deviation == 2
    assert accuracy["bartek"].rating is None
    page = login(qa_lead).get(reverse("qa:gold")).content.decode()
    assert "ania" in page and "bartek" in page


# --- feedback -----------------------------------------------------------------------------------------

def test_feedback_reaches_the_annotator(seeded, annotator, annotator2, qa_lead):
    task, _ids = make_qa_ranking_task()
    services.feedback_send(sender=qa_lead, to_user=annotator, text="Uwaga na kolejność.", task=task)
    services.feedback_send(sender=qa_lead, to_user=annotator2, text="Dla Bartka")
    inbox = selectors.feedback_for(annotator)
    assert [f.text for f in inbox] == ["Uwaga na kolejność."]
    assert inbox[0].task == task and inbox[0].read_at is None
    services.feedback_mark_read(user=annotator, feedback_id=inbox[0].id)
    assert selectors.feedback_for(annotator)[0].read_at is not None
    with pytest.raises(Feedback.DoesNotExist):
        services.feedback_mark_read(user=annotator2, feedback_id=inbox[0].id)


def test_feedback_only_to_annotators_and_not_empty(seeded, annotator, qa_lead):
    with pytest.raises(ValidationError):
        services.feedback_send(sender=qa_lead, to_user=qa_lead, text="x")
    with pytest.raises(ValidationError):
        services.feedback_send(sender=qa_lead, to_user=annotator, text="   ")


def test_feedback_page(seeded, annotator, login, qa_lead):
    client = login(qa_lead)
    task, _ids = make_qa_ranking_task()
    bad = client.post(reverse("qa:feedback"), {"to_user": annotator.id, "task": 999999, "text": "Treść zostaje"})
    assert bad.status_code == 422 and "Treść zostaje" in bad.content.decode()
    ok = client.post(reverse("qa:feedback"), {"to_user": annotator.id, "task": task.id, "text": "<i>Dobrze</i>"})
    assert ok.status_code == 302
    page = client.get(reverse("qa:feedback")).content.decode()
    assert "&lt;i&gt;Dobrze&lt;/i&gt;" in page
    assert Feedback.objects.get().task == task


# --- coverage -----------------------------------------------------------------------------------------

def test_coverage_counts_prompts_topics_and_pairs(seeded, annotator, annotator2):
    topic = Topic.objects.filter(categories__key="qa_polish").first()
    topic.target = 3
    topic.save()
    make_prompt(category="qa_polish", topic=topic)
    a, b = make_qa_rating_pair(category="qa_polish")  # a prompt without a topic
    for who in (annotator, annotator2):  # both responses have their two required ratings
        make_qa_rating(a, who, 5)
        make_qa_rating(b, who, 3)
    c, d = make_qa_rating_pair(category="qa_polish")  # one rating short: a gap, not a pair
    make_qa_rating(c, annotator, 5)
    make_qa_rating(d, annotator, 2)
    make_qa_rating(d, annotator2, 2)
    task, ids = make_qa_ranking_task(category="qa_polish")
    make_qa_ranking(task, annotator, ids)
    make_qa_ranking(task, annotator2, ids, custom_text="Własna")
    make_qa_dialog(annotator, [("ABC", "A", ""), ("ABC", None, "Własna")])
    cov = selectors.coverage()
    polish = next(c for c in cov.categories if c.category_id == topic.categories.get(key="qa_polish").id)
    assert polish.prompts == 4
    row = next(t for t in polish.topics if t.topic_id == topic.id)
    assert row.prompts == 1 and row.target == 3 and row.below_target
    assert polish.below_target == 1
    assert polish.rating_prompts == 2 and polish.ranking_prompts == 1
    assert polish.rating_pairs == 1 and polish.incomplete_rating_pairs == 1
    assert polish.ranking_pairs == 2  # best vs worst + the custom answer
    assert cov.dialogs == 1 and cov.dialog_pairs == 2 + 3
    assert cov.total_pairs == 1 + 2 + 5


def test_coverage_page_and_csv(seeded, login, qa_lead):
    client = login(qa_lead)
    assert client.get(reverse("qa:coverage")).status_code == 200
    partial = client.get(reverse("qa:coverage"), headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial
    text = client.get(reverse("qa:coverage_csv")).content.decode()
    assert text.startswith("category,group,origin,topic,prompts,target")


# --- API ----------------------------------------------------------------------------------------------

def test_api_review_decide_and_history(seeded, annotator, login, qa_lead):
    task, ids = make_qa_ranking_task()
    ranking = make_qa_ranking(task, annotator, ids, custom_text="Tekst")
    client = login(qa_lead)
    bad = client.post(reverse("qa_api:qa-review-decide"), {"target_kind": "ranking", "target_id": ranking.id,
                                                        "decision": "edit", "edited_text": ""},
                      content_type="application/json")
    assert bad.status_code == 400 and "edited_text" in bad.json()
    ok = client.post(reverse("qa_api:qa-review-decide"), {"target_kind": "ranking", "target_id": ranking.id,
                                                       "decision": "edit", "edited_text": "Tekst poprawiony"},
                     content_type="application/json")
    assert ok.status_code == 201 and ok.json()["original_text"] == "Tekst"
    history = client.get(reverse("qa_api:qa-reviews"), {"target_kind": "ranking", "target_id": ranking.id}).json()
    assert [h["decision"] for h in history] == ["edit"]
    assert Review.objects.count() == 1


def test_api_gold_feedback_agreement_coverage(seeded, annotator, annotator2, login, qa_lead):
    client = login(qa_lead)
    task, ids = make_qa_ranking_task()
    response = client.post(reverse("qa_api:qa-gold", args=[task.id]), {"is_gold": True, "order": ids},
                           content_type="application/json")
    assert response.status_code == 200 and response.json()["gold_reference"]["order"] == ids
    assert Task.objects.get(id=task.id).is_gold
    bad = client.post(reverse("qa_api:qa-gold", args=[task.id]), {"is_gold": True, "order": [1]},
                      content_type="application/json")
    assert bad.status_code == 400
    fb = client.post(reverse("qa_api:qa-feedback"), {"to_user": annotator.id, "text": "Brawo", "task": task.id},
                     content_type="application/json")
    assert fb.status_code == 201 and fb.json()["task"] == task.id
    make_qa_ranking(task, annotator, ids)
    make_qa_ranking(task, annotator2, ids)
    data = client.get(reverse("qa_api:qa-agreement")).json()
    assert data["counts"]["rankings"] == 2
    assert data["ranking"]["top1_gold"]["value"] == 1.0
    assert len(data["alpha"]) == 7
    assert client.get(reverse("qa_api:qa-agreement"), {"task_type": "bogus"}).status_code == 400
    coverage = client.get(reverse("qa_api:qa-coverage")).json()
    assert coverage["total_pairs"] >= 1


def test_gold_edit_page_for_a_rating_task(seeded, login, qa_lead):
    a, _b = make_qa_rating_pair()
    keys = list(Criterion.objects.values_list("key", flat=True))
    client = login(qa_lead)
    url = reverse("qa:gold_edit", args=[a.id])
    assert f'name="score_{keys[0]}"' in client.get(url).content.decode()
    response = client.post(url, {"is_gold": "on", f"score_{keys[0]}": "5", f"score_{keys[1]}": "2",
                                 "answer": "Wzorzec"})
    assert response.status_code == 302
    a.refresh_from_db()
    assert a.is_gold and a.gold_reference["scores"] == {keys[0]: 5, keys[1]: 2}
    assert client.post(url, {"is_gold": "on", f"score_{keys[0]}": "9"}).status_code == 422
