"""Database rows -> the pure dataclasses of `exports.pairs`, streamed.

Every source is read in primary-key order with keyset pagination: one page of item ids, then one query per
related table for the whole page (`values_list`, no model instances, no per-row queries), so memory is
bounded by the page size whatever the number of annotations, and the item order (hence pair ids, KTO/SFT
de-duplication and the bytes of every file) only depends on the data.

Selection (`ExportFilters`) and the QA review rule (see exports/README.md):

* categories / sources / gold apply to rating and ranking prompts; dialogs have no prompt category and are
  selected by `task_types` alone. Dates (inclusive, on the annotation's creation date; a dialog's start)
  and annotators narrow the annotations that are read; an item left without annotations yields nothing.
* Review rule. Items that belong to a QA review queue are: custom answers (ranking and dialog turns),
  dialogs, and rating pairs whose winner's mean is below the reference threshold (4.5) or tied.
  `review_status="approved"` (default) keeps such items only when their latest review is approve or edit;
  `"not_rejected"` also keeps unreviewed ones; `"all"` ignores reviews (raw annotations, for audits). Under
  the first two an edit replaces the text (the QA lead's version is exported) and a reject removes it.
  Items outside the queues are not held back by review.
* A ranking judgement whose custom answer is held back keeps its order unless the annotator marked all four
  responses unacceptable (then the judgement is dropped: its "best" is an unacceptable answer).
* A dialog is cut before its first unusable turn (custom answer held back, or undecided): later turns were
  generated with that answer in context.
* Model answers that repeat their pre-prompt (`Generation.echoes_preprompt`, set by post-processing) are held
  back whatever the review status: a ranking keeps the order of its other responses, a rating pair loses that
  response (and with it its pair). Counted per response as `ranking_response_echoes_preprompt` and
  `rating_response_echoes_preprompt`.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from fractions import Fraction
from typing import Any

import orjson
from django.db.models import Exists, OuterRef, Q, QuerySet, TextField
from django.db.models.functions import Cast

from annotation import selectors as annotation_selectors
from annotation.models import Ranking, Rating, Task, TaskKind, TaskResponse
from core.errors import StudioError
from dialogs.models import Dialog, DialogCandidate, DialogTurn
from prompts.models import PromptSource
from qa import selectors as qa_selectors
from qa.models import Review, ReviewTarget

from . import pairs as P
from .writers import ExportParams

TASK_TYPES = ("ranking", "rating", "dialog")
REVIEW_STATUSES = ("approved", "not_rejected", "all")
KEPT_DECISIONS = frozenset({Review.Decision.APPROVE, Review.Decision.EDIT})
DIALOG_CATEGORY = "dialog"


class ParamsError(StudioError):
    """Export parameters that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class ExportFilters:
    """Which annotations an export reads. Recorded with the parameters in the manifest and the card."""

    task_types: tuple[str, ...] = TASK_TYPES
    categories: tuple[str, ...] = ()  # Category keys; empty: all
    sources: tuple[str, ...] = ()  # Prompt.source values; empty: all
    date_from: str | None = None  # ISO date, inclusive
    date_to: str | None = None
    annotators: tuple[int, ...] = ()  # user ids; empty: all
    review_status: str = "approved"
    include_gold: bool = True
    # Target share of hard rejects among ranking pairs whose reject is labelled hard or soft; None: as is.
    hard_share: float | None = None

    def __post_init__(self) -> None:
        unknown = set(self.task_types) - set(TASK_TYPES)
        if unknown or not self.task_types:
            raise ParamsError(f"task_types must be a non-empty subset of {list(TASK_TYPES)}")
        bad_sources = set(self.sources) - set(PromptSource.values)
        if bad_sources:
            raise ParamsError(f"unknown sources: {sorted(bad_sources)}")
        if self.review_status not in REVIEW_STATUSES:
            raise ParamsError(f"review_status must be one of {list(REVIEW_STATUSES)}")
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value is not None:
                try:
                    date.fromisoformat(value)
                except (TypeError, ValueError) as exc:
                    raise ParamsError(f"{name} must be an ISO date (YYYY-MM-DD)") from exc
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ParamsError("date_from is after date_to")
        if self.hard_share is not None and not 0.0 <= self.hard_share <= 1.0:
            raise ParamsError("hard_share must be between 0 and 1")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("task_types", "categories", "sources", "annotators"):
            out[key] = list(out[key])
        return out

    def wants(self, task_type: str) -> bool:
        return task_type in self.task_types


