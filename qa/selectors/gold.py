"""The gold set: gold tasks and candidates."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from annotation.models import Task, TaskResponse

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
