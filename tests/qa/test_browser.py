"""Browser: a QA lead edits a custom answer in the review queue; the history shows the original and the diff.

The export half of the acceptance check (the next export carries the edited text) is
`test_export_carries_the_qa_edited_custom_answer` below, on `exports.services.export_build`.
"""

import json
from pathlib import Path

import pytest

from qa import selectors
from qa.models import Review
from tests.factories import make_qa_ranking, make_qa_ranking_task

ORIGINAL = "Stolicą Polski jest Krakow <script>alert('x')</script>."
EDITED = "Stolicą Polski jest Warszawa."


@pytest.fixture
def custom_answer(seeded, annotator):
    task, ids = make_qa_ranking_task(texts=["Warszawa", "Kraków", "Gdańsk", "**Poznań**"])
    return make_qa_ranking(task, annotator, ids, custom_text=ORIGINAL)


@pytest.mark.browser
def test_qa_lead_edits_a_custom_answer_and_history_keeps_the_original(page, login_as, qa_lead, custom_answer,
                                                                      no_js_dialogs):
    login_as(qa_lead, next_path="/qa/reviews/custom/")
    page.goto("/qa/reviews/custom/")
    page.click(f"a[href='/qa/review/ranking/{custom_answer.id}/']")
    page.wait_for_url(f"**/qa/review/ranking/{custom_answer.id}/")
    assert page.inner_text("[data-testid=original-text]") == ORIGINAL

    page.check("input[name=decision][value=edit]")
    page.fill("textarea[name=note]", "Poprawiony fakt")
    page.fill("textarea[name=edited_text]", EDITED)
    page.click("#review-panel button[type=submit]")
    page.wait_for_selector("[data-testid=history-diff]")

    # htmx swapped the panel in place: the export text is the edit, the history keeps the original + diff
    assert page.inner_text("[data-testid=effective-text]") == EDITED
    assert page.inner_text("[data-testid=history-original]") == ORIGINAL
    assert page.inner_text("[data-testid=history-diff] del").strip() != ""
    assert "Warszawa" in page.inner_text("[data-testid=history-diff] ins")
    assert "Krakow" in " ".join(page.locator("[data-testid=history-diff] del").all_inner_texts())

    # and after a full reload (the plain-HTML path) it is still there
    page.reload()
    assert page.inner_text("[data-testid=history-original]") == ORIGINAL
    assert page.inner_text("[data-testid=original-text]") == ORIGINAL
    no_js_dialogs()

    review = Review.objects.get()
    assert (review.decision, review.original_text, review.edited_text) == ("edit", ORIGINAL, EDITED)
    assert selectors.effective_custom_text("ranking", [custom_answer.id]) == {custom_answer.id: EDITED}
    custom_answer.refresh_from_db()
    assert custom_answer.custom_text == ORIGINAL


def _export_rows(directory: Path) -> list[dict]:
    rows = []
    for path in sorted(directory.rglob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


@pytest.mark.django_db
def test_export_carries_the_qa_edited_custom_answer(custom_answer, qa_lead, admin_user, settings, tmp_path):
    """The next export contains the QA lead's edited text, not the annotator's original."""
    from exports import services
    from qa import services as qa_services

    settings.EXPORT_ROOT = tmp_path
    qa_services.review_decide(reviewer=qa_lead, target_kind="ranking", target_id=custom_answer.id,
                              decision="edit", note="fakt", edited_text=EDITED)
    export = services.export_create(user=admin_user, name="qa-edit", params={}, enqueue=False)
    export = services.export_build(export_id=export.id)
    assert export.status == "done", export.error
    text = json.dumps(_export_rows(Path(export.directory)), ensure_ascii=False)
    assert EDITED in text
    assert "Krakow <script>" not in text


@pytest.mark.browser
def test_reject_without_a_note_shows_the_message_in_the_form(page, login_as, qa_lead, custom_answer, english,
                                                             no_js_dialogs):
    login_as(qa_lead, next_path=f"/qa/review/ranking/{custom_answer.id}/")
    page.goto(f"/qa/review/ranking/{custom_answer.id}/")
    page.check("input[name=decision][value=reject]")
    page.click("#review-panel button[type=submit]")
    # The 422 answer is swapped into the panel (htmx does not swap error statuses by default).
    error = page.locator("#review-panel .errorlist")
    error.first.wait_for()
    assert error.first.inner_text().strip() != ""
    assert not Review.objects.exists()
    no_js_dialogs()
