"""Pair-building rules against the paper's counts (PLLuM-Align §4.2, App. A.1). Pure: no database."""

from __future__ import annotations

import random

import pytest

from exports import pairs as P

CRITERIA = P.criterion_keys()


def user(text: str) -> P.Message:
    return P.Message(role="user", content=text)


def ranking_item(
    item_id: str = "r1",
    *,
    orders: tuple[tuple[str, ...], ...] = (("a", "b", "c", "d"),),
    custom: str | None = None,
    hardness: dict[str, str] | None = None,
    category: str = "qa_polish",
) -> P.RankingItem:
    candidates = tuple(P.Candidate(response_id=x, text=f"odpowiedź {x}", model=f"m-{x}") for x in "abcd")
    judgements = tuple(
        P.RankingJudgement(annotator=f"ann{i}", order=o, custom_text=custom, hardness=hardness or {})
        for i, o in enumerate(orders)
    )
    return P.RankingItem(
        item_id=item_id,
        prompt_id=f"p-{item_id}",
        prompt=(user(f"Pytanie {item_id}: gdzie leży Kraków?"),),
        candidates=candidates,
        judgements=judgements,
        category=category,
    )


def rated(response_id: str, *annotator_scores: list[int]) -> P.RatedResponse:
    ratings = tuple(
        P.CriterionRating(annotator=f"ann{i}", scores=dict(zip(CRITERIA, scores, strict=True)))
        for i, scores in enumerate(annotator_scores)
    )
    return P.RatedResponse(
        response_id=response_id, text=f"tekst {response_id}", model=f"m-{response_id}", ratings=ratings
    )


def rating_item(first: P.RatedResponse, second: P.RatedResponse) -> P.RatingItem:
    return P.RatingItem(
        item_id="t1",
        prompt_id="p1",
        prompt=(user("Napisz wiersz o Wiśle."),),
        responses=(first, second),
        category="generation",
    )


def dialog(
    n_turns: int = 5, *, custom_turns: frozenset[int] = frozenset(), dialog_id: str = "d1"
) -> P.Dialog:
    turns, history = [], [P.Message(role="system", content="Jesteś pomocnym asystentem.")]
    for i in range(n_turns):
        history.append(user(f"tura {i}: pytanie"))
        candidates = tuple(P.Candidate(response_id=f"t{i}-{x}", text=f"t{i} {x}", model=x) for x in "xyz")
        custom = f"poprawiona odpowiedź {i}" if i in custom_turns else None
        turns.append(
            P.DialogTurn(
                turn_id=f"{dialog_id}-t{i}",
                index=i,
                context=tuple(history),
                candidates=candidates,
                chosen_id=None if custom else f"t{i}-y",
                custom_text=custom,
                display_order=(f"t{i}-z", f"t{i}-x", f"t{i}-y"),
            )
        )
        history.append(P.Message(role="assistant", content=custom or f"t{i} y"))
    return P.Dialog(dialog_id=dialog_id, annotator="ann7", turns=tuple(turns))


# ---- paper counts ---------------------------------------------------------------------------------------


def test_five_turn_dialog_gives_ten_pairs_with_all_turns_all_pairs() -> None:
    rows = P.pairs_from_dialog(dialog(5), strategy="dialog-all-turns-all-pairs")
    assert len(rows) == 10
    assert {r["turn_index"] for r in rows} == set(range(5))


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("dialog-last-turn-one-pair", 1),
        ("dialog-last-turn-all-pairs", 2),
        ("dialog-all-turns-one-pair", 5),
    ],
)
def test_dialog_ablation_variants(strategy: str, expected: int) -> None:
    rows = P.pairs_from_dialog(dialog(5), strategy=strategy, seed=3)
    assert len(rows) == expected
    if strategy.startswith("dialog-last-turn"):
        assert {r["turn_index"] for r in rows} == {4}


def test_best_vs_all_gives_three_pairs_per_ranking() -> None:
    rows = P.pairs_from_ranking(ranking_item(), strategy="ranking-best-vs-all")
    assert [(r["chosen_id"], r["rejected_id"]) for r in rows] == [("a", "b"), ("a", "c"), ("a", "d")]


