"""Agreement and bias statistics for the QA dashboard, on plain records (no Django models).

Record shapes (plain tuples; NamedTuples below document the field order):

* rating rows ``(item_id, annotator_id, criterion, score)``: score is an int 1..5, ``None`` for a skip;
* rankings ``(item_id, annotator_id, ranking, display_order)``: ``ranking`` lists response ids best to
  worst (an element may be a list/tuple/set of tied ids), ``display_order`` the ids in the order shown;
* slot wins ``(annotator_id, winner_slot, n_slots)``: 0-based display slot of the chosen response.

Figures come from established libraries (krippendorff, scipy, pandas); Kendall's W is the textbook
formula, tested against scipy's Friedman statistic. Degenerate input never raises: an undefined
figure is an ``Estimate`` whose ``value`` is ``None`` and whose ``reason`` says why.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import combinations
from typing import Any, NamedTuple

import krippendorff
import numpy as np
import pandas as pd
from scipy import stats as sps

SCORE_DOMAIN = (1, 2, 3, 4, 5)
_TIE_GROUP_TYPES = (list, tuple, set, frozenset)


class RatingRow(NamedTuple):
    item_id: Hashable
    annotator_id: Hashable
    criterion: str
    score: int | None


class RankingRow(NamedTuple):
    item_id: Hashable
    annotator_id: Hashable
    ranking: Sequence[Any]
    display_order: Sequence[Any]


class SlotWin(NamedTuple):
    annotator_id: Hashable
    winner_slot: int
    n_slots: int


@dataclass(frozen=True)
class Estimate:
    """One figure; ``value`` is None when undefined, with ``reason`` saying why.

    ``n`` is what the figure rests on: pairable units for alpha, annotator pairs for tau/top-1,
    raters for Kendall's W.
    """

    value: float | None
    reason: str | None = None
    n: int = 0

    @property
    def defined(self) -> bool:
        return self.value is not None


def _undefined(reason: str, n: int = 0) -> Estimate:
    return Estimate(value=None, reason=reason, n=n)


# --------------------------------------------------------------------------------------------------
# Rating agreement (Krippendorff's alpha, ordinal)
# --------------------------------------------------------------------------------------------------

def _ratings_frame(rows: Iterable[Sequence[Any]]) -> pd.DataFrame:
    """Rows as a frame without skips; a repeated (item, annotator, criterion) keeps its last row."""
    df = pd.DataFrame(
        [tuple(r[:4]) for r in rows], columns=["item_id", "annotator_id", "criterion", "score"]
    )
    if df.empty:
        return df
    df = df[df["score"].notna()]
    df = df.drop_duplicates(subset=["item_id", "annotator_id", "criterion"], keep="last")
    df = df.astype({"score": float})
    return df.reset_index(drop=True)


def reliability_matrix(rows: Iterable[Sequence[Any]], unit: Sequence[str] = ("item_id",)) -> pd.DataFrame:
    """Annotators x units matrix of scores, NaN where an annotator did not rate the unit.

    ``rows`` are rating rows of a single criterion unless ``unit`` includes ``"criterion"``.
    """
    df = _ratings_frame(rows)
    if df.empty:
        return pd.DataFrame(dtype=float)
    return df.pivot(index="annotator_id", columns=list(unit), values="score")


def _alpha_from_matrix(matrix: pd.DataFrame) -> Estimate:
    if matrix.shape[0] < 2:
        return _undefined("fewer than 2 annotators")
    values = matrix.to_numpy(dtype=float)
    pairable = np.sum(~np.isnan(values), axis=0) >= 2
    n_units = int(pairable.sum())
    if n_units == 0:
        return _undefined("no item rated by at least 2 annotators")
    paired = values[:, pairable]
    observed = np.unique(paired[~np.isnan(paired)])
    if not np.isin(observed, SCORE_DOMAIN).all():
        return _undefined("scores outside 1..5", n_units)
    if len(observed) < 2:
        # Expected disagreement is zero: alpha is 0/0, undefined rather than perfect.
        return _undefined("no variation in scores", n_units)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = float(
            krippendorff.alpha(
                reliability_data=paired, value_domain=list(SCORE_DOMAIN), level_of_measurement="ordinal"
            )
        )
    if not math.isfinite(value):
        return _undefined("alpha is not finite", n_units)
    return Estimate(value=value, n=n_units)


def krippendorff_alpha(rows: Iterable[Sequence[Any]]) -> Estimate:
    """Ordinal alpha over rating rows of ONE criterion (units are items). ``n`` = pairable items."""
    return _alpha_from_matrix(reliability_matrix(rows))


def krippendorff_alpha_by_criterion(
    rows: Iterable[Sequence[Any]], criteria: Sequence[str] | None = None
) -> dict[str, Estimate]:
    """Ordinal alpha per criterion. ``criteria`` fixes order and lists criteria with no ratings too."""
    df = _ratings_frame(rows)
    names = list(criteria) if criteria is not None else sorted(df["criterion"].unique()) if len(df) else []
    result: dict[str, Estimate] = {}
    for name in names:
        part = df[df["criterion"] == name] if len(df) else df
        if part.empty:
            result[name] = _undefined("no ratings")
            continue
        result[name] = _alpha_from_matrix(part.pivot(index="annotator_id", columns="item_id", values="score"))
    return result


def alpha_over_time(
    dated_rows: Iterable[Sequence[Any]], freq: str = "W", criteria: Sequence[str] | None = None
) -> dict[str, list[tuple[date, Estimate]]]:
    """Alpha per criterion per period, from rows ``(item_id, annotator_id, criterion, score, day)``.

    An item belongs to the period of its latest rating (when it became pairable). Periods are pandas
    period aliases ("W", "M", "D"); each is reported by its start date, oldest first.
    """
    records = [tuple(r[:5]) for r in dated_rows]
    df = pd.DataFrame(records, columns=["item_id", "annotator_id", "criterion", "score", "day"])
    df = df[df["score"].notna()]
    names = list(criteria) if criteria is not None else sorted(df["criterion"].unique())
    if df.empty:
        return {name: [] for name in names}
    day = pd.to_datetime(df["day"])
    last_day = day.groupby([df["item_id"], df["criterion"]]).transform("max")
    df = df.assign(period=last_day.dt.to_period(freq).dt.start_time.dt.date)
    result: dict[str, list[tuple[date, Estimate]]] = {}
    for name in names:
        part = df[df["criterion"] == name]
        result[name] = [
            (period, krippendorff_alpha(group[["item_id", "annotator_id", "criterion", "score"]].itertuples(
                index=False)))
            for period, group in sorted(part.groupby("period"), key=lambda kv: kv[0])
        ]
    return result


# --------------------------------------------------------------------------------------------------
# Per-annotator rating figures
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PeerAgreement:
    """One annotator against the other annotators on the same (item, criterion) units."""

    n_units: int  # units the annotator shares with at least one peer
    mean_signed_deviation: float | None  # annotator minus peers' mean; > 0 means more lenient
    mean_abs_deviation: float | None
    exact_agreement: float | None  # share of (annotator, peer) score pairs that are equal
    alpha: Estimate  # ordinal alpha on the units this annotator rated, criteria pooled


def annotator_vs_peers(rows: Iterable[Sequence[Any]]) -> dict[Hashable, PeerAgreement]:
    df = _ratings_frame(rows)
    if df.empty:
        return {}
    unit = ["item_id", "criterion"]
    grouped = df.groupby(unit)["score"]
    df = df.assign(
        unit_sum=grouped.transform("sum"),
        unit_n=grouped.transform("size"),
        same=df.groupby([*unit, "score"])["score"].transform("size"),
    )
    shared = df[df["unit_n"] >= 2]
    shared = shared.assign(
        deviation=shared["score"] - (shared["unit_sum"] - shared["score"]) / (shared["unit_n"] - 1),
        equal_pairs=shared["same"] - 1,
        pairs=shared["unit_n"] - 1,
    )
    wide = df.pivot(index="annotator_id", columns=unit, values="score")
    result: dict[Hashable, PeerAgreement] = {}
    for annotator in sorted(df["annotator_id"].unique(), key=str):
        mine = shared[shared["annotator_id"] == annotator]
        own_units = wide.columns[wide.loc[annotator].notna().to_numpy()]
        alpha = _alpha_from_matrix(wide[own_units])
        if mine.empty:
            result[annotator] = PeerAgreement(0, None, None, None, alpha)
            continue
        result[annotator] = PeerAgreement(
            n_units=len(mine),
            mean_signed_deviation=float(mine["deviation"].mean()),
            mean_abs_deviation=float(mine["deviation"].abs().mean()),
            exact_agreement=float(mine["equal_pairs"].sum() / mine["pairs"].sum()),
            alpha=alpha,
        )
    return result


@dataclass(frozen=True)
class GoldDeviation:
    n: int  # scores compared with a gold score
    mean_signed_deviation: float | None  # annotator minus gold
    mean_abs_deviation: float | None
    exact_match: float | None


def deviation_from_gold(
    rows: Iterable[Sequence[Any]], gold: Iterable[Sequence[Any]]
) -> dict[Hashable, GoldDeviation]:
    """Each annotator against reference scores ``gold`` = ``(item_id, criterion, score)`` triples."""
    df = _ratings_frame(rows)
    ref = pd.DataFrame([tuple(g[:3]) for g in gold], columns=["item_id", "criterion", "gold"]).dropna()
    ref = ref.drop_duplicates(subset=["item_id", "criterion"], keep="last").astype({"gold": float})
    if df.empty:
        return {}
    merged = df.merge(ref, on=["item_id", "criterion"], how="left")
    result: dict[Hashable, GoldDeviation] = {}
    for annotator, part in sorted(merged.groupby("annotator_id"), key=lambda kv: str(kv[0])):
        part = part[part["gold"].notna()]
        if part.empty:
            result[annotator] = GoldDeviation(0, None, None, None)
            continue
        diff = part["score"] - part["gold"]
        result[annotator] = GoldDeviation(
            n=len(part),
            mean_signed_deviation=float(diff.mean()),
            mean_abs_deviation=float(diff.abs().mean()),
            exact_match=float((diff == 0).mean()),
        )
    return result


@dataclass(frozen=True)
class Leniency:
    n: int
    mean: float
    offset: float  # annotator mean minus the mean of all scores
    z: float | None  # offset / (sd of all scores / sqrt(n)); None when all scores are equal
    label: str  # "lenient", "harsh" or "typical"


def leniency(
    rows: Iterable[Sequence[Any]], z_threshold: float = 2.0, min_offset: float = 0.25
) -> dict[Hashable, Leniency]:
    """Lenient / harsh raters: flagged when |z| >= z_threshold and |offset| >= min_offset.

    The offset threshold keeps a large team from flagging differences nobody would act on.
    """
    df = _ratings_frame(rows)
    if df.empty:
        return {}
    overall_mean = float(df["score"].mean())
    overall_sd = float(df["score"].std(ddof=1)) if len(df) > 1 else 0.0
    result: dict[Hashable, Leniency] = {}
    for annotator, part in sorted(df.groupby("annotator_id"), key=lambda kv: str(kv[0])):
        n = len(part)
        mean = float(part["score"].mean())
        offset = mean - overall_mean
        z = offset / (overall_sd / math.sqrt(n)) if overall_sd > 0 else None
        label = "typical"
        if z is not None and abs(z) >= z_threshold and abs(offset) >= min_offset:
            label = "lenient" if offset > 0 else "harsh"
        result[annotator] = Leniency(n=n, mean=mean, offset=offset, z=z, label=label)
    return result


def score_distribution(
    rows: Iterable[Sequence[Any]], criterion: str | None = None
) -> dict[Hashable, dict[int, int]]:
    """Counts of each score 1..5 per annotator (all criteria pooled unless ``criterion`` is given)."""
    counts: dict[Hashable, dict[int, int]] = {}
    df = _ratings_frame(rows)
    if criterion is not None and len(df):
        df = df[df["criterion"] == criterion]
    for annotator, part in sorted(df.groupby("annotator_id"), key=lambda kv: str(kv[0])) if len(df) else []:
        tally = part["score"].astype(int).value_counts()
        counts[annotator] = {s: int(tally.get(s, 0)) for s in SCORE_DOMAIN}
    return counts


# --------------------------------------------------------------------------------------------------
# Ranking agreement
# --------------------------------------------------------------------------------------------------

def rank_positions(ranking: Sequence[Any]) -> dict[Any, float]:
    """Response id -> rank (1 = best); tied ids (grouped in a list/tuple/set) share their mean rank."""
    positions: dict[Any, float] = {}
    next_rank = 1
    for element in ranking:
        group = list(element) if isinstance(element, _TIE_GROUP_TYPES) else [element]
        if not group:
            continue
        mean_rank = next_rank + (len(group) - 1) / 2
        for response_id in group:
            positions[response_id] = mean_rank
        next_rank += len(group)
    return positions


def _top(ranking: Sequence[Any]) -> Any:
    if not ranking:
        return None
    first = ranking[0]
    return frozenset(first) if isinstance(first, _TIE_GROUP_TYPES) else first


def _rankings_by_item(rankings: Iterable[Sequence[Any]]) -> dict[Hashable, dict[Hashable, Sequence[Any]]]:
    by_item: dict[Hashable, dict[Hashable, Sequence[Any]]] = defaultdict(dict)
    for record in rankings:
        by_item[record[0]][record[1]] = record[2]  # a repeated (item, annotator) keeps the last one
    return by_item


def _tau(a: Sequence[Any], b: Sequence[Any]) -> float | None:
    pa, pb = rank_positions(a), rank_positions(b)
    common = [r for r in pa if r in pb]
    if len(common) < 2:
        return None
    tau = sps.kendalltau([pa[r] for r in common], [pb[r] for r in common]).statistic
    return None if math.isnan(tau) else float(tau)


def _pairs(rankings: Iterable[Sequence[Any]]):
    """(annotator_a, annotator_b, tau or None, same top-1) for every annotator pair on every item."""
    for _item, by_annotator in _rankings_by_item(rankings).items():
        for (ann_a, rank_a), (ann_b, rank_b) in combinations(sorted(by_annotator.items(), key=lambda kv: str(
                kv[0])), 2):
            yield ann_a, ann_b, _tau(rank_a, rank_b), _top(rank_a) == _top(rank_b)


def pairwise_kendall_tau(rankings: Iterable[Sequence[Any]]) -> Estimate:
    """Mean Kendall's tau-b (scipy) over all annotator pairs on all items. ``n`` = pairs."""
    taus = [tau for _a, _b, tau, _same in _pairs(rankings) if tau is not None]
    if not taus:
        return _undefined("no item ranked by at least 2 annotators")
    return Estimate(value=float(np.mean(taus)), n=len(taus))


