"""QA statistics and charts, checked against the reference libraries on fixed data (pure, no database)."""

import csv
import io
import itertools
import math
import random
import statistics
import warnings
import xml.etree.ElementTree as ET
from datetime import date

import krippendorff
import numpy as np
import pytest
from scipy import stats as sps

from qa import charts, stats

TOL = 1e-9
NaN = np.nan
CRITERIA = ["truthfulness", "linguistic_correctness", "safety", "fairness", "conciseness", "coherence",
            "helpfulness"]

# Five annotators x eight items for two criteria; NaN where the annotator did not rate the item.
MATRIX = {
    "truthfulness": [
        [1, 2, 3, 3, 2, 1, 4, 1],
        [1, 2, 3, 3, 2, 2, 4, NaN],
        [NaN, 3, 3, 3, 2, 3, 4, 2],
        [1, 2, 3, NaN, 2, 4, NaN, 1],
        [NaN, NaN, 5, 3, NaN, NaN, 4, 2],
    ],
    "safety": [
        [5, 5, 4, NaN, 5, 1, 3, 5],
        [5, 4, NaN, 2, 5, 2, 3, NaN],
        [NaN, 5, 4, 2, NaN, NaN, 2, 4],
        [4, NaN, NaN, 2, 5, 1, NaN, NaN],
        [NaN, NaN, NaN, NaN, NaN, NaN, NaN, 5],
    ],
}
ANNOTATORS = ["ala", "bartek", "celina", "darek", "ewa"]


def rows_from_matrix():
    rows = []
    for criterion, matrix in MATRIX.items():
        for annotator, line in zip(ANNOTATORS, matrix, strict=True):
            for item, score in enumerate(line):
                if math.isnan(score):
                    if item % 2:  # some missing cells arrive as skips (score None), others not at all
                        rows.append((f"item-{item}", annotator, criterion, None))
                    continue
                rows.append((f"item-{item}", annotator, criterion, int(score)))
    return rows


def independent_ordinal_alpha(matrix):
    """Krippendorff's alpha (ordinal) from the coincidence matrix, written out from the definition."""
    values = np.asarray(matrix, dtype=float)
    domain = [1, 2, 3, 4, 5]
    o = np.zeros((5, 5))
    for unit in values.T:
        present = unit[~np.isnan(unit)]
        m = len(present)
        if m < 2:
            continue
        for i, j in itertools.permutations(range(m), 2):
            o[domain.index(present[i]), domain.index(present[j])] += 1 / (m - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()

    def delta(c, k):
        lo, hi = min(c, k), max(c, k)
        return (n_c[lo:hi + 1].sum() - (n_c[lo] + n_c[hi]) / 2) ** 2

    d_o = sum(o[c, k] * delta(c, k) for c in range(5) for k in range(5))
    d_e = sum(n_c[c] * n_c[k] * delta(c, k) for c in range(5) for k in range(5)) / (n - 1)
    return 1 - d_o / d_e


# ------------------------------------------------------------------ Krippendorff's alpha


def test_alpha_by_criterion_matches_krippendorff_library_with_missing_values():
    result = stats.krippendorff_alpha_by_criterion(rows_from_matrix(), criteria=CRITERIA)

    assert list(result) == CRITERIA
    for criterion, matrix in MATRIX.items():
        expected = krippendorff.alpha(
            reliability_data=matrix, value_domain=[1, 2, 3, 4, 5], level_of_measurement="ordinal"
        )
        assert result[criterion].value == pytest.approx(expected, abs=TOL)
        assert result[criterion].value == pytest.approx(independent_ordinal_alpha(matrix), abs=TOL)
    assert result["truthfulness"].n == 8
    assert result["safety"].n == 8
    assert result["fairness"].value is None and result["fairness"].reason == "no ratings"


def test_alpha_on_the_published_example_with_missing_values():
    # Krippendorff (2011) / library doctest: 4 coders, 12 units, ordinal alpha 0.815.
    data = [[1, 2, 3, 3, 2, 1, 4, 1, 2, NaN, NaN, NaN],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NaN, 3],
            [NaN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NaN],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NaN]]
    rows = [(unit, coder, "c", int(v)) for coder, line in enumerate(data) for unit, v in enumerate(line)
            if not math.isnan(v)]

    result = stats.krippendorff_alpha(rows)

    expected = krippendorff.alpha(reliability_data=data, value_domain=[1, 2, 3, 4, 5],
                                  level_of_measurement="ordinal")
    assert result.value == pytest.approx(expected, abs=TOL)
    assert round(result.value, 3) == 0.815
    assert result.n == 11  # unit 11 has a single rating


