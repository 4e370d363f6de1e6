"""Dialogs that fit the model: per-turn answer budgets, the over-long context, the page's warning.

The arithmetic is in tests/generation/test_budget.py; here the dialog side, without a server (rows shaped like
the stream's) and against the real tiny vLLM server (context 2048 tokens).
"""

import uuid

import pytest
from django.urls import reverse

from dialogs import services as svc
from dialogs.models import DialogCandidate
from dialogs.selectors import dialog_state
from generation import client
from generation.models import Endpoint
from generation.services.endpoints import endpoint_check_health
from tests.factories import make_dialog_pool

pytestmark = pytest.mark.django_db

CONTEXT = 2048  # the test server's --max-model-len


def _decided(dialog, text, *, custom="", completion_tokens=None, prompt_tokens=None):
    """A decided turn made without a model: choice A (with usage as a server would report it) or a custom answer."""
    turn = svc.dialog_turn_start(dialog=dialog, user_text=text, typology="qa")
    turn.candidates.update(status=DialogCandidate.Status.DONE, text="odpowiedź", prompt_tokens=prompt_tokens,
                           completion_tokens=completion_tokens)
    choice = "custom" if custom else "A"
    return svc.dialog_turn_decide(turn=turn, submission_id=uuid.uuid4(), choice=choice, custom_text=custom)


def _fail_as_context_full(turn, used=2100):
    turn.candidates.update(status=DialogCandidate.Status.FAILED,
                           error=f"context: {used} of {CONTEXT} tokens: the conversation no longer fits")


@pytest.fixture
def offline_pool(seeded):
    endpoints = make_dialog_pool(base_url="http://127.0.0.1:9/v1", max_tokens=256)
    for endpoint in endpoints:
        endpoint.context_length = CONTEXT
        endpoint.save(update_fields=["context_length"])
    return endpoints


def test_context_failure_is_reported_as_such_and_not_retried(offline_pool, annotator):
    dialog = svc.dialog_start(annotator=annotator)
    turn = svc.dialog_turn_start(dialog=dialog, user_text="Pytanie", typology="qa")
    _fail_as_context_full(turn)
    message = "The conversation no longer fits the model's context (2100 of 2048 tokens)."
    assert svc.public_error(turn.candidates.first().error).startswith(message)
    assert "refused" not in svc.public_error(turn.candidates.first().error)
    with pytest.raises(svc.DialogError, match=r"no longer fits the model's context \(2100 of 2048 tokens\)"):
        svc.candidate_retry(turn=turn, seat="A")
    assert set(turn.candidates.values_list("status", flat=True)) == {"failed"}  # nothing queued again
    # an ordinary failure is still retried
    turn.candidates.filter(seat__label="B").update(error="permanent: PermanentError: HTTP 400: bad request")
    assert svc.candidate_retry(turn=turn, seat="B").status == DialogCandidate.Status.PENDING
    turn.candidates.filter(seat__label="B").update(status=DialogCandidate.Status.FAILED)
    # the annotator can still write their own answer for the turn
    decided = svc.dialog_turn_decide(turn=turn, submission_id=uuid.uuid4(), choice="custom", custom_text="Moja.")
    assert decided.custom_text == "Moja."


