"""Reviews name their targets through foreign keys the database enforces, and a review locks what it judged."""

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from annotation.models import Ranking, RatingPair, TaskKind
from annotation.services import assignment, locking, submissions
from qa import selectors, services
from qa.models import Review, ReviewTarget
from tests.factories import make_qa_dialog, make_qa_ranking, make_qa_ranking_task, make_qa_rating_pair

pytestmark = pytest.mark.django_db


@pytest.fixture
def targets(seeded, annotator):
    task, ids = make_qa_ranking_task()
    ranking = make_qa_ranking(task, annotator, ids, custom_text="Własna odpowiedź.")
    a, _b = make_qa_rating_pair()
    dialog = make_qa_dialog(annotator, [("ABC", None, "Własna odpowiedź w dialogu.")])
    return {"ranking": ranking.id, "rating_pair": a.pair_id, "dialog": dialog.id,
            "dialog_turn": dialog.turns.get().id}


@pytest.mark.parametrize("kind", ReviewTarget.values)
def test_the_database_rejects_a_review_whose_key_does_not_match_its_kind(targets, qa_lead, kind):
    def review(**keys):
        with transaction.atomic():
            return Review.objects.create(target_kind=kind, decision="approve", reviewer=qa_lead,
                                         **{f"{name}_id": value for name, value in keys.items()})

    own = Review.target_field(kind)
    other = next(name for name in targets if name != own)
    with pytest.raises(IntegrityError):  # no target at all
        review()
    with pytest.raises(IntegrityError):  # another kind's key instead of its own
        review(**{other: targets[other]})
    with pytest.raises(IntegrityError):  # its own key and another one
        review(**{own: targets[own], other: targets[other]})
    made = review(**{own: targets[own]})
    assert made.target_id == targets[own]
    assert selectors.review_history(kind, targets[own]) == [made]


def test_the_database_rejects_a_review_of_an_object_that_does_not_exist(targets, qa_lead):
    with transaction.atomic():
        Review.objects.create(target_kind=ReviewTarget.RANKING, ranking_id=targets["ranking"] + 1000,
                              decision="approve", reviewer=qa_lead)
        with pytest.raises(IntegrityError):  # foreign keys are checked at commit; check them now
            connection.check_constraints(table_names=[Review._meta.db_table])
        transaction.set_rollback(True)  # (the test database checks them again at teardown)


def test_a_review_locks_the_ranking_and_a_refused_decision_locks_nothing(targets, qa_lead):
    ranking = Ranking.objects.get(pk=targets["ranking"])
    assert ranking.locked_at is None and not locking.is_locked(ranking)
    with pytest.raises(ValidationError):  # a reject needs a note: nothing is stored, nothing locked
        services.review_decide(reviewer=qa_lead, target_kind="ranking", target_id=ranking.id, decision="reject")
    ranking.refresh_from_db()
    assert ranking.locked_at is None and not Review.objects.exists()
    services.review_decide(reviewer=qa_lead, target_kind="ranking", target_id=ranking.id, decision="approve")
    ranking.refresh_from_db()
    assert ranking.locked_at is not None and locking.is_locked(ranking)
    assert not submissions.annotation_is_revisable(ranking)


def test_dialog_reviews_lock_no_annotation(targets, qa_lead):
    services.review_decide(reviewer=qa_lead, target_kind="dialog", target_id=targets["dialog"], decision="approve")
    services.review_decide(reviewer=qa_lead, target_kind="dialog_turn", target_id=targets["dialog_turn"],
                           decision="approve")
    assert not Ranking.objects.filter(locked_at__isnull=False).exists()
    assert not RatingPair.objects.filter(locked_at__isnull=False).exists()


def test_a_rating_pair_review_refuses_its_annotators_revisions(seeded, annotator, annotator2, qa_lead, settings):
    settings.STUDIO_GOLD_EVERY = 0
    submissions.cache_clear()
    first, second = make_qa_rating_pair(texts=("Lepsza", "Gorsza"))
    scores = dict.fromkeys(submissions.criterion_keys(), 4)
    for user in (annotator, annotator2):
        for _ in range(2):
            held = assignment.task_claim_next(annotator=user, kind=TaskKind.RATING)
            submissions.rating_submit(annotator=user, task_id=held.task_id, submission_id=uuid.uuid4(),
                                      scores=scores if held.task_id == first.id else dict.fromkeys(scores, 2))
    revised = submissions.rating_submit(annotator=annotator, task_id=second.id, submission_id=uuid.uuid4(),
                                        scores=dict.fromkeys(scores, 3)).annotation
    assert revised.revision == 2 and submissions.annotation_is_revisable(revised)

    review = services.review_decide(reviewer=qa_lead, target_kind="rating_pair", target_id=first.pair_id,
                                    decision="approve")
    assert review.rating_pair_id == first.pair_id and review.target_id == first.pair_id
    assert RatingPair.objects.get(pk=first.pair_id).locked_at is not None
    assert not submissions.annotation_is_revisable(revised)
    for user, task in ((annotator, first), (annotator2, second)):
        with pytest.raises(submissions.AlreadyReviewed):
            submissions.rating_submit(annotator=user, task_id=task.id, submission_id=uuid.uuid4(), scores=scores)
    submissions.cache_clear()