def test_best_vs_worst_is_rank_one_against_rank_four() -> None:
    rows = P.pairs_from_ranking(ranking_item(orders=(("c", "a", "d", "b"),)))
    assert [(r["chosen_id"], r["rejected_id"]) for r in rows] == [("c", "b")]
    assert rows[0]["strategy"] == "ranking-best-vs-worst"


def test_best_vs_random_is_reproducible_and_independent_of_order() -> None:
    items = [ranking_item(f"r{i}") for i in range(40)]
    forward = {i.item_id: P.pairs_from_ranking(i, strategy="ranking-best-vs-random", seed=7) for i in items}
    backward = {
        i.item_id: P.pairs_from_ranking(i, strategy="ranking-best-vs-random", seed=7) for i in reversed(items)
    }
    assert forward == backward
    rejected = {rows[0]["rejected_id"] for rows in forward.values()}
    assert rejected == {"b", "c", "d"}  # every lower rank gets drawn over 40 items
    assert all(rows[0]["chosen_id"] == "a" for rows in forward.values())


def test_rating_pair_with_chosen_mean_4_4_is_dropped() -> None:
    # Two annotators each scored five criteria: 22 / 5 = 4.4 exactly.
    high = P.RatedResponse(
        response_id="h",
        text="lepszy",
        ratings=(
            P.CriterionRating(
                annotator="a0",
                scores={
                    "truthfulness": 5,
                    "safety": 4,
                    "fairness": 4,
                    "conciseness": 5,
                    "coherence_reasoning": 4,
                },
            ),
            P.CriterionRating(
                annotator="a1",
                scores={
                    "truthfulness": 5,
                    "safety": 4,
                    "fairness": 4,
                    "conciseness": 5,
                    "coherence_reasoning": 4,
                },
            ),
        ),
    )
    low = rated("l", [3] * 7, [3] * 7)
    assert P.response_score(high) == pytest.approx(4.4)
    assert P.pairs_from_rating(rating_item(high, low)) == []
    assert len(P.pairs_from_rating(rating_item(high, low), threshold=4.4)) == 1


def test_rating_threshold_is_inclusive_at_4_5_and_higher_mean_is_chosen() -> None:
    best = rated("b", [5, 5, 5, 4, 4, 5, 4], [4, 4, 5, 4, 5, 4, 5])  # 63 / 14 = 4.5 exactly
    worse = rated("w", [3] * 7, [4] * 7)
    rows = P.pairs_from_rating(rating_item(worse, best))
    assert len(rows) == 1
    assert (rows[0]["chosen_id"], rows[0]["rejected_id"]) == ("b", "w")
    assert rows[0]["chosen_score"] == 4.5
    assert rows[0]["rejected_score"] == 3.5
    assert rows[0]["annotators"] == ["ann0", "ann1"]


def test_equal_rating_means_give_no_pair() -> None:
    first = rated("f", [5] * 7, [4] * 7)
    second = rated("s", [4] * 7, [5] * 7)
    assert P.pairs_from_rating(rating_item(first, second)) == []


def test_rating_threshold_default_comes_from_reference() -> None:
    assert P.default_rating_threshold() == P.load_reference()["rating"]["chosen_mean_threshold"]


def test_custom_ranking_answer_is_chosen_against_all_model_answers() -> None:
    rows = P.pairs_from_ranking(
        ranking_item(custom="Kraków leży nad Wisłą."), strategy="ranking-best-vs-worst"
    )
    assert len(rows) == 4
    assert {r["rejected_id"] for r in rows} == {"a", "b", "c", "d"}
    assert all(r["chosen"] == [{"role": "assistant", "content": "Kraków leży nad Wisłą."}] for r in rows)
    assert all(r["chosen_is_custom"] and r["chosen_id"] == "custom:ann0" for r in rows)
    assert all(r["strategy"] == "ranking-best-vs-worst+custom" for r in rows)


