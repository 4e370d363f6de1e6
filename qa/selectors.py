"""Reads for quality assurance: annotation records as plain tuples for `qa.stats`, review queues, review
state for the exports, feedback for the annotator's home page, coverage.

Everything the dashboard needs is fetched with `values_list(...)` (one query per record type, streamed
with `.iterator()`), never by walking relations row by row, so it stays a handful of queries at 100k
annotations.

Public API used by other parts of the product:

* ``review_state(target_kind, target_ids) -> {target_id: latest Review}`` — the latest QA decision per
  reviewed object. ``target_kind`` is a ``qa.models.ReviewTarget`` value: ``ranking`` (Ranking id: its
  custom answer), ``dialog_turn`` (DialogTurn id: its custom answer), ``rating_pair`` (the smaller Task
  id of the two rating tasks sharing a ``pair_key``: the winning response), ``dialog`` (Dialog id).
  Objects without a review are absent.
* ``effective_custom_text(target_kind, target_ids) -> {target_id: str | None}`` — for ``ranking`` and
  ``dialog_turn``: the custom answer an export must use. The annotator's text when not reviewed or
  approved, the QA lead's text after an *edit*, ``None`` after a *reject* (leave the custom answer out).
  For ``rating_pair`` the winning response's text, edited or ``None`` when rejected (drop the pair);
  for ``dialog`` ``None`` when the dialog was rejected, "" otherwise. Ids that do not exist are absent.
* ``is_rejected(target_kind, target_ids) -> set[int]`` — the ids whose latest decision is *reject*.
* ``feedback_for(user, limit=20) -> list[Feedback]`` — the newest feedback sent to ``user`` (unread first
  is up to the caller; each has ``read_at``), with ``from_user`` / ``task`` / ``dialog`` loaded.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import get_language

from annotation import roles
from annotation.models import (
    Category,
    Criterion,
    Dialog,
    DialogTurn,
    Prompt,
    Ranking,
    Rating,
    Task,
    TaskKind,
    TaskResponse,
    Topic,
)

from .models import Feedback, Review, ReviewTarget

TASK_TYPES = ("rating", "ranking", "dialog")


# --------------------------------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Filters:
    """Dashboard filters. ``annotator_id`` narrows to the items that annotator worked on (so agreement
    with peers stays defined) and the per-annotator tables to that annotator."""

    date_from: date | None = None
    date_to: date | None = None
    category_id: int | None = None
    task_type: str = ""  # "" (all) | rating | ranking | dialog
    annotator_id: int | None = None

    def includes(self, task_type: str) -> bool:
        return not self.task_type or self.task_type == task_type

    def as_query(self) -> dict[str, str]:
        pairs = {
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "category": str(self.category_id or ""),
            "task_type": self.task_type,
            "annotator": str(self.annotator_id or ""),
        }
        return {k: v for k, v in pairs.items() if v}


def _dated(qs: QuerySet, filters: Filters, field: str = "created") -> QuerySet:
    if filters.date_from:
        qs = qs.filter(**{f"{field}__date__gte": filters.date_from})
    if filters.date_to:
        qs = qs.filter(**{f"{field}__date__lte": filters.date_to})
    return qs


def _task_annotations(model, filters: Filters, gold: bool | None) -> QuerySet:
    qs = _dated(model.objects.filter(is_current=True), filters)
    if filters.category_id:
        qs = qs.filter(task__prompt__category_id=filters.category_id)
    if gold is not None:
        qs = qs.filter(task__is_gold=gold)
    if filters.annotator_id:
        mine = model.objects.filter(is_current=True, annotator_id=filters.annotator_id).values("task_id")
        qs = qs.filter(task_id__in=mine)
    return qs


def _turns(filters: Filters) -> QuerySet:
    if filters.category_id or not filters.includes("dialog"):
        return DialogTurn.objects.none()  # dialogs have no prompt category
    qs = _dated(DialogTurn.objects.exclude(chosen__isnull=True, custom_text=""), filters)
    if filters.annotator_id:
        qs = qs.filter(dialog__annotator_id=filters.annotator_id)
    return qs


# --------------------------------------------------------------------------------------------------
# Records for qa.stats
# --------------------------------------------------------------------------------------------------

def criteria() -> list[tuple[str, str]]:
    """(key, label in the current language), in the guideline's order."""
    polish = (get_language() or "pl").startswith("pl")
    return [
        (key, pl if polish else en)
        for key, en, pl in Criterion.objects.values_list("key", "name_en", "name_pl").order_by("position")
    ]


