"""A person writing prompts: the duplicate warning and the live coverage table, in a real browser."""

import pytest

from prompts.models import Category, Prompt, Topic
from tests.browser import assert_no_js_dialogs
from tests.factories import make_prompt

pytestmark = pytest.mark.browser


def coverage_count(page, topic_name: str) -> int:
    return int(page.locator(f'#coverage-table tr[data-topic="{topic_name}"] .count-cell').inner_text())


def test_write_prompt_duplicate_warning_and_coverage(page, login_as, annotator, seeded):
    make_prompt(text="Kto napisał „Pana Tadeusza” <b>?</b>", category="qa_polish")
    category = Category.objects.get(key="qa_polish")
    login_as(annotator)
    page.goto(f"/prompts/new/?category={category.pk}")
    history = Topic.objects.get(name_en="history")
    assert coverage_count(page, "history") == 0

    page.select_option("#id_topic", str(history.pk))
    page.fill("#id_text", "W którym roku Polska wstąpiła do Unii Europejskiej?")
    # let the debounced live duplicate check (600 ms) run and finish before saving, as a person would
    page.wait_for_timeout(800)
    page.wait_for_load_state("networkidle")
    with page.expect_navigation():
        page.click("#save-prompt")
    page.wait_for_selector(".msg-success")
    assert coverage_count(page, "history") == 1
    assert Prompt.objects.filter(author=annotator).count() == 1

    # a near copy (case, diacritics, spacing) of an existing prompt: the warning appears while typing
    page.fill("#id_text", "kto NAPISAL  pana tadeusza")
    page.wait_for_selector("#duplicates .warn")
    warning = page.inner_text("#duplicates")
    assert "Pana Tadeusza" in warning and "<b>?</b>" in warning  # markup shown as text
    page.click("#save-prompt")
    # The live check already shows the reason field; the save's answer is the error asking for a reason
    # (waiting for the field alone raced: the late answer replaced a reason typed meanwhile).
    page.wait_for_selector("#duplicates .errorlist")
    assert Prompt.objects.filter(author=annotator).count() == 1  # not saved without a reason
    assert page.input_value("#id_text") == "kto NAPISAL  pana tadeusza"  # nothing lost
    page.fill("#id_duplicate_reason", "pytanie o autora, inna forma")
    with page.expect_navigation():  # saved: htmx navigates to a fresh form
        page.click("#save-prompt")
    page.wait_for_selector(".msg-success")
    assert Prompt.objects.filter(author=annotator).count() == 2
    assert_no_js_dialogs(page)
