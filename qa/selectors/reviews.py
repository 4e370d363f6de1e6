"""Rating pairs, review state for the exports, review queues and the word diff."""

from __future__ import annotations

import difflib
import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from django.core.cache import cache
from django.db.models import Count, Exists, Max, OuterRef, QuerySet, Subquery

from annotation import selectors as annotation_selectors
from annotation.models import Ranking, Rating, Task, TaskKind, TaskResponse
from core.i18n import pick
from dialogs.models import Dialog, DialogTurn
from prompts.models import Criterion, Prompt

from ..models import Review, ReviewTarget
from .gold import task_responses

# --------------------------------------------------------------------------------------------------
# Rating pairs (annotation.models.RatingPair: two rating tasks of one prompt) with their mean scores
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScoredRatingPair:
    pair_id: int  # the RatingPair id: the review target id
    task_ids: tuple[int, int]  # in id order (the order the review page shows them)
    means: tuple[Fraction, Fraction]
    prompt_id: int
    complete: bool = True  # both responses have their required ratings (annotation.selectors.rating_tasks_complete)

    @property
    def winner_index(self) -> int | None:
        if self.means[0] == self.means[1]:
            return None
        return 0 if self.means[0] > self.means[1] else 1

    @property
    def winner_task_id(self) -> int | None:
        index = self.winner_index
        return None if index is None else self.task_ids[index]

    @property
    def winner_mean(self) -> Fraction:
        return max(self.means)

    @property
    def identical(self) -> bool:
        return self.means[0] == self.means[1]


def _response_mean(per_annotator: list[Fraction]) -> Fraction | None:
    # Mean over annotators of each annotator's mean over the criteria: the rule of exports.pairs.
    return sum(per_annotator, Fraction(0)) / len(per_annotator) if per_annotator else None


def rating_pairs(*, pair_ids: Iterable[int] | None = None) -> list[ScoredRatingPair]:
    """Every rating pair whose two responses both have at least one scored rating, by pair id."""
    qs = Rating.objects.filter(is_current=True, skip_reason="", task__pair__isnull=False)
    if pair_ids is not None:
        qs = qs.filter(task__pair_id__in=list(pair_ids))
    per_task: dict[int, list[Fraction]] = defaultdict(list)
    task_pair: dict[int, tuple[int, int]] = {}
    rows = qs.values_list("task_id", "task__pair_id", "task__prompt_id", "scores")
    for task_id, pair_id, prompt_id, scores in rows.iterator(chunk_size=5000):
        values = [v for v in (scores or {}).values() if isinstance(v, int)]
        if values:
            per_task[task_id].append(Fraction(sum(values), len(values)))
            task_pair[task_id] = (pair_id, prompt_id)
    by_pair: dict[int, list[int]] = defaultdict(list)
    for task_id, (pair_id, _prompt) in task_pair.items():
        by_pair[pair_id].append(task_id)
    pairs = []
    complete = annotation_selectors.rating_tasks_complete(
        task_id for ids in by_pair.values() if len(ids) == 2 for task_id in ids
    )
    for pair_id, ids in by_pair.items():
        if len(ids) != 2:
            continue
        a, b = sorted(ids)
        means = (_response_mean(per_task[a]), _response_mean(per_task[b]))
        pairs.append(ScoredRatingPair(pair_id, (a, b), means, task_pair[a][1], a in complete and b in complete))
    pairs.sort(key=lambda p: p.pair_id)
    return pairs


def all_rating_pairs() -> list[ScoredRatingPair]:
    """rating_pairs() shared between requests until a rating is added (ratings are append-only rows: a
    revision or a skip is a new row, so their count, last id and last time change with every write)."""
    version = Rating.objects.aggregate(n=Count("id"), last=Max("id"), at=Max("created"))
    key = "qa:rating-pairs:" + hashlib.sha256(repr(sorted(version.items())).encode()).hexdigest()
    pairs = cache.get(key)
    if pairs is None:
        pairs = rating_pairs()
        cache.set(key, pairs, 3600)
    return pairs


def rating_pair_tasks(pair_id: int) -> list[Task]:
    """The tasks of a rating pair in id order; Task.DoesNotExist when there is no such pair."""
    tasks = list(Task.objects.select_related("prompt").filter(pair_id=pair_id, kind=TaskKind.RATING).order_by("id"))
    if not tasks:
        raise Task.DoesNotExist
    return tasks


# --------------------------------------------------------------------------------------------------
# Review state (used by the exports)
# --------------------------------------------------------------------------------------------------