FILTER_KEYS = frozenset(f.name for f in fields(ExportFilters))
PARAM_KEYS = frozenset(f.name for f in fields(ExportParams))


def _tuple(value: Any, convert=str) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str | int):
        value = [value]
    return tuple(convert(v) for v in value)


def split_params(data: Mapping[str, Any]) -> tuple[ExportParams, ExportFilters]:
    """Stored or submitted parameters (one flat dict) -> (ExportParams, ExportFilters); ParamsError if bad.

    Lists are sorted and de-duplicated so equal selections give equal stored parameters (and bytes).
    """
    unknown = sorted(set(data) - FILTER_KEYS - PARAM_KEYS)
    if unknown:
        raise ParamsError(f"unknown export parameters: {unknown}")
    raw_filters = {k: v for k, v in data.items() if k in FILTER_KEYS}
    try:
        for key, convert in (("task_types", str), ("categories", str), ("sources", str), ("annotators", int)):
            if key in raw_filters:
                values = sorted(set(_tuple(raw_filters[key], convert)))
                if key == "task_types":
                    values = [t for t in TASK_TYPES if t in values]
                raw_filters[key] = tuple(values)
        if raw_filters.get("hard_share") is not None:
            raw_filters["hard_share"] = float(raw_filters["hard_share"])
        filters = ExportFilters(**raw_filters)
        params = ExportParams.from_dict({k: v for k, v in data.items() if k in PARAM_KEYS})
    except ParamsError:
        raise
    except (TypeError, ValueError) as exc:
        raise ParamsError(str(exc)) from exc
    return params, filters


def stored_params(params: ExportParams, filters: ExportFilters) -> dict[str, Any]:
    """The flat, complete parameter dict kept on the Export row (defaults resolved, so reproducible)."""
    return {**params.as_dict(), **filters.as_dict()}


def annotator_key(user_id: int) -> str:
    """Pseudonymous annotator id in exported files (no usernames or e-mails leave the platform)."""
    return f"a{user_id}"


@dataclass
class AdapterStats:
    """What was read and what the review rule / filters held back (manifest counts, Export counters)."""

    items: Counter = field(default_factory=Counter)
    held_back: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"items": dict(sorted(self.items.items())), "held_back": dict(sorted(self.held_back.items()))}


# --------------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------------


def _dated(qs: QuerySet, filters: ExportFilters, field_name: str = "created") -> QuerySet:
    if filters.date_from:
        qs = qs.filter(**{f"{field_name}__date__gte": date.fromisoformat(filters.date_from)})
    if filters.date_to:
        qs = qs.filter(**{f"{field_name}__date__lte": date.fromisoformat(filters.date_to)})
    return qs


def _task_filter(filters: ExportFilters, prefix: str = "") -> Q:
    q = Q()
    if filters.categories:
        q &= Q(**{f"{prefix}prompt__category__key__in": filters.categories})
    if filters.sources:
        q &= Q(**{f"{prefix}prompt__source__in": filters.sources})
    if not filters.include_gold:
        q &= Q(**{f"{prefix}is_gold": False})
    return q


def _keyset(qs: QuerySet, *, chunk_size: int, key: str = "id") -> Iterator[list]:
    """Pages of `qs.values_list(key)` in ascending order, by `key > last` (no OFFSET, no server cursor)."""
    last = None
    while True:
        page_qs = qs if last is None else qs.filter(**{f"{key}__gt": last})
        page = list(page_qs.order_by(key).values_list(key, flat=True).distinct()[:chunk_size])
        if not page:
            return
        yield page
        last = page[-1]
        if len(page) < chunk_size:
            return


def _json_text(field_name: str) -> Cast:
    """A JSON column read as text, for `_json`: Django's per-value `json.loads` was a fifth of the read time."""
    return Cast(field_name, output_field=TextField())


def _json(text: str | None, default: Any) -> Any:
    return default if text is None else orjson.loads(text)


def _decision(review: Review | None) -> str:
    return "pending" if review is None else review.decision


def _held_back(decision: str, review_status: str) -> bool:
    """Whether an item in a review queue stays out under the chosen review status."""
    if review_status == "all":
        return False
    if decision == Review.Decision.REJECT:
        return True
    return review_status == "approved" and decision not in KEPT_DECISIONS