@dataclass
class RatingRecords:
    # (task_id, annotator_id, criterion, score, date): qa.stats reads the first four fields, and
    # alpha_over_time the date too, so one list serves every figure (490k tuples at 70k ratings).
    rows: list[tuple]
    skips: list[tuple]  # (annotator_id, skipped)
    times: list[tuple]  # (annotator_id, "rating", seconds)
    count: int = 0


def rating_records(filters: Filters, *, gold: bool | None = None, keys: Iterable[str] = ()) -> RatingRecords:
    records = RatingRecords([], [], [])
    if not filters.includes("rating"):
        return records
    wanted = set(keys)
    qs = _task_annotations(Rating, filters, gold).values_list(
        "task_id", "annotator_id", "scores", "skip_reason", "time_ms", "created"
    )
    for task_id, annotator_id, scores, skip_reason, time_ms, created in qs.iterator(chunk_size=5000):
        records.count += 1
        records.skips.append((annotator_id, bool(skip_reason)))
        records.times.append((annotator_id, "rating", time_ms / 1000))
        if skip_reason:
            continue
        day = timezone.localtime(created).date()
        for criterion, score in (scores or {}).items():
            if wanted and criterion not in wanted:
                continue
            value = score if isinstance(score, int) and 1 <= score <= 5 else None
            records.rows.append((task_id, annotator_id, criterion, value, day))
    return records


@dataclass
class RankingRecords:
    rows: list[tuple]  # (task_id, annotator_id, order, display_order)
    custom: list[tuple]  # (annotator_id, is_custom)
    times: list[tuple]  # (annotator_id, "ranking", seconds)


def ranking_records(filters: Filters, *, gold: bool | None = None) -> RankingRecords:
    records = RankingRecords([], [], [])
    if not filters.includes("ranking"):
        return records
    qs = _task_annotations(Ranking, filters, gold).values_list(
        "task_id", "annotator_id", "order", "display_order", "custom_text", "time_ms"
    )
    for task_id, annotator_id, order, display_order, custom_text, time_ms in qs.iterator(chunk_size=5000):
        records.rows.append((task_id, annotator_id, list(order or []), list(display_order or [])))
        records.custom.append((annotator_id, bool(custom_text.strip())))
        records.times.append((annotator_id, "ranking", time_ms / 1000))
    return records


@dataclass
class DialogRecords:
    slot_wins: list[tuple]  # (annotator_id, winner_slot, n_slots)
    custom: list[tuple]  # (annotator_id, is_custom)
    times: list[tuple]  # (annotator_id, "dialog", seconds)


def dialog_records(filters: Filters) -> DialogRecords:
    records = DialogRecords([], [], [])
    qs = _turns(filters).values_list(
        "dialog__annotator_id", "column_order", "chosen__seat__label", "custom_text", "time_ms"
    )
    for annotator_id, column_order, chosen_label, custom_text, time_ms in qs.iterator(chunk_size=5000):
        columns = list(column_order or [])
        is_custom = bool(custom_text.strip())
        records.custom.append((annotator_id, is_custom))
        records.times.append((annotator_id, "dialog", time_ms / 1000))
        if not is_custom and chosen_label in columns:
            records.slot_wins.append((annotator_id, columns.index(chosen_label), len(columns)))
    return records


def gold_references(filters: Filters) -> tuple[list[tuple], dict[int, list]]:
    """Reference scores ``(task_id, criterion, score)`` of gold rating tasks and expected orders
    ``{task_id: [TaskResponse ids best first]}`` of gold ranking tasks."""
    qs = Task.objects.filter(is_gold=True, gold_reference__isnull=False)
    if filters.category_id:
        qs = qs.filter(prompt__category_id=filters.category_id)
    scores: list[tuple] = []
    orders: dict[int, list] = {}
    for task_id, kind, reference in qs.values_list("id", "kind", "gold_reference").iterator():
        if not isinstance(reference, dict):
            continue
        if kind == TaskKind.RATING:
            for criterion, score in (reference.get("scores") or {}).items():
                scores.append((task_id, criterion, score))
        elif reference.get("order"):
            orders[task_id] = list(reference["order"])
    return scores, orders


