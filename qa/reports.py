"""The agreement dashboard: selectors' tuples in, `qa.stats` figures and `qa.charts` SVG + CSV out.

One `build_dashboard(filters)` call computes every figure from a few streamed queries; the page and the
CSV downloads both use it, so a chart and its CSV always show the same numbers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import combinations
from typing import Any

import numpy as np
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from annotation.models import Ranking, Rating, Task
from dialogs.models import DialogTurn

from . import charts, stats, tasks
from .selectors import (
    Filters,
    criteria,
    dialog_records,
    gold_references,
    ranking_records,
    rating_records,
    usernames,
)
from .stats import Estimate

log = logging.getLogger(__name__)

# Krippendorff's suggested floor for tentative conclusions; drawn as a reference line.
ALPHA_TENTATIVE = 0.667
HISTOGRAM_GROUPS = 8  # legend room: "all" plus the most active annotators


@dataclass
class Chart:
    name: str
    title: str
    svg: str
    header: list[str]
    rows: list[tuple]

    def csv(self) -> str:
        return charts.to_csv(self.header, self.rows)

    @property
    def data_uri(self) -> str:
        """The SVG as an ``<img src>``: embedded in the page without marking any markup safe, and a browser
        never runs script inside an SVG loaded as an image (defence in depth behind charts' escaping)."""
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode("utf-8")).decode("ascii")


@dataclass
class AnnotatorRow:
    id: Hashable
    name: str
    ratings: int = 0
    peer: stats.PeerAgreement | None = None
    gold: stats.GoldDeviation | None = None
    leniency: stats.Leniency | None = None
    skip: stats.Rate | None = None
    custom: stats.Rate | None = None
    times: dict[str, float] = field(default_factory=dict)
    ranking_peer: stats.RankingPeerAgreement | None = None
    ranking_gold: stats.RankingPeerAgreement | None = None
    bias_ranking: stats.SlotTest | None = None
    bias_dialog: stats.SlotTest | None = None

    @property
    def flagged(self) -> bool:
        return any(t is not None and t.flagged for t in (self.bias_ranking, self.bias_dialog))


@dataclass
class Dashboard:
    filters: Filters
    criteria: list[tuple[str, str]]
    counts: dict[str, int]
    alpha: dict[str, stats.Estimate]
    alpha_gold: dict[str, stats.Estimate]
    tau: stats.Estimate
    top1: stats.Estimate
    tau_gold: stats.Estimate
    top1_gold: stats.Estimate
    w_gold: stats.Estimate
    bias_ranking: stats.PositionBias
    bias_dialog: stats.PositionBias
    skip: stats.RateSummary
    custom: stats.RateSummary
    times: stats.MedianTimes
    annotators: list[AnnotatorRow]
    charts: dict[str, Chart]
    computed_at: datetime | None = None
    fingerprint: tuple = ()
    # Ranking position bias split by Ranking.order_confirmed_unchanged: {"confirmed_unchanged"|"reordered": …}
    bias_ranking_split: dict[str, stats.PositionBias] = field(default_factory=dict)
    refreshing: bool = False  # stale figures shown while a background refresh runs

    @property
    def alpha_rows(self) -> list[tuple[str, str, stats.Estimate, stats.Estimate]]:
        return [(key, label, self.alpha[key], self.alpha_gold[key]) for key, label in self.criteria]


# --------------------------------------------------------------------------------------------------
# Ranking agreement: the figures of qa.stats, each distinct pair of rank patterns computed once
# --------------------------------------------------------------------------------------------------

