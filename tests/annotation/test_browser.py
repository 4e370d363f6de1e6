"""Rating and ranking in a real browser (Playwright + Debian chromium): keyboard, drag and drop, custom
answer, and hostile text that must stay text."""

import pytest

from annotation.models import Claim, Ranking, Rating
from annotation.services import submissions
from tests.factories import make_prompt, make_ranking_task, make_rating_task

pytestmark = pytest.mark.browser

HOSTILE = (
    'Zły tekst <script>alert("s")</script> <img src=x onerror="alert(1)"> '
    '<a href="javascript:alert(2)">link</a> [md link](javascript:alert(3)) '
    '[x](<javascript:alert(4)>) <svg onload=alert(5)> <iframe src="javascript:alert(6)"></iframe>'
)
SCORES_TYPED = "5435344"


def start(page, kind):
    page.goto("/")
    page.click(f"#queue-{kind} button[type=submit]")
    page.wait_for_selector(f"body[data-{kind}-ready='1']")


def test_rate_one_response_entirely_from_the_keyboard(seeded, page, login_as, annotator, no_js_dialogs):
    task = make_rating_task(text="| a | b |\n|---|---|\n| 1 | 2 |")
    login_as(annotator)
    start(page, "rating")
    assert page.locator("#response-text table td").first.inner_text() == "1"  # Markdown table rendered
    page.keyboard.press("?")  # the first criterion's guideline, one key away
    assert page.locator("fieldset.criterion").first.locator("details").get_attribute("open") is not None
    for digit in SCORES_TYPED[:-1]:
        page.keyboard.press(digit)
    # arrows: back up one criterion, change it, come down again and finish
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowRight")  # 4 → 5 on the sixth criterion
    page.keyboard.press("ArrowDown")
    page.keyboard.press(SCORES_TYPED[-1])
    with page.expect_navigation():
        page.keyboard.press("Enter")
    row = Rating.objects.get(task=task)
    keys = submissions.criterion_keys()
    expected = dict(zip(keys, map(int, SCORES_TYPED), strict=True))
    expected[keys[5]] = 5
    assert row.scores == expected
    assert row.time_ms > 0
    no_js_dialogs()


def test_enter_with_a_missing_score_does_not_submit(seeded, page, login_as, annotator):
    make_rating_task()
    login_as(annotator)
    start(page, "rating")
    page.keyboard.press("5")
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    assert not Rating.objects.exists()
    assert page.locator("fieldset.criterion.focused").get_attribute("data-criterion") == "linguistic_correctness"


def _order(page):
    return [int(x) for x in page.locator("#rank-list .rank-item").evaluate_all("els => els.map(e => e.dataset.id)")]


def _drag(page, source, target):
    box_from = source.bounding_box()
    box_to = target.bounding_box()
    page.mouse.move(box_from["x"] + 30, box_from["y"] + 15)
    page.mouse.down()
    steps = 12
    for i in range(1, steps + 1):
        page.mouse.move(box_from["x"] + 30, box_from["y"] + 15 + (box_to["y"] + 10 - box_from["y"] - 15) * i / steps)
        page.wait_for_timeout(20)
    page.mouse.up()
    page.wait_for_timeout(200)


def test_rank_four_responses_by_dragging(seeded, page, login_as, annotator, no_js_dialogs):
    task = make_ranking_task()
    page.set_viewport_size({"width": 1280, "height": 1600})  # all four responses on screen
    login_as(annotator)
    start(page, "ranking")
    shown = _order(page)
    assert shown == Claim.objects.get(task=task).display_order
    items = page.locator("#rank-list .rank-item")
    _drag(page, items.nth(3).locator(".rank-handle"), items.nth(0))  # last → first
    after = _order(page)
    assert after[0] == shown[3], after
    assert sorted(after) == sorted(shown)
    assert page.locator("#order").input_value() == ",".join(map(str, after))
    with page.expect_navigation():
        page.click("#submit-ranking")
    row = Ranking.objects.get(task=task)
    assert row.order == after
    assert row.display_order == shown
    no_js_dialogs()


