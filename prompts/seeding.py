"""Load the PLLuM-Align taxonomy from the reference file. Idempotent: re-running adds what is missing
and leaves admin edits alone (rows are matched by key, never overwritten)."""

import json
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from core import roles
from core.reference import load_reference
from prompts.models import AttackStyle, Category, Criterion, DialogTypology, GuidelineVersion, RedTeamTemplate, Topic

GUIDELINES_FILE = Path(__file__).parent / "category_guidelines.json"
LABEL_KIND = {"generation": Topic.Kind.GENERATION_TYPE, "ethics": Topic.Kind.ETHICS_THEME}
QA_CATEGORIES = ("qa_polish", "qa_global")


@dataclass
class SeedReport:
    categories: int = 0
    topics: int = 0
    criteria: int = 0
    preprompts: int = 0


@transaction.atomic
def taxonomy_seed(*, reference: dict | None = None) -> SeedReport:
    ref = reference or load_reference()
    guidelines = json.loads(GUIDELINES_FILE.read_text(encoding="utf-8"))
    report = SeedReport()
    roles.ensure_groups()
    GuidelineVersion.objects.get_or_create(version="1.0", defaults={"notes": "PLLuM-Align guidelines (A.5)"})

    categories = {}
    for position, row in enumerate(ref["prompt_categories"]):
        category, created = Category.objects.get_or_create(
            key=row["key"],
            defaults={
                "name": row["name"],
                "group": row["group"],
                "origin": row["origin"],
                "label_kind": LABEL_KIND.get(row["key"], Topic.Kind.TOPIC),
                "guideline": guidelines.get(row["key"], ""),
                "paper_total_prompts": row.get("paper_total_prompts"),
                "position": position,
            },
        )
        categories[row["key"]] = category
        report.categories += created

    def topic(kind, name, parent=None, cats=()):
        obj, created = Topic.objects.get_or_create(kind=kind, name=name, parent=parent)
        if cats:
            obj.categories.add(*cats)
        report.topics += created
        return obj

    qa = [categories[k] for k in QA_CATEGORIES if k in categories]
    for name in ref.get("topic_labels_from_paper", []):
        topic(Topic.Kind.TOPIC, name, cats=qa)
    for name in ref["text_generation_typology"]:
        topic(Topic.Kind.GENERATION_TYPE, name, cats=[categories["generation"]])
    for theme, subthemes in ref["ethics_themes"].items():
        parent = topic(Topic.Kind.ETHICS_THEME, theme, cats=[categories["ethics"]])
        for sub in subthemes:
            topic(Topic.Kind.ETHICS_THEME, sub, parent=parent, cats=[categories["ethics"]])

    for position, row in enumerate(ref["dialog_prompt_typology"]):
        DialogTypology.objects.get_or_create(key=row["key"], defaults={"name": row["name"], "position": position})

    for position, row in enumerate(ref["criteria"]):
        _, created = Criterion.objects.get_or_create(
            key=row["key"],
            defaults={
                "name_en": row["name_en"],
                "name_pl": row["name_pl"],
                "guideline": row["summary"],
                "position": position,
            },
        )
        report.criteria += created

    styles = {name: AttackStyle.objects.get_or_create(name=name)[0] for name in ref["red_team_attack_styles"]}
    for row in ref["red_team_template_examples"]:
        style = styles.get(row["style"]) or AttackStyle.objects.get_or_create(name=row["style"])[0]
        RedTeamTemplate.objects.get_or_create(text=row["template"], defaults={"attack_style": style})

    return report
