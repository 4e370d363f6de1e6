"""Content in the active language: taxonomy, guidelines, Likert legend and red-team templates.

The Polish UI shows the Polish data (prompts/taxonomy_pl.json, seeded into `name_pl`/`guideline_pl`…) and none
of the English data; the English UI the other way round. The strings checked are read from the database and
the bundled files, never typed here, so the test follows the data.
"""

import html
import re

import pytest
from django.urls import reverse

from annotation.models import TaskKind
from annotation.services import assignment
from core.reference import load_reference
from prompts import content
from prompts.models import AttackStyle, Category, Criterion, DialogTypology, Prompt, RedTeamTemplate, Topic
from prompts.services import template_slots
from tests.factories import make_ranking_task, make_rating_task

pytestmark = pytest.mark.django_db

LANGUAGES = ("pl", "en")


# --- the bundled Polish file matches the reference --------------------------------------------------------

def test_polish_file_names_every_reference_entry_and_nothing_else():
    ref, pl = load_reference(), content.polish()
    assert set(pl["categories"]) == {c["key"] for c in ref["prompt_categories"]}
    assert all(v["name"].strip() and v["guideline"].strip() for v in pl["categories"].values())
    assert set(pl["topic_labels"]) == set(ref["topic_labels_from_paper"])
    assert set(pl["text_generation_typology"]) == set(ref["text_generation_typology"])
    themes = set(ref["ethics_themes"]) | {sub for subs in ref["ethics_themes"].values() for sub in subs}
    assert set(pl["ethics_themes"]) == themes
    assert set(pl["dialog_prompt_typology"]) == {t["key"] for t in ref["dialog_prompt_typology"]}
    assert set(pl["criteria_guidelines"]) == {c["key"] for c in ref["criteria"]}
    assert set(pl["likert_scale"]) == set(ref["likert_scale"])
    assert set(pl["red_team_attack_styles"]) == set(ref["red_team_attack_styles"])
    for mapping in ("topic_labels", "text_generation_typology", "ethics_themes", "dialog_prompt_typology",
                    "criteria_guidelines", "likert_scale", "red_team_attack_styles"):
        assert all(str(v).strip() for v in pl[mapping].values()), mapping
    # Polish templates: in the reference's attack styles, with slots the form can fill, none English
    english_templates = {row["template"] for row in ref["red_team_template_examples"]}
    for row in pl["red_team_templates"]:
        assert row["style"] in ref["red_team_attack_styles"] and row["template"] not in english_templates
        assert template_slots(row["template"]), row


def test_seeded_rows_carry_both_languages(seeded):
    for model in (Category, Topic, DialogTypology, Criterion, AttackStyle):
        assert not model.objects.filter(name_pl="").exists(), model
        assert not model.objects.filter(name_en="").exists(), model
    assert not Category.objects.filter(guideline_pl="").exists()
    assert not Criterion.objects.filter(guideline_pl="").exists()
    # criterion names come from the reference itself (it has them in Polish)
    for row in load_reference()["criteria"]:
        assert Criterion.objects.filter(key=row["key"], name_pl=row["name_pl"], name_en=row["name_en"]).exists()


# --- pages ----------------------------------------------------------------------------------------------

def _data_strings(language: str) -> set[str]:
    """Every taxonomy text of one language from the database and the bundled legend (non-empty)."""
    texts: set[str] = set()
    for model in (Category, Topic, DialogTypology, Criterion, AttackStyle):
        texts |= set(model.objects.values_list(f"name_{language}", flat=True))
    texts |= set(Category.objects.values_list(f"guideline_{language}", flat=True))
    texts |= set(Criterion.objects.values_list(f"guideline_{language}", flat=True))
    texts |= set(RedTeamTemplate.objects.filter(language=language).values_list("text", flat=True))
    texts |= {label for _n, label in content.likert_legend(language)}
    return {t for t in texts if t}


def _foreign(language: str) -> set[str]:
    """The other language's strings that differ from every string of this one (ADHD, Quiz… are both)."""
    other = "en" if language == "pl" else "pl"
    return _data_strings(other) - _data_strings(language)


def _main_text(response) -> str:
    """The visible text of <main>: tags dropped, entities decoded, whitespace collapsed."""
    page = response.content.decode()
    main = page[page.index("<main"): page.index("</main>")]
    text = re.sub(r"<[^>]+>", " ", main)
    return re.sub(r"\s+", " ", html.unescape(text))