def test_page_shows_the_context_failure_without_a_retry_button(client, offline_pool, annotator):
    dialog = svc.dialog_start(annotator=annotator)
    turn = svc.dialog_turn_start(dialog=dialog, user_text="Pytanie", typology="qa")
    _fail_as_context_full(turn)
    turn.candidates.filter(seat__label="C").update(error="transient: ConnectError: refused")
    client.force_login(annotator)
    page = client.get(reverse("dialogs:dialog_detail", args=[dialog.pk])).content.decode()
    assert page.count("no longer fits the model&#x27;s context (2100 of 2048 tokens)") == 2
    assert page.count('class="secondary dlg-retry"') == 1  # only the transient failure (C) offers Retry
    assert "refused" not in page
    response = client.post(reverse("dialogs:dialog_candidate_retry", args=[dialog.pk, 1, "A"]),
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 400 and "no longer fits" in response.content.decode()


def test_warning_when_fewer_than_two_more_turns_fit(client, offline_pool, annotator):
    dialog = svc.dialog_start(annotator=annotator)
    client.force_login(annotator)
    url = reverse("dialogs:dialog_detail", args=[dialog.pk])
    # 2 turns of ~300 tokens: 600 used, 1448 left, 4 more fit
    _decided(dialog, "Pierwsze", prompt_tokens=20, completion_tokens=256)
    _decided(dialog, "Drugie", prompt_tokens=330, completion_tokens=256)
    state = dialog_state(dialog)
    assert state.context_turns_left == (CONTEXT - 594) // 297 and not state.context_warning
    assert 'id="context-warning"' not in client.get(url).content.decode()
    # turn 3's prompt was 1400 tokens (long messages): 1664 of 2048 used, ~555 per turn, no full turn left
    _decided(dialog, "Trzecie", prompt_tokens=1400, completion_tokens=256)
    state = dialog_state(dialog)
    assert state.context_turns_left == 0 and state.context_warning
    page = client.get(url).content.decode()
    assert 'id="context-warning"' in page and "a further turn will probably not fit" in page
    # one more fits: the plural form says so
    turns = dialog.turns.order_by("-index")
    turns.first().candidates.update(prompt_tokens=1000)  # 1264 used, 422 per turn: 1 more fits
    assert dialog_state(dialog).context_turns_left == 1
    assert "about 1 more turn fits" in client.get(url).content.decode()


def test_no_warning_without_a_known_context_or_when_the_turn_limit_stops_first(offline_pool, annotator):
    dialog = svc.dialog_start(annotator=annotator)
    for index in range(1, 10):
        _decided(dialog, f"Pytanie {index}", prompt_tokens=180 * index, completion_tokens=10)
    state = dialog_state(dialog)
    # 9 turns used 1638 tokens (182 each): 2 more would fit, and only 1 more is allowed anyway
    assert state.context_turns_left == 2 and not state.context_warning
    Endpoint.objects.update(context_length=None)
    assert dialog_state(dialog).context_turns_left is None


# --- against the real tiny vLLM server ------------------------------------------------------------------


@pytest.fixture
def live_pool(seeded, vllm_server):
    endpoints = make_dialog_pool(base_url=vllm_server.base_url, model=vllm_server.model, max_tokens=200)
    for endpoint in endpoints:
        assert endpoint_check_health(endpoint=endpoint).ok  # learns the context length from /v1/models
        endpoint.refresh_from_db()
        assert endpoint.context_length == CONTEXT
    return endpoints


def _prompt_tokens(turn, endpoint) -> int:
    return client.count_tokens(endpoint, svc.turn_messages(turn=turn, endpoint=endpoint)).tokens


def _fill_history_to(turn, endpoint, target: int) -> int:
    """Set turn 1's custom answer so that `turn`'s prompt counts `target` tokens (±2); returns the count.

    Binary search over the length of a repeated sentence, counted by the server's /tokenize.
    """
    first = turn.dialog.turns.get(index=1)

    def count_with(length: int) -> int:
        first.custom_text = ("Ala ma kota, a kot ma Alę. " * 2000)[:length]
        first.save(update_fields=["custom_text"])
        return _prompt_tokens(turn, endpoint)

    low, high = 1, 20_000
    while low < high:
        middle = (low + high) // 2
        if count_with(middle) < target:
            low = middle + 1
        else:
            high = middle
    count = count_with(low)
    assert abs(count - target) <= 2, (count, target)
    return count


def _chat_bodies(server, marker):
    return [r.body for r in server.received_requests()
            if r.body.get("stream") and any(marker in m["content"] for m in r.body.get("messages", []))]


@pytest.mark.vllm
def test_turn_near_the_limit_gets_the_rest_of_the_context_and_succeeds(live_pool, annotator, vllm_server):
    dialog = svc.dialog_start(annotator=annotator)
    _decided(dialog, "Pierwsze pytanie", custom="Krótka odpowiedź.")
    marker = uuid.uuid4().hex[:8]
    turn = svc.dialog_turn_start(dialog=dialog, user_text=f"Drugie pytanie {marker}", typology="qa")
    prompt = _fill_history_to(turn, live_pool[0], CONTEXT - 60)  # 60 tokens left, less than the 200 allowed
    events = list(svc.turn_stream(turn=turn))
    assert not [e for e in events if e["event"] == "error"], events
    for candidate in turn.candidates.all():
        assert candidate.status == DialogCandidate.Status.DONE and candidate.text
        assert candidate.prompt_tokens == prompt  # the server counted what /tokenize counted
        assert candidate.max_tokens == CONTEXT - prompt < 200
        assert candidate.completion_tokens <= candidate.max_tokens
    try:
        bodies = _chat_bodies(vllm_server, marker)
    except pytest.skip.Exception:
        return
    assert sorted(b["max_tokens"] for b in bodies) == [CONTEXT - prompt] * 3


@pytest.mark.vllm
def test_over_long_conversation_is_not_sent_and_says_why(live_pool, annotator, vllm_server):
    dialog = svc.dialog_start(annotator=annotator)
    _decided(dialog, "Pierwsze pytanie", custom="Krótka odpowiedź.")
    marker = uuid.uuid4().hex[:8]
    turn = svc.dialog_turn_start(dialog=dialog, user_text=f"Drugie pytanie {marker}", typology="qa")
    prompt = _fill_history_to(turn, live_pool[0], CONTEXT - 5)  # fewer than the 16 tokens an answer needs
    events = list(svc.turn_stream(turn=turn))
    failed = [e for e in events if e["event"] == "error"]
    assert sorted(e["seat"] for e in failed) == ["A", "B", "C"]
    expected = f"The conversation no longer fits the model's context ({prompt} of {CONTEXT} tokens)."
    assert all(e["error"].startswith(expected) for e in failed)
    assert set(turn.candidates.values_list("status", flat=True)) == {"failed"}
    with pytest.raises(svc.DialogError, match="no longer fits"):
        svc.candidate_retry(turn=turn, seat="A")
    try:
        assert _chat_bodies(vllm_server, marker) == []  # no hopeless request reached the model
    except pytest.skip.Exception:
        pass
    # Past the limit the server itself refuses; that 400 is reported the same way, not as "refused".
    candidate = turn.candidates.select_related("seat__endpoint").get(seat__label="B")
    endpoint = candidate.seat.endpoint
    Endpoint.objects.filter(pk=endpoint.pk).update(context_length=None)  # the platform no longer knows the limit…
    _fill_history_to(turn, endpoint, CONTEXT + 50)
    DialogCandidate.objects.filter(pk=candidate.pk).update(status=DialogCandidate.Status.PENDING, error="")
    client._NO_TOKENIZE.add(client.server_root(endpoint.base_url))  # …nor can it count (an estimate only)
    try:
        events = list(svc.turn_stream(turn=turn))
    finally:
        client._NO_TOKENIZE.discard(client.server_root(endpoint.base_url))
    assert [e["seat"] for e in events if e["event"] == "start"] == ["B"]  # A and C are only reported again
    failed = next(e for e in events if e["event"] == "error" and e["seat"] == "B")
    assert "no longer fits the model's context" in failed["error"] and "refused" not in failed["error"]
    candidate.refresh_from_db()
    # vLLM counts only up to the limit: "your prompt contains at least 2049 input tokens"
    assert svc.context_overflow(candidate.error) == (CONTEXT + 1, CONTEXT)
