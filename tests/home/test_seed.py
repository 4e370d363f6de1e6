import json
import subprocess
from pathlib import Path

from django.conf import settings

from generation.models import PrePrompt
from home.seeding import reference_seed
from prompts import content
from prompts.models import Category, Criterion, DialogTypology, RedTeamTemplate, Topic

CHECK_REFERENCE = Path(settings.BASE_DIR) / "scripts" / "check_reference.sh"


def reference():
    return json.loads(Path(settings.REFERENCE_FILE).read_text(encoding="utf-8"))


def test_reference_check_refuses_a_stale_bundled_copy(tmp_path):
    """scripts/test.sh compares the bundled file with the shared one (when it is beside the repository) with
    this script; the suite itself never reads outside the repository."""
    bundled = Path(settings.REFERENCE_FILE)
    same, stale = tmp_path / "same.json", tmp_path / "stale.json"
    same.write_bytes(bundled.read_bytes())
    stale.write_bytes(bundled.read_bytes().replace(b'"evaluation"', b'"evaluation_old"', 1))
    ok = subprocess.run([CHECK_REFERENCE, bundled, same], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([CHECK_REFERENCE, bundled, stale], capture_output=True, text=True)
    assert bad.returncode == 1 and "differs" in bad.stderr
    absent = subprocess.run([CHECK_REFERENCE, bundled, tmp_path / "none.json"], capture_output=True, text=True)
    assert absent.returncode == 0 and "nothing to compare" in absent.stdout


def test_bundled_reference_has_the_evaluation_section():
    judge = reference()["evaluation"]["llm_as_judge"]
    assert len(judge["dimension_criteria"]) == 7
    assert judge["paper_pipeline"]


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
    polish = content.polish()["red_team_templates"]
    assert RedTeamTemplate.objects.filter(language="en").count() == len(ref["red_team_template_examples"])
    assert RedTeamTemplate.objects.filter(language="pl").count() == len(polish) > 0
    assert set(RedTeamTemplate.objects.filter(language="pl").values_list("text", flat=True)) == {
        row["template"] for row in polish
    }


def test_preprompts_are_byte_identical(seeded):
    for row in reference()["preprompts"]:
        version = PrePrompt.objects.get(key=row["key"]).current_version()
        assert version.text.encode("utf-8") == row["text_pl"].encode("utf-8")
        assert version.version == 1


def test_seed_is_idempotent_and_keeps_admin_edits(seeded):
    category = Category.objects.get(key="qa_polish")
    category.name_pl = "Pytania o Polskę (edytowane)"
    category.save()
    Topic.objects.filter(name_en="history").update(name_pl="")  # a Polish name still missing is filled in
    counts = (Category.objects.count(), Topic.objects.count(), PrePrompt.objects.count())
    report = reference_seed()
    assert (report.categories, report.topics, report.preprompts) == (0, 0, 0)
    assert counts == (Category.objects.count(), Topic.objects.count(), PrePrompt.objects.count())
    assert Category.objects.get(key="qa_polish").name_pl == "Pytania o Polskę (edytowane)"
    assert Topic.objects.get(name_en="history").name_pl == content.polish()["topic_labels"]["history"]
