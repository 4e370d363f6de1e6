import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from core.text import normalize_text
from prompts.models import Category, Prompt, RedTeamTemplate, Topic
from prompts.services import prompt_duplicates, prompts_import
from tests.factories import make_endpoint, make_generation, make_prompt

# Service messages are asserted in English; the UI default language is Polish.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

XSS = "<script>alert(1)</script> i <img src=x onerror=alert(1)> [klik](javascript:alert(1))"


def test_normalisation_folds_case_diacritics_spacing_punctuation():
    assert normalize_text("  Zażółć GĘŚLĄ   jaźń!!! ") == normalize_text("zazolc gesla jazn")
    assert normalize_text("Łódź, Łęczyca?") == "lodz leczyca"


def test_polish_near_copy_triggers_duplicate_warning(seeded, annotator, login):
    make_prompt(text="Kiedy Mikołaj Kopernik opublikował „O obrotach sfer niebieskich”?")
    client = login(annotator)
    category = Category.objects.get(key="qa_polish")
    response = client.post(
        reverse("prompts:prompt_create"),
        {"category": category.pk, "source": "original",
         "text": "kiedy mikolaj  KOPERNIK opublikowal o obrotach sfer niebieskich"},
    )
    assert response.status_code == 409
    assert [d.exact for d in response.context["duplicates"]] == [True]
    assert Prompt.objects.count() == 1
    # what the user typed is kept in the re-rendered form
    assert "kiedy mikolaj  KOPERNIK" in response.content.decode()
    # saving anyway requires a reason, then it saves
    response = client.post(
        reverse("prompts:prompt_create"),
        {"category": category.pk, "source": "original", "confirm_duplicate": "1", "duplicate_reason": "",
         "text": "kiedy mikolaj  KOPERNIK opublikowal o obrotach sfer niebieskich"},
    )
    assert response.status_code == 409 and Prompt.objects.count() == 1
    response = client.post(
        reverse("prompts:prompt_create"),
        {"category": category.pk, "source": "original", "confirm_duplicate": "1",
         "duplicate_reason": "inna perspektywa", "text": "kiedy mikolaj  KOPERNIK opublikowal o obrotach sfer niebieskich"},
    )
    assert response.status_code == 302
    assert Prompt.objects.filter(duplicate_reason="inna perspektywa", author=annotator).count() == 1


def test_near_duplicate_has_similarity_score(seeded):
    original = make_prompt(text="Jakie są największe jeziora na Mazurach i ile mają powierzchni?")
    matches = prompt_duplicates(text="Jakie sa najwieksze jeziora na Mazurach i ile maja powierzchni")
    assert matches and matches[0].prompt_id == original.pk and matches[0].exact
    near = prompt_duplicates(text="Jakie są największe jeziora na Mazurach oraz jaką mają powierzchnię?")
    assert near and near[0].prompt_id == original.pk and not near[0].exact and 85 <= near[0].score < 100
    assert prompt_duplicates(text="Przepis na pierogi ruskie") == []


def test_coverage_count_goes_up(seeded, annotator, login):
    client = login(annotator)
    category = Category.objects.get(key="qa_polish")
    topic = Topic.objects.get(name_en="history")
    before = client.get(reverse("prompts:prompt_create") + f"?category={category.pk}")
    assert before.status_code == 200
    row = [r for r in before.context["coverage"] if r.topic_id == topic.pk][0]
    assert row.count == 0 and row.low
    client.post(reverse("prompts:prompt_create"), {"category": category.pk, "topic": topic.pk, "source": "original",
                                           "text": "Kto był pierwszym królem Polski?"})
    after = client.get(reverse("prompts:prompt_create") + f"?category={category.pk}")
    assert [r for r in after.context["coverage"] if r.topic_id == topic.pk][0].count == 1


def test_invalid_form_keeps_input_and_says_why(seeded, annotator, login):
    client = login(annotator)
    response = client.post(reverse("prompts:prompt_create"), {"category": "999999", "source": "original", "text": "Ważny tekst"})
    assert response.status_code == 422
    assert "Ważny tekst" in response.content.decode()


def test_topic_must_belong_to_category(seeded, annotator, login):
    client = login(annotator)
    generation_type = Topic.objects.filter(kind=Topic.Kind.GENERATION_TYPE).first()
    category = Category.objects.get(key="qa_polish")
    response = client.post(reverse("prompts:prompt_create"), {"category": category.pk, "topic": generation_type.pk,
                                                      "source": "original", "text": "Pytanie o coś"})
    assert response.status_code == 422
    assert Prompt.objects.count() == 0


def test_red_team_template_slots(seeded, annotator, login):
    client = login(annotator)
    template = RedTeamTemplate.objects.get(text="As a {role}, {unsafe_action}.")
    category = Category.objects.get(key="red_teaming")
    missing = client.post(reverse("prompts:prompt_create"), {"category": category.pk, "source": "original",
                                                     "template": template.pk, "slot_role": "chemik"})
    assert missing.status_code == 422 and Prompt.objects.count() == 0
    assert "chemik" in missing.content.decode()  # typed slot value kept
    ok = client.post(reverse("prompts:prompt_create"), {"category": category.pk, "source": "original",
                                                "template": template.pk, "slot_role": "chemik",
                                                "slot_unsafe_action": "opisz coś groźnego"})
    assert ok.status_code == 302
    prompt = Prompt.objects.get()
    assert prompt.text == "As a chemik, opisz coś groźnego."
    assert prompt.template == template and prompt.slot_values == {"role": "chemik", "unsafe_action": "opisz coś groźnego"}


