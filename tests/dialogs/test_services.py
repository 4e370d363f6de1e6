"""Live dialog services: start, turns, decisions, finish, context, and streaming against a real vLLM server."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from devtools.localserver import free_port
from dialogs import services as svc
from dialogs.models import Dialog, DialogCandidate
from dialogs.selectors import dialog_state, dialog_transcript
from prompts.models import DialogTypology
from tests.factories import make_dialog, make_dialog_pool, make_endpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def pool(seeded):
    return make_dialog_pool(base_url="http://127.0.0.1:9/v1")


def _qa():
    return DialogTypology.objects.get(key="qa")


def _settle(turn, texts=None, status=DialogCandidate.Status.DONE):
    """Give a turn's candidates final texts without a model (for decision/finish rules)."""
    for candidate in turn.candidates.select_related("seat"):
        candidate.status = status
        candidate.text = (texts or {}).get(candidate.seat.label, f"answer {candidate.seat.label}")
        candidate.save(update_fields=["status", "text"])


def _decided_turn(dialog, text, *, choice="A", custom=""):
    turn = svc.dialog_turn_start(dialog=dialog, user_text=text, typology="qa")
    _settle(turn)
    return svc.dialog_turn_decide(turn=turn, submission_id=uuid.uuid4(), choice=choice, custom_text=custom)


def test_start_needs_three_pooled_models(seeded, annotator):
    make_endpoint("lonely", base_url="http://127.0.0.1:9/v1", is_active=True, in_dialog_pool=True)
    make_endpoint("not-in-pool", base_url="http://127.0.0.1:9/v1", is_active=True)
    with pytest.raises(svc.DialogError, match="at least three"):
        svc.dialog_start(annotator=annotator)
    assert not Dialog.objects.exists()


def test_start_seats_three_distinct_endpoints_and_resumes_open_dialog(pool, annotator, annotator2):
    make_endpoint("inactive", base_url="http://127.0.0.1:9/v1", is_active=False, in_dialog_pool=True)
    dialog = svc.dialog_start(annotator=annotator)
    seats = list(dialog.seats.select_related("endpoint"))
    assert [s.label for s in seats] == ["A", "B", "C"]
    assert {s.endpoint.name for s in seats} == {"model-a", "model-b", "model-c"}
    assert svc.dialog_start(annotator=annotator) == dialog  # double click / resume: same dialog
    assert svc.dialog_start(annotator=annotator2) != dialog
    svc.dialog_abandon(dialog=dialog)
    assert svc.dialog_start(annotator=annotator) != dialog


def test_turn_start_checks_input_and_stores_shuffled_order(pool, annotator):
    dialog = svc.dialog_start(annotator=annotator)
    with pytest.raises(svc.DialogError, match="Write a message"):
        svc.dialog_turn_start(dialog=dialog, user_text="   ", typology="qa")
    with pytest.raises(svc.DialogError, match="type"):
        svc.dialog_turn_start(dialog=dialog, user_text="Ile to 2+2?", typology="")
    with pytest.raises(svc.DialogError, match="Unknown"):
        svc.dialog_turn_start(dialog=dialog, user_text="Ile to 2+2?", typology="nonsense")
    turn = svc.dialog_turn_start(dialog=dialog, user_text=" Ile to 2+2? \r\n", typology=_qa())
    assert turn.index == 1 and turn.user_text == "Ile to 2+2?"
    assert sorted(turn.column_order) == ["A", "B", "C"]
    assert turn.candidates.filter(status=DialogCandidate.Status.PENDING).count() == 3
    # the same message again (double submit) is the same turn; another one must wait for a decision
    assert svc.dialog_turn_start(dialog=dialog, user_text="Ile to 2+2?", typology="qa") == turn
    with pytest.raises(svc.DialogError, match="turn 1 first"):
        svc.dialog_turn_start(dialog=dialog, user_text="Coś innego", typology="qa")


def test_column_order_is_shuffled_across_turns(pool, annotator):
    dialog = svc.dialog_start(annotator=annotator)
    orders = set()
    for index in range(1, 11):
        turn = _decided_turn(dialog, f"Pytanie {index}")
        orders.add(tuple(turn.column_order))
    # 10 turns drawing from 6 orders: one order ten times in a row has probability 6 * 6**-10
    assert len(orders) > 1