def top1_agreement(rankings: Iterable[Sequence[Any]]) -> Estimate:
    """Share of annotator pairs (per item, over all items) that chose the same best response."""
    same = [s for _a, _b, _tau, s in _pairs(rankings)]
    if not same:
        return _undefined("no item ranked by at least 2 annotators")
    return Estimate(value=float(np.mean(same)), n=len(same))


def kendalls_w(rankings_on_item: Iterable[Sequence[Any]]) -> Estimate:
    """Kendall's coefficient of concordance W for m rankings of one item's n responses, tie-corrected.

    W = 12 S / (m^2 (n^3 - n) - m sum T), S = sum of squared deviations of rank sums from their mean,
    T = sum over tie groups of (t^3 - t) per ranking. Only responses every ranking contains are used.
    ``n`` of the result is m.
    """
    positions = [rank_positions(r) for r in rankings_on_item]
    m = len(positions)
    if m < 2:
        return _undefined("fewer than 2 annotators", m)
    common = [r for r in positions[0] if all(r in p for p in positions[1:])]
    n = len(common)
    if n < 2:
        return _undefined("fewer than 2 responses ranked by everyone", m)
    # Re-rank on the common responses so a missing response does not leave a gap.
    ranks = np.array([sps.rankdata([p[r] for r in common]) for p in positions])
    rank_sums = ranks.sum(axis=0)
    s = float(((rank_sums - rank_sums.mean()) ** 2).sum())
    ties = 0.0
    for row in ranks:
        _values, sizes = np.unique(row, return_counts=True)
        ties += float((sizes**3 - sizes).sum())
    denominator = m**2 * (n**3 - n) - m * ties
    if denominator <= 0:
        return _undefined("every ranking is a full tie", m)
    return Estimate(value=12 * s / denominator, n=m)