def _message_prompt(text: str) -> tuple[P.Message, ...]:
    # Pre-prompts are not part of the training prompt: the paper used them only to induce flawed answers.
    return (P.Message(role="user", content=text),)


# --------------------------------------------------------------------------------------------------------
# Ranking
# --------------------------------------------------------------------------------------------------------


def _rankings(filters: ExportFilters) -> QuerySet:
    # A skip (Ranking.skip_reason, no order) is not a ranking: nothing to export.
    qs = Ranking.objects.filter(is_current=True, task__kind=TaskKind.RANKING, skip_reason="").filter(
        _task_filter(filters, "task__")
    )
    if filters.annotators:
        qs = qs.filter(annotator_id__in=filters.annotators)
    return _dated(qs, filters)


def _custom_answers(kind: str, ids: list[int], review_status: str) -> dict[int, tuple[str | None, str]]:
    """{id: (text to export or None, decision)} for custom answers, by the QA helpers' rules."""
    if not ids:
        return {}
    if review_status == "all":
        return {}
    texts = qa_selectors.effective_custom_text(kind, ids)
    state = qa_selectors.review_state(kind, ids)
    out = {}
    for target_id in ids:
        decision = _decision(state.get(target_id))
        text = None if _held_back(decision, review_status) else texts.get(target_id)
        out[target_id] = (text, decision)
    return out


def iter_ranking_items(
    filters: ExportFilters, *, chunk_size: int = 2000, stats: AdapterStats | None = None
) -> Iterator[P.RankingItem]:
    """Ranking tasks with at least one selected current ranking, in task id order."""
    stats = stats if stats is not None else AdapterStats()
    rankings = _rankings(filters)
    for task_ids in _keyset(rankings, chunk_size=chunk_size, key="task_id"):
        tasks = {
            tid: (prompt_id, text, category)
            for tid, prompt_id, text, category in Task.objects.filter(id__in=task_ids).values_list(
                "id", "prompt_id", "prompt__text", "prompt__category__key"
            )
        }
        candidates: dict[int, list[P.Candidate]] = defaultdict(list)
        echoes: set[str] = set()  # response ids held out: the answer repeats its pre-prompt
        for tid, rid, text, model, echo in (
            TaskResponse.objects.filter(task_id__in=task_ids)
            .order_by("task_id", "position")
            .values_list("task_id", "id", "generation__text", "generation__endpoint__name",
                         "generation__echoes_preprompt")
        ):
            if echo:
                echoes.add(str(rid))
                stats.held_back["ranking_response_echoes_preprompt"] += 1
                continue
            candidates[tid].append(P.Candidate(response_id=str(rid), text=text, model=model))
        rows = list(
            rankings.filter(task_id__in=task_ids)
            .order_by("task_id", "id")
            .values_list("id", "task_id", "annotator_id", _json_text("order"), _json_text("hardness"),
                         "all_unacceptable", "custom_text")
        )
        customs = _custom_answers(
            ReviewTarget.RANKING, [r[0] for r in rows if r[6]], filters.review_status
        )
        judgements: dict[int, list[P.RankingJudgement]] = defaultdict(list)
        for rid, tid, annotator_id, order, hardness, all_unacceptable, custom_text in rows:
            if custom_text and rid in customs:
                custom_text, decision = customs[rid]
                if custom_text is None:
                    stats.held_back[f"ranking_custom_{decision}"] += 1
                    if all_unacceptable:
                        continue
            judgements[tid].append(
                P.RankingJudgement(
                    annotator=annotator_key(annotator_id),
                    # A held-out response leaves the order of the others as the annotator ranked them.
                    order=tuple(str(x) for x in _json(order, ()) if str(x) not in echoes),
                    custom_text=custom_text or None,
                    hardness={str(k): v for k, v in (_json(hardness, None) or {}).items() if str(k) not in echoes},
                )
            )
        for tid in task_ids:
            stats.items["ranking"] += 1
            if not judgements.get(tid):
                continue
            prompt_id, text, category = tasks[tid]
            yield P.RankingItem(
                item_id=str(tid),
                prompt_id=str(prompt_id),
                prompt=_message_prompt(text),
                candidates=tuple(candidates[tid]),
                judgements=tuple(judgements[tid]),
                category=category,
            )


