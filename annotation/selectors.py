"""Reads for annotation pages and the API (HackSoft style: selectors read, services write).

Rating / ranking items:
* ``claim_item(claim) -> Item`` — what an annotator sees for a held claim: prompt text and the responses'
  texts in the claim's display order (one query on top of the claim with its task and prompt).
* ``claim_for_task(annotator, task_id) -> Claim | None`` — the annotator's claim on a task (any status).
* ``annotation_current(annotator, task) -> Rating | Ranking | None`` — their current row for a task.
* ``work_available(annotator) -> dict[kind, int]`` and ``annotator_totals(annotator)`` for the home page;
  ``own_prompts_withheld(annotator)`` — open items not offered because the annotator wrote their prompt.
* ``queue_position(annotator, kind, claim) -> QueuePosition`` — "item 7 of 16 · 9 left" on a task page.
* ``annotation_previous(annotator, kind, exclude_task_id)`` — the last submission to reopen for revision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from annotation.models import Claim, Ranking, Rating, Task, TaskKind, TaskResponse
from generation import selectors as generation_selectors
from prompts.models import Criterion

DISPLAY_LABELS = "ABCDEFGH"


@dataclass(frozen=True)
class ShownResponse:
    id: int
    label: str  # A, B, C, D in display order; model names are never shown
    text: str


@dataclass(frozen=True)
class Item:
    claim: Claim
    task: Task
    prompt_text: str
    responses: list[ShownResponse]

    @property
    def response_ids(self) -> list[int]:
        return [r.id for r in self.responses]


def claim_item(claim: Claim) -> Item:
    """The item behind a claim, responses in the order this annotator sees them."""
    texts = getattr(claim, "response_texts", None)  # set by task_claim_next, which read them anyway
    if texts is None:
        texts = dict(
            TaskResponse.objects.filter(id__in=claim.display_order).values_list("id", "generation__text")
        )
    responses = [
        ShownResponse(response_id, DISPLAY_LABELS[index], texts.get(response_id, ""))
        for index, response_id in enumerate(claim.display_order)
    ]
    return Item(claim=claim, task=claim.task, prompt_text=claim.task.prompt.text, responses=responses)


def claim_for_task(*, annotator, task_id: int) -> Claim | None:
    return (
        Claim.objects.select_related("task__prompt").filter(annotator=annotator, task_id=task_id).first()
    )


def annotation_current(*, annotator, task: Task) -> Rating | Ranking | None:
    model = Rating if task.kind == TaskKind.RATING else Ranking
    return model.objects.filter(annotator=annotator, task=task, is_current=True).first()


def criteria() -> list[Criterion]:
    return list(Criterion.objects.order_by("position"))


def work_available(annotator) -> dict[str, int]:
    """Items of each kind this annotator could be given now (open normal items + unseen gold)."""
    mine = Claim.objects.filter(annotator=annotator).values("task_id")
    qs = Task.objects.filter(is_active=True).exclude(id__in=mine)
    if settings.STUDIO_NO_OWN_PROMPTS:
        qs = qs.exclude(prompt__author=annotator)
    open_items = Q(is_gold=True) | Q(remaining__gt=0)
    counts = dict(qs.filter(open_items).values_list("kind").annotate(n=Count("id")).values_list("kind", "n"))
    held = dict(
        Claim.objects.filter(annotator=annotator, status=Claim.Status.ACTIVE, expires_at__gt=timezone.now())
        .values_list("task__kind")
        .annotate(n=Count("id"))
        .values_list("task__kind", "n")
    )
    return {kind: counts.get(kind, 0) + held.get(kind, 0) for kind in TaskKind.values}


def recent_annotations(annotator, limit: int = 10) -> list[Rating | Ranking]:
    """The annotator's latest current ratings and rankings (newest first), with their prompts."""
    ratings = list(
        Rating.objects.filter(annotator=annotator, is_current=True)
        .select_related("task__prompt")
        .order_by("-created", "-id")[:limit]
    )
    rankings = list(
        Ranking.objects.filter(annotator=annotator, is_current=True)
        .select_related("task__prompt")
        .order_by("-created", "-id")[:limit]
    )
    return sorted(ratings + rankings, key=lambda row: row.created, reverse=True)[:limit]