def test_custom_dialog_answer_is_chosen_against_all_three_candidates() -> None:
    rows = P.pairs_from_dialog(dialog(5, custom_turns=frozenset({2})))
    turn2 = [r for r in rows if r["turn_index"] == 2]
    assert len(rows) == 11
    assert {r["rejected_id"] for r in turn2} == {"t2-x", "t2-y", "t2-z"}
    assert all(r["chosen_is_custom"] for r in turn2)


def test_copied_custom_answer_is_never_paired_with_itself() -> None:
    rows = P.pairs_from_ranking(ranking_item(custom="odpowiedź b "))
    assert {r["rejected_id"] for r in rows} == {"a", "c", "d"}


# ---- format ---------------------------------------------------------------------------------------------


def test_rows_are_trl_conversational() -> None:
    rows = P.pairs_from_dialog(dialog(3))
    last = rows[-1]
    assert [m["role"] for m in last["prompt"]] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert last["chosen"] == [{"role": "assistant", "content": "t2 y"}]
    assert len(last["rejected"]) == 1 and last["rejected"][0]["role"] == "assistant"


def test_prompt_must_end_with_user_message() -> None:
    item = ranking_item()
    bad = P.RankingItem(**{**item.__dict__, "prompt": (P.Message(role="assistant", content="x"),)})
    with pytest.raises(ValueError, match="user message"):
        P.pairs_from_ranking(bad)


def test_dialog_turns_share_one_split_group() -> None:
    rows = P.pairs_from_dialog(dialog(5))
    assert len({r["group_id"] for r in rows}) == 1


def test_group_id_ignores_case_and_whitespace() -> None:
    a = P.group_id_for([user("Gdzie  leży\nKRAKÓW?")])
    assert a == P.group_id_for([user("gdzie leży kraków?")])
    assert a != P.group_id_for([user("gdzie leży krakow?")])


def test_strategy_names_match_the_reference() -> None:
    names = set(P.load_reference()["pair_strategies"]) - {"custom_response_rule"}
    ours = {s.value for s in P.RankingStrategy} | {s.value for s in P.DialogStrategy} | {P.RATING_STRATEGY}
    assert ours == names


# ---- gold items (several annotators) --------------------------------------------------------------------


def test_borda_merge_of_three_rankings() -> None:
    item = ranking_item(orders=(("a", "b", "c", "d"), ("b", "a", "c", "d"), ("a", "c", "b", "d")))
    rows = P.pairs_from_ranking(item, strategy="ranking-best-vs-all", merge="borda")
    assert [r["rejected_id"] for r in rows] == ["b", "c", "d"]
    assert rows[0]["annotators"] == ["ann0", "ann1", "ann2"]


def test_ranked_pairs_elects_the_condorcet_winner() -> None:
    # "b" beats every other response head to head (2 of 3) but has fewer Borda points than "a" (6 < 7).
    orders = (("b", "a", "c", "d"), ("b", "a", "c", "d"), ("a", "c", "d", "b"))
    borda = P.merge_rankings(
        [P.RankingJudgement(annotator=str(i), order=o) for i, o in enumerate(orders)],
        candidate_ids="abcd",
        rule="borda",
    )
    ranked = P.merge_rankings(
        [P.RankingJudgement(annotator=str(i), order=o) for i, o in enumerate(orders)],
        candidate_ids="abcd",
        rule="ranked_pairs",
    )
    assert borda[0] == "a"
    assert ranked[0] == "b"
    assert sorted(ranked) == list("abcd")


def test_merge_is_independent_of_judgement_order() -> None:
    orders = [("a", "b", "c", "d"), ("b", "a", "d", "c"), ("c", "d", "a", "b"), ("d", "c", "b", "a")]
    judgements = [P.RankingJudgement(annotator=str(i), order=o) for i, o in enumerate(orders)]
    for rule in ("borda", "ranked_pairs"):
        results = set()
        for _ in range(10):
            random.Random(_).shuffle(judgements)
            results.add(tuple(P.merge_rankings(judgements, candidate_ids="abcd", rule=rule)))
        assert len(results) == 1