def usernames(ids: Iterable[int]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    return dict(get_user_model().objects.filter(id__in=ids).values_list("id", "username"))


def annotator_choices() -> list[tuple[int, str]]:
    user_model = get_user_model()
    return list(
        user_model.objects.filter(groups__name=roles.ANNOTATOR, is_active=True)
        .order_by("username")
        .values_list("id", "username")
    )


# --------------------------------------------------------------------------------------------------
# Rating pairs (two rating tasks sharing a pair_key)
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RatingPair:
    pair_id: int  # the smaller task id: the review target id
    task_ids: tuple[int, int]
    means: tuple[Fraction, Fraction]
    prompt_id: int

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


def rating_pairs(*, task_ids: Iterable[int] | None = None) -> list[RatingPair]:
    """Every rating pair whose two responses both have at least one scored rating, oldest first."""
    qs = Rating.objects.filter(is_current=True, skip_reason="").exclude(task__pair_key="")
    if task_ids is not None:
        keys = Task.objects.filter(id__in=list(task_ids)).exclude(pair_key="").values("pair_key")
        qs = qs.filter(task__pair_key__in=keys)
    per_task: dict[int, list[Fraction]] = defaultdict(list)
    task_pair: dict[int, tuple[str, int]] = {}
    rows = qs.values_list("task_id", "task__pair_key", "task__prompt_id", "scores")
    for task_id, pair_key, prompt_id, scores in rows.iterator(chunk_size=5000):
        values = [v for v in (scores or {}).values() if isinstance(v, int)]
        if values:
            per_task[task_id].append(Fraction(sum(values), len(values)))
            task_pair[task_id] = (pair_key, prompt_id)
    by_key: dict[str, list[int]] = defaultdict(list)
    for task_id, (pair_key, _prompt) in task_pair.items():
        by_key[pair_key].append(task_id)
    pairs = []
    for _key, ids in by_key.items():
        if len(ids) != 2:
            continue
        a, b = sorted(ids)
        means = (_response_mean(per_task[a]), _response_mean(per_task[b]))
        pairs.append(RatingPair(a, (a, b), means, task_pair[a][1]))
    pairs.sort(key=lambda p: p.pair_id)
    return pairs


def rating_pair_tasks(pair_id: int) -> list[Task]:
    """The two tasks of a pair given its review id (the smaller task id); 404 handled by the caller."""
    first = Task.objects.select_related("prompt").get(id=pair_id, kind=TaskKind.RATING)
    if not first.pair_key:
        return [first]
    return list(
        Task.objects.select_related("prompt").filter(pair_key=first.pair_key, kind=TaskKind.RATING).order_by("id")
    )


# --------------------------------------------------------------------------------------------------
# Review state (used by the exports)
# --------------------------------------------------------------------------------------------------

def review_state(target_kind: str, target_ids: Iterable[int]) -> dict[int, Review]:
    """{target_id: latest Review} for the given ids (see the module docstring)."""
    ids = list({int(i) for i in target_ids})
    latest: dict[int, Review] = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000]
        for review in Review.objects.filter(target_kind=target_kind, target_id__in=chunk).order_by(
            "target_id", "-created", "-id"
        ):
            latest.setdefault(review.target_id, review)
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
        pairs = {p.pair_id: p for p in rating_pairs(task_ids=ids) if p.pair_id in set(ids)}
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
        Review.objects.filter(target_kind=target_kind, target_id=target_id)
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


def _latest_review(kind: str, ref: str = "pk"):
    return Review.objects.filter(target_kind=kind, target_id=OuterRef(ref)).order_by("-created", "-id")


