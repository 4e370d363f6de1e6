"""Task assembly: from a prompt's generations, build ranking items (4 responses) or rating pairs (2 models).

PLLuM-Align (3.1.2, A.7): "four distinct responses were randomly sampled from across all models and
preprompts for use in ranking, while two were selected for rating"; rating responses come from two
distinct models; long, complex prompts went to rating to spare annotators comparing four long answers.

Every choice is drawn from ``random.Random(f"{seed}:{prompt_id}")`` over the pool in id order, so the
same seed and the same pool give the same items; the seed is stored on each Task. The pool
(``generation.selectors.prompt_generations``) holds finished, non-empty answers that do not echo their
pre-prompt (``Generation.echoes_preprompt``).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from rapidfuzz import fuzz

from annotation.models import RatingPair, Task, TaskKind, TaskResponse
from core import sql as core_sql
from core.text import normalize_text
from generation import selectors
from generation.models import Generation
from prompts.models import Prompt

from . import assignment

RANKING_SIZE = 4


@dataclass(frozen=True)
class RoutingRule:
    """Long or complex prompts go to rating, short simple ones to ranking.

    long: at least `rating_min_chars` characters; complex: at least `rating_min_parts` sentences,
    questions or list items.
    """

    rating_min_chars: int = settings.STUDIO_RATING_MIN_CHARS
    rating_min_parts: int = settings.STUDIO_RATING_MIN_PARTS

    def route(self, text: str) -> str:
        parts = [p for p in re.split(r"(?<=[.!?])\s+|\n+\s*(?:[-*•]|\d+[.)])?\s*", text.strip()) if p.strip()]
        if len(text) >= self.rating_min_chars or len(parts) >= self.rating_min_parts:
            return TaskKind.RATING
        return TaskKind.RANKING


@dataclass
class AssemblyReport:
    ranking_items: int = 0
    rating_pairs: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (prompt id, why)


def _near_identical(a: str, b: str, threshold: float) -> bool:
    return fuzz.ratio(a, b) >= threshold


def pick_ranking(pool: list[Generation], rng: random.Random, *, threshold: float) -> list[Generation] | None:
    """Four responses in random order, no two identical or near-identical (after normalisation)."""
    candidates = pool[:]
    rng.shuffle(candidates)
    chosen: list[Generation] = []
    seen: list[str] = []
    for generation in candidates:
        norm = normalize_text(generation.text)
        if not norm or any(_near_identical(norm, other, threshold) for other in seen):
            continue
        chosen.append(generation)
        seen.append(norm)
        if len(chosen) == RANKING_SIZE:
            return chosen
    return None


def pick_rating_pair(pool: list[Generation], rng: random.Random, *, threshold: float) -> list[Generation] | None:
    """Two responses from two distinct models (endpoints), not near-identical."""
    candidates = pool[:]
    rng.shuffle(candidates)
    for i, first in enumerate(candidates):
        first_norm = normalize_text(first.text)
        for second in candidates[i + 1:]:
            if second.endpoint_id != first.endpoint_id and not _near_identical(
                first_norm, normalize_text(second.text), threshold
            ):
                return [first, second]
    return None


@transaction.atomic
def tasks_assemble(
    *,
    prompts: list[Prompt],
    seed: int,
    rule: RoutingRule | None = None,
    overlap: int = 2,
    similarity_threshold: float = 90.0,
    fallback: bool = True,
) -> AssemblyReport:
    """Build tasks for prompts that have none yet. With `fallback`, a prompt whose pool cannot fill its
    routed kind gets the other kind if possible."""
    rule = rule or RoutingRule()
    report = AssemblyReport()
    first_ids: dict[str, int] = {}  # kind: the first task id created
    has_tasks = set(Task.objects.filter(prompt__in=prompts).values_list("prompt_id", flat=True))
    for prompt in prompts:
        if prompt.pk in has_tasks:
            report.skipped.append((prompt.pk, "already has tasks"))
            continue
        pool = list(selectors.prompt_generations(prompt.pk))
        rng = random.Random(f"{seed}:{prompt.pk}")
        kinds = [rule.route(prompt.text)]
        if fallback:
            kinds.append(TaskKind.RANKING if kinds[0] == TaskKind.RATING else TaskKind.RATING)
        for kind in kinds:
            if kind == TaskKind.RANKING:
                chosen = pick_ranking(pool, rng, threshold=similarity_threshold)
                if chosen:
                    task = Task.objects.create(kind=kind, prompt=prompt, overlap=overlap, remaining=overlap, seed=seed)
                    first_ids.setdefault(kind, task.pk)
                    TaskResponse.objects.bulk_create(
                        TaskResponse(task=task, generation=g, position=i) for i, g in enumerate(chosen)
                    )
                    report.ranking_items += 1
                    break
            else:
                chosen = pick_rating_pair(pool, rng, threshold=similarity_threshold)
                if chosen:
                    pair = RatingPair.objects.create(prompt=prompt, seed=seed)
                    for generation in chosen:
                        task = Task.objects.create(kind=kind, prompt=prompt, overlap=overlap, remaining=overlap,
                                                   seed=seed, pair=pair)
                        TaskResponse.objects.create(task=task, generation=generation, position=0)
                        first_ids.setdefault(kind, task.pk)
                    report.rating_pairs += 1
                    break
        else:
            report.skipped.append((prompt.pk, f"not enough distinct responses ({len(pool)} in the pool)"))
    for kind, first_id in first_ids.items():
        assignment.annotator_queues_rewind(kind=kind, first_task_id=first_id)
    if first_ids:
        # The next-item query's plan depends on these tables' statistics (see core.sql.tables_analyze).
        transaction.on_commit(lambda: core_sql.tables_analyze(Task, TaskResponse, RatingPair))
    return report
