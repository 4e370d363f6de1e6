"""Rating items read from RatingPairs: the exported item id stays the pair's smaller task id (the bytes of an
export do not depend on how pairs are stored), and the pair's QA review decides what is kept."""

import pytest

from exports import adapters as A
from qa import services as qa_services
from tests.factories import make_qa_rating, make_qa_rating_pair, make_rating_task

pytestmark = pytest.mark.django_db


def test_rating_items_are_named_by_the_smaller_task_id_and_follow_the_pair_review(
    seeded, annotator, annotator2, qa_lead
):
    clear = make_qa_rating_pair(texts=("Dobra", "Słaba"))
    low = make_qa_rating_pair(texts=("Słabszy zwycięzca", "Przegrany"))
    tie = make_qa_rating_pair(texts=("Remis A", "Remis B"))
    alone = make_rating_task(text="Bez pary")
    for (first, second), (a, b) in ((clear, (5, 2)), (low, (4, 2)), (tie, (4, 4))):
        for who in (annotator, annotator2):  # each response has its two required ratings
            make_qa_rating(first, who, a)
            make_qa_rating(second, who, b)
    make_qa_rating(alone, annotator, 5)
    make_qa_rating(alone, annotator2, 5)
    qa_services.review_decide(reviewer=qa_lead, target_kind="rating_pair", target_id=low[0].pair_id,
                              decision="edit", edited_text="Lepszy zwycięzca")
    qa_services.review_decide(reviewer=qa_lead, target_kind="rating_pair", target_id=tie[0].pair_id,
                              decision="reject", note="remis")

    stats = A.AdapterStats()
    items = {i.item_id: i for i in A.iter_rating_items(A.ExportFilters(task_types=("rating",)), stats=stats)}
    assert list(items) == [str(clear[0].id), str(low[0].id), str(alone.id)]
    assert [r.text for r in items[str(low[0].id)].responses] == ["Lepszy zwycięzca", "Przegrany"]
    assert [r.text for r in items[str(clear[0].id)].responses] == ["Dobra", "Słaba"]
    assert stats.held_back == {"rating_pair_reject": 1}

    raw = [i.item_id for i in A.iter_rating_items(A.ExportFilters(task_types=("rating",), review_status="all"))]
    assert raw == [str(clear[0].id), str(low[0].id), str(tie[0].id), str(alone.id)]
    assert A.count_items(A.ExportFilters(task_types=("rating",)))["rating"] == 4


def test_a_pair_with_an_incomplete_response_is_held_back_until_its_second_rating(seeded, annotator, annotator2):
    """annotators_per_response is 2 (the task's overlap): chosen 5.0 vs rejected 2.0 from one rating of one
    response is a noisier label than the paper's mean over the required annotators."""
    first, second = make_qa_rating_pair(texts=("Dobra", "Słaba"))
    make_qa_rating(first, annotator, 5)
    make_qa_rating(first, annotator2, 5)
    make_qa_rating(second, annotator, 2)
    make_qa_rating(second, annotator2, 2, skip_reason="needs_expert")  # a skip is not a rating
    filters = A.ExportFilters(task_types=("rating",), review_status="all")
    stats = A.AdapterStats()
    assert list(A.iter_rating_items(filters, stats=stats)) == []
    assert stats.held_back == {"rating_pair_incomplete": 1}

    from annotation.models import Rating

    Rating.objects.filter(task=second, annotator=annotator2).update(skip_reason="", scores={"truthfulness": 2})
    stats = A.AdapterStats()
    items = list(A.iter_rating_items(filters, stats=stats))
    assert [i.item_id for i in items] == [str(first.id)] and not stats.held_back
    assert [len(r.ratings) for r in items[0].responses] == [2, 2]


def test_completeness_ignores_the_exports_annotator_filter_and_gold_uses_its_reference(
    seeded, annotator, annotator2
):
    first, second = make_qa_rating_pair(texts=("Dobra", "Słaba"))
    for who in (annotator, annotator2):
        make_qa_rating(first, who, 5)
        make_qa_rating(second, who, 2)
    only_one = A.ExportFilters(task_types=("rating",), review_status="all", annotators=(annotator.pk,))
    items = list(A.iter_rating_items(only_one))
    assert [len(r.ratings) for r in items[0].responses] == [1, 1]  # complete item, one annotator's ratings

    gold = make_rating_task(text="Złoty wzorzec", is_gold=True)
    make_qa_rating(gold, annotator, 4)
    stats = A.AdapterStats()
    all_items = A.ExportFilters(task_types=("rating",), review_status="all")
    assert str(gold.id) not in {i.item_id for i in A.iter_rating_items(all_items, stats=stats)}
    assert stats.held_back == {"rating_pair_incomplete": 1}
    gold.gold_reference = {"scores": {"truthfulness": 4}}
    gold.save(update_fields=["gold_reference"])
    assert str(gold.id) in {i.item_id for i in A.iter_rating_items(all_items)}
