"""Load the PLLuM-Align taxonomy from the reference file, with its Polish text from prompts/taxonomy_pl.json
(see prompts.content). Idempotent: re-running adds what is missing and leaves admin edits alone (rows are
matched by key or English name; an existing row only gets a Polish text it does not have yet)."""

from dataclasses import dataclass

from django.db import transaction

from core import roles
from core.reference import load_reference
from prompts import content
from prompts.models import (
    AttackStyle,
    Category,
    ContentLanguage,
    Criterion,
    DialogTypology,
    GuidelineVersion,
    RedTeamTemplate,
    Topic,
)

LABEL_KIND = {"generation": Topic.Kind.GENERATION_TYPE, "ethics": Topic.Kind.ETHICS_THEME}
QA_CATEGORIES = ("qa_polish", "qa_global")


@dataclass
class SeedReport:
    categories: int = 0
    topics: int = 0
    criteria: int = 0
    preprompts: int = 0


def _get_or_create(model, lookup: dict, defaults: dict, polish: dict[str, str]):
    """get_or_create, and fill Polish fields that are still empty (an admin's text is never replaced)."""
    obj, created = model.objects.get_or_create(**lookup, defaults={**defaults, **polish})
    missing = [field for field, value in polish.items() if value and not getattr(obj, field)]
    if missing:
        for field in missing:
            setattr(obj, field, polish[field])
        obj.save(update_fields=missing)
    return obj, created


@transaction.atomic
def taxonomy_seed(*, reference: dict | None = None) -> SeedReport:
    ref = reference or load_reference()
    guidelines = content.english_guidelines()
    pl = content.polish()
    report = SeedReport()
    roles.ensure_groups()
    GuidelineVersion.objects.get_or_create(version="1.0", defaults={"notes": "PLLuM-Align guidelines (A.5)"})

    categories = {}
    for position, row in enumerate(ref["prompt_categories"]):
        polish = pl["categories"].get(row["key"], {})
        category, created = _get_or_create(
            Category,
            {"key": row["key"]},
            {
                "name_en": row["name"],
                "group": row["group"],
                "origin": row["origin"],
                "label_kind": LABEL_KIND.get(row["key"], Topic.Kind.TOPIC),
                "guideline_en": guidelines.get(row["key"], ""),
                "paper_total_prompts": row.get("paper_total_prompts"),
                "position": position,
            },
            {"name_pl": polish.get("name", ""), "guideline_pl": polish.get("guideline", "")},
        )
        categories[row["key"]] = category
        report.categories += created

    def topic(kind, name, polish_names, parent=None, cats=()):
        obj, created = _get_or_create(
            Topic, {"kind": kind, "name_en": name, "parent": parent}, {}, {"name_pl": polish_names.get(name, "")}
        )
        if cats:
            obj.categories.add(*cats)
        report.topics += created
        return obj

    qa = [categories[k] for k in QA_CATEGORIES if k in categories]
    for name in ref.get("topic_labels_from_paper", []):
        topic(Topic.Kind.TOPIC, name, pl["topic_labels"], cats=qa)
    for name in ref["text_generation_typology"]:
        topic(Topic.Kind.GENERATION_TYPE, name, pl["text_generation_typology"], cats=[categories["generation"]])
    for theme, subthemes in ref["ethics_themes"].items():
        parent = topic(Topic.Kind.ETHICS_THEME, theme, pl["ethics_themes"], cats=[categories["ethics"]])
        for sub in subthemes:
            topic(Topic.Kind.ETHICS_THEME, sub, pl["ethics_themes"], parent=parent, cats=[categories["ethics"]])

    for position, row in enumerate(ref["dialog_prompt_typology"]):
        _get_or_create(
            DialogTypology,
            {"key": row["key"]},
            {"name_en": row["name"], "position": position},
            {"name_pl": pl["dialog_prompt_typology"].get(row["key"], "")},
        )

    for position, row in enumerate(ref["criteria"]):
        _, created = _get_or_create(
            Criterion,
            {"key": row["key"]},
            {"name_en": row["name_en"], "name_pl": row["name_pl"], "guideline_en": row["summary"], "position": position},
            {"guideline_pl": pl["criteria_guidelines"].get(row["key"], "")},
        )
        report.criteria += created

    def style(name):
        return _get_or_create(AttackStyle, {"name_en": name}, {}, {"name_pl": pl["red_team_attack_styles"].get(name, "")})[0]

    styles = {name: style(name) for name in ref["red_team_attack_styles"]}
    templates = [(row, ContentLanguage.ENGLISH) for row in ref["red_team_template_examples"]]
    templates += [(row, ContentLanguage.POLISH) for row in pl["red_team_templates"]]
    for row, language in templates:
        RedTeamTemplate.objects.get_or_create(
            text=row["template"],
            defaults={"attack_style": styles.get(row["style"]) or style(row["style"]), "language": language},
        )

    return report