def _with_status(qs: QuerySet, kind: str, status: str) -> QuerySet:
    qs = qs.annotate(
        latest_decision=Subquery(_latest_review(kind).values("decision")[:1]),
        reviewed=Exists(Review.objects.filter(target_kind=kind, target_id=OuterRef("pk"))),
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
    pair: RatingPair
    prompt_text: str
    category: str
    decision: str | None


def rating_pair_queue(which: str, status: str = "pending", threshold: float = 4.5) -> list[RatingPairRow]:
    """``which`` = "identical" (equal means) or "low_winner" (winner's mean below ``threshold``)."""
    limit = Fraction(str(threshold))
    pairs = rating_pairs()
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
    categories = dict(
        Prompt.objects.filter(id__in={p.prompt_id for p in pairs}).values_list("id", "category__name")
    )
    return [
        RatingPairRow(
            p, prompts.get(p.prompt_id, ""), categories.get(p.prompt_id, ""),
            state[p.pair_id].decision if p.pair_id in state else None,
        )
        for p in pairs
    ]


def queue_counts(threshold: float = 4.5) -> dict[str, int]:
    """Pending items per queue, for the queue tabs."""
    pairs = rating_pairs()
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
# Gold
# --------------------------------------------------------------------------------------------------

def gold_tasks() -> QuerySet:
    return (
        Task.objects.filter(is_gold=True)
        .select_related("prompt__category")
        .annotate(
            n_ratings=Count("ratings", filter=Q(ratings__is_current=True), distinct=True),
            n_rankings=Count("rankings", filter=Q(rankings__is_current=True), distinct=True),
        )
        .order_by("kind", "id")
    )


def gold_candidates(*, kind: str = "", category_id: int | None = None, query: str = "") -> QuerySet:
    qs = Task.objects.filter(is_gold=False, is_active=True).select_related("prompt__category").order_by("-id")
    if kind:
        qs = qs.filter(kind=kind)
    if category_id:
        qs = qs.filter(prompt__category_id=category_id)
    if query.isdigit():
        qs = qs.filter(Q(id=int(query)) | Q(prompt__text__icontains=query))
    elif query:
        qs = qs.filter(prompt__text__icontains=query)
    return qs


def task_responses(task: Task) -> list[TaskResponse]:
    return list(task.task_responses.select_related("generation").order_by("position"))


# --------------------------------------------------------------------------------------------------
# Feedback
# --------------------------------------------------------------------------------------------------

def feedback_for(user, limit: int = 20) -> list[Feedback]:
    """The newest feedback sent to ``user`` (for the annotator's home page)."""
    if not user.is_authenticated:
        return []
    return list(
        Feedback.objects.filter(to_user=user).select_related("from_user", "task", "dialog").order_by(
            "-created", "-id"
        )[:limit]
    )


def feedback_sent(limit: int = 50) -> list[Feedback]:
    return list(Feedback.objects.select_related("to_user", "from_user").order_by("-created", "-id")[:limit])


# --------------------------------------------------------------------------------------------------
# Coverage
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TopicCoverage:
    topic_id: int | None
    topic: str
    prompts: int
    target: int

    @property
    def share(self) -> float | None:
        return self.prompts / self.target if self.target else None

    @property
    def below_target(self) -> bool:
        return self.target > 0 and self.prompts < self.target


@dataclass(frozen=True)
class CategoryCoverage:
    category_id: int
    name: str
    group: str
    origin: str
    prompts: int
    topics: list[TopicCoverage]
    rating_prompts: int
    ranking_prompts: int
    rating_pairs: int
    ranking_pairs: int
    paper_total_prompts: int | None

    @property
    def pairs(self) -> int:
        return self.rating_pairs + self.ranking_pairs

    @property
    def below_target(self) -> int:
        return sum(1 for t in self.topics if t.below_target)


@dataclass(frozen=True)
class Coverage:
    categories: list[CategoryCoverage]
    dialogs: int
    dialog_pairs: int

    @property
    def total_pairs(self) -> int:
        return sum(c.pairs for c in self.categories) + self.dialog_pairs


def coverage(threshold: float = 4.5) -> Coverage:
    """Prompts per category × topic against Topic.target, and live pair counts per category in the
    shape of the paper's Table 1 (rating pairs: winner mean ≥ threshold; ranking: best vs worst, one
    pair per ranked item plus one per distinct custom answer; dialogs: chosen or custom vs each other
    candidate)."""
    prompt_counts: dict[tuple[int, int | None], int] = {
        (cat, topic): n
        for cat, topic, n in Prompt.objects.values_list("category_id", "topic_id").annotate(n=Count("id"))
        .values_list("category_id", "topic_id", "n")
    }
    topic_rows = list(
        Topic.objects.filter(categories__isnull=False).values_list("id", "name", "target", "categories")
    )
    topics_by_category: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    for topic_id, name, target, category_id in topic_rows:
        topics_by_category[category_id].append((topic_id, name, target))
    task_prompts = {
        (cat, kind): n
        for cat, kind, n in Task.objects.values_list("prompt__category_id", "kind")
        .annotate(n=Count("prompt_id", distinct=True)).values_list("prompt__category_id", "kind", "n")
    }
    limit = Fraction(str(threshold))
    rating_pairs_by_category: dict[int, int] = defaultdict(int)
    pair_prompts = [p for p in rating_pairs() if not p.identical and p.winner_mean >= limit]
    prompt_category = dict(
        Prompt.objects.filter(id__in={p.prompt_id for p in pair_prompts}).values_list("id", "category_id")
    )
    for p in pair_prompts:
        rating_pairs_by_category[prompt_category[p.prompt_id]] += 1
    ranked = (
        Ranking.objects.filter(is_current=True)
        .values_list("task__prompt__category_id")
        .annotate(items=Count("task_id", distinct=True))
        .values_list("task__prompt__category_id", "items")
    )
    customs = (
        Ranking.objects.filter(is_current=True).exclude(custom_text="")
        .values_list("task__prompt__category_id")
        .annotate(n=Count("id"))
        .values_list("task__prompt__category_id", "n")
    )
    ranking_pairs_by_category: dict[int, int] = defaultdict(int)
    for category_id, n in list(ranked) + list(customs):
        ranking_pairs_by_category[category_id] += n
    categories = []
    for cat in Category.objects.all():
        topics = [
            TopicCoverage(topic_id, name, prompt_counts.get((cat.id, topic_id), 0), target)
            for topic_id, name, target in sorted(topics_by_category.get(cat.id, []), key=lambda t: t[1])
        ]
        unlabelled = prompt_counts.get((cat.id, None), 0)
        if unlabelled:
            topics.append(TopicCoverage(None, "", unlabelled, 0))
        categories.append(
            CategoryCoverage(
                category_id=cat.id,
                name=cat.name,
                group=cat.get_group_display(),
                origin=cat.origin,
                prompts=sum(n for (c, _t), n in prompt_counts.items() if c == cat.id),
                topics=topics,
                rating_prompts=task_prompts.get((cat.id, TaskKind.RATING), 0),
                ranking_prompts=task_prompts.get((cat.id, TaskKind.RANKING), 0),
                rating_pairs=rating_pairs_by_category.get(cat.id, 0),
                ranking_pairs=ranking_pairs_by_category.get(cat.id, 0),
                paper_total_prompts=cat.paper_total_prompts,
            )
        )
    turns = DialogTurn.objects.exclude(chosen__isnull=True, custom_text="").annotate(
        n_candidates=Count("candidates", filter=Q(candidates__status="done"))
    ).values_list("n_candidates", "custom_text")
    dialog_pairs = sum(max(n - 1, 0) + (1 if custom else 0) for n, custom in turns.iterator())
    dialogs = Dialog.objects.filter(turns__isnull=False).distinct().count()
    return Coverage(categories, dialogs, dialog_pairs)


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
        if tasks[0].id != target_id:
            raise Task.DoesNotExist
        pair = next((p for p in rating_pairs(task_ids=[target_id]) if p.pair_id == target_id), None)
        item.prompt, item.task_ids, item.task_id = tasks[0].prompt, [t.id for t in tasks], target_id
        winner = pair.winner_task_id if pair else None
        ratings_by_task: dict[int, list] = defaultdict(list)
        for rating in (Rating.objects.filter(task__in=tasks, is_current=True).select_related("annotator")
                       .order_by("annotator__username")):
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