def rating_tasks_complete(task_ids) -> set[int]:
    """The rating tasks whose response has its required ratings — the completeness rule of rating pairs.

    A response counts once it has as many current, non-skip ratings as its task's overlap (the annotators
    assignment asks for: the paper's `annotators_per_response`), counted over every annotator and date (it is
    a property of the item, whatever an export's filters); a gold task by its own rule: its QA reference
    scores, or the same count. Exports hold incomplete pairs back; QA coverage shows them as a gap.
    """
    ids = sorted(set(task_ids))
    complete = set()
    for start in range(0, len(ids), 5000):  # bounded IN lists (SQLite's variable limit, plan stability)
        chunk = ids[start : start + 5000]
        counts = dict(
            Rating.objects.filter(task_id__in=chunk, is_current=True, skip_reason="")
            .values("task_id")
            .annotate(n=Count("id"))
            .values_list("task_id", "n")
        )
        for tid, overlap, is_gold, reference in Task.objects.filter(id__in=chunk).values_list(
            "id", "overlap", "is_gold", "gold_reference"
        ):
            gold_ok = is_gold and isinstance(reference, dict) and bool(reference.get("scores"))
            if counts.get(tid, 0) >= overlap or gold_ok:
                complete.add(tid)
    return complete


def _open_items(annotator):
    """Active items with a free slot (or gold) that this annotator never claimed."""
    mine = Claim.objects.filter(annotator=annotator).values("task_id")
    return Task.objects.filter(is_active=True).exclude(id__in=mine).filter(Q(is_gold=True) | Q(remaining__gt=0))


def own_prompts_withheld(annotator, kind: str | None = None) -> dict[str, int] | int:
    """Open items not offered to the annotator because they wrote the prompt (`STUDIO_NO_OWN_PROMPTS`):
    {kind: count}, or the count of one kind. Zero everywhere when the setting is off."""
    counts = {k: 0 for k in TaskKind.values}
    if settings.STUDIO_NO_OWN_PROMPTS:
        rows = _open_items(annotator).filter(prompt__author=annotator).values_list("kind").annotate(n=Count("id"))
        counts.update(dict(rows.values_list("kind", "n")))
    return counts if kind is None else counts[kind]


@dataclass(frozen=True)
class QueuePosition:
    """Where an annotator is in their queue of one kind of item, counted from the assignment's side.

    * ``done_today`` — items of this kind they submitted (or skipped) today, this one excluded;
    * ``position`` — this item's number among today's items (done_today + 1), None when revising;
    * ``left`` — items they can still be given after this one, now (open slots of items they never saw,
      unseen gold items); others working at the same time can lower it;
    * ``total`` — position + left (or done_today + left when revising).
    """

    done_today: int
    position: int | None
    left: int

    @property
    def total(self) -> int:
        return (self.position or self.done_today) + self.left


def queue_position(*, annotator, kind: str, claim: Claim) -> QueuePosition:
    now = timezone.now()
    today = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
    done = (
        Claim.objects.filter(annotator=annotator, task__kind=kind, status=Claim.Status.SUBMITTED,
                             submitted_at__gte=today)
        .exclude(task_id=claim.task_id)
        .count()
    )
    available = work_available(annotator)[kind]
    active = claim.status == Claim.Status.ACTIVE
    held_counted = active and claim.expires_at > now  # work_available counts a live held claim
    left = max(0, available - (1 if held_counted else 0))
    return QueuePosition(done_today=done, position=done + 1 if active else None, left=left)


def annotation_previous(*, annotator, kind: str, exclude_task_id: int | None = None) -> Rating | Ranking | None:
    """The annotator's latest current submission of this kind (another item than the one open)."""
    model = Rating if kind == TaskKind.RATING else Ranking
    qs = model.objects.filter(annotator=annotator, is_current=True, task__kind=kind)
    if exclude_task_id is not None:
        qs = qs.exclude(task_id=exclude_task_id)
    return qs.order_by("-created", "-id").first()


@dataclass(frozen=True)
class AssemblySelection:
    """The prompts an assembly run selects, split by what will happen to them."""

    ready: list  # prompts without tasks and with ≥ 2 usable responses: the ones assembled
    selected: int  # every prompt the filter selects
    with_tasks: int  # skipped: they already have annotation tasks
    too_few_responses: int  # skipped: fewer than 2 finished responses that do not echo their pre-prompt


def assembly_selection(prompt_filter: dict | None = None) -> AssemblySelection:
    selected = generation_selectors.prompts_for_filter(prompt_filter or {})
    ready = list(generation_selectors.prompts_without_tasks(prompt_filter or {}))
    total = selected.count()
    with_tasks = selected.filter(tasks__isnull=False).distinct().count()
    return AssemblySelection(ready=ready, selected=total, with_tasks=with_tasks,
                             too_few_responses=max(0, total - with_tasks - len(ready)))


def claimed_task_ids(annotator, task_ids) -> set[int]:
    """Of these tasks, the ones the annotator has (or had) a claim on: the item pages they may open."""
    ids = {t for t in task_ids if t}
    if not ids or not annotator.is_authenticated:
        return set()
    return set(Claim.objects.filter(annotator=annotator, task_id__in=ids).values_list("task_id", flat=True))