def review_state(target_kind: str, target_ids: Iterable[int]) -> dict[int, Review]:
    """{target_id: latest Review} for the given ids (see the module docstring)."""
    key = f"{Review.target_field(target_kind)}_id"
    ids = list({int(i) for i in target_ids})
    latest: dict[int, Review] = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000]
        for review in Review.objects.filter(**{f"{key}__in": chunk}).order_by(key, "-created", "-id"):
            latest.setdefault(getattr(review, key), review)
    return latest


def is_rejected(target_kind: str, target_ids: Iterable[int]) -> set[int]:
    return {i for i, r in review_state(target_kind, target_ids).items() if r.decision == Review.Decision.REJECT}


def original_texts(target_kind: str, target_ids: Iterable[int]) -> dict[int, str]:
    """The annotator's own text of each reviewable object (the winner's response for a rating pair)."""
    ids = list({int(i) for i in target_ids})
    if target_kind == ReviewTarget.RANKING:
        return dict(Ranking.objects.filter(id__in=ids).values_list("id", "custom_text"))
    if target_kind == ReviewTarget.DIALOG_TURN:
        return dict(DialogTurn.objects.filter(id__in=ids).values_list("id", "custom_text"))
    if target_kind == ReviewTarget.DIALOG:
        return dict.fromkeys(Dialog.objects.filter(id__in=ids).values_list("id", flat=True), "")
    if target_kind == ReviewTarget.RATING_PAIR:
        # A pair with equal means has no winner: its text is "" (it can be approved or rejected, not edited).
        pairs = {p.pair_id: p for p in rating_pairs(pair_ids=ids)}
        winners = {pid: p.winner_task_id for pid, p in pairs.items()}
        texts = dict(
            TaskResponse.objects.filter(task_id__in=[t for t in winners.values() if t])
            .order_by("task_id", "position")
            .values_list("task_id", "generation__text")
        )
        return {pid: texts.get(task_id, "") if task_id else "" for pid, task_id in winners.items()}
    raise ValueError(f"unknown review target {target_kind!r}")


def effective_custom_text(target_kind: str, target_ids: Iterable[int]) -> dict[int, str | None]:
    """The text an export must use: edited after an edit, None after a reject (module docstring)."""
    originals = original_texts(target_kind, target_ids)
    state = review_state(target_kind, originals)
    result: dict[int, str | None] = {}
    for target_id, text in originals.items():
        review = state.get(target_id)
        if review is None or review.decision == Review.Decision.APPROVE:
            result[target_id] = text
        elif review.decision == Review.Decision.EDIT:
            result[target_id] = review.edited_text
        else:
            result[target_id] = None
    return result


def review_history(target_kind: str, target_id: int) -> list[Review]:
    return list(
        Review.objects.filter(**{f"{Review.target_field(target_kind)}_id": target_id})
        .select_related("reviewer")
        .order_by("-created", "-id")
    )


_TOKENS = re.compile(r"\s+|[^\s\w]|\w+")