def test_edit_until_used(seeded, annotator, annotator2, login):
    prompt = make_prompt(text="Pytanie do poprawy", author=annotator)
    client = login(annotator)
    url = reverse("prompts:prompt_edit", args=[prompt.pk])
    response = client.post(url, {"category": prompt.category_id, "source": "original", "text": "Pytanie poprawione"})
    assert response.status_code == 302
    prompt.refresh_from_db()
    assert prompt.text == "Pytanie poprawione"
    make_generation(prompt, make_endpoint(), text="odpowiedź")
    response = client.post(url, {"category": prompt.category_id, "source": "original", "text": "Znowu zmienione"})
    assert response.status_code == 302
    prompt.refresh_from_db()
    assert prompt.text == "Pytanie poprawione"
    # someone else's prompt cannot be edited at all
    other = make_prompt(text="Cudze pytanie", author=annotator2)
    assert client.get(reverse("prompts:prompt_edit", args=[other.pk])).status_code == 404


def test_my_prompts_shows_only_own(seeded, annotator, annotator2, login):
    make_prompt(text="Moje pytanie o Wawel", author=annotator)
    make_prompt(text="Pytanie Bartka o Bałtyk", author=annotator2)
    page = login(annotator).get(reverse("prompts:my_prompts")).content.decode()
    assert "Moje pytanie o Wawel" in page and "Bałtyk" not in page


CSV_WITH_ERRORS = (
    "text,category,topic,source\n"
    "Poprawne pytanie o Kraków,qa_polish,history,original\n"
    ",qa_polish,,original\n"
    "Pytanie o nieznaną kategorię,no_such_category,,original\n"
    "Pytanie z tematem spoza kategorii,qa_polish,Poetry,original\n"
    "Zła wartość źródła,qa_global,,wikipedia\n"
    '"Pytanie wielolinijkowe,\nciąg dalszy",qa_global,,polqa\n'
    "poprawne pytanie o krakow,qa_polish,,original\n"
)


def test_import_with_errors_saves_nothing_and_names_each_line(seeded):
    report = prompts_import(data=CSV_WITH_ERRORS.encode(), fmt="csv", author=None)
    assert not report.ok and Prompt.objects.count() == 0
    lines = {line for line, _ in report.errors}
    assert lines == {3, 4, 5, 6, 9}, report.errors
    reasons = dict(report.errors)
    assert "text is empty" in reasons[3]
    assert "no_such_category" in reasons[4]
    assert "Poetry" in reasons[5]
    assert "wikipedia" in reasons[6]
    assert "line 2" in reasons[9]  # duplicate of an earlier line (case/diacritics folded)


def test_import_jsonl_ok_and_duplicates_of_existing(seeded):
    make_prompt(text="Istniejące pytanie o Gdańsk")
    rows = [
        {"text": "Nowe pytanie o Wrocław", "category": "qa_polish", "topic": "geography", "source": "original"},
        {"text": "istniejace pytanie o gdansk", "category": "qa_polish"},
        "not json",
    ]
    data = "\n".join(json.dumps(r, ensure_ascii=False) if isinstance(r, dict) else r for r in rows).encode()
    report = prompts_import(data=data, fmt="jsonl", author=None)
    assert [line for line, _ in report.errors] == [2, 3]
    good = prompts_import(data="\n".join(json.dumps(r, ensure_ascii=False) for r in rows[:2]).encode(),
                          fmt="jsonl", author=None, allow_duplicates=True)
    assert good.ok and good.created == 2 and good.duplicates == [(2, "an existing prompt")]


def test_import_command_exit_code_and_line_numbers(seeded, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV_WITH_ERRORS, encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("import_prompts", str(bad), stderr=err)
    assert f"{bad}:4: " in err.getvalue() and Prompt.objects.count() == 0
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"text": "Ile województw ma Polska?", "category": "qa_polish"}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    out = io.StringIO()
    call_command("import_prompts", str(good), stdout=out)
    assert "imported 1" in out.getvalue() and Prompt.objects.get().text == "Ile województw ma Polska?"


def test_import_page_admin_only_and_reports_lines(seeded, admin_user, annotator, login):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = login(annotator)
    assert client.get(reverse("prompts:prompt_import")).status_code == 403
    client = login(admin_user)
    upload = SimpleUploadedFile("prompts.csv", CSV_WITH_ERRORS.encode(), content_type="text/csv")
    response = client.post(reverse("prompts:prompt_import"), {"file": upload})
    assert response.status_code == 422
    assert Prompt.objects.count() == 0
    assert response.context["report"].errors[0][0] == 3


def test_hostile_prompt_text_is_escaped_on_every_prompt_page(seeded, annotator, admin_user, login):
    prompt = make_prompt(text=XSS, author=annotator)
    client = login(annotator)
    pages = [reverse("prompts:my_prompts"), reverse("prompts:prompt_detail", args=[prompt.pk]),
             reverse("prompts:prompt_edit", args=[prompt.pk])]
    for url in pages:
        body = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in body, url
        assert "<img src=x onerror" not in body, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body, url
    # the duplicate warning shows the matched text too
    body = client.post(reverse("prompts:prompt_create"), {"category": prompt.category_id, "source": "original",
                                                  "text": XSS}).content.decode()
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body
    admin = login(admin_user)
    for url in [reverse("admin:prompts_prompt_changelist"), reverse("admin:prompts_prompt_change", args=[prompt.pk])]:
        body = admin.get(url).content.decode()
        assert "<script>alert(1)</script>" not in body and "<img src=x onerror" not in body, url