def test_decide_choice_custom_and_copy_unchanged(pool, annotator):
    dialog = svc.dialog_start(annotator=annotator)
    turn = svc.dialog_turn_start(dialog=dialog, user_text="Pytanie", typology="qa")
    with pytest.raises(svc.DialogError, match="Wait until"):
        svc.dialog_turn_decide(turn=turn, submission_id=uuid.uuid4(), choice="A")
    _settle(turn, {"A": "alfa", "B": "beta", "C": "gamma"})
    with pytest.raises(svc.DialogError, match="Choose one"):
        svc.dialog_turn_decide(turn=turn, submission_id=uuid.uuid4(), choice="")
    with pytest.raises(svc.DialogError, match="Write your own"):
        svc.dialog_turn_decide(turn=turn, submission_id=uuid.uuid4(), choice="custom", custom_text="  ")
    with pytest.raises(svc.DialogError, match="out of date"):
        svc.dialog_turn_decide(turn=turn, submission_id="not-a-uuid", choice="A")
    # a copy submitted unchanged is a plain choice of that seat
    sid = uuid.uuid4()
    decided = svc.dialog_turn_decide(turn=turn, submission_id=sid, choice="custom", custom_text="beta\r\n",
                                     custom_from="B")
    assert decided.chosen.seat.label == "B" and decided.custom_text == "" and decided.custom_from is None
    assert decided.assistant_text == "beta"
    # replaying the same submission is harmless; a different one is refused
    assert svc.dialog_turn_decide(turn=turn, submission_id=sid, choice="A").chosen.seat.label == "B"
    with pytest.raises(svc.DialogError, match="already decided"):
        svc.dialog_turn_decide(turn=turn, submission_id=uuid.uuid4(), choice="A")

    turn2 = svc.dialog_turn_start(dialog=dialog, user_text="Drugie", typology="qa")
    _settle(turn2, {"A": "alfa", "B": "beta", "C": "gamma"})
    with pytest.raises(svc.DialogError, match="already submitted"):
        svc.dialog_turn_decide(turn=turn2, submission_id=sid, choice="A")
    decided = svc.dialog_turn_decide(turn=turn2, submission_id=uuid.uuid4(), choice="custom",
                                     custom_text="gamma, poprawiona", custom_from="C", time_ms=1234)
    assert decided.chosen is None and decided.custom_text == "gamma, poprawiona"
    assert decided.custom_from.seat.label == "C" and decided.time_ms == 1234
    assert decided.assistant_text == "gamma, poprawiona"


def test_failed_candidate_cannot_be_chosen_but_can_be_copied(pool, annotator):
    dialog = svc.dialog_start(annotator=annotator)
    turn = svc.dialog_turn_start(dialog=dialog, user_text="Pytanie", typology="qa")
    _settle(turn, {"A": "częściowa"}, status=DialogCandidate.Status.FAILED)
    with pytest.raises(svc.DialogError, match="incomplete"):
        svc.dialog_turn_decide(turn=turn, submission_id=uuid.uuid4(), choice="A")
    decided = svc.dialog_turn_decide(turn=turn, submission_id=uuid.uuid4(), choice="custom",
                                     custom_text="częściowa", custom_from="A")
    assert decided.custom_text == "częściowa" and decided.chosen is None  # a failed answer is never "chosen"


def test_finish_from_turn_four_and_ten_is_the_last(pool, annotator):
    dialog = svc.dialog_start(annotator=annotator)
    for index in range(1, 4):
        _decided_turn(dialog, f"Pytanie {index}")
    with pytest.raises(svc.DialogError, match="at least 4"):
        svc.dialog_finish(dialog=dialog)
    assert not dialog_state(dialog).can_finish
    turn4 = svc.dialog_turn_start(dialog=dialog, user_text="Pytanie 4", typology="qa")
    with pytest.raises(svc.DialogError, match="last turn first"):
        svc.dialog_finish(dialog=dialog)
    _settle(turn4)
    svc.dialog_turn_decide(turn=turn4, submission_id=uuid.uuid4(), choice="C")
    assert dialog_state(dialog).can_finish
    for index in range(5, 11):
        _decided_turn(dialog, f"Pytanie {index}")
    state = dialog_state(dialog)
    assert not state.can_add_turn and state.can_finish
    with pytest.raises(svc.DialogError, match="at most 10"):
        svc.dialog_turn_start(dialog=dialog, user_text="Jedenaste", typology="qa")
    finished = svc.dialog_finish(dialog=dialog)
    assert finished.status == Dialog.Status.FINISHED and finished.finished_at
    assert svc.dialog_finish(dialog=dialog).status == Dialog.Status.FINISHED  # twice is harmless
    with pytest.raises(svc.DialogError, match="closed"):
        svc.dialog_turn_start(dialog=dialog, user_text="Po końcu", typology="qa")