def test_one_hard_vote_makes_a_hard_reject() -> None:
    item = ranking_item(orders=(("a", "b", "c", "d"),), hardness={"d": "hard", "c": "soft"})
    rows = P.pairs_from_ranking(item, strategy="ranking-best-vs-all")
    assert [r["reject_hardness"] for r in rows] == ["", "soft", "hard"]
    gold = P.RankingItem(
        **{
            **item.__dict__,
            "judgements": (
                P.RankingJudgement(annotator="x", order=tuple("abcd"), hardness={"d": "soft"}),
                P.RankingJudgement(annotator="y", order=tuple("abcd"), hardness={"d": "hard"}),
            ),
        }
    )
    assert P.pairs_from_ranking(gold)[0]["reject_hardness"] == "hard"


def test_rating_median_merge_resists_one_outlier() -> None:
    chosen = rated("c", [5] * 7, [5] * 7, [1] * 7)  # mean 3.67, median 5
    other = rated("o", [3] * 7, [3] * 7, [3] * 7)
    assert P.pairs_from_rating(rating_item(chosen, other), merge="mean") == []
    assert len(P.pairs_from_rating(rating_item(chosen, other), merge="median")) == 1


# ---- other outputs --------------------------------------------------------------------------------------


def test_kto_rows_have_each_response_once() -> None:
    rows = list(P.kto_rows_from_pairs(P.pairs_from_ranking(ranking_item(), strategy="ranking-best-vs-all")))
    assert [(r["response_id"], r["label"]) for r in rows] == [
        ("a", True),
        ("b", False),
        ("c", False),
        ("d", False),
    ]
    assert rows[0]["completion"] == [{"role": "assistant", "content": "odpowiedź a"}]
    assert rows[0]["prompt"][-1]["role"] == "user"


def test_sft_rows_from_chosen_and_custom_answers() -> None:
    pairs = [
        *P.pairs_from_ranking(ranking_item("r1"), strategy="ranking-best-vs-all"),
        *P.pairs_from_ranking(ranking_item("r2", custom="własna odpowiedź")),
        *P.pairs_from_dialog(dialog(4, custom_turns=frozenset({1}))),
    ]
    rows = list(P.sft_rows_from_pairs(pairs))
    assert [r["response_id"] for r in rows] == ["a", "custom:ann0", "t3-y"]
    assert rows[1]["is_custom"] and rows[1]["messages"][-1]["content"] == "własna odpowiedź"
    dialog_messages = rows[2]["messages"]
    assert len(dialog_messages) == 1 + 4 * 2  # system + 4 user/assistant exchanges
    assert dialog_messages[4]["content"] == "poprawiona odpowiedź 1"


def test_rating_score_rows_give_per_criterion_means() -> None:
    rows = P.rating_score_rows(rating_item(rated("f", [5] * 7, [4] * 7), rated("s", [1, 2, 3, 4, 5, 1, 2])))
    assert [r["response_id"] for r in rows] == ["f", "s"]
    assert rows[0]["scores"] == dict.fromkeys(CRITERIA, 4.5)
    assert rows[1]["scores"]["truthfulness"] == 1.0 and rows[1]["overall"] == pytest.approx(18 / 7)


def test_source_cap_keeps_the_same_rows_in_any_order() -> None:
    rows = [{"sft_id": f"s{i}", "category": "polqa" if i % 2 else "qa_polish"} for i in range(50)]
    kept = list(P.cap_per_source(rows, cap=5, capped_sources=["polqa"], seed=1))
    kept_rev = list(P.cap_per_source(list(reversed(rows)), cap=5, capped_sources=["polqa"], seed=1))
    polqa = [r["sft_id"] for r in kept if r["category"] == "polqa"]
    assert len(polqa) == 5
    assert polqa == [r["sft_id"] for r in kept_rev if r["category"] == "polqa"]
    assert sum(r["category"] == "qa_polish" for r in kept) == 25


def test_sft_cap_defaults_come_from_the_reference() -> None:
    assert P.default_sft_cap() == 1000
    assert set(P.adapted_categories()) == {"polqa", "hh_rlhf", "long", "toxigen"}
    assert P.default_eval_ratio() == 0.1
