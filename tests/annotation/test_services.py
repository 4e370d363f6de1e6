"""Submissions: validation, idempotency, revisions with history, the QA lock, what each row records."""

import uuid

import pytest
from django.core.exceptions import ValidationError

from annotation.models import Claim, Ranking, Rating, RatingPair, SkipReason, Task, TaskKind
from annotation.services import assignment, locking, submissions
from prompts.models import GuidelineVersion
from tests.annotation.support import SCORES
from tests.factories import make_prompt, make_ranking_task, make_rating_task


def claim(user, kind):
    return assignment.task_claim_next(annotator=user, kind=kind)


def test_rating_records_scores_time_and_guideline_version(seeded, annotator):
    GuidelineVersion.objects.create(version="2025-03")
    task = make_rating_task()
    claim(annotator, TaskKind.RATING)
    result = submissions.rating_submit(
        annotator=annotator, task_id=task.id, submission_id=uuid.uuid4(), scores=SCORES, comment=" ok ", time_ms=4321
    )
    row = result.annotation
    assert result.created
    assert row.scores == SCORES and row.comment == "ok" and row.time_ms == 4321
    assert row.guideline_version == "2025-03"
    assert row.revision == 1 and row.is_current
    assert Claim.objects.get(task=task, annotator=annotator).status == Claim.Status.SUBMITTED


def test_the_same_submission_twice_stores_one_row(seeded, annotator):
    task = make_rating_task()
    claim(annotator, TaskKind.RATING)
    sid = uuid.uuid4()
    first = submissions.rating_submit(annotator=annotator, task_id=task.id, submission_id=sid, scores=SCORES)
    second = submissions.rating_submit(annotator=annotator, task_id=task.id, submission_id=str(sid), scores=SCORES)
    assert first.created and not second.created
    assert second.annotation.pk == first.annotation.pk
    assert Rating.objects.count() == 1


def test_a_submission_id_cannot_be_reused_for_another_item(seeded, annotator, english):
    one, two = make_rating_task(), make_rating_task()
    sid = uuid.uuid4()
    claim(annotator, TaskKind.RATING)
    submissions.rating_submit(annotator=annotator, task_id=one.id, submission_id=sid, scores=SCORES)
    claim(annotator, TaskKind.RATING)
    with pytest.raises(submissions.SubmissionConflict, match="different item"):
        submissions.rating_submit(annotator=annotator, task_id=two.id, submission_id=sid, scores=SCORES)


def test_another_annotators_submission_id_is_refused_as_theirs(seeded, annotator, annotator2, client, english):
    task = make_rating_task(overlap=2)
    claim(annotator, TaskKind.RATING)
    claim(annotator2, TaskKind.RATING)
    sid = uuid.uuid4()
    submissions.rating_submit(annotator=annotator, task_id=task.id, submission_id=sid, scores=SCORES)
    # The same item, so the message must not blame the item: the id is someone else's.
    with pytest.raises(submissions.SubmissionConflict, match="another annotator's submission"):
        submissions.rating_submit(annotator=annotator2, task_id=task.id, submission_id=sid, scores=SCORES)
    client.force_login(annotator2)
    response = client.post(
        f"/api/tasks/{task.id}/rating/", {"submission_id": str(sid), "scores": SCORES}, content_type="application/json"
    )
    assert response.status_code == 409
    assert "another annotator's submission" in response.json()["detail"]
    assert "different item" not in response.json()["detail"]
    assert list(Rating.objects.values_list("annotator_id", flat=True)) == [annotator.pk]  # nothing stored
    assert Claim.objects.get(task=task, annotator=annotator2).status == Claim.Status.ACTIVE


@pytest.mark.parametrize(
    "scores",
    [
        {},
        {**SCORES, "truthfulness": 6},
        {**SCORES, "truthfulness": 0},
        {k: v for k, v in SCORES.items() if k != "safety"},
        {**SCORES, "creativity": 3},
        {**SCORES, "fairness": "x"},
    ],
)
def test_rating_needs_all_seven_scores_in_range(seeded, annotator, scores):
    task = make_rating_task()
    claim(annotator, TaskKind.RATING)
    with pytest.raises(ValidationError):
        submissions.rating_submit(annotator=annotator, task_id=task.id, submission_id=uuid.uuid4(), scores=scores)
    assert not Rating.objects.exists()
    assert Claim.objects.get(task=task).status == Claim.Status.ACTIVE