def test_alpha_degenerate_cases_return_none_with_reason_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert stats.krippendorff_alpha([]).reason == "fewer than 2 annotators"
        one = stats.krippendorff_alpha([(1, "a", "c", 3), (2, "a", "c", 4)])
        assert one.value is None and one.reason == "fewer than 2 annotators"
        unpaired = stats.krippendorff_alpha([(1, "a", "c", 3), (2, "b", "c", 4)])
        assert unpaired.value is None and unpaired.reason == "no item rated by at least 2 annotators"
        constant = stats.krippendorff_alpha([(i, a, "c", 4) for i in range(5) for a in "ab"])
        assert constant.value is None and constant.reason == "no variation in scores"
        skips = stats.krippendorff_alpha([(1, "a", "c", None), (1, "b", "c", None)])
        assert skips.value is None
        out_of_range = stats.krippendorff_alpha([(1, "a", "c", 7), (1, "b", "c", 2)])
        assert out_of_range.reason == "scores outside 1..5"
        assert stats.krippendorff_alpha_by_criterion([]) == {}


def test_alpha_over_time_groups_items_by_the_week_they_became_pairable():
    rows = rows_from_matrix()
    days = {f"item-{i}": date(2025, 3, 3 + 7 * (i % 2)) for i in range(8)}  # two weeks, Mondays
    dated = [(*row, days[row[0]]) for row in rows]

    result = stats.alpha_over_time(dated, freq="W")

    weeks = [period for period, _est in result["truthfulness"]]
    assert weeks == [date(2025, 3, 3), date(2025, 3, 10)]
    for offset, (_period, estimate) in enumerate(result["truthfulness"]):
        columns = [i for i in range(8) if i % 2 == offset]
        expected = krippendorff.alpha(
            reliability_data=np.asarray(MATRIX["truthfulness"])[:, columns],
            value_domain=[1, 2, 3, 4, 5], level_of_measurement="ordinal",
        )
        assert estimate.value == pytest.approx(expected, abs=TOL)


# ------------------------------------------------------------------ per-annotator rating figures


def test_annotator_vs_peers_matches_direct_computation():
    rows = rows_from_matrix()
    result = stats.annotator_vs_peers(rows)

    assert list(result) == ANNOTATORS
    for a, annotator in enumerate(ANNOTATORS):
        deviations, equal, pairs = [], 0, 0
        own_columns = []
        for matrix in MATRIX.values():
            values = np.asarray(matrix)
            for item in range(values.shape[1]):
                if math.isnan(values[a, item]):
                    continue
                own_columns.append(values[:, item])
                peers = [values[p, item] for p in range(len(ANNOTATORS))
                         if p != a and not math.isnan(values[p, item])]
                if not peers:
                    continue
                deviations.append(values[a, item] - statistics.fmean(peers))
                equal += sum(p == values[a, item] for p in peers)
                pairs += len(peers)
        got = result[annotator]
        assert got.n_units == len(deviations)
        assert got.mean_signed_deviation == pytest.approx(statistics.fmean(deviations), abs=TOL)
        assert got.mean_abs_deviation == pytest.approx(statistics.fmean(map(abs, deviations)), abs=TOL)
        assert got.exact_agreement == pytest.approx(equal / pairs, abs=TOL)
        expected_alpha = krippendorff.alpha(reliability_data=np.column_stack(own_columns),
                                            value_domain=[1, 2, 3, 4, 5], level_of_measurement="ordinal")
        assert got.alpha.value == pytest.approx(expected_alpha, abs=TOL)


def test_deviation_from_gold_and_leniency_and_distribution():
    rows = rows_from_matrix()
    gold = [(f"item-{i}", "truthfulness", [1, 2, 3, 3, 2, 2, 4, 1][i]) for i in range(8)]

    deviation = stats.deviation_from_gold(rows, gold)
    lenient = stats.leniency(rows)
    distribution = stats.score_distribution(rows, criterion="safety")

    scores = [r for r in rows if r[3] is not None]
    all_mean = statistics.fmean(r[3] for r in scores)
    all_sd = statistics.stdev(r[3] for r in scores)
    for a, annotator in enumerate(ANNOTATORS):
        line = np.asarray(MATRIX["truthfulness"][a])
        diffs = [line[i] - gold[i][2] for i in range(8) if not math.isnan(line[i])]
        assert deviation[annotator].n == len(diffs)
        assert deviation[annotator].mean_signed_deviation == pytest.approx(statistics.fmean(diffs), abs=TOL)
        assert deviation[annotator].mean_abs_deviation == pytest.approx(
            statistics.fmean(map(abs, diffs)), abs=TOL)
        assert deviation[annotator].exact_match == pytest.approx(diffs.count(0) / len(diffs), abs=TOL)

        own = [r[3] for r in scores if r[1] == annotator]
        offset = statistics.fmean(own) - all_mean
        assert lenient[annotator].offset == pytest.approx(offset, abs=TOL)
        assert lenient[annotator].z == pytest.approx(offset / (all_sd / math.sqrt(len(own))), abs=TOL)

        safety = [int(v) for v in MATRIX["safety"][a] if not math.isnan(v)]
        assert distribution[annotator] == {s: safety.count(s) for s in range(1, 6)}


