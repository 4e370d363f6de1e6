"""The bundled text of the taxonomy in both languages, for seeding and for what is not in the database.

English comes from the reference file (core/data/pllum_align.json) and prompts/category_guidelines.json;
Polish, where the reference has none, from prompts/taxonomy_pl.json (keyed by the reference's keys and
English names, never restating its facts). Seeding copies both into the rows (`name_en`, `name_pl`…),
which admins may then edit; the Likert legend and the common prompt guideline are read from here.

Pure Python (no Django): the export writers use it for the dataset card.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from core.reference import load_reference

HERE = Path(__file__).resolve().parent
ENGLISH_GUIDELINES_FILE = HERE / "category_guidelines.json"
POLISH_FILE = HERE / "taxonomy_pl.json"


@cache
def english_guidelines() -> dict[str, str]:
    return json.loads(ENGLISH_GUIDELINES_FILE.read_text(encoding="utf-8"))


@cache
def polish() -> dict[str, Any]:
    return json.loads(POLISH_FILE.read_text(encoding="utf-8"))


def _polish(language: str) -> bool:
    return (language or "").lower().startswith("pl")


def category_names(language: str) -> dict[str, str]:
    """{category key: name} in ``language`` ("pl" or anything else for English), in reference order."""
    categories = load_reference()["prompt_categories"]
    if _polish(language):
        names = polish()["categories"]
        return {c["key"]: names.get(c["key"], {}).get("name") or c["name"] for c in categories}
    return {c["key"]: c["name"] for c in categories}


def likert_legend(language: str) -> list[tuple[int, str]]:
    """[(1, "very poor"), …] or the Polish labels: what each point of the 1–5 scale means."""
    scale = polish()["likert_scale"] if _polish(language) else load_reference()["likert_scale"]
    return sorted((int(k), v) for k, v in scale.items())


def common_guideline(language: str) -> str:
    """The guideline every prompt follows, whatever its category."""
    return polish()["common_guideline"] if _polish(language) else english_guidelines().get("common", "")