def test_rank_four_responses_by_keyboard(seeded, page, login_as, annotator, no_js_dialogs):
    task = make_ranking_task()
    login_as(annotator)
    start(page, "ranking")
    shown = _order(page)
    page.locator("#rank-list .rank-item").nth(2).focus()
    page.keyboard.press("1")  # third shown → rank 1
    page.keyboard.press("ArrowDown")  # select the item now at rank 2 (the first shown)
    page.keyboard.press("Shift+ArrowDown")  # …and move it to rank 3
    page.keyboard.press("ArrowDown")  # select rank 4 (the fourth shown)
    page.keyboard.press("h")  # hard reject
    expected = [shown[2], shown[1], shown[0], shown[3]]
    assert _order(page) == expected
    with page.expect_navigation():
        page.keyboard.press("Enter")
    row = Ranking.objects.get(task=task)
    assert row.order == expected
    assert row.hardness == {str(shown[1]): "soft", str(shown[0]): "soft", str(shown[3]): "hard"}
    no_js_dialogs()


def test_custom_answer_copied_from_a_response_and_edited(seeded, page, login_as, annotator, no_js_dialogs):
    task = make_ranking_task(texts=["Pierwsza **zła** odpowiedź.", "Druga.", "Trzecia.", "Czwarta."])
    login_as(annotator)
    start(page, "ranking")
    assert not page.locator("#custom_text").is_visible()
    page.check("#all_unacceptable")
    # copy the response showing "Pierwsza" (raw Markdown, not the rendered HTML) and edit it
    claim = Claim.objects.get(task=task)
    first_id = task.task_responses.get(position=0).id
    page.click(f"button.copy-response[data-id='{first_id}']")
    assert page.locator("#custom_text").input_value() == "Pierwsza **zła** odpowiedź."
    page.fill("#custom_text", "Pierwsza **poprawna** odpowiedź.")
    # with everything unacceptable even the top response can be marked hard
    page.locator("#rank-list .rank-item").first.locator("select.hardness").select_option("hard")
    page.check("#order_confirmed_unchanged")  # the shown order is kept: it must be confirmed
    with page.expect_navigation():
        page.click("#submit-ranking")
    row = Ranking.objects.get(task=task)
    assert row.all_unacceptable
    assert row.custom_text == "Pierwsza **poprawna** odpowiedź."
    assert row.custom_from_id == first_id
    assert row.hardness[str(claim.display_order[0])] == "hard"
    no_js_dialogs()


def test_hostile_text_never_executes_in_rating_and_ranking(seeded, page, login_as, annotator, no_js_dialogs):
    prompt = make_prompt(text="Prompt " + HOSTILE)
    make_rating_task(prompt=prompt, text="Rating " + HOSTILE)
    ranking = make_ranking_task(prompt=prompt, texts=["Ranking " + HOSTILE, "b", "c", "d"])
    login_as(annotator)

    start(page, "rating")
    page.wait_for_timeout(300)
    assert 'alert("s")' in page.locator("#prompt-text").inner_text()  # visible as text
    assert "onerror" in page.locator("#response-text").inner_text()
    assert page.locator("#response-text img, #response-text script, #response-text svg, #response-text iframe").count() == 0
    hrefs = page.locator("main a").evaluate_all("els => els.map(e => e.getAttribute('href') || '')")
    assert not [h for h in hrefs if h.strip().lower().startswith("javascript")]
    no_js_dialogs()

    start(page, "ranking")
    page.check("#all_unacceptable")
    hostile_id = ranking.task_responses.get(position=0).id
    page.click(f"button.copy-response[data-id='{hostile_id}']")
    page.check("#order_confirmed_unchanged")
    with page.expect_navigation():
        page.click("#submit-ranking")
    assert Ranking.objects.get(task=ranking).custom_text.startswith("Ranking Zły tekst <script>")
    # the custom answer shown again on the revision page: text in a textarea, nothing executed
    page.goto(f"/rank/{ranking.id}/")
    page.wait_for_selector("body[data-ranking-ready='1']")
    page.wait_for_timeout(300)
    assert "<script>" in page.locator("#custom_text").input_value()
    executable = "main script:not([type='application/json']), main img, main svg, main iframe"
    assert page.locator(executable).count() == 0
    hrefs = page.locator("main a").evaluate_all("els => els.map(e => e.getAttribute('href') || '')")
    assert not [h for h in hrefs if h.strip().lower().startswith("javascript")]
    no_js_dialogs()