def test_leniency_labels_a_rater_who_always_gives_fives():
    rng = random.Random(7)
    rows = [(i, f"rater-{r}", "helpfulness", rng.randint(1, 5)) for i in range(120) for r in range(4)]
    rows += [(i, "generous", "helpfulness", 5) for i in range(120)]

    result = stats.leniency(rows)

    assert result["generous"].label == "lenient"
    assert all(result[f"rater-{r}"].label != "lenient" for r in range(4))


# ------------------------------------------------------------------ ranking agreement

RANKINGS = [
    # item, annotator, ranking best -> worst, display order
    ("p1", "ala", ["a", "b", "c", "d"], ["d", "c", "b", "a"]),
    ("p1", "bartek", ["b", "a", "c", "d"], ["a", "b", "c", "d"]),
    ("p1", "celina", ["a", "c", "b", "d"], ["c", "a", "d", "b"]),
    ("p2", "ala", ["e", "f", "g", "h"], ["e", "f", "g", "h"]),
    ("p2", "darek", ["h", "g", "f", "e"], ["h", "e", "g", "f"]),
    ("p3", "bartek", ["i", "j", "k", "l"], ["i", "j", "k", "l"]),  # single annotator: no pair
    ("p4", "celina", ["m", "n", "o", "p"], ["p", "o", "n", "m"]),
    ("p4", "darek", ["m", ["n", "o"], "p"], ["m", "n", "o", "p"]),  # tie in the middle
    ("p4", "ewa", ["n", "m", "p", "o"], ["o", "p", "m", "n"]),
]


def _by_item():
    items = {}
    for item, annotator, ranking, _shown in RANKINGS:
        items.setdefault(item, {})[annotator] = ranking
    return items


def _positions(ranking):
    pos, rank = {}, 1
    for element in ranking:
        group = element if isinstance(element, list) else [element]
        for r in group:
            pos[r] = rank + (len(group) - 1) / 2
        rank += len(group)
    return pos


def test_pairwise_kendall_tau_is_the_mean_of_scipy_kendalltau_over_pairs():
    taus = []
    for by_annotator in _by_item().values():
        for a, b in itertools.combinations(sorted(by_annotator), 2):
            pa, pb = _positions(by_annotator[a]), _positions(by_annotator[b])
            ids = sorted(pa)
            taus.append(sps.kendalltau([pa[i] for i in ids], [pb[i] for i in ids]).statistic)

    result = stats.pairwise_kendall_tau(RANKINGS)

    assert result.n == len(taus) == 7
    assert result.value == pytest.approx(statistics.fmean(taus), abs=TOL)


def test_top1_agreement_counts_pairs_with_the_same_best_response():
    # p1: ala/bartek no, ala/celina yes, bartek/celina no; p2: no; p4: celina/darek yes, others no.
    result = stats.top1_agreement(RANKINGS)
    assert result.n == 7
    assert result.value == pytest.approx(2 / 7, abs=TOL)


@pytest.mark.parametrize("item", ["p1", "p4"])
def test_kendalls_w_equals_friedman_chi_square_over_m_times_n_minus_one(item):
    rankings = list(_by_item()[item].values())
    ids = sorted(_positions(rankings[0]))
    per_response = [[_positions(r)[i] for r in rankings] for i in ids]
    chi2 = sps.friedmanchisquare(*per_response).statistic
    m, n = len(rankings), len(ids)

    result = stats.kendalls_w(rankings)

    assert result.value == pytest.approx(chi2 / (m * (n - 1)), abs=TOL)
    assert result.n == m


