"""The dashboard's memoised ranking figures equal qa.stats on the same records (ties, repeats, gaps)."""

import random

import pytest

from qa import reports, stats


def _random_rankings(seed: int, n_items: int = 60, n_annotators: int = 6):
    rng = random.Random(seed)
    rows = []
    for item in range(n_items):
        ids = [item * 10 + k for k in range(4)]
        for annotator in rng.sample(range(n_annotators), rng.randint(1, 4)):
            order = rng.sample(ids, 4)
            if rng.random() < 0.15:  # a tie group
                order = [tuple(order[:2]), *order[2:]]
            if rng.random() < 0.1:  # a partial ranking
                order = order[:2]
            rows.append((item, f"ann{annotator}", order, ids))
    rows.append(rows[0][:2] + (list(reversed(rows[0][2])), rows[0][3]))  # a repeated (item, annotator)
    return rows


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ranking_agreement_equals_stats(seed):
    rows = _random_rankings(seed)
    fast = reports.ranking_agreement(rows)
    assert fast.tau.n == stats.pairwise_kendall_tau(rows).n
    assert fast.tau.value == pytest.approx(stats.pairwise_kendall_tau(rows).value)
    assert fast.top1 == stats.top1_agreement(rows)
    expected = stats.ranking_annotator_vs_peers(rows)
    assert fast.per_annotator.keys() == expected.keys()
    for ann, row in expected.items():
        assert fast.per_annotator[ann].n_pairs == row.n_pairs
        assert fast.per_annotator[ann].mean_tau == pytest.approx(row.mean_tau)
        assert fast.per_annotator[ann].top1_agreement == pytest.approx(row.top1_agreement)


@pytest.mark.parametrize("seed", [4, 5])
def test_ranking_vs_gold_equals_stats(seed):
    rows = _random_rankings(seed)
    gold = {item: [item * 10 + k for k in (3, 1, 0, 2)] for item in range(0, 60, 3)}
    fast = reports.ranking_vs_gold(rows, gold)
    expected = stats.ranking_vs_gold(rows, gold)
    assert fast.keys() == expected.keys()
    for ann, row in expected.items():
        assert fast[ann].n_pairs == row.n_pairs
        assert fast[ann].mean_tau == pytest.approx(row.mean_tau)
        assert fast[ann].top1_agreement == pytest.approx(row.top1_agreement)


def test_no_pairs_gives_the_stats_reason():
    fast = reports.ranking_agreement([(1, "a", [1, 2], [1, 2])])
    assert fast.tau == stats.pairwise_kendall_tau([])
    assert not fast.top1.defined


@pytest.mark.parametrize("seed", [6, 7])
def test_alpha_by_week_equals_stats(seed):
    from datetime import date, timedelta

    rng = random.Random(seed)
    keys = ["truthfulness", "safety", "conciseness"]
    start = date(2026, 9, 2)
    rows = []
    for item in range(80):
        for annotator in rng.sample(range(5), rng.randint(1, 3)):
            day = start + timedelta(days=rng.randint(0, 40))
            for key in keys:
                score = None if rng.random() < 0.05 else rng.randint(1, 5)
                if key == "conciseness" and item % 7 == 0:
                    continue  # a criterion missing on some items
                rows.append((item, annotator, key, score, day))
    expected = stats.alpha_over_time(rows, "W", keys)
    fast = reports.alpha_by_week(rows, keys)
    assert fast.keys() == expected.keys()
    for key in keys:
        assert [week for week, _e in fast[key]] == [week for week, _e in expected[key]]
        for (_w1, got), (_w2, want) in zip(fast[key], expected[key], strict=True):
            assert got.n == want.n and got.reason == want.reason
            assert got.value == pytest.approx(want.value)
    assert len(expected["truthfulness"]) >= 5