def kendalls_w_by_item(rankings: Iterable[Sequence[Any]]) -> dict[Hashable, Estimate]:
    """Kendall's W per item (meant for gold items, which every annotator ranks)."""
    return {item: kendalls_w(list(by_annotator.values())) for item, by_annotator in
            _rankings_by_item(rankings).items()}


def mean_estimate(estimates: Iterable[Estimate]) -> Estimate:
    """Mean of the defined estimates; ``n`` = how many were defined."""
    values = [e.value for e in estimates if e.value is not None]
    if not values:
        return _undefined("no defined value")
    return Estimate(value=float(np.mean(values)), n=len(values))


@dataclass(frozen=True)
class RankingPeerAgreement:
    n_pairs: int  # (item, peer) pairs
    mean_tau: float | None
    top1_agreement: float | None


def ranking_annotator_vs_peers(rankings: Iterable[Sequence[Any]]) -> dict[Hashable, RankingPeerAgreement]:
    taus: dict[Hashable, list[float]] = defaultdict(list)
    tops: dict[Hashable, list[bool]] = defaultdict(list)
    annotators: set[Hashable] = set()
    rankings = list(rankings)
    for record in rankings:
        annotators.add(record[1])
    for ann_a, ann_b, tau, same in _pairs(rankings):
        for ann in (ann_a, ann_b):
            tops[ann].append(same)
            if tau is not None:
                taus[ann].append(tau)
    return {
        ann: RankingPeerAgreement(
            n_pairs=len(tops[ann]),
            mean_tau=float(np.mean(taus[ann])) if taus[ann] else None,
            top1_agreement=float(np.mean(tops[ann])) if tops[ann] else None,
        )
        for ann in sorted(annotators, key=str)
    }