def _hardness_counts(item: P.RankingItem, params: ExportParams) -> tuple[int, int]:
    pairs = P.pairs_from_ranking(item, strategy=params.ranking_strategy, seed=params.seed, merge=params.ranking_merge)
    kept = [p["reject_hardness"] for p in pairs if params.keep_reject_hardness is None
            or p["reject_hardness"] in params.keep_reject_hardness]
    return kept.count(P.Hardness.HARD), kept.count(P.Hardness.SOFT)


def _unit(seed: int, item_id: str) -> float:
    digest = hashlib.sha256(f"{seed}:hard-share:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def limit_hard_share(
    items_twice: tuple[Iterable[P.RankingItem], Iterable[P.RankingItem]],
    *,
    params: ExportParams,
    target: float,
    stats: AdapterStats | None = None,
) -> Iterator[P.RankingItem]:
    """Thin out the over-represented reject kind so hard / (hard + soft) approaches `target`.

    Two passes (the first only counts), so the keep probability comes from the real totals; which items go
    is decided by a hash of (seed, item id), order-free and reproducible. An item whose pairs include the
    over-represented kind is kept or dropped as a whole (exact per pair for best-vs-worst: one pair each).
    """
    stats = stats if stats is not None else AdapterStats()
    first, second = items_twice
    hard = soft = 0
    for item in first:
        h, s = _hardness_counts(item, params)
        hard, soft = hard + h, soft + s
    thin, keep = None, 1.0
    if hard + soft and 0.0 < target < 1.0:
        if hard / (hard + soft) > target:
            thin, keep = P.Hardness.HARD, target * soft / ((1 - target) * hard)
        elif hard / (hard + soft) < target:
            thin, keep = P.Hardness.SOFT, (1 - target) * hard / (target * soft)
    elif hard + soft:
        thin, keep = (P.Hardness.SOFT if target >= 1.0 else P.Hardness.HARD), 0.0
    for item in second:
        if thin is not None:
            h, s = _hardness_counts(item, params)
            if (h if thin == P.Hardness.HARD else s) and _unit(params.seed, item.item_id) >= keep:
                stats.held_back[f"ranking_item_for_hard_share_{thin}"] += 1
                continue
        yield item


# --------------------------------------------------------------------------------------------------------
# Rating
# --------------------------------------------------------------------------------------------------------


def _ratings(filters: ExportFilters) -> QuerySet:
    # Skips are facts about the item, not ratings: never exported.
    qs = Rating.objects.filter(is_current=True, skip_reason="", task__kind=TaskKind.RATING)
    if filters.annotators:
        qs = qs.filter(annotator_id__in=filters.annotators)
    return _dated(qs, filters)


def _first_rating_tasks(filters: ExportFilters) -> QuerySet:
    """One task per rating item: the smaller task id of a RatingPair, or a rating task without a pair.

    That task id is the item's id in the exported files (`item_id`, the `pair_id` prefix) and its order:
    the identifier exports have always written for a rating pair, kept so the same data gives the same
    bytes. QA reviews name the RatingPair itself.
    """
    earlier = Task.objects.filter(pair=OuterRef("pair"), id__lt=OuterRef("id"))  # never true without a pair
    return Task.objects.filter(kind=TaskKind.RATING).filter(_task_filter(filters)).exclude(Exists(earlier))


def _in_rating_queue(responses: list[P.RatedResponse], merge: str) -> tuple[bool, P.RatedResponse | None]:
    """(is the pair in a QA rating queue, its winner): tied means or a winner below the reference 4.5."""
    scored = [(P.response_score(r, merge=merge), r) for r in responses]
    scored = sorted(((s, r) for s, r in scored if s is not None), key=lambda sr: (-sr[0], sr[1].response_id))
    if len(scored) < 2:
        return False, None
    (best, winner), (worst, _) = scored[0], scored[-1]
    queued = best == worst or best < Fraction(str(P.default_rating_threshold()))
    return queued, None if best == worst else winner


