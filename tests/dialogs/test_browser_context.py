"""Browser, acceptance test of "dialogs that fit the model": a 6-turn dialog against the real local vLLM server.

The pool is configured as scripts/run.sh configures the local model (TURN_MAX_TOKENS new tokens per answer)
on the test server's 2048-token context, learnt by the health check. Turn 5's own answer is long enough to
leave little room: the page then warns that the context is nearly full, turn 6 gets a smaller answer budget
instead of a refusal, and the dialog finishes with six turns.
"""

import pytest
from playwright.sync_api import expect

from devtools.localserver import TURN_MAX_TOKENS
from dialogs import services as svc
from dialogs.models import Dialog, DialogCandidate, DialogTurn
from generation import client
from generation.services.endpoints import endpoint_check_health
from tests.browser import assert_no_js_dialogs, login_via_form
from tests.factories import make_dialog_pool

pytestmark = [pytest.mark.browser, pytest.mark.vllm]

WAIT_MS = 90_000
CONTEXT = 2048
LAST_MESSAGE = "Ostatnie pytanie: co polecasz na koniec?"
ROOM_FOR_TURN_6 = 120  # tokens turn 6's answer may use: fewer than TURN_MAX_TOKENS, so it is budgeted


@pytest.fixture
def pool(seeded, vllm_server):
    endpoints = make_dialog_pool(base_url=vllm_server.base_url, model=vllm_server.model, max_tokens=TURN_MAX_TOKENS)
    for endpoint in endpoints:
        endpoint_check_health(endpoint=endpoint)
        endpoint.refresh_from_db()
        assert endpoint.context_length == CONTEXT
    return endpoints


def _wait_answers(page):
    """All three columns of the current turn are complete (locator waits: no eval under the page's CSP)."""
    done = page.locator("[data-current-turn] .dlg-candidate[data-status=done] .md")
    expect(done).to_have_count(3, timeout=WAIT_MS)
    page.wait_for_selector("#decide-submit:not([disabled])", timeout=WAIT_MS)


def _send(page, text, typology):
    page.fill("#user-text", text)
    page.select_option("#typology", typology)
    with page.expect_navigation():
        page.click("#send-button")


def _save(page):
    with page.expect_navigation():
        page.click("#decide-submit")


def _custom_answer_leaving(dialog, endpoint, room: int) -> str:
    """An own answer for turn 5 after which turn 6's prompt leaves `room` tokens of the context (±3)."""
    history = svc.dialog_history(dialog=dialog, before_index=5)
    turn5 = dialog.turns.get(index=5).user_text
    filler = "Kraków leży nad Wisłą i ma piękny rynek. " * 200

    def prompt_tokens(length: int) -> int:
        messages = [*history, {"role": "user", "content": turn5}, {"role": "assistant", "content": filler[:length]},
                    {"role": "user", "content": LAST_MESSAGE}]
        return client.count_tokens(endpoint, messages).tokens

    target, low, high = CONTEXT - room, 1, len(filler)
    while low < high:
        middle = (low + high) // 2
        if prompt_tokens(middle) < target:
            low = middle + 1
        else:
            high = middle
    assert abs(prompt_tokens(low) - target) <= 3
    return filler[:low].strip()


def test_six_turn_dialog_completes_within_the_context(page, pool, annotator):
    login_via_form(page, annotator, next_path="/dialogs/")
    with page.expect_navigation():
        page.click("#start-dialog")
    dialog = Dialog.objects.get(annotator=annotator)

    # Turns 1-4: the models' full-length answers, chosen with the keyboard.
    for index, (text, typology) in enumerate([
        ("Jak się nazywa stolica Polski?", "qa"),
        ("Napisz krótki wierszyk o jesieni.", "generation"),
        ("Ile to jest dwa razy trzy plus jeden?", "reasoning"),
        ("Opowiedz mi o Krakowie, proszę.", "qa"),
    ], start=1):
        _send(page, text, typology)
        _wait_answers(page)
        page.locator("body").press(str(1 + index % 3))
        _save(page)
        assert DialogTurn.objects.get(dialog=dialog, index=index).chosen_id
        assert page.locator("#context-warning").count() == 0  # at most ~1200 of 2048 tokens used so far

    # Turn 5: a long own answer fills most of the context; the page warns before the next message.
    _send(page, "A co warto zobaczyć w Krakowie?", "qa")
    _wait_answers(page)
    page.fill("#custom-text", _custom_answer_leaving(dialog, pool[0], ROOM_FOR_TURN_6))
    _save(page)
    warning = page.locator("#context-warning")
    assert warning.is_visible() and "context" in warning.inner_text()
    assert page.locator("#turn-form").count() == 1  # still allowed: it warns, it does not block

    # Turn 6: answered within what is left of the context, not refused.
    _send(page, LAST_MESSAGE, "qa")
    _wait_answers(page)
    turn6 = DialogTurn.objects.get(dialog=dialog, index=6)
    for candidate in turn6.candidates.all():
        assert candidate.status == DialogCandidate.Status.DONE and candidate.text
        assert candidate.max_tokens < TURN_MAX_TOKENS  # budgeted down from the endpoint's cap
        assert candidate.prompt_tokens + candidate.max_tokens <= CONTEXT
        assert candidate.completion_tokens <= candidate.max_tokens
    page.locator("body").press("1")
    _save(page)

    with page.expect_navigation():
        page.click("#finish-button")
    dialog.refresh_from_db()
    assert dialog.status == Dialog.Status.FINISHED and dialog.turns.filter(decided_at__isnull=False).count() == 6
    assert set(DialogCandidate.objects.filter(turn__dialog=dialog).values_list("status", flat=True)) == {"done"}
    # every earlier turn got the endpoint's full cap: only the last one needed budgeting
    assert set(DialogCandidate.objects.filter(turn__dialog=dialog, turn__index__lt=6)
               .values_list("max_tokens", flat=True)) == {TURN_MAX_TOKENS}
    assert "refused" not in page.content()
    assert_no_js_dialogs(page)
    assert page.js_errors == []