def test_history_has_previous_turns_with_chosen_or_custom_answers(pool, annotator):
    dialog = svc.dialog_start(annotator=annotator)
    _decided_turn(dialog, "Pierwsze", choice="B")
    _decided_turn(dialog, "Drugie", choice="custom", custom="Moja odpowiedź")
    turn3 = svc.dialog_turn_start(dialog=dialog, user_text="Trzecie", typology="qa")
    endpoint = dialog.seats.get(label="A").endpoint
    assert svc.turn_messages(turn=turn3, endpoint=endpoint) == [
        {"role": "user", "content": "Pierwsze"},
        {"role": "assistant", "content": "answer B"},
        {"role": "user", "content": "Drugie"},
        {"role": "assistant", "content": "Moja odpowiedź"},
        {"role": "user", "content": "Trzecie"},
    ]


def test_transcript_for_qa_and_exports(seeded, annotator):
    dialog = make_dialog(annotator, turns=4, custom_on=(2,))
    data = dialog_transcript(dialog)
    assert data["status"] == "finished" and len(data["turns"]) == 4
    assert set(data["seats"]) == {"A", "B", "C"}
    first, second = data["turns"][0], data["turns"][1]
    assert first["chosen_seat"] == "A" and first["custom_text"] == ""
    assert first["chosen_id"] in {c["id"] for c in first["candidates"]}
    assert second["custom_text"] == "Poprawiona odpowiedź 2." and second["custom_from_seat"] == "B"
    assert second["context"] == [
        {"role": "user", "content": "Pytanie 1?"},
        {"role": "assistant", "content": "Odpowiedź A na pytanie 1."},
        {"role": "user", "content": "Pytanie 2?"},
    ]
    assert data["turns"][2]["context"][3] == {"role": "assistant", "content": "Poprawiona odpowiedź 2."}
    assert [c["seat"] for c in first["candidates"]] == ["A", "B", "C"]
    assert sorted(first["column_order"]) == ["A", "B", "C"]


# --- streaming against the real model server ------------------------------------------------------------


@pytest.fixture
def live_pool(seeded, vllm_server):
    return make_dialog_pool(base_url=vllm_server.base_url, model=vllm_server.model, max_tokens=16)


def _events(turn):
    return list(svc.turn_stream(turn=turn))


@pytest.mark.vllm
def test_stream_runs_three_models_and_persists_their_answers(live_pool, annotator, vllm_server):
    marker = uuid.uuid4().hex[:8]  # finds this test's requests in a server log shared with other runs
    dialog = svc.dialog_start(annotator=annotator)
    _decided_turn(dialog, "Pierwsze pytanie", choice="custom", custom="Własna odpowiedź ZUPA-42")
    turn = svc.dialog_turn_start(dialog=dialog, user_text=f"Drugie pytanie {marker}", typology="qa")
    events = _events(turn)
    assert events[-1] == {"event": "end"}
    assert sorted(e["seat"] for e in events if e["event"] == "start") == ["A", "B", "C"]
    assert sorted(e["seat"] for e in events if e["event"] == "done") == ["A", "B", "C"]
    streamed = {label: "".join(e["delta"] for e in events if e["event"] == "delta" and e["seat"] == label)
                for label in "ABC"}
    for candidate in turn.candidates.select_related("seat"):
        assert candidate.status == DialogCandidate.Status.DONE
        assert candidate.text == streamed[candidate.seat.label] and candidate.text
        assert candidate.completion_tokens and candidate.prompt_tokens
        assert candidate.first_token_ms is not None and candidate.latency_ms >= candidate.first_token_ms
        assert candidate.attempts == 1 and candidate.lease_until is None
    firsts = [e for e in events if e["event"] == "delta" and "t" in e]
    assert sorted(e["seat"] for e in firsts) == ["A", "B", "C"]
    # every model was sent the whole conversation, including the custom answer
    try:
        bodies = [r.body for r in vllm_server.received_requests()]
    except pytest.skip.Exception:
        return
    chats = [b for b in bodies if b.get("stream")]  # the log also holds each seat's /tokenize (budget) request
    sent = [b["messages"] for b in chats if any(marker in m["content"] for m in b.get("messages", []))]
    assert len(sent) == 3
    for messages in sent:
        assert [m["role"] for m in messages] == ["user", "assistant", "user"]
        assert messages[1]["content"] == "Własna odpowiedź ZUPA-42"