def test_skip_is_stored_and_gives_the_slot_back(seeded, annotator, annotator2):
    task = make_rating_task(overlap=1)
    claim(annotator, TaskKind.RATING)
    row = submissions.rating_submit(
        annotator=annotator, task_id=task.id, submission_id=uuid.uuid4(), skip_reason=SkipReason.NEEDS_EXPERT
    ).annotation
    assert row.skip_reason == "needs_expert" and row.scores == {}
    assert Task.objects.get(pk=task.pk).remaining == 1
    assert claim(annotator2, TaskKind.RATING).task_id == task.id
    with pytest.raises(ValidationError):  # a skip is not turned into a rating later
        submissions.rating_submit(annotator=annotator, task_id=task.id, submission_id=uuid.uuid4(), scores=SCORES)


def test_unknown_skip_reason_is_refused(seeded, annotator):
    task = make_rating_task()
    claim(annotator, TaskKind.RATING)
    with pytest.raises(ValidationError):
        submissions.rating_submit(annotator=annotator, task_id=task.id, submission_id=uuid.uuid4(), skip_reason="bored")


def test_revision_keeps_history_until_the_pair_is_locked(seeded, annotator):
    prompt = make_prompt()
    pair = RatingPair.objects.create(prompt=prompt)
    task = make_rating_task(prompt=prompt, pair=pair)
    claim(annotator, TaskKind.RATING)
    first = submissions.rating_submit(annotator=annotator, task_id=task.id, submission_id=uuid.uuid4(), scores=SCORES)
    revised = submissions.rating_submit(
        annotator=annotator, task_id=task.id, submission_id=uuid.uuid4(), scores={**SCORES, "safety": 1}
    ).annotation
    assert revised.revision == 2 and revised.is_current
    old = Rating.objects.get(pk=first.annotation.pk)
    assert not old.is_current and old.scores == SCORES
    assert Task.objects.get(pk=task.pk).remaining == 1  # a revision takes no slot
    assert submissions.annotation_is_revisable(revised) and not locking.is_locked(revised)
    locking.item_lock(RatingPair, pair.id)  # what QA's review does
    assert locking.is_locked(revised)
    with pytest.raises(submissions.AlreadyReviewed):
        submissions.rating_submit(annotator=annotator, task_id=task.id, submission_id=uuid.uuid4(), scores=SCORES)
    assert not submissions.annotation_is_revisable(revised)
    assert Rating.objects.filter(task=task).count() == 2


def test_a_locked_rating_pair_locks_both_tasks_and_nothing_else(seeded, annotator):
    prompt = make_prompt()
    pair = RatingPair.objects.create(prompt=prompt)
    first = make_rating_task(prompt=prompt, pair=pair, endpoint="m-a")
    second = make_rating_task(prompt=prompt, pair=pair, endpoint="m-b")
    alone = make_rating_task(endpoint="m-c")  # a rating task without a pair is never locked
    for _ in range(3):
        held = claim(annotator, TaskKind.RATING)
        submissions.rating_submit(annotator=annotator, task_id=held.task_id, submission_id=uuid.uuid4(), scores=SCORES)
    locking.item_lock(RatingPair, pair.id)
    locked_at = RatingPair.objects.get(pk=pair.pk).locked_at
    locking.item_lock(RatingPair, pair.id)  # a second lock keeps the first time
    assert RatingPair.objects.get(pk=pair.pk).locked_at == locked_at
    for task in (first, second):
        with pytest.raises(submissions.AlreadyReviewed):
            submissions.rating_submit(annotator=annotator, task_id=task.id, submission_id=uuid.uuid4(), scores=SCORES)
    revised = submissions.rating_submit(annotator=annotator, task_id=alone.id, submission_id=uuid.uuid4(),
                                        scores=SCORES).annotation
    assert revised.revision == 2 and submissions.annotation_is_revisable(revised)
    assert Rating.objects.filter(task__pair=pair).count() == 2


# --------------------------------------------------------------------------------------------------
# Ranking
# --------------------------------------------------------------------------------------------------

