"""Browser: the first-week task-page behaviour — an untouched ranking needs its confirmation, the queue
position is on the page, "previous item" reopens the last submission and stores a revision."""

import pytest

from annotation.models import Claim, Ranking, Rating
from tests.annotation.support import SCORES
from tests.factories import make_ranking_task, make_rating_task

pytestmark = pytest.mark.browser


def start(page, kind):
    page.goto("/")
    page.click(f"#queue-{kind} button[type=submit]")
    page.wait_for_selector(f"body[data-{kind}-ready='1']")


def test_untouched_ranking_cannot_be_submitted_without_confirmation(seeded, page, login_as, annotator,
                                                                     no_js_dialogs):
    task = make_ranking_task()
    login_as(annotator)
    start(page, "ranking")
    submit = page.locator("#submit-ranking")
    assert submit.is_disabled()
    page.locator("#rank-list .rank-item").first.focus()
    page.keyboard.press("Enter")  # refused in the page: the focus goes to the confirmation instead
    page.wait_for_timeout(300)
    assert not Ranking.objects.exists()
    assert page.evaluate("document.activeElement.id") == "order_confirmed_unchanged"
    page.locator("#rank-list .rank-item").first.focus()
    page.keyboard.press("c")  # the shortcut ticks the confirmation
    assert page.locator("#order_confirmed_unchanged").is_checked()
    assert submit.is_enabled()
    with page.expect_navigation():
        submit.click()
    row = Ranking.objects.get(task=task)
    assert row.order == Claim.objects.get(task=task).display_order and row.order_confirmed_unchanged
    no_js_dialogs()


def test_moving_a_response_enables_submit_without_confirmation(seeded, page, login_as, annotator, no_js_dialogs):
    task = make_ranking_task()
    login_as(annotator)
    start(page, "ranking")
    assert page.locator("#submit-ranking").is_disabled()
    page.locator("#rank-list .rank-item").nth(3).focus()
    page.keyboard.press("1")
    assert page.locator("#submit-ranking").is_enabled()
    assert not page.locator("#confirm-order").is_visible()
    with page.expect_navigation():
        page.click("#submit-ranking")
    assert not Ranking.objects.get(task=task).order_confirmed_unchanged
    no_js_dialogs()


def test_task_page_shows_position_and_remaining(seeded, page, login_as, annotator, english, no_js_dialogs):
    for _ in range(3):
        make_rating_task()
    login_as(annotator)
    start(page, "rating")
    text = page.locator("#queue-position").inner_text()
    assert "Item 1 of 3" in text and "2 left after this one" in text
    no_js_dialogs()


def test_previous_item_reopens_the_last_submission_and_stores_a_revision(seeded, page, login_as, annotator,
                                                                          no_js_dialogs):
    first, second = make_rating_task(), make_rating_task()
    login_as(annotator)
    start(page, "rating")
    for _ in SCORES:
        page.keyboard.press("4")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector("body[data-rating-ready='1']")
    assert page.url.endswith(f"/rate/{second.id}/")
    with page.expect_navigation():
        page.click("#previous-item")
    assert page.url.endswith(f"/rate/{first.id}/")
    page.wait_for_selector("body[data-rating-ready='1']")
    page.locator("fieldset.criterion").first.locator("label").nth(1).click()  # first criterion: 4 → 2
    with page.expect_navigation():
        page.click("#submit-rating")
    page.wait_for_selector("body[data-rating-ready='1']")
    assert page.url.endswith(f"/rate/{second.id}/")  # back to the item that was open
    rows = list(Rating.objects.filter(task=first).order_by("revision"))
    assert [(r.revision, r.is_current) for r in rows] == [(1, False), (2, True)]
    assert sorted(rows[1].scores.values())[0] == 2
    no_js_dialogs()