class _PairFigures:
    """tau and same-top-1 of two rankings, memoised on their relabelled shape.

    Kendall's tau and top-1 equality depend only on how the two rankings order the same responses, not on
    the response ids, so the ids are relabelled 0, 1, 2... in order of first appearance. Four responses
    give at most 24 shapes per side: a dashboard over 100k rankings calls scipy a few dozen times instead
    of once per annotator pair (which took minutes). Each shape is still computed by qa.stats itself.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple, tuple[float | None, bool]] = {}

    @staticmethod
    def _shape(ranking, labels: dict) -> tuple:
        shaped = []
        for element in ranking:
            if isinstance(element, list | tuple | set | frozenset):
                shaped.append(tuple(sorted(labels.setdefault(x, len(labels)) for x in element)))
            else:
                shaped.append(labels.setdefault(element, len(labels)))
        return tuple(shaped)

    def __call__(self, a, b) -> tuple[float | None, bool]:
        labels: dict = {}
        key = (self._shape(a, labels), self._shape(b, labels))
        if key not in self._cache:
            records = [("item", 0, list(key[0]), []), ("item", 1, list(key[1]), [])]
            self._cache[key] = (stats.pairwise_kendall_tau(records).value, stats.top1_agreement(records).value == 1.0)
        return self._cache[key]


def _by_item(rows) -> dict:
    by_item: dict = {}
    for record in rows:
        by_item.setdefault(record[0], {})[record[1]] = record[2]  # the last ranking of an annotator counts
    return by_item


def _peer_summary(annotators, taus: dict, tops: dict) -> dict[Hashable, stats.RankingPeerAgreement]:
    return {
        ann: stats.RankingPeerAgreement(
            n_pairs=len(tops.get(ann, [])),
            mean_tau=float(np.mean(taus[ann])) if taus.get(ann) else None,
            top1_agreement=float(np.mean(tops[ann])) if tops.get(ann) else None,
        )
        for ann in sorted(annotators, key=str)
    }


@dataclass(frozen=True)
class RankingAgreement:
    tau: stats.Estimate
    top1: stats.Estimate
    per_annotator: dict[Hashable, stats.RankingPeerAgreement]


def ranking_agreement(rows, figures: _PairFigures | None = None) -> RankingAgreement:
    """= stats.pairwise_kendall_tau, stats.top1_agreement and stats.ranking_annotator_vs_peers at once."""
    figures = figures or _PairFigures()
    all_taus: list[float] = []
    all_tops: list[bool] = []
    taus: dict = defaultdict(list)
    tops: dict = defaultdict(list)
    annotators: set = set()
    for by_annotator in _by_item(rows).values():
        annotators.update(by_annotator)
        ordered = sorted(by_annotator.items(), key=lambda kv: str(kv[0]))
        for (ann_a, rank_a), (ann_b, rank_b) in combinations(ordered, 2):
            tau, same = figures(rank_a, rank_b)
            all_tops.append(same)
            for ann in (ann_a, ann_b):
                tops[ann].append(same)
                if tau is not None:
                    taus[ann].append(tau)
            if tau is not None:
                all_taus.append(tau)
    tau = Estimate(float(np.mean(all_taus)), n=len(all_taus)) if all_taus else stats.pairwise_kendall_tau([])
    top1 = Estimate(float(np.mean(all_tops)), n=len(all_tops)) if all_tops else stats.top1_agreement([])
    return RankingAgreement(tau, top1, _peer_summary(annotators, taus, tops))


def ranking_vs_gold(rows, gold: dict, figures: _PairFigures | None = None) -> dict[Hashable, stats.RankingPeerAgreement]:
    """= stats.ranking_vs_gold, memoised."""
    figures = figures or _PairFigures()
    taus: dict = defaultdict(list)
    tops: dict = defaultdict(list)
    annotators: set = set()
    for item, by_annotator in _by_item(rows).items():
        for ann, ranking in by_annotator.items():
            annotators.add(ann)
            if item not in gold:
                continue
            tau, same = figures(ranking, gold[item])
            tops[ann].append(same)
            if tau is not None:
                taus[ann].append(tau)
    return _peer_summary(annotators, taus, tops)


def alpha_by_week(rows, keys: list[str]) -> dict[str, list[tuple]]:
    """= stats.alpha_over_time(rows, "W", keys), building one frame per week instead of one per
    criterion and week plus the whole set (seconds at 100k ratings).

    Same rule: an (item, criterion) belongs to the week (starting Monday) of its latest scored rating.
    """
    last_day: dict = {}
    for item, _annotator, criterion, score, day in rows:
        if score is not None and (last_day.get((item, criterion)) is None or day > last_day[(item, criterion)]):
            last_day[(item, criterion)] = day
    by_week: dict = defaultdict(list)
    for row in rows:
        if row[3] is None:
            continue
        day = last_day[(row[0], row[2])]
        by_week[day - timedelta(days=day.weekday())].append(row)
    result: dict[str, list[tuple]] = {key: [] for key in keys}
    for week in sorted(by_week):
        present = {row[2] for row in by_week[week]}
        for key, estimate in stats.krippendorff_alpha_by_criterion(by_week[week], keys).items():
            if key in present:
                result[key].append((week, estimate))
    return result


def _n_slots(lengths: list[int], default: int) -> int:
    return Counter(lengths).most_common(1)[0][0] if lengths else default


def _slot_rows(scope: str, names: dict, bias: stats.PositionBias) -> list[tuple]:
    rows = []
    tests = [("", bias.overall)] + [(names.get(a, str(a)), t) for a, t in bias.per_annotator.items()]
    for who, test in tests:
        counts = list(test.counts) + [None] * (bias.n_slots - len(test.counts))
        rates = list(test.win_rates) + [None] * (bias.n_slots - len(test.win_rates))
        rows.append((scope, who or _("all annotators"), test.n, *counts, *rates, test.expected_rate, test.chi2,
                     test.p_value, test.p_adjusted, test.flagged, test.reason or ""))
    return rows


def _slot_header(n_slots: int) -> list[str]:
    return (["source", "annotator", "n"] + [f"wins_slot_{i + 1}" for i in range(n_slots)]
            + [f"rate_slot_{i + 1}" for i in range(n_slots)]
            + ["expected_rate", "chi2", "p_value", "p_adjusted", "flagged", "note"])


def _slot_chart(name: str, title: str, scope: str, names: dict, bias: stats.PositionBias) -> Chart:
    test = bias.overall
    labels = [str(i + 1) for i in range(bias.n_slots)]
    values: list[float | None] = list(test.win_rates) if test.win_rates else [None] * bias.n_slots
    description = _("n = %(n)s, chi-square p = %(p)s") % {
        "n": test.n, "p": "n/a" if test.p_value is None else f"{test.p_value:.3g}"}
    svg = charts.bar_chart(
        labels, values, title, y_min=0.0, y_max=1.0, reference=test.expected_rate,
        reference_label=_("uniform"), value_format="{:.0%}",
        highlight=range(bias.n_slots) if test.flagged else (), description=description,
    )
    return Chart(name, title, svg, _slot_header(bias.n_slots), _slot_rows(scope, names, bias))


def _fmt_estimate(e: stats.Estimate) -> tuple:
    return (e.value, e.n, e.reason or "")


def build_dashboard(filters: Filters) -> Dashboard:
    crit = criteria()
    keys = [k for k, _label in crit]
    labels = dict(crit)
    ratings = rating_records(filters, gold=False, keys=keys)
    gold_ratings = rating_records(filters, gold=True, keys=keys)
    rankings = ranking_records(filters, gold=False)
    gold_rankings = ranking_records(filters, gold=True)
    dialogs = dialog_records(filters)
    gold_scores, gold_orders = gold_references(filters)

    all_rating_rows = ratings.rows + gold_ratings.rows
    all_rankings = rankings.rows + gold_rankings.rows
    alpha = stats.krippendorff_alpha_by_criterion(ratings.rows, keys)
    alpha_gold = stats.krippendorff_alpha_by_criterion(gold_ratings.rows, keys)
    peers = stats.annotator_vs_peers(all_rating_rows)
    gold_dev = stats.deviation_from_gold(gold_ratings.rows, gold_scores)
    lenient = stats.leniency(all_rating_rows)
    distribution = stats.score_distribution(all_rating_rows)
    figures = _PairFigures()
    ranking_all = ranking_agreement(all_rankings, figures)
    ranking_plain = ranking_agreement(rankings.rows, figures)
    ranking_on_gold = ranking_agreement(gold_rankings.rows, figures)
    ranking_peers = ranking_all.per_annotator
    ranking_gold = ranking_vs_gold(gold_rankings.rows, gold_orders, figures)
    ranking_wins = stats.winner_slots_from_rankings(all_rankings)
    bias_ranking = stats.position_bias(ranking_wins, _n_slots([w.n_slots for w in ranking_wins], 4))
    bias_ranking_split = stats.position_bias_by_confirmation(
        all_rankings, rankings.confirmed_unchanged + gold_rankings.confirmed_unchanged,
        _n_slots([w.n_slots for w in ranking_wins], 4),
    )
    bias_dialog = stats.position_bias(dialogs.slot_wins, _n_slots([w[2] for w in dialogs.slot_wins], 3))
    times = stats.median_time(ratings.times + gold_ratings.times + rankings.times + gold_rankings.times
                              + dialogs.times)
    skip = stats.skip_rate(ratings.skips + gold_ratings.skips)
    custom = stats.custom_answer_rate(rankings.custom + gold_rankings.custom + dialogs.custom)
    over_time = alpha_by_week(ratings.rows, keys)

    ids: set = set(peers) | set(lenient) | set(ranking_peers) | set(times.by_annotator) | set(skip.by_annotator)
    ids |= set(custom.by_annotator)
    if filters.annotator_id:
        ids = {filters.annotator_id} & ids
    names = usernames(ids | set(distribution) | set(bias_ranking.per_annotator) | set(bias_dialog.per_annotator))
    rating_counts = Counter(a for a, _skipped in ratings.skips + gold_ratings.skips)
    annotators = [
        AnnotatorRow(
            id=a,
            name=names.get(a, str(a)),
            ratings=rating_counts.get(a, 0),
            peer=peers.get(a),
            gold=gold_dev.get(a),
            leniency=lenient.get(a),
            skip=skip.by_annotator.get(a),
            custom=custom.by_annotator.get(a),
            times=times.by_annotator.get(a, {}),
            ranking_peer=ranking_peers.get(a),
            ranking_gold=ranking_gold.get(a),
            bias_ranking=bias_ranking.per_annotator.get(a),
            bias_dialog=bias_dialog.per_annotator.get(a),
        )
        for a in sorted(ids, key=lambda i: names.get(i, str(i)))
    ]

    chart_list: list[Chart] = []

    def add(name: str, title: str, make_svg: Callable[[], str], header: list[str], rows: list[Any]) -> None:
        chart_list.append(Chart(name, title, make_svg(), header, rows))

    add("alpha", _("Krippendorff's alpha (ordinal) per criterion, double-rated responses"),
        lambda: charts.bar_chart(
            [labels[k] for k in keys], [alpha[k].value for k in keys],
            _("Krippendorff's alpha (ordinal) per criterion, double-rated responses"),
            y_max=1.0, reference=ALPHA_TENTATIVE, reference_label="0.667"),
        ["criterion", "alpha", "n_units", "reason", "alpha_gold", "n_units_gold", "reason_gold"],
        [(k, *_fmt_estimate(alpha[k]), *_fmt_estimate(alpha_gold[k])) for k in keys])
    add("alpha_gold", _("Krippendorff's alpha (ordinal) per criterion, gold items"),
        lambda: charts.bar_chart(
            [labels[k] for k in keys], [alpha_gold[k].value for k in keys],
            _("Krippendorff's alpha (ordinal) per criterion, gold items"),
            y_max=1.0, reference=ALPHA_TENTATIVE, reference_label="0.667"),
        ["criterion", "alpha", "n_units", "reason"],
        [(k, *_fmt_estimate(alpha_gold[k])) for k in keys])

    periods = sorted({period for series in over_time.values() for period, _e in series})
    by_period = {k: dict(over_time.get(k, [])) for k in keys}
    add("alpha_time", _("Agreement over time (alpha per week)"),
        lambda: charts.line_chart(
            periods,
            {labels[k]: [by_period[k][p].value if p in by_period[k] else None for p in periods] for k in keys},
            _("Agreement over time (alpha per week)"), y_max=1.0),
        ["week", "criterion", "alpha", "n_units", "reason"],
        [(p, k, *_fmt_estimate(by_period[k][p])) for p in periods for k in keys if p in by_period[k]])

    pooled: dict[int, int] = Counter()
    for counts in distribution.values():
        pooled.update(counts)
    busiest = sorted(distribution, key=lambda a: -sum(distribution[a].values()))[: HISTOGRAM_GROUPS - 1]
    groups: dict[str, dict[int, int]] = {_("all annotators"): dict(pooled)} if distribution else {}
    for a in sorted(busiest, key=lambda i: names.get(i, str(i))):
        groups[names.get(a, str(a))] = distribution[a]
    add("scores", _("Score distribution (share of scores)"),
        lambda: charts.histogram(groups, _("Score distribution (share of scores)"), normalize=True),
        ["annotator", "score", "count"],
        [(names.get(a, str(a)), s, c) for a in distribution for s, c in distribution[a].items()])

    lenient_ids = [a.id for a in annotators if a.leniency]
    add("leniency", _("Mean score offset per annotator (lenient > 0 > harsh)"),
        lambda: charts.bar_chart(
            [names.get(a, str(a)) for a in lenient_ids], [lenient[a].offset for a in lenient_ids],
            _("Mean score offset per annotator (lenient > 0 > harsh)"),
            highlight=[i for i, a in enumerate(lenient_ids) if lenient[a].label != "typical"]),
        ["annotator", "n_scores", "mean", "offset", "z", "label"],
        [(names.get(a, str(a)), lenient[a].n, lenient[a].mean, lenient[a].offset, lenient[a].z, lenient[a].label)
         for a in lenient_ids])

    chart_list.append(_slot_chart("slots_ranking", _("Ranking: top-1 win rate by display slot"), "ranking",
                                  names, bias_ranking))
    chart_list.append(_slot_chart("slots_dialog", _("Dialog: choice rate by column"), "dialog", names,
                                  bias_dialog))
    add("annotators", _("Per-annotator figures"), lambda: "",
        ["annotator", "ratings", "peer_units", "peer_mean_signed_dev", "peer_mean_abs_dev", "peer_exact",
         "peer_alpha", "gold_n", "gold_mean_signed_dev", "gold_mean_abs_dev", "gold_exact", "leniency",
         "skip_rate", "custom_rate", "median_s_rating", "median_s_ranking", "median_s_dialog",
         "ranking_peer_pairs", "ranking_peer_tau", "ranking_peer_top1", "ranking_gold_items",
         "ranking_gold_tau", "ranking_gold_top1", "position_bias_ranking", "position_bias_dialog"],
        [_annotator_csv_row(a) for a in annotators])

    counts = {
        "ratings": ratings.count + gold_ratings.count,
        "rankings": len(all_rankings),
        "dialog_turns": len(dialogs.times),
        "gold_ratings": gold_ratings.count,
        "gold_rankings": len(gold_rankings.rows),
    }
    return Dashboard(
        filters=filters,
        criteria=crit,
        counts=counts,
        alpha=alpha,
        alpha_gold=alpha_gold,
        tau=ranking_plain.tau,
        top1=ranking_plain.top1,
        tau_gold=ranking_on_gold.tau,
        top1_gold=ranking_on_gold.top1,
        w_gold=stats.mean_estimate(stats.kendalls_w_by_item(gold_rankings.rows).values()),
        bias_ranking=bias_ranking,
        bias_ranking_split=bias_ranking_split,
        bias_dialog=bias_dialog,
        skip=skip,
        custom=custom,
        times=times,
        annotators=annotators,
        charts={c.name: c for c in chart_list},
    )


def _annotator_csv_row(a: AnnotatorRow) -> tuple:
    peer, gold, rp, rg = a.peer, a.gold, a.ranking_peer, a.ranking_gold
    return (
        a.name, a.ratings,
        peer.n_units if peer else None, peer.mean_signed_deviation if peer else None,
        peer.mean_abs_deviation if peer else None, peer.exact_agreement if peer else None,
        peer.alpha.value if peer else None,
        gold.n if gold else None, gold.mean_signed_deviation if gold else None,
        gold.mean_abs_deviation if gold else None, gold.exact_match if gold else None,
        a.leniency.label if a.leniency else None,
        a.skip.value if a.skip else None, a.custom.value if a.custom else None,
        a.times.get("rating"), a.times.get("ranking"), a.times.get("dialog"),
        rp.n_pairs if rp else None, rp.mean_tau if rp else None, rp.top1_agreement if rp else None,
        rg.n_pairs if rg else None, rg.mean_tau if rg else None, rg.top1_agreement if rg else None,
        a.bias_ranking.flagged if a.bias_ranking else None, a.bias_dialog.flagged if a.bias_dialog else None,
    )


# The figures of 100k annotations take seconds to compute: the page and its CSV downloads share one
# computation, recomputed when the annotations change, but at most once a minute per filter set.
DASHBOARD_MAX_AGE_SECONDS = 60
DASHBOARD_CACHE_SECONDS = 3600


def data_fingerprint() -> tuple:
    """Changes whenever an annotation, a dialog choice or the gold set changes (four indexed aggregates)."""
    def agg(qs, *fields):
        values = qs.aggregate(n=Count("id"), **{f"m{i}": Max(f) for i, f in enumerate(fields)})
        return tuple(str(v) for v in values.values())

    return (
        agg(Rating.objects.all(), "id", "created"),
        agg(Ranking.objects.all(), "id", "created"),
        agg(DialogTurn.objects.all(), "id", "decided_at"),
        agg(Task.objects.filter(is_gold=True), "id"),
    )


REFRESH_LOCK_SECONDS = 120  # a refresh not done by then: the worker is down, compute in the request


def _cache_key(filters: Filters) -> str:
    raw = json.dumps([filters.as_query(), get_language()], sort_keys=True)
    return "qa:dashboard:" + hashlib.sha256(raw.encode()).hexdigest()


def store_dashboard(filters: Filters) -> Dashboard:
    """Compute the figures and share them (the Celery refresh and the first request both land here)."""
    key = _cache_key(filters)
    fingerprint = data_fingerprint()
    data = build_dashboard(filters)
    data.fingerprint = fingerprint
    data.computed_at = timezone.now()
    cache.set(key, (data, time.time()), DASHBOARD_CACHE_SECONDS)
    cache.delete(key + ":refreshing")
    return data


def _queue_refresh(key: str, filters: Filters) -> bool:
    """True when a background refresh is queued or running (recently); False when the request must compute."""
    started = cache.get(key + ":refreshing")
    if started is not None:
        return time.time() - started < REFRESH_LOCK_SECONDS
    if not cache.add(key + ":refreshing", time.time(), REFRESH_LOCK_SECONDS * 2):
        return True  # another request queued it a moment ago
    query, language = filters.as_query(), get_language()
    try:
        transaction.on_commit(lambda: tasks.dashboard_refresh.delay(query, language))
    except Exception:  # the broker is unreachable: say so in the log and compute in this request
        log.exception("could not queue the QA dashboard refresh")
        cache.delete(key + ":refreshing")
        return False
    return True


def cached_dashboard(filters: Filters, *, background: bool = False) -> Dashboard:
    """build_dashboard, shared between requests.

    Fresh figures (same data fingerprint, or computed less than DASHBOARD_MAX_AGE_SECONDS ago) are served
    as they are. Stale ones are recomputed in the request, or, with ``background``, served while a Celery
    job recomputes them (``data.refreshing`` is then True; the page polls for the new figures). A refresh
    that does not finish within REFRESH_LOCK_SECONDS is taken as a dead worker: the request computes.
    """
    key = _cache_key(filters)
    hit = cache.get(key)
    if hit is not None:
        data, stored_at = hit
        if data.fingerprint == data_fingerprint() or time.time() - stored_at < DASHBOARD_MAX_AGE_SECONDS:
            data.refreshing = False
            return data
        if background and _queue_refresh(key, filters):
            data.refreshing = True
            return data
    return store_dashboard(filters)


@dataclass(frozen=True)
class GoldAccuracy:
    id: Hashable
    name: str
    rating: stats.GoldDeviation | None
    ranking: stats.RankingPeerAgreement | None


def gold_accuracy() -> list[GoldAccuracy]:
    """Each annotator against the gold references (gold annotations only: cheaper than the dashboard)."""
    filters = Filters()
    keys = [k for k, _label in criteria()]
    gold_scores, gold_orders = gold_references(filters)
    rating = stats.deviation_from_gold(rating_records(filters, gold=True, keys=keys).rows, gold_scores)
    ranking = ranking_vs_gold(ranking_records(filters, gold=True).rows, gold_orders)
    names = usernames(set(rating) | set(ranking))
    rows = [
        GoldAccuracy(a, names.get(a, str(a)), rating.get(a), ranking.get(a))
        for a in set(rating) | set(ranking)
        if (rating.get(a) and rating[a].n) or (ranking.get(a) and ranking[a].n_pairs)
    ]
    return sorted(rows, key=lambda r: r.name)


CHART_NAMES = ("alpha", "alpha_gold", "alpha_time", "scores", "leniency", "slots_ranking", "slots_dialog",
               "annotators")


def coverage_csv(cov) -> str:
    header = ["category", "group", "origin", "topic", "prompts", "target", "rating_prompts", "ranking_prompts",
              "rating_pairs", "incomplete_rating_pairs", "ranking_pairs", "paper_total_prompts"]
    rows: list[tuple] = []
    for c in cov.categories:
        rows.append((c.name, c.group, c.origin, "", c.prompts, None, c.rating_prompts, c.ranking_prompts,
                     c.rating_pairs, c.incomplete_rating_pairs, c.ranking_pairs, c.paper_total_prompts))
        for t in c.topics:
            rows.append((c.name, c.group, c.origin, t.topic or "-", t.prompts, t.target, None, None, None, None,
                         None, None))
    rows.append(("dialog", "", "", "", cov.dialogs, None, None, None, None, None, cov.dialog_pairs, None))
    return charts.to_csv(header, rows)