def iter_rating_items(
    filters: ExportFilters,
    *,
    merge: str = P.RatingMerge.MEAN.value,
    chunk_size: int = 2000,
    stats: AdapterStats | None = None,
) -> Iterator[P.RatingItem]:
    """Rating pairs (a task without a pair is its own item), by first task id (see _first_rating_tasks)."""
    stats = stats if stats is not None else AdapterStats()
    ratings = _ratings(filters)
    for first_ids in _keyset(_first_rating_tasks(filters), chunk_size=chunk_size):
        firsts = list(
            Task.objects.filter(id__in=first_ids).values_list(
                "id", "pair_id", "prompt_id", "prompt__text", "prompt__category__key"
            )
        )
        pair_ids = [pair_id for _, pair_id, *_ in firsts if pair_id is not None]
        members: dict[int, list[int]] = {fid: [fid] for fid in first_ids}
        first_of_pair = {pair_id: fid for fid, pair_id, *_ in firsts if pair_id is not None}
        for tid, pair_id in (
            Task.objects.filter(kind=TaskKind.RATING, pair_id__in=pair_ids)
            .exclude(id__in=first_ids)
            .order_by("id")
            .values_list("id", "pair_id")
        ):
            members[first_of_pair[pair_id]].append(tid)
        all_ids = [t for ids in members.values() for t in ids]
        response_of: dict[int, tuple[str, str, str]] = {}
        echoing: set[int] = set()  # rating tasks whose response repeats its pre-prompt: held out
        for tid, rid, text, model, echo in (
            TaskResponse.objects.filter(task_id__in=all_ids)
            .order_by("task_id", "position")
            .values_list("task_id", "id", "generation__text", "generation__endpoint__name",
                         "generation__echoes_preprompt")
        ):
            if echo:
                echoing.add(tid)
                continue
            response_of.setdefault(tid, (str(rid), text, model))  # a rating task shows one response
        complete = annotation_selectors.rating_tasks_complete(all_ids)
        scores: dict[int, list[P.CriterionRating]] = defaultdict(list)
        for tid, annotator_id, values in (
            ratings.filter(task_id__in=all_ids).order_by("task_id", "id")
            .values_list("task_id", "annotator_id", _json_text("scores"))
        ):
            clean = {k: v for k, v in (_json(values, None) or {}).items() if isinstance(v, int)}
            if clean:
                scores[tid].append(P.CriterionRating(annotator=annotator_key(annotator_id), scores=clean))
        reviews = {} if filters.review_status == "all" else qa_selectors.review_state(ReviewTarget.RATING_PAIR, pair_ids)
        for fid, pair_id, prompt_id, text, category in firsts:
            stats.items["rating"] += 1
            for _tid in echoing.intersection(members[fid]):
                stats.held_back["rating_response_echoes_preprompt"] += 1
            responses = [
                P.RatedResponse(response_id=rid, text=rtext, model=model, ratings=tuple(scores.get(tid, ())))
                for tid in members[fid]
                if tid in response_of
                for rid, rtext, model in [response_of[tid]]
            ]
            if not any(r.ratings for r in responses):
                continue
            if any(tid in response_of and tid not in complete for tid in members[fid]):
                # Half the required ratings is a different, noisier label: wait for the rest (QA coverage
                # lists these pairs as a gap).
                stats.held_back["rating_pair_incomplete"] += 1
                continue
            if filters.review_status != "all":
                review = reviews.get(pair_id)
                queued, winner = _in_rating_queue(responses, merge)
                decision = _decision(review)
                if (queued or review is not None) and _held_back(decision, filters.review_status):
                    stats.held_back[f"rating_pair_{decision}"] += 1
                    continue
                if review is not None and review.decision == Review.Decision.EDIT and winner is not None:
                    responses = [
                        _with_text(r, review.edited_text) if r.response_id == winner.response_id else r
                        for r in responses
                    ]
            yield P.RatingItem(
                item_id=str(fid),
                prompt_id=str(prompt_id),
                prompt=_message_prompt(text),
                responses=tuple(responses),
                category=category,
            )


def _with_text(response: P.RatedResponse, text: str) -> P.RatedResponse:
    """The winner with the QA lead's corrected text (its scores stay: they judged the original)."""
    return P.RatedResponse(response_id=response.response_id, text=text, model=response.model, ratings=response.ratings)


# --------------------------------------------------------------------------------------------------------
# Dialogs
# --------------------------------------------------------------------------------------------------------


def _dialogs(filters: ExportFilters) -> QuerySet:
    qs = Dialog.objects.filter(status=Dialog.Status.FINISHED)
    if filters.annotators:
        qs = qs.filter(annotator_id__in=filters.annotators)
    return _dated(qs, filters)