def ranking_vs_gold(
    rankings: Iterable[Sequence[Any]], gold: Mapping[Hashable, Sequence[Any]]
) -> dict[Hashable, RankingPeerAgreement]:
    """Each annotator against gold rankings ``{item_id: ranking}``; ``n_pairs`` = gold items ranked."""
    taus: dict[Hashable, list[float]] = defaultdict(list)
    tops: dict[Hashable, list[bool]] = defaultdict(list)
    annotators: set[Hashable] = set()
    for item, by_annotator in _rankings_by_item(rankings).items():
        for ann, ranking in by_annotator.items():
            annotators.add(ann)
            if item not in gold:
                continue
            tops[ann].append(_top(ranking) == _top(gold[item]))
            tau = _tau(ranking, gold[item])
            if tau is not None:
                taus[ann].append(tau)
    return {
        ann: RankingPeerAgreement(
            n_pairs=len(tops[ann]),
            mean_tau=float(np.mean(taus[ann])) if taus[ann] else None,
            top1_agreement=float(np.mean(tops[ann])) if tops[ann] else None,
        )
        for ann in sorted(annotators, key=str)
    }


# --------------------------------------------------------------------------------------------------
# Position bias
# --------------------------------------------------------------------------------------------------

def winner_slots_from_rankings(rankings: Iterable[Sequence[Any]]) -> list[SlotWin]:
    """The display slot of each ranking's best response. Skips tied tops and custom winners."""
    wins: list[SlotWin] = []
    for record in rankings:
        ranking, shown = record[2], list(record[3])
        if not ranking or isinstance(ranking[0], _TIE_GROUP_TYPES) or ranking[0] not in shown:
            continue
        wins.append(SlotWin(record[1], shown.index(ranking[0]), len(shown)))
    return wins


