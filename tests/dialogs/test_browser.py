"""Browser: a 4-turn live dialog against the real local model server (Playwright + Debian chromium).

Covers: keyboard choice, a custom answer, a copy-and-edit, a reload while the answers stream (resume),
a new login resuming the open dialog, finish from turn 4, and hostile text that must stay inert in the
page (prompt, custom answer, server-rendered responses, and streamed deltas).
"""

import json

import pytest

from dialogs.models import Dialog, DialogCandidate, DialogTurn
from generation.models import Endpoint
from tests.browser import assert_no_js_dialogs, login_via_form, wait_until
from tests.factories import make_dialog_pool

pytestmark = [pytest.mark.browser, pytest.mark.vllm]

WAIT_MS = 90_000
HOSTILE = (
    '<script>window.__pwned=1;alert("s")</script><img src=x onerror="window.__pwned=2;alert(1)">'
    '<a href="javascript:alert(2)" id="evil-a">a</a> [klik](javascript:alert(3)) '
    '<svg onload="alert(4)"></svg> <iframe src="javascript:alert(5)"></iframe>'
)


@pytest.fixture
def pool(seeded, vllm_server):
    return make_dialog_pool(base_url=vllm_server.base_url, model=vllm_server.model, max_tokens=24)


def _wait_answers(page):
    """All three columns of the current turn are complete and the decision can be saved."""
    wait_until(
        page,
        "document.querySelectorAll('[data-current-turn] .dlg-candidate[data-status=done] .md').length === 3",
        timeout=WAIT_MS,
    )
    page.wait_for_selector("#decide-submit:not([disabled])", timeout=WAIT_MS)


def _send(page, text, typology):
    page.fill("#user-text", text)
    page.select_option("#typology", typology)
    with page.expect_navigation():
        page.click("#send-button")


def _save(page):
    with page.expect_navigation():
        page.click("#decide-submit")


def _assert_not_executed(page):
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator("#dialog script, #dialog img, #dialog svg, #dialog iframe, #evil-a").count() == 0
    assert page.locator('#dialog a[href^="javascript"]').count() == 0
    assert_no_js_dialogs(page)
    assert page.js_errors == []


def test_four_turn_dialog_with_custom_copy_edit_reload_and_resume(page, browser, live_server, pool,
                                                                  annotator):
    login_via_form(page, annotator, next_path="/dialogs/")
    with page.expect_navigation():
        page.click("#start-dialog")
    dialog = Dialog.objects.get(annotator=annotator)
    assert page.url.endswith(f"/dialogs/{dialog.pk}/")
    assert page.locator("#finish-button").is_disabled()

    # Turn 1: choose the second column with the keyboard.
    _send(page, "Jak się nazywa stolica Polski?", "qa")
    _wait_answers(page)
    page.locator("body").press("2")
    second = page.locator("[data-current-turn] .dlg-candidate[data-position='2']")
    assert second.locator("input[name=choice]").is_checked()
    seat_2 = second.get_attribute("data-seat")
    _save(page)
    turn1 = DialogTurn.objects.get(dialog=dialog, index=1)
    assert turn1.chosen.seat.label == seat_2 and turn1.custom_text == ""
    assert turn1.column_order[1] == seat_2 and turn1.time_ms > 0

    # Turn 2: a hostile prompt, answered with a hostile custom answer.
    _send(page, "Drugie pytanie " + HOSTILE, "adversarial")
    _wait_answers(page)
    page.fill("#custom-text", "Moja odpowiedź " + HOSTILE)
    assert page.locator("#choice-custom").is_checked()
    _save(page)
    turn2 = DialogTurn.objects.get(dialog=dialog, index=2)
    assert turn2.custom_text == "Moja odpowiedź " + HOSTILE and turn2.chosen is None
    assert page.locator("#turn-2 .dlg-assistant-text").inner_text().startswith("Moja odpowiedź <script>")
    _assert_not_executed(page)

    # Turn 3: copy the first column into the editor with the keyboard, correct it, save.
    _send(page, "Napisz krótki wierszyk.", "generation")
    _wait_answers(page)
    page.locator("body").press("1")
    page.locator("body").press("e")
    first_seat = page.locator("[data-current-turn] .dlg-candidate[data-position='1']").get_attribute("data-seat")
    source = DialogCandidate.objects.get(turn__dialog=dialog, turn__index=3, seat__label=first_seat)
    assert page.input_value("#custom-text") == source.text
    page.locator("#custom-text").press("Control+End")
    page.keyboard.type(" — poprawione")
    page.locator("#custom-text").press("Control+Enter")
    page.wait_for_selector("#turn-form")
    turn3 = DialogTurn.objects.get(dialog=dialog, index=3)
    assert turn3.custom_text == (source.text + " — poprawione").strip()
    assert turn3.custom_from_id == source.pk and turn3.chosen is None

    # Turn 4: reload while the answers stream; the dialog resumes and completes.
    Endpoint.objects.filter(in_dialog_pool=True).update(max_tokens=120)
    _send(page, "Opowiedz mi o Krakowie, proszę.", "qa")
    wait_until(
        page,
        "Array.from(document.querySelectorAll('[data-current-turn] .dlg-stream')).some(e => e.textContent.length)",
        timeout=WAIT_MS,
    )
    page.reload()
    _wait_answers(page)
    page.locator("body").press("3")
    third_seat = page.locator("[data-current-turn] .dlg-candidate[data-position='3']").get_attribute("data-seat")
    _save(page)
    turn4 = DialogTurn.objects.get(dialog=dialog, index=4)
    assert turn4.chosen.seat.label == third_seat
    assert set(DialogCandidate.objects.filter(turn__dialog=dialog).values_list("status", flat=True)) == {"done"}
    # each model got the whole conversation: turn 4's prompts are longer than turn 1's
    shortest_4 = min(turn4.candidates.values_list("prompt_tokens", flat=True))
    assert shortest_4 > max(turn1.candidates.values_list("prompt_tokens", flat=True))

    # A new login (another browser context) resumes the open dialog from the list page.
    other = browser.new_context(base_url=live_server.url)
    try:
        page2 = other.new_page()
        login_via_form(page2, annotator, next_path="/dialogs/")
        with page2.expect_navigation():
            page2.click("#resume-dialog")
        assert page2.url.endswith(f"/dialogs/{dialog.pk}/")
        assert page2.locator(".dlg-turn").count() == 4
        assert page2.locator("#turn-3 .dlg-assistant-text").inner_text().endswith("poprawione")
    finally:
        other.close()

    # Finish is enabled from turn 4.
    assert page.locator("#finish-button").is_enabled()
    with page.expect_navigation():
        page.click("#finish-button")
    dialog.refresh_from_db()
    assert dialog.status == Dialog.Status.FINISHED
    assert page.locator("#turn-form").count() == 0
    for name in ("model-a", "model-b", "model-c"):
        assert name not in page.content()
    _assert_not_executed(page)