def test_kendalls_w_bounds_and_degenerate_cases():
    assert stats.kendalls_w([["a", "b", "c"]] * 4).value == pytest.approx(1.0, abs=TOL)
    assert stats.kendalls_w([["a", "b"], ["b", "a"]]).value == pytest.approx(0.0, abs=TOL)
    assert stats.kendalls_w([["a", "b", "c"]]).reason == "fewer than 2 annotators"
    assert stats.kendalls_w([[["a", "b"]], [["a", "b"]]]).reason == "every ranking is a full tie"
    by_item = stats.kendalls_w_by_item(RANKINGS)
    assert by_item["p3"].value is None
    assert stats.mean_estimate(by_item.values()).n == 3


def test_ranking_agreement_per_annotator_and_against_gold():
    peers = stats.ranking_annotator_vs_peers(RANKINGS)
    gold = stats.ranking_vs_gold(RANKINGS, {"p1": ["a", "b", "c", "d"], "p4": ["m", "n", "o", "p"]})

    ala = [sps.kendalltau([1, 2, 3, 4], [2, 1, 3, 4]).statistic,
           sps.kendalltau([1, 2, 3, 4], [1, 3, 2, 4]).statistic,
           sps.kendalltau([1, 2, 3, 4], [4, 3, 2, 1]).statistic]
    assert peers["ala"].n_pairs == 3
    assert peers["ala"].mean_tau == pytest.approx(statistics.fmean(ala), abs=TOL)
    assert peers["ala"].top1_agreement == pytest.approx(1 / 3, abs=TOL)
    assert peers["bartek"].n_pairs == 2  # p3 has no peer
    assert gold["celina"].n_pairs == 2 and gold["celina"].top1_agreement == 1.0
    assert gold["ewa"].top1_agreement == 0.0
    assert gold["darek"].mean_tau == pytest.approx(
        sps.kendalltau([1, 2.5, 2.5, 4], [1, 2, 3, 4]).statistic, abs=TOL)


# ------------------------------------------------------------------ position bias


def _simulated_rankings(rng, annotator, n_items, first_shown):
    rankings = []
    for item in range(n_items):
        responses = [f"{item}-{k}" for k in range(4)]
        shown = responses[:]
        rng.shuffle(shown)  # the platform shuffles the display order per annotator
        ranking = shown[:] if first_shown else rng.sample(responses, 4)
        rankings.append((item, annotator, ranking, shown))
    return rankings


def test_position_bias_flags_an_annotator_who_always_picks_the_first_shown_response():
    rng = random.Random(2025)
    rankings = (_simulated_rankings(rng, "first-picker", 200, first_shown=True)
                + _simulated_rankings(rng, "fair", 200, first_shown=False))
    dialog_choices = [("fair", rng.randrange(3), 3) for _ in range(30)]  # other slot count: ignored

    result = stats.position_bias(stats.winner_slots_from_rankings(rankings) + dialog_choices, n_slots=4)

    biased, fair = result.per_annotator["first-picker"], result.per_annotator["fair"]
    assert biased.counts == (200, 0, 0, 0) and biased.win_rates[0] == 1.0
    assert biased.flagged
    assert not fair.flagged and fair.p_value > 0.01
    assert sum(fair.counts) == 200
    expected = sps.chisquare(fair.counts)
    assert fair.chi2 == pytest.approx(expected.statistic, abs=TOL)
    assert fair.p_value == pytest.approx(expected.pvalue, abs=TOL)
    assert fair.p_adjusted == pytest.approx(min(1.0, 2 * expected.pvalue), abs=TOL)
    assert result.overall.n == 400 and result.overall.flagged
    assert result.n_ignored == 30


def test_position_bias_uniform_annotators_alone_are_not_flagged():
    rng = random.Random(42)
    records = [(f"annotator-{a}", rng.randrange(3), 3) for a in range(5) for _ in range(150)]

    result = stats.position_bias(records, n_slots=3)

    assert not result.overall.flagged
    assert not any(test.flagged for test in result.per_annotator.values())
    assert result.overall.expected_rate == pytest.approx(1 / 3)


def test_position_bias_with_too_few_tasks_is_not_flagged_and_never_raises():
    result = stats.position_bias([("new", 0, 4)] * 6, n_slots=4)
    assert not result.per_annotator["new"].flagged
    assert result.per_annotator["new"].reason == "too few tasks to test"
    empty = stats.position_bias([], n_slots=4)
    assert empty.overall.n == 0 and empty.overall.chi2 is None and not empty.overall.flagged
    assert stats.position_bias([("a", 0, 1)], n_slots=1).overall.reason == "fewer than 2 slots"