@dataclass(frozen=True)
class SlotTest:
    n: int
    counts: tuple[int, ...]
    win_rates: tuple[float, ...]  # empty when n == 0
    expected_rate: float
    chi2: float | None
    p_value: float | None
    p_adjusted: float | None  # Bonferroni over annotators for per-annotator tests; = p_value overall
    flagged: bool
    reason: str | None = None


@dataclass(frozen=True)
class PositionBias:
    n_slots: int
    alpha: float
    overall: SlotTest
    per_annotator: dict[Hashable, SlotTest] = field(default_factory=dict)
    n_ignored: int = 0  # records with another slot count or a slot out of range


def _slot_test(slots: Sequence[int], n_slots: int, alpha: float, min_expected: float,
               multiplier: int = 1) -> SlotTest:
    counts = tuple(int(c) for c in np.bincount(np.asarray(slots, dtype=int), minlength=n_slots))
    n = len(slots)
    expected_rate = 1 / n_slots
    if n == 0:
        return SlotTest(0, counts, (), expected_rate, None, None, None, False, "no tasks")
    rates = tuple(c / n for c in counts)
    result = sps.chisquare(counts)  # uniform expected frequencies
    chi2, p = float(result.statistic), float(result.pvalue)
    p_adjusted = min(1.0, p * multiplier)
    if n * expected_rate < min_expected:
        # The chi-square approximation needs enough expected wins per slot; too few tasks to judge.
        return SlotTest(n, counts, rates, expected_rate, chi2, p, p_adjusted, False, "too few tasks to test")
    return SlotTest(n, counts, rates, expected_rate, chi2, p, p_adjusted, p_adjusted < alpha)


