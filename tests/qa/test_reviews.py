"""Review decisions: the original stays, the latest decision wins, exports read the effective text."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from qa import selectors, services
from qa.models import Review, ReviewTarget
from tests.factories import (
    make_qa_dialog,
    make_qa_ranking,
    make_qa_ranking_task,
    make_qa_rating,
    make_qa_rating_pair,
)

pytestmark = pytest.mark.django_db


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def custom_ranking(seeded, annotator):
    task, ids = make_qa_ranking_task()
    return make_qa_ranking(task, annotator, ids, custom_text="Stolicą Polski jest Krakow.")


def test_edit_keeps_the_original_and_changes_the_effective_text(custom_ranking, qa_lead):
    review = services.review_decide(reviewer=qa_lead, target_kind="ranking", target_id=custom_ranking.id,
                                    decision="edit", note="literówka", edited_text="Stolicą Polski jest Warszawa.")
    custom_ranking.refresh_from_db()
    assert custom_ranking.custom_text == "Stolicą Polski jest Krakow."  # the annotation is untouched
    assert review.original_text == "Stolicą Polski jest Krakow."
    assert selectors.effective_custom_text("ranking", [custom_ranking.id]) == {
        custom_ranking.id: "Stolicą Polski jest Warszawa."}
    assert selectors.review_state("ranking", [custom_ranking.id])[custom_ranking.id] == review


def test_latest_decision_wins(custom_ranking, qa_lead):
    rid = custom_ranking.id
    services.review_decide(reviewer=qa_lead, target_kind="ranking", target_id=rid, decision="edit",
                           edited_text="Poprawione.")
    services.review_decide(reviewer=qa_lead, target_kind="ranking", target_id=rid, decision="reject",
                           note="zmyślone")
    assert selectors.effective_custom_text("ranking", [rid]) == {rid: None}
    assert selectors.is_rejected("ranking", [rid]) == {rid}
    services.review_decide(reviewer=qa_lead, target_kind="ranking", target_id=rid, decision="approve")
    assert selectors.effective_custom_text("ranking", [rid]) == {rid: "Stolicą Polski jest Krakow."}
    assert Review.objects.filter(ranking_id=rid).count() == 3  # the whole trail is kept


def test_unreviewed_text_is_the_annotators(custom_ranking):
    assert selectors.effective_custom_text("ranking", [custom_ranking.id, 987654]) == {
        custom_ranking.id: "Stolicą Polski jest Krakow."}
    assert selectors.review_state("ranking", [custom_ranking.id]) == {}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"decision": "edit", "edited_text": "  "}, "edited_text"),
        ({"decision": "edit", "edited_text": "Stolicą Polski jest Krakow."}, "edited_text"),
        ({"decision": "reject", "note": ""}, "note"),
        ({"decision": "maybe"}, "decision"),
    ],
)
def test_bad_decisions_are_refused_with_a_message(custom_ranking, qa_lead, kwargs, field):
    with pytest.raises(ValidationError) as info:
        services.review_decide(reviewer=qa_lead, target_kind="ranking", target_id=custom_ranking.id, **kwargs)
    assert field in info.value.message_dict
    assert not Review.objects.exists()


def test_unknown_targets_and_dialog_edits_are_refused(seeded, annotator, qa_lead):
    with pytest.raises(ValidationError):
        services.review_decide(reviewer=qa_lead, target_kind="ranking", target_id=424242, decision="approve")
    dialog = make_qa_dialog(annotator, [("ABC", "A", "")])
    with pytest.raises(ValidationError):
        services.review_decide(reviewer=qa_lead, target_kind="dialog", target_id=dialog.id, decision="edit",
                               edited_text="x")
    services.review_decide(reviewer=qa_lead, target_kind="dialog", target_id=dialog.id, decision="reject",
                           note="zatrute dane")
    assert selectors.effective_custom_text("dialog", [dialog.id]) == {dialog.id: None}


def test_dialog_turn_custom_answer(seeded, annotator, qa_lead):
    dialog = make_qa_dialog(annotator, [("ABC", "B", ""), ("CAB", None, "Własna odpowiedź")])
    turn = dialog.turns.get(index=2)
    assert list(selectors.custom_turn_queue("pending")) == [turn]
    services.review_decide(reviewer=qa_lead, target_kind="dialog_turn", target_id=turn.id, decision="edit",
                           edited_text="Własna, poprawiona odpowiedź")
    assert list(selectors.custom_turn_queue("pending")) == []
    assert selectors.effective_custom_text("dialog_turn", [turn.id]) == {turn.id: "Własna, poprawiona odpowiedź"}


def test_text_diff_segments():
    segments = selectors.text_diff("Ala ma kota.", "Ala ma psa.")
    assert ("delete", "kota") in segments and ("insert", "psa") in segments
    assert "".join(t for op, t in segments if op != "insert") == "Ala ma kota."
    assert "".join(t for op, t in segments if op != "delete") == "Ala ma psa."


def test_rating_pair_queues(seeded, annotator, annotator2, qa_lead):
    same_a, same_b = make_qa_rating_pair()
    for task in (same_a, same_b):
        make_qa_rating(task, annotator, 4)
        make_qa_rating(task, annotator2, 4)
    low_a, low_b = make_qa_rating_pair(texts=("Słabszy zwycięzca", "Przegrany"))
    make_qa_rating(low_a, annotator, 4)
    make_qa_rating(low_b, annotator, 2)
    good_a, good_b = make_qa_rating_pair()
    make_qa_rating(good_a, annotator, 5)
    make_qa_rating(good_b, annotator, 3)

    identical = selectors.rating_pair_queue("identical")
    assert [row.pair.pair_id for row in identical] == [same_a.pair_id]
    low = selectors.rating_pair_queue("low_winner")
    assert [row.pair.pair_id for row in low] == [low_a.pair_id]
    assert low[0].pair.winner_task_id == low_a.id
    assert selectors.queue_counts()["low_winner"] == 1

    services.review_decide(reviewer=qa_lead, target_kind="rating_pair", target_id=low_a.pair_id, decision="edit",
                           edited_text="Lepszy zwycięzca")
    assert selectors.rating_pair_queue("low_winner") == []
    assert [r.pair.pair_id for r in selectors.rating_pair_queue("low_winner", "decided")] == [low_a.pair_id]
    assert selectors.effective_custom_text("rating_pair", [low_a.pair_id]) == {low_a.pair_id: "Lepszy zwycięzca"}
    assert selectors.review_state("rating_pair", [low_a.pair_id])[low_a.pair_id].original_text == "Słabszy zwycięzca"

    # a tie has no winner: it can be approved or rejected, not edited
    with pytest.raises(ValidationError):
        services.review_decide(reviewer=qa_lead, target_kind="rating_pair", target_id=same_a.pair_id,
                               decision="edit", edited_text="Nowy tekst")
    services.review_decide(reviewer=qa_lead, target_kind="rating_pair", target_id=same_a.pair_id, decision="reject",
                           note="niespójne oceny")
    assert selectors.is_rejected("rating_pair", [same_a.pair_id, low_a.pair_id]) == {same_a.pair_id}
    assert selectors.rating_pair_queue("identical") == []
    unrated = make_qa_rating_pair()[0].pair_id
    with pytest.raises(ValidationError):  # a pair whose responses are not both rated has nothing to review
        services.review_decide(reviewer=qa_lead, target_kind="rating_pair", target_id=unrated,
                               decision="approve")


def test_custom_queue_lists_only_custom_answers(seeded, annotator, annotator2, custom_ranking, qa_lead):
    task, ids = make_qa_ranking_task()
    make_qa_ranking(task, annotator2, ids)  # no custom answer
    assert list(selectors.custom_ranking_queue("pending")) == [custom_ranking]
    services.review_decide(reviewer=qa_lead, target_kind="ranking", target_id=custom_ranking.id,
                           decision="approve")
    assert list(selectors.custom_ranking_queue("pending")) == []
    decided = list(selectors.custom_ranking_queue("decided"))
    assert decided == [custom_ranking] and decided[0].latest_decision == "approve"


def test_dialog_sample_is_stable_and_partial(seeded, annotator):
    dialogs = [make_qa_dialog(annotator, [("ABC", "A", "")]) for _ in range(30)]
    everything = set(selectors.dialog_queue("all").values_list("id", flat=True))
    assert everything == {d.id for d in dialogs}
    sample = set(selectors.dialog_queue("all", sample_percent=25).values_list("id", flat=True))
    assert sample < everything
    assert sample == set(selectors.dialog_queue("all", sample_percent=25).values_list("id", flat=True))


# --- pages --------------------------------------------------------------------------------------------

def test_review_page_escapes_hostile_text_and_shows_the_diff(seeded, annotator, login, qa_lead):
    task, ids = make_qa_ranking_task(texts=[HOSTILE, "b", "c", "d"])
    ranking = make_qa_ranking(task, annotator, ids, custom_text=f"Oryginał {HOSTILE}")
    client = login(qa_lead)
    url = reverse("qa:review_item", args=["ranking", ranking.id])
    response = client.post(url, {"decision": "edit", "note": HOSTILE, "edited_text": f"Poprawka {HOSTILE} koniec"})
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page
    assert "<del>Oryginał</del>" in page and "<ins>Poprawka</ins>" in page
    assert 'data-testid="history-original"' in page


def test_review_form_errors_keep_the_typed_text(custom_ranking, login, qa_lead):
    client = login(qa_lead)
    url = reverse("qa:review_item", args=["ranking", custom_ranking.id])
    response = client.post(url, {"decision": "reject", "note": "", "edited_text": "coś wpisanego"})
    assert response.status_code == 422
    assert "coś wpisanego" in response.content.decode()
    assert not Review.objects.exists()


def test_htmx_post_returns_the_panel(custom_ranking, login, qa_lead):
    client = login(qa_lead)
    url = reverse("qa:review_item", args=["ranking", custom_ranking.id])
    response = client.post(url, {"decision": "approve", "note": "ok"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body
    assert 'id="history-h"' in body
    assert Review.objects.get().decision == "approve"


def test_queue_pages_list_items(seeded, custom_ranking, login, qa_lead):
    client = login(qa_lead)
    page = client.get(reverse("qa:review_queue", args=["custom"])).content.decode()
    assert reverse("qa:review_item", args=["ranking", custom_ranking.id]) in page
    partial = client.get(reverse("qa:review_queue", args=["custom"]), headers={"HX-Request": "true"})
    assert "<html" not in partial.content.decode()
    assert reverse("qa:review_item", args=["ranking", custom_ranking.id]) in partial.content.decode()


def test_review_target_kinds_are_the_documented_ones():
    assert set(ReviewTarget.values) == {"ranking", "rating_pair", "dialog", "dialog_turn"}


def test_every_review_item_kind_renders(seeded, annotator, annotator2, login, qa_lead):
    dialog = make_qa_dialog(annotator, [("ABC", "B", ""), ("CAB", None, HOSTILE)])
    turn = dialog.turns.get(index=2)
    a, b = make_qa_rating_pair(texts=(HOSTILE, "Druga"))
    make_qa_rating(a, annotator, 4)
    make_qa_rating(b, annotator2, 3)
    client = login(qa_lead)
    for kind, target in [("dialog", dialog.id), ("dialog_turn", turn.id), ("rating_pair", a.pair_id)]:
        response = client.get(reverse("qa:review_item", args=[kind, target]))
        page = response.content.decode()
        assert response.status_code == 200, kind
        assert "<script>alert" not in page and "<img src=x" not in page, kind
    pair_page = client.get(reverse("qa:review_item", args=["rating_pair", a.pair_id])).content.decode()
    assert 'data-testid="original-text"' in pair_page and "&lt;script&gt;" in pair_page
    assert client.get(reverse("qa:review_item", args=["rating_pair", a.pair_id + 1000])).status_code == 404
    dialog_page = client.get(reverse("qa:review_item", args=["dialog", dialog.id])).content.decode()
    assert 'name="edited_text"' not in dialog_page  # a whole dialog is approved or rejected, not edited


def test_rating_pairs_are_shared_until_a_rating_arrives(seeded, annotator, annotator2, django_assert_num_queries):
    a, b = make_qa_rating_pair()
    make_qa_rating(a, annotator, 5)
    make_qa_rating(b, annotator2, 5)
    first = selectors.all_rating_pairs()
    assert [p.identical for p in first] == [True]
    with django_assert_num_queries(1):  # only the version aggregate
        assert selectors.all_rating_pairs() == first
    make_qa_rating(b, annotator, 1)
    (pair,) = selectors.all_rating_pairs()
    assert not pair.identical and pair.winner_task_id == a.id


def test_htmx_reject_without_note_returns_the_panel_with_the_message(custom_ranking, login, qa_lead):
    client = login(qa_lead)
    url = reverse("qa:review_item", args=["ranking", custom_ranking.id])
    response = client.post(url, {"decision": "reject", "note": ""}, headers={"HX-Request": "true"})
    assert response.status_code == 422  # swapped by static/js/studio.js (htmx:beforeSwap for 400/422)
    body = response.content.decode()
    assert "<html" not in body and "errorlist" in body
    assert not Review.objects.exists()
