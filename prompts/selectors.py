"""Reads of the taxonomy that pages share."""

from collections.abc import Iterable

from core.reference import load_reference
from prompts.models import Criterion


def tiebreak_steps(criteria: Iterable[Criterion] | None = None) -> list[list[Criterion | str]]:
    """The ranking tie-break hierarchy as criteria (a step may join two: truthfulness + helpfulness).

    A key the database does not know stays a string, so a renamed criterion shows up instead of vanishing.
    """
    by_key = {c.key: c for c in (Criterion.objects.all() if criteria is None else criteria)}
    return [
        [by_key.get(key, key) for key in step.split("+")]
        for step in load_reference()["ranking_tiebreak_order"]
    ]