def text_diff(original: str, edited: str) -> list[tuple[str, str]]:
    """Word-level diff as ``(op, text)`` segments, op in equal/delete/insert.

    Segments are plain text: the template escapes each one inside ``<del>``/``<ins>``, so neither side is
    ever marked safe.
    """
    a, b = _TOKENS.findall(original or ""), _TOKENS.findall(edited or "")
    segments: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            segments.append(("equal", "".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            segments.append(("delete", "".join(a[i1:i2])))
        if op in ("insert", "replace"):
            segments.append(("insert", "".join(b[j1:j2])))
    return segments


# --------------------------------------------------------------------------------------------------
# Review queues
# --------------------------------------------------------------------------------------------------

REVIEW_STATUSES = ("pending", "decided", "all")


def _reviews_of(kind: str, ref: str = "pk") -> QuerySet:
    return Review.objects.filter(**{Review.target_field(kind): OuterRef(ref)})


def _with_status(qs: QuerySet, kind: str, status: str) -> QuerySet:
    # Both subqueries are served by the review_by_<kind> index (qa.models.Review).
    qs = qs.annotate(
        latest_decision=Subquery(_reviews_of(kind).order_by("-created", "-id").values("decision")[:1]),
        reviewed=Exists(_reviews_of(kind)),
    )
    if status == "pending":
        qs = qs.filter(reviewed=False)
    elif status == "decided":
        qs = qs.filter(reviewed=True)
    return qs


def custom_ranking_queue(status: str = "pending") -> QuerySet:
    qs = (
        Ranking.objects.filter(is_current=True)
        .exclude(custom_text="")
        .select_related("annotator", "task__prompt__category")
        .order_by("created", "id")
    )
    return _with_status(qs, ReviewTarget.RANKING, status)


def custom_turn_queue(status: str = "pending") -> QuerySet:
    qs = (
        DialogTurn.objects.exclude(custom_text="")
        .select_related("dialog__annotator")
        .order_by("created", "id")
    )
    return _with_status(qs, ReviewTarget.DIALOG_TURN, status)


def _in_sample(dialog_id: int, percent: int) -> bool:
    # A stable pseudo-random sample: the same dialogs stay in a 10% sample on every visit.
    digest = hashlib.sha256(f"qa-dialog-sample:{dialog_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def dialog_queue(status: str = "pending", sample_percent: int = 100) -> QuerySet:
    qs = (
        Dialog.objects.annotate(n_turns=Count("turns"))
        .filter(n_turns__gt=0)
        .select_related("annotator")
        .order_by("created", "id")
    )
    qs = _with_status(qs, ReviewTarget.DIALOG, status)
    if sample_percent < 100:
        ids = [i for i in qs.values_list("id", flat=True) if _in_sample(i, sample_percent)]
        qs = qs.filter(id__in=ids)
    return qs


@dataclass(frozen=True)
class RatingPairRow:
    pair: ScoredRatingPair
    prompt_text: str
    category: str
    decision: str | None


def rating_pair_queue(
    which: str, status: str = "pending", threshold: float = 4.5, pairs: list[ScoredRatingPair] | None = None
) -> list[RatingPairRow]:
    """``which`` = "identical" (equal means) or "low_winner" (winner's mean below ``threshold``)."""
    limit = Fraction(str(threshold))
    pairs = all_rating_pairs() if pairs is None else pairs
    if which == "identical":
        pairs = [p for p in pairs if p.identical]
    else:
        pairs = [p for p in pairs if not p.identical and p.winner_mean < limit]
    state = review_state(ReviewTarget.RATING_PAIR, [p.pair_id for p in pairs])
    if status == "pending":
        pairs = [p for p in pairs if p.pair_id not in state]
    elif status == "decided":
        pairs = [p for p in pairs if p.pair_id in state]
    prompts = dict(
        Prompt.objects.filter(id__in={p.prompt_id for p in pairs}).values_list("id", "text")
    )
    categories = {
        prompt_id: pick({"en": name_en, "pl": name_pl})
        for prompt_id, name_en, name_pl in Prompt.objects.filter(id__in={p.prompt_id for p in pairs})
        .values_list("id", "category__name_en", "category__name_pl")
    }
    return [
        RatingPairRow(
            p, prompts.get(p.prompt_id, ""), categories.get(p.prompt_id, ""),
            state[p.pair_id].decision if p.pair_id in state else None,
        )
        for p in pairs
    ]


def queue_counts(threshold: float = 4.5, pairs: list[ScoredRatingPair] | None = None) -> dict[str, int]:
    """Pending items per queue, for the queue tabs."""
    pairs = all_rating_pairs() if pairs is None else pairs
    reviewed = set(review_state(ReviewTarget.RATING_PAIR, [p.pair_id for p in pairs]))
    limit = Fraction(str(threshold))
    return {
        "custom": custom_ranking_queue("pending").count() + custom_turn_queue("pending").count(),
        "identical": sum(1 for p in pairs if p.identical and p.pair_id not in reviewed),
        "low_winner": sum(
            1 for p in pairs if not p.identical and p.winner_mean < limit and p.pair_id not in reviewed
        ),
        "dialogs": dialog_queue("pending").count(),
    }


# --------------------------------------------------------------------------------------------------
# One review item, with what the reviewer needs to judge it
# --------------------------------------------------------------------------------------------------

@dataclass
class ReviewEntry:
    review: Review
    diff: list[tuple[str, str]] | None


@dataclass
class ReviewItem:
    kind: str
    target_id: int
    annotator: object | None = None
    prompt: object | None = None  # annotation.Prompt
    task_ids: list[int] | None = None
    responses: list[dict] | None = None  # {label, text, rank, slot, hardness, mean, ratings, winner}
    turns: list[dict] | None = None  # dialog context: {index, user_text, candidates, chosen, custom_text, id}
    original_text: str = ""
    effective_text: str | None = ""
    editable: bool = False
    history: list[ReviewEntry] | None = None
    dialog_id: int | None = None
    task_id: int | None = None  # for feedback links


def _named_scores(scores: dict, criteria: list[Criterion]) -> list[tuple[str, object]]:
    """[(criterion name in the active language, score)] in the guideline's order; unknown keys last, as keys."""
    known = {c.key for c in criteria}
    return [(c.name, scores[c.key]) for c in criteria if c.key in scores] + [
        (key, value) for key, value in scores.items() if key not in known
    ]


def _turn_dicts(turns) -> list[dict]:
    result = []
    for turn in turns:
        candidates = sorted(turn.candidates.all(), key=lambda c: c.seat.label)
        result.append({
            "id": turn.id,
            "index": turn.index,
            "user_text": turn.user_text,
            "typology": turn.typology.name,
            "column_order": turn.column_order,
            "candidates": [{"label": c.seat.label, "text": c.text, "chosen": c.id == turn.chosen_id}
                           for c in candidates],
            "custom_text": turn.custom_text,
        })
    return result


def review_item(kind: str, target_id: int) -> ReviewItem:
    """Everything about one review target; raises the model's DoesNotExist when there is none."""
    item = ReviewItem(kind=kind, target_id=target_id)
    if kind == ReviewTarget.RANKING:
        ranking = Ranking.objects.select_related("annotator", "task__prompt__category").get(
            id=target_id, is_current=True
        )
        item.annotator, item.prompt, item.task_id = ranking.annotator, ranking.task.prompt, ranking.task_id
        ranks = {rid: place for place, rid in enumerate(ranking.order, start=1)}
        slots = {rid: slot for slot, rid in enumerate(ranking.display_order, start=1)}
        item.responses = [
            {"label": r.position + 1, "text": r.generation.text, "rank": ranks.get(r.id),
             "slot": slots.get(r.id), "hardness": ranking.hardness.get(str(r.id), "")}
            for r in task_responses(ranking.task)
        ]
        item.original_text, item.editable = ranking.custom_text, True
    elif kind == ReviewTarget.DIALOG_TURN:
        turn = DialogTurn.objects.select_related("dialog__annotator").get(id=target_id)
        item.annotator, item.dialog_id = turn.dialog.annotator, turn.dialog_id
        turns = (DialogTurn.objects.filter(dialog_id=turn.dialog_id, index__lte=turn.index)
                 .select_related("typology").prefetch_related("candidates__seat").order_by("index"))
        item.turns = _turn_dicts(turns)
        item.original_text, item.editable = turn.custom_text, True
    elif kind == ReviewTarget.DIALOG:
        dialog = Dialog.objects.select_related("annotator").get(id=target_id)
        item.annotator, item.dialog_id = dialog.annotator, dialog.id
        turns = (dialog.turns.select_related("typology").prefetch_related("candidates__seat").order_by("index"))
        item.turns = _turn_dicts(turns)
    elif kind == ReviewTarget.RATING_PAIR:
        tasks = rating_pair_tasks(target_id)
        pair = next(iter(rating_pairs(pair_ids=[target_id])), None)
        item.prompt, item.task_ids, item.task_id = tasks[0].prompt, [t.id for t in tasks], tasks[0].id
        winner = pair.winner_task_id if pair else None
        ratings_by_task: dict[int, list] = defaultdict(list)
        criteria = list(Criterion.objects.order_by("position"))
        for rating in (Rating.objects.filter(task__in=tasks, is_current=True).select_related("annotator")
                       .order_by("annotator__username")):
            rating.named_scores = _named_scores(rating.scores or {}, criteria)
            ratings_by_task[rating.task_id].append(rating)
        item.responses = []
        for index, task in enumerate(tasks):
            first = task_responses(task)[:1]
            item.responses.append({
                "label": index + 1, "task_id": task.id, "text": first[0].generation.text if first else "",
                "ratings": ratings_by_task.get(task.id, []),
                "mean": float(pair.means[index]) if pair and index < 2 else None,
                "winner": task.id == winner,
            })
        item.original_text = original_texts(kind, [target_id]).get(target_id, "")
        item.editable = winner is not None
    else:
        raise Review.DoesNotExist
    history = review_history(kind, target_id)
    item.history = [
        ReviewEntry(r, text_diff(r.original_text, r.edited_text) if r.decision == Review.Decision.EDIT else None)
        for r in history
    ]
    latest = history[0] if history else None
    if latest is None or latest.decision == Review.Decision.APPROVE:
        item.effective_text = item.original_text
    elif latest.decision == Review.Decision.EDIT:
        item.effective_text = latest.edited_text
    else:
        item.effective_text = None
    return item
