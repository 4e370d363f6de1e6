"""Topic coverage per category: what the prompt form shows so annotators fill the gaps."""

from dataclasses import dataclass

from django.db.models import Count, Q

from prompts.models import Category, Topic


@dataclass(frozen=True)
class CoverageRow:
    topic_id: int | None
    name: str
    count: int
    target: int
    low: bool  # under-represented: below target, or below half the category's mean


def topic_coverage(category: Category) -> list[CoverageRow]:
    """One aggregate query: counts of this category's prompts per topic, including empty topics."""
    topics = list(
        Topic.objects.filter(categories=category)
        .select_related("parent")
        .annotate(n=Count("prompts", filter=Q(prompts__category=category)))
    )
    untagged = category.prompts.filter(topic__isnull=True).count()
    counts = [t.n for t in topics]
    mean = (sum(counts) / len(counts)) if counts else 0
    rows = [
        CoverageRow(
            t.pk, str(t), t.n, t.target, (t.n < t.target) if t.target else (t.n < mean / 2 or t.n == 0)
        )
        for t in topics
    ]
    rows.sort(key=lambda r: (r.count, polish_sort_key(r.name)))
    if untagged:
        rows.append(CoverageRow(None, "—", untagged, 0, False))
    return rows


_PL_ORDER = "aąbcćdeęfghijklłmnńoópqrsśtuvwxyzźż"
_PL_INDEX = {ch: i for i, ch in enumerate(_PL_ORDER)}


def polish_sort_key(text: str) -> tuple:
    """Polish alphabetical order (ą after a, ł after l, ż last) without relying on system locales."""
    return tuple(_PL_INDEX.get(ch, 100 + ord(ch)) for ch in text.casefold())