def position_bias(
    records: Iterable[Sequence[Any]], n_slots: int, alpha: float = 0.01, min_expected: float = 5.0
) -> PositionBias:
    """Win rate by display slot with a chi-square test against the uniform rate 1/n_slots.

    Flagged when p < alpha; per-annotator p-values are Bonferroni-adjusted over the annotators with
    enough tasks, so a large team does not flag someone by chance. Records whose ``n_slots`` differs
    (e.g. dialog columns mixed with ranking slots) are ignored and counted.
    """
    if n_slots < 2:
        empty = SlotTest(0, (), (), 1.0, None, None, None, False, "fewer than 2 slots")
        return PositionBias(n_slots, alpha, empty)
    by_annotator: dict[Hashable, list[int]] = defaultdict(list)
    all_slots: list[int] = []
    ignored = 0
    for annotator, slot, slots_shown in (tuple(r[:3]) for r in records):
        if slots_shown != n_slots or not 0 <= slot < n_slots:
            ignored += 1
            continue
        by_annotator[annotator].append(int(slot))
        all_slots.append(int(slot))
    testable = sum(1 for s in by_annotator.values() if len(s) / n_slots >= min_expected)
    per_annotator = {
        ann: _slot_test(slots, n_slots, alpha, min_expected, multiplier=max(testable, 1))
        for ann, slots in sorted(by_annotator.items(), key=lambda kv: str(kv[0]))
    }
    overall = _slot_test(all_slots, n_slots, alpha, min_expected)
    return PositionBias(n_slots, alpha, overall, per_annotator, ignored)


def position_bias_by_confirmation(
    rankings: Sequence[Sequence[Any]], confirmed_unchanged: Sequence[bool], n_slots: int = 4, alpha: float = 0.01,
) -> dict[str, PositionBias]:
    """Position bias of rankings split by whether the annotator kept the shown order and confirmed it
    ("confirmed_unchanged") or moved the responses ("reordered"). A winner in the first slot is expected
    more often among confirmed-unchanged rankings; a strong bias among reordered ones is the real signal."""
    groups: dict[str, list] = {"confirmed_unchanged": [], "reordered": []}
    for record, confirmed in zip(rankings, confirmed_unchanged, strict=True):
        groups["confirmed_unchanged" if confirmed else "reordered"].append(record)
    return {name: position_bias(winner_slots_from_rankings(rows), n_slots, alpha) for name, rows in groups.items()}


# --------------------------------------------------------------------------------------------------
# Effort figures
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MedianTimes:
    overall: dict[str, float]  # task_type -> median seconds
    by_annotator: dict[Hashable, dict[str, float]]


def median_time(records: Iterable[Sequence[Any]]) -> MedianTimes:
    """Median seconds per task type, overall and per annotator, from ``(annotator_id, task_type, seconds)``.

    Missing or negative durations are left out.
    """
    df = pd.DataFrame([tuple(r[:3]) for r in records], columns=["annotator_id", "task_type", "seconds"])
    df = df[pd.to_numeric(df["seconds"], errors="coerce") >= 0].astype({"seconds": float})
    if df.empty:
        return MedianTimes({}, {})
    overall = {str(k): float(v) for k, v in df.groupby("task_type")["seconds"].median().items()}
    by_annotator: dict[Hashable, dict[str, float]] = defaultdict(dict)
    medians = df.groupby(["annotator_id", "task_type"])["seconds"].median()
    for (annotator, task_type), value in medians.items():
        by_annotator[annotator][str(task_type)] = float(value)
    return MedianTimes(overall, dict(by_annotator))


@dataclass(frozen=True)
class Rate:
    k: int
    n: int
    value: float | None  # k / n, None when n == 0


@dataclass(frozen=True)
class RateSummary:
    overall: Rate
    by_annotator: dict[Hashable, Rate]


def _rates(records: Iterable[Sequence[Any]]) -> RateSummary:
    k: dict[Hashable, int] = defaultdict(int)
    n: dict[Hashable, int] = defaultdict(int)
    for annotator, hit in (tuple(r[:2]) for r in records):
        n[annotator] += 1
        k[annotator] += bool(hit)
    total_k, total_n = sum(k.values()), sum(n.values())
    return RateSummary(
        overall=Rate(total_k, total_n, total_k / total_n if total_n else None),
        by_annotator={a: Rate(k[a], n[a], k[a] / n[a]) for a in sorted(n, key=str)},
    )


def skip_rate(records: Iterable[Sequence[Any]]) -> RateSummary:
    """Share of tasks skipped, from ``(annotator_id, skipped: bool)`` per task shown."""
    return _rates(records)


def custom_answer_rate(records: Iterable[Sequence[Any]]) -> RateSummary:
    """Share of ranking/dialog tasks answered with a custom response, from ``(annotator_id, is_custom)``."""
    return _rates(records)