def _pages(client, annotator):
    """The pages that show taxonomy text: the prompt form for each kind of category, rating, ranking, guidelines."""
    pages = {}
    for key in ("qa_polish", "generation", "ethics", "red_teaming"):
        category = Category.objects.get(key=key)
        pages[f"prompt form ({key})"] = client.get(reverse("prompts:prompt_create") + f"?category={category.pk}")
    rating = assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING)
    pages["rating"] = client.get(reverse("annotation:rating_item", args=[rating.task_id]))
    ranking = assignment.task_claim_next(annotator=annotator, kind=TaskKind.RANKING)
    pages["ranking"] = client.get(reverse("annotation:ranking_item", args=[ranking.task_id]))
    pages["guidelines"] = client.get(reverse("prompts:guidelines"))
    return pages


@pytest.mark.parametrize("language", LANGUAGES)
def test_pages_show_the_active_languages_taxonomy_only(language, seeded, annotator, login):
    make_rating_task()
    make_ranking_task()
    client = login(annotator)
    client.cookies["django_language"] = language
    pages = _pages(client, annotator)
    foreign = _foreign(language)
    for name, response in pages.items():
        assert response.status_code == 200, name
        text = _main_text(response)
        # whole words: the Polish "Boomersi" is not the English "Boomers", "sports" is not "sport"
        shown = [s for s in foreign if re.search(rf"(?<!\w){re.escape(s)}(?!\w)", text)]
        assert not shown, f"{name} ({language} UI) shows the other language's data: {shown[:5]}"

    def names(model, **filters):
        return [getattr(row, f"name_{language}") for row in model.objects.filter(**filters)]

    guidelines, rating, ranking = (_main_text(pages[n]) for n in ("guidelines", "rating", "ranking"))
    for criterion in Criterion.objects.all():
        name, guideline = getattr(criterion, f"name_{language}"), getattr(criterion, f"guideline_{language}")
        assert name in guidelines and guideline in guidelines
        assert name in rating and guideline in rating
    for _n, label in content.likert_legend(language):
        assert label in rating and label in guidelines
    for criterion in Criterion.objects.filter(key__in=["truthfulness", "safety", "conciseness"]):
        assert getattr(criterion, f"name_{language}") in ranking  # the tie-break hierarchy
    assert all(name in guidelines for name in names(Category) + names(DialogTypology))
    assert all(getattr(c, f"guideline_{language}") in guidelines for c in Category.objects.all())
    assert content.common_guideline(language) in guidelines
    generation = _main_text(pages["prompt form (generation)"])
    assert all(name in generation for name in names(Topic, categories__key="generation"))
    assert getattr(Category.objects.get(key="generation"), f"guideline_{language}") in generation
    red_team = _main_text(pages["prompt form (red_teaming)"])
    templates = RedTeamTemplate.objects.filter(language=language)
    assert templates and all(t.text in red_team for t in templates)


@pytest.mark.parametrize("language", LANGUAGES)
def test_guidelines_show_criterion_names_not_keys(language, seeded, annotator, login):
    client = login(annotator)
    client.cookies["django_language"] = language
    text = _main_text(client.get(reverse("prompts:guidelines")))
    for step in load_reference()["ranking_tiebreak_order"]:
        assert step not in text
    # "truthfulness" or "safety" may be plain English words of the text; "coherence_reasoning" is a key
    keys = [key for key in Criterion.objects.values_list("key", flat=True) if "_" in key]
    assert keys and not [key for key in keys if key in text]


def test_polish_template_makes_a_polish_prompt(seeded, annotator, login):
    """The bug this fixes: an English template filled with Polish slot values ("Tell me how to obejść…")."""
    client = login(annotator)
    client.cookies["django_language"] = "pl"
    category = Category.objects.get(key="red_teaming")
    english = RedTeamTemplate.objects.filter(language="en").first()
    template = RedTeamTemplate.objects.filter(language="pl", text__startswith="Powiedz mi").get()
    slot = template_slots(template.text)[0]
    data = {"category": category.pk, "source": "original", "template": template.pk}
    page = client.post(reverse("prompts:prompt_create"), {**data, "_refresh": "1"}).content.decode()
    assert f'name="slot_{slot}"' in page and english.text not in html.unescape(page)
    saved = client.post(reverse("prompts:prompt_create"), {**data, f"slot_{slot}": "obejść zabezpieczenia banku"})
    assert saved.status_code == 302
    assert Prompt.objects.get().text == template.text.replace("{" + slot + "}", "obejść zabezpieczenia banku")
    # an English template is not offered in the Polish UI
    refused = client.post(reverse("prompts:prompt_create"), {**data, "template": english.pk, "slot_role": "x",
                                                             "slot_unsafe_action": "y"})
    assert refused.status_code == 422 and Prompt.objects.count() == 1