def test_hostile_streamed_and_rendered_answers_never_execute(page, pool, annotator):
    from dialogs import services as svc

    dialog = svc.dialog_start(annotator=annotator)
    turn = svc.dialog_turn_start(dialog=dialog, user_text="Pytanie " + HOSTILE, typology="adversarial")
    stream_url = f"**/dialogs/{dialog.pk}/turns/1/stream/"

    # Deltas carrying HTML, split mid-tag, as a hostile model could send them. The stream is canned at the
    # network edge (the real model cannot be made to say this); the real stream is used below.
    pieces = [HOSTILE[i:i + 7] for i in range(0, len(HOSTILE), 7)]
    # Like the real stream, each seat starts with a `start` event (which clears the column): the page reopens
    # the stream while answers are still pending, so without it a second canned replay would append twice.
    body = "retry: 2000\n\n" + "".join(
        f"event: start\ndata: {json.dumps({'seat': seat})}\n\n"
        + "".join(f"event: delta\ndata: {json.dumps({'seat': seat, 'delta': piece})}\n\n" for piece in pieces)
        for seat in "ABC"
    ) + "event: end\ndata: {}\n\n"
    # Routed before the login lands on the dialog page: an unrouted first visit would open the real stream,
    # the real model would finish the answers, and the page would then show them instead of streaming.
    page.route(stream_url, lambda route: route.fulfill(
        status=200, body=body, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    ))
    login_via_form(page, annotator, next_path=f"/dialogs/{dialog.pk}/")
    assert DialogCandidate.objects.filter(turn=turn).exclude(status=DialogCandidate.Status.PENDING).count() == 0
    wait_until(
        page,
        f"document.querySelectorAll('.dlg-stream').length === 3 && Array.from(document.querySelectorAll("
        f"'.dlg-stream')).every(e => e.textContent === {json.dumps(HOSTILE)})",
        timeout=WAIT_MS,
    )
    _assert_not_executed(page)

    # Real answers replaced by hostile text in the database: rendered by the server as sanitised Markdown.
    for candidate in turn.candidates.all():
        candidate.status, candidate.text = DialogCandidate.Status.DONE, HOSTILE + "\n\n**pogrubione**"
        candidate.save(update_fields=["status", "text"])
    page.unroute(stream_url)
    page.goto(f"/dialogs/{dialog.pk}/")
    assert page.locator("[data-current-turn] .dlg-candidate .md strong").count() == 3
    page.locator("body").press("1")
    page.locator("body").press("e")
    assert page.input_value("#custom-text") == HOSTILE + "\n\n**pogrubione**"  # copied as text, verbatim
    _assert_not_executed(page)


def test_failed_model_is_retried_from_the_page(page, pool, annotator, vllm_server):
    from devtools.localserver import free_port
    from dialogs import services as svc

    dialog = svc.dialog_start(annotator=annotator)
    broken = dialog.seats.get(label="B").endpoint
    broken.base_url = f"http://127.0.0.1:{free_port()}/v1"
    broken.save(update_fields=["base_url"])
    login_via_form(page, annotator, next_path=f"/dialogs/{dialog.pk}/")
    _send(page, "Ile to dwa plus dwa?", "reasoning")
    column_b = page.locator("[data-current-turn] .dlg-candidate[data-seat='B']")
    retry = column_b.locator("button.dlg-retry")
    retry.wait_for(timeout=WAIT_MS)
    assert "127.0.0.1" not in column_b.inner_text() and broken.name not in page.content()
    assert column_b.locator("input[name=choice]").is_disabled()

    broken.base_url = vllm_server.base_url
    broken.save(update_fields=["base_url"])
    retry.click()
    _wait_answers(page)
    column_b = page.locator("[data-current-turn] .dlg-candidate[data-seat='B']")
    column_b.locator("input[name=choice]").check()
    _save(page)
    turn = DialogTurn.objects.get(dialog=dialog, index=1)
    assert turn.chosen.seat.label == "B" and turn.chosen.attempts == svc.STREAM_ATTEMPTS + 1
    _assert_not_executed(page)