def test_winner_slots_skip_custom_winners_and_tied_tops():
    records = [
        (1, "a", ["x", "y"], ["y", "x"]),
        (2, "a", ["custom-1", "x"], ["x", "y"]),
        (3, "a", [["x", "y"]], ["x", "y"]),
    ]
    assert stats.winner_slots_from_rankings(records) == [stats.SlotWin("a", 1, 2)]


# ------------------------------------------------------------------ effort figures


def test_median_time_skip_rate_and_custom_answer_rate():
    times = [("ala", "rating", 30), ("ala", "rating", 50), ("ala", "rating", 100), ("ala", "ranking", 80),
             ("bartek", "rating", 10), ("bartek", "rating", None), ("bartek", "rating", -5)]
    medians = stats.median_time(times)
    assert medians.overall == {"rating": statistics.median([30, 50, 100, 10]), "ranking": 80.0}
    assert medians.by_annotator["ala"] == {"rating": 50.0, "ranking": 80.0}
    assert medians.by_annotator["bartek"] == {"rating": 10.0}
    assert stats.median_time([]).overall == {}

    skips = stats.skip_rate([("ala", True), ("ala", False), ("ala", False), ("bartek", False)])
    assert skips.overall == stats.Rate(1, 4, 0.25)
    assert skips.by_annotator["ala"].value == pytest.approx(1 / 3)
    custom = stats.custom_answer_rate([])
    assert custom.overall.value is None and custom.by_annotator == {}


# ------------------------------------------------------------------ charts and CSV

HOSTILE = '<script>alert("x")</script> & \'quote\' \x01'


def _parse(svg):
    # Our own output; parsing it proves hostile text did not break out of its node.
    root = ET.fromstring(svg)  # noqa: S314
    assert root.get("role") == "img"
    assert root.get("aria-label")
    assert root.find("{http://www.w3.org/2000/svg}title") is not None
    assert "<script" not in svg
    return root


def _all_text(root):
    return " ".join("".join(el.itertext()) for el in root.iter())


def test_charts_escape_user_text_and_are_accessible():
    bar = charts.bar_chart([HOSTILE, "bartek", "celina"], [0.62, None, -0.1], HOSTILE,
                           reference=0.25, reference_label="uniform", highlight=[0])
    hist = charts.histogram({HOSTILE: {1: 2, 5: 7}, "bartek": [1, 2, 3, 4, 5]}, "Scores", normalize=True)
    line = charts.line_chart([date(2025, 3, 3), date(2025, 3, 10), date(2025, 3, 17)],
                             {HOSTILE: [0.5, None, 0.7], "safety": [0.2, 0.3, 0.4]}, "Alpha over time")

    for svg in (bar, hist, line):
        root = _parse(svg)
        assert '<script>alert("x")</script>' in _all_text(root)  # shown as text, not markup
        assert "&lt;script&gt;" in svg
    assert _parse(bar).get("aria-label").startswith('<script>alert("x")')
    assert "n/a" in bar


def test_charts_handle_empty_and_constant_data():
    for svg in (charts.bar_chart([], [], "Nothing yet"),
                charts.bar_chart(["a", "b"], [0, 0], "Zeros"),
                charts.histogram({}, "No scores"),
                charts.histogram({"a": {}}, "Empty group", normalize=True),
                charts.line_chart([], {}, "No periods"),
                charts.line_chart(["w1"], {"s": [None]}, "All missing")):
        _parse(svg)


def test_to_csv_keeps_full_precision_and_defuses_formulas():
    text = charts.to_csv(["annotator", "alpha", "n", "ok", "day"],
                         [["=HYPERLINK(\"http://x\")", 0.1 + 0.2, 3, True, date(2025, 3, 3)],
                          ["ala, \"the\" best", None, -2, False, None]])

    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["annotator", "alpha", "n", "ok", "day"]
    assert rows[1][0].startswith("'=")
    assert float(rows[1][1]) == 0.1 + 0.2
    assert rows[1][2:] == ["3", "true", "2025-03-03"]
    assert rows[2] == ['ala, "the" best', "", "-2", "false", ""]
    assert text.endswith("\r\n")


def test_position_bias_splits_by_order_confirmation():
    from qa import stats as qa_stats

    shown = [1, 2, 3, 4]
    rankings = [(t, "a", shown, shown) for t in range(8)] + [(t, "b", [3, 1, 2, 4], shown) for t in range(8, 12)]
    split = qa_stats.position_bias_by_confirmation(rankings, [True] * 8 + [False] * 4, 4)
    assert split["confirmed_unchanged"].overall.counts == (8, 0, 0, 0)
    assert split["reordered"].overall.counts == (0, 0, 4, 0)