@pytest.mark.vllm
def test_unreachable_model_fails_alone_and_can_be_retried(live_pool, annotator, vllm_server):
    dialog = svc.dialog_start(annotator=annotator)
    broken = dialog.seats.get(label="B").endpoint
    broken.base_url = f"http://127.0.0.1:{free_port()}/v1"
    broken.save(update_fields=["base_url"])
    turn = svc.dialog_turn_start(dialog=dialog, user_text="Pytanie", typology="qa")
    events = _events(turn)
    failed = [e for e in events if e["event"] == "error"]
    assert [e["seat"] for e in failed] == ["B"]
    assert "127.0.0.1" not in failed[0]["error"] and broken.name not in failed[0]["error"]  # anonymity
    statuses = dict(turn.candidates.values_list("seat__label", "status"))
    assert statuses == {"A": "done", "B": "failed", "C": "done"}
    b = turn.candidates.get(seat__label="B")
    assert b.attempts == svc.STREAM_ATTEMPTS and "ConnectError" in b.error

    with pytest.raises(svc.DialogError, match="nothing to retry"):
        svc.candidate_retry(turn=turn, seat="A")
    broken.base_url = vllm_server.base_url
    broken.save(update_fields=["base_url"])
    svc.candidate_retry(turn=turn, seat="B")
    events = _events(turn)
    assert [e["seat"] for e in events if e["event"] == "start"] == ["B"]  # the others are not re-run
    assert {e["seat"] for e in events if e["event"] == "done"} == {"A", "B", "C"}  # reported for catch-up
    b.refresh_from_db()
    assert b.status == "done" and b.text and b.error == "" and b.attempts == svc.STREAM_ATTEMPTS + 1


@pytest.mark.vllm
def test_client_going_away_puts_answers_back_and_next_stream_resumes(live_pool, annotator):
    dialog = svc.dialog_start(annotator=annotator)
    for endpoint in live_pool:
        endpoint.max_tokens = 200
        endpoint.save(update_fields=["max_tokens"])
    turn = svc.dialog_turn_start(dialog=dialog, user_text="Opowiedz długą historię", typology="generation")
    stream = svc.turn_stream(turn=turn)
    for event in stream:
        if event["event"] == "delta":
            break
    stream.close()  # what WSGI does when the browser reloads
    assert set(turn.candidates.values_list("status", flat=True)) == {"pending"}
    assert set(turn.candidates.values_list("text", flat=True)) == {""}
    events = _events(turn)
    assert sorted(e["seat"] for e in events if e["event"] == "done") == ["A", "B", "C"]
    assert set(turn.candidates.values_list("status", flat=True)) == {"done"}


@pytest.mark.vllm
def test_stream_waits_for_a_live_lease_and_takes_over_an_expired_one(live_pool, annotator):
    dialog = svc.dialog_start(annotator=annotator)
    turn = svc.dialog_turn_start(dialog=dialog, user_text="Pytanie", typology="qa")
    a = turn.candidates.get(seat__label="A")
    a.status, a.lease_until = DialogCandidate.Status.STREAMING, timezone.now() + timedelta(seconds=60)
    a.save(update_fields=["status", "lease_until"])
    stream = svc.turn_stream(turn=turn, poll_seconds=0.05)
    seen = []
    for event in stream:
        seen.append(event)
        if len([e for e in seen if e["event"] == "done"]) == 2:
            break
    assert {e["seat"] for e in seen if e["event"] == "start"} == {"B", "C"}  # A belongs to another request
    DialogCandidate.objects.filter(pk=a.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    rest = list(stream)
    assert [e["seat"] for e in rest if e["event"] == "start"] == ["A"]
    assert rest[-1] == {"event": "end"}
    a.refresh_from_db()
    assert a.status == "done" and a.text
