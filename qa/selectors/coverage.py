"""Prompts per category x topic against targets, and live pair counts per category."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction

from django.db.models import Count, Q

from annotation.models import Ranking, Task, TaskKind
from core.i18n import pick
from dialogs.models import Dialog, DialogTurn
from prompts.models import Category, Prompt, Topic

from .reviews import all_rating_pairs

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
    # Rating pairs still waiting for a required rating: a coverage gap, not data (the exports hold them back).
    incomplete_rating_pairs: int = 0

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
        Topic.objects.filter(categories__isnull=False).values_list("id", "name_en", "name_pl", "target", "categories")
    )
    topics_by_category: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    for topic_id, name_en, name_pl, target, category_id in topic_rows:
        topics_by_category[category_id].append((topic_id, pick({"en": name_en, "pl": name_pl}), target))
    task_prompts = {
        (cat, kind): n
        for cat, kind, n in Task.objects.values_list("prompt__category_id", "kind")
        .annotate(n=Count("prompt_id", distinct=True)).values_list("prompt__category_id", "kind", "n")
    }
    limit = Fraction(str(threshold))
    rating_pairs_by_category: dict[int, int] = defaultdict(int)
    incomplete_by_category: dict[int, int] = defaultdict(int)
    scored = all_rating_pairs()
    pair_prompts = [p for p in scored if p.complete and not p.identical and p.winner_mean >= limit]
    incomplete = [p for p in scored if not p.complete]
    prompt_category = dict(
        Prompt.objects.filter(id__in={p.prompt_id for p in pair_prompts + incomplete}).values_list("id", "category_id")
    )
    for p in pair_prompts:
        rating_pairs_by_category[prompt_category[p.prompt_id]] += 1
    for p in incomplete:
        incomplete_by_category[prompt_category[p.prompt_id]] += 1
    ranked = (
        Ranking.objects.filter(is_current=True, skip_reason="")
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
                incomplete_rating_pairs=incomplete_by_category.get(cat.id, 0),
            )
        )
    turns = DialogTurn.objects.exclude(chosen__isnull=True, custom_text="").annotate(
        n_candidates=Count("candidates", filter=Q(candidates__status="done"))
    ).values_list("n_candidates", "custom_text")
    dialog_pairs = sum(max(n - 1, 0) + (1 if custom else 0) for n, custom in turns.iterator())
    dialogs = Dialog.objects.filter(turns__isnull=False).distinct().count()
    return Coverage(categories, dialogs, dialog_pairs)
