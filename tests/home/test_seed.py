import json
from pathlib import Path

import pytest
from django.conf import settings

from generation.models import PrePrompt
from home.seeding import reference_seed
from prompts.models import Category, Criterion, DialogTypology, RedTeamTemplate, Topic

SHARED_REFERENCE = Path(settings.BASE_DIR).parent / "shared" / "reference" / "pllum_align.json"


def reference():
    return json.loads(Path(settings.REFERENCE_FILE).read_text(encoding="utf-8"))


def test_bundled_reference_is_the_shared_file():
    if not SHARED_REFERENCE.exists():
        pytest.fail(f"{SHARED_REFERENCE} missing: CI clones with shared/ beside the repo")
    assert Path(settings.REFERENCE_FILE).read_bytes() == SHARED_REFERENCE.read_bytes()


def test_seeded_counts_match_reference(seeded):
    ref = reference()
    assert Category.objects.count() == len(ref["prompt_categories"]) == 15
    assert Topic.objects.filter(kind=Topic.Kind.GENERATION_TYPE).count() == len(ref["text_generation_typology"]) == 43
    assert Criterion.objects.count() == len(ref["criteria"]) == 7
    assert DialogTypology.objects.count() == len(ref["dialog_prompt_typology"])
    flawed_and_safety = PrePrompt.objects.exclude(key="none")
    assert flawed_and_safety.count() == len(ref["preprompts"]) == 9
    ethics = ref["ethics_themes"]
    assert Topic.objects.filter(kind=Topic.Kind.ETHICS_THEME, parent__isnull=True).count() == len(ethics)
    assert Topic.objects.filter(kind=Topic.Kind.ETHICS_THEME, parent__isnull=False).count() == sum(
        len(v) for v in ethics.values()
    )
    assert RedTeamTemplate.objects.count() == len(ref["red_team_template_examples"])


def test_preprompts_are_byte_identical(seeded):
    for row in reference()["preprompts"]:
        version = PrePrompt.objects.get(key=row["key"]).current_version()
        assert version.text.encode("utf-8") == row["text_pl"].encode("utf-8")
        assert version.version == 1


def test_seed_is_idempotent_and_keeps_admin_edits(seeded):
    category = Category.objects.get(key="qa_polish")
    category.name = "Pytania o Polskę (edytowane)"
    category.save()
    counts = (Category.objects.count(), Topic.objects.count(), PrePrompt.objects.count())
    report = reference_seed()
    assert (report.categories, report.topics, report.preprompts) == (0, 0, 0)
    assert counts == (Category.objects.count(), Topic.objects.count(), PrePrompt.objects.count())
    assert Category.objects.get(key="qa_polish").name == "Pytania o Polskę (edytowane)"