def iter_dialogs(
    filters: ExportFilters, *, chunk_size: int = 500, stats: AdapterStats | None = None
) -> Iterator[P.Dialog]:
    """Finished dialogs in id order; context = earlier user messages and chosen/custom answers."""
    stats = stats if stats is not None else AdapterStats()
    for dialog_ids in _keyset(_dialogs(filters), chunk_size=chunk_size):
        annotators = dict(Dialog.objects.filter(id__in=dialog_ids).values_list("id", "annotator_id"))
        turns = list(
            DialogTurn.objects.filter(dialog_id__in=dialog_ids)
            .order_by("dialog_id", "index")
            .values_list("id", "dialog_id", "index", "user_text", "typology__key", "chosen_id", "custom_text",
                         "column_order")
        )
        candidates: dict[int, list[P.Candidate]] = defaultdict(list)
        labels: dict[int, dict[str, str]] = defaultdict(dict)
        for turn_id, cid, label, model, text in (
            DialogCandidate.objects.filter(turn__dialog_id__in=dialog_ids, status=DialogCandidate.Status.DONE)
            .exclude(text="")
            .order_by("turn_id", "id")
            .values_list("turn_id", "id", "seat__label", "seat__endpoint__name", "text")
        ):
            candidates[turn_id].append(P.Candidate(response_id=str(cid), text=text, model=model))
            labels[turn_id][label] = str(cid)
        dialog_reviews = {}
        customs = {}
        if filters.review_status != "all":
            dialog_reviews = qa_selectors.review_state(ReviewTarget.DIALOG, dialog_ids)
            customs = _custom_answers(ReviewTarget.DIALOG_TURN, [t[0] for t in turns if t[6]], filters.review_status)
        by_dialog: dict[int, list[tuple]] = defaultdict(list)
        for turn in turns:
            by_dialog[turn[1]].append(turn)
        for dialog_id in dialog_ids:
            stats.items["dialog"] += 1
            decision = _decision(dialog_reviews.get(dialog_id))
            if filters.review_status != "all" and _held_back(decision, filters.review_status):
                stats.held_back[f"dialog_{decision}"] += 1
                continue
            built = _dialog_turns(by_dialog[dialog_id], candidates, labels, customs, stats)
            if built:
                yield P.Dialog(
                    dialog_id=str(dialog_id),
                    annotator=annotator_key(annotators[dialog_id]),
                    turns=tuple(built),
                    category=DIALOG_CATEGORY,
                )


def _dialog_turns(
    rows: list[tuple],
    candidates: Mapping[int, list[P.Candidate]],
    labels: Mapping[int, Mapping[str, str]],
    customs: Mapping[int, tuple[str | None, str]],
    stats: AdapterStats,
) -> list[P.DialogTurn]:
    history: list[P.Message] = []
    built: list[P.DialogTurn] = []
    for turn_id, _dialog_id, index, user_text, typology, chosen_id, custom_text, column_order in rows:
        options = candidates.get(turn_id, [])
        if custom_text and turn_id in customs:
            custom_text, decision = customs[turn_id]
            if custom_text is None:
                stats.held_back[f"dialog_turn_custom_{decision}"] += 1
                break
        chosen = str(chosen_id) if chosen_id is not None and not custom_text else None
        if not custom_text and (chosen is None or chosen not in {c.response_id for c in options}):
            break  # undecided (or its chosen answer failed): nothing after it is usable
        history.append(P.Message(role="user", content=user_text))
        assistant = custom_text or next(c.text for c in options if c.response_id == chosen)
        built.append(
            P.DialogTurn(
                turn_id=str(turn_id),
                index=index,
                context=tuple(history),
                candidates=tuple(options),
                chosen_id=chosen,
                custom_text=custom_text or None,
                display_order=tuple(labels.get(turn_id, {}).get(label, "") for label in column_order or ()),
                typology=typology or "",
            )
        )
        history.append(P.Message(role="assistant", content=assistant))
    return built


# --------------------------------------------------------------------------------------------------------
# Totals for the progress bar
# --------------------------------------------------------------------------------------------------------


def count_items(filters: ExportFilters) -> dict[str, int]:
    """How many items each source will read (the progress bar's denominator; three COUNT queries)."""
    totals = dict.fromkeys(TASK_TYPES, 0)
    if filters.wants("ranking"):
        totals["ranking"] = _rankings(filters).values("task_id").distinct().count()
    if filters.wants("rating"):
        totals["rating"] = _first_rating_tasks(filters).count()
    if filters.wants("dialog"):
        totals["dialog"] = _dialogs(filters).count()
    return totals