def test_ranking_records_order_display_order_and_default_soft_rejects(seeded, annotator):
    task = make_ranking_task()
    held = claim(annotator, TaskKind.RANKING)
    order = list(reversed(held.display_order))
    row = submissions.ranking_submit(
        annotator=annotator, task_id=task.id, submission_id=uuid.uuid4(), order=order,
        hardness={str(order[3]): "hard"}, time_ms=9000,
    ).annotation
    assert row.order == order
    assert row.display_order == held.display_order
    assert row.hardness == {str(order[1]): "soft", str(order[2]): "soft", str(order[3]): "hard"}
    assert row.time_ms == 9000


@pytest.mark.parametrize("mutate", ["tie", "missing", "foreign", "top_rejected", "bad_hardness"])
def test_ranking_needs_a_strict_order_of_the_shown_responses(seeded, annotator, mutate):
    task = make_ranking_task()
    held = claim(annotator, TaskKind.RANKING)
    order, hardness = list(held.display_order), {}
    if mutate == "tie":
        order[1] = order[0]
    elif mutate == "missing":
        order = order[:3]
    elif mutate == "foreign":
        order[3] = 999999
    elif mutate == "top_rejected":
        hardness = {str(order[0]): "hard"}
    else:
        hardness = {str(order[2]): "medium"}
    with pytest.raises(ValidationError):
        submissions.ranking_submit(
            annotator=annotator, task_id=task.id, submission_id=uuid.uuid4(), order=order, hardness=hardness,
            order_confirmed_unchanged=True,
        )
    assert not Ranking.objects.exists()


def test_all_unacceptable_requires_a_custom_answer(seeded, annotator):
    task = make_ranking_task()
    held = claim(annotator, TaskKind.RANKING)
    order = held.display_order
    with pytest.raises(ValidationError):
        submissions.ranking_submit(
            annotator=annotator, task_id=task.id, submission_id=uuid.uuid4(), order=order, all_unacceptable=True,
            order_confirmed_unchanged=True,
        )
    with pytest.raises(ValidationError):  # and a custom answer is only for that case
        submissions.ranking_submit(
            annotator=annotator, task_id=task.id, submission_id=uuid.uuid4(), order=order, custom_text="Moja.",
            order_confirmed_unchanged=True,
        )
    row = submissions.ranking_submit(
        annotator=annotator, task_id=task.id, submission_id=uuid.uuid4(), order=order, all_unacceptable=True,
        order_confirmed_unchanged=True, custom_text="  Poprawna odpowiedź.  ", custom_from=order[2], hardness={str(order[0]): "hard"},
    ).annotation
    assert row.all_unacceptable and row.custom_text == "Poprawna odpowiedź."
    assert row.custom_from_id == order[2]
    assert row.hardness[str(order[0])] == "hard" and len(row.hardness) == 4


def test_ranking_revision_refused_once_locked(seeded, annotator):
    task = make_ranking_task()
    held = claim(annotator, TaskKind.RANKING)
    first = submissions.ranking_submit(
        annotator=annotator, task_id=task.id, submission_id=uuid.uuid4(), order=held.display_order,
        order_confirmed_unchanged=True,
    ).annotation
    second = submissions.ranking_submit(
        annotator=annotator, task_id=task.id, submission_id=uuid.uuid4(), order=held.display_order[::-1]
    ).annotation
    assert second.revision == 2 and not Ranking.objects.get(pk=first.pk).is_current
    locking.item_lock(Ranking, second.id)  # what QA's review does
    second.refresh_from_db()
    assert locking.is_locked(second) and not submissions.annotation_is_revisable(second)
    with pytest.raises(submissions.AlreadyReviewed):
        submissions.ranking_submit(
            annotator=annotator, task_id=task.id, submission_id=uuid.uuid4(), order=held.display_order,
            order_confirmed_unchanged=True,
        )
    assert Ranking.objects.filter(task=task).count() == 2


def test_kind_mismatch_is_refused(seeded, annotator):
    task = make_rating_task()
    claim(annotator, TaskKind.RATING)
    with pytest.raises(ValidationError):
        submissions.ranking_submit(annotator=annotator, task_id=task.id, submission_id=uuid.uuid4(), order=[1])


def test_missing_submission_id_is_a_validation_error(seeded, annotator):
    task = make_rating_task()
    claim(annotator, TaskKind.RATING)
    with pytest.raises(ValidationError):
        submissions.rating_submit(annotator=annotator, task_id=task.id, submission_id="", scores=SCORES)
