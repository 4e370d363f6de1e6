"""Annotation records as plain tuples for qa.stats (streamed values_list), filters, names."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import get_language

from annotation.models import Ranking, Rating, Task, TaskKind
from core import roles
from dialogs.models import DialogTurn
from prompts.models import Criterion

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
    # Aligned with `rows`: the annotator kept the shown order and confirmed it (Ranking.order_confirmed_unchanged),
    # so position bias can be split by it.
    confirmed_unchanged: list[bool] = field(default_factory=list)


def ranking_records(filters: Filters, *, gold: bool | None = None) -> RankingRecords:
    records = RankingRecords([], [], [])
    if not filters.includes("ranking"):
        return records
    # Skips (a reason, no order) are not rankings.
    qs = _task_annotations(Ranking, filters, gold).filter(skip_reason="").values_list(
        "task_id", "annotator_id", "order", "display_order", "custom_text", "time_ms", "order_confirmed_unchanged"
    )
    for task_id, annotator_id, order, display_order, custom_text, time_ms, confirmed in qs.iterator(chunk_size=5000):
        records.rows.append((task_id, annotator_id, list(order or []), list(display_order or [])))
        records.confirmed_unchanged.append(bool(confirmed))
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
