"""Live dialog pages: access per role, methods, form errors that keep input, htmx fragments, hostile text, SSE."""

import json
import uuid
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from dialogs import services as svc
from dialogs.models import Dialog, DialogCandidate, DialogTurn
from tests.factories import make_dialog, make_dialog_pool

pytestmark = pytest.mark.django_db

HOSTILE = (
    '<script>alert("x")</script> <img src=x onerror="alert(1)"> <a href="javascript:alert(2)">k</a> '
    "[klik](javascript:alert(3)) [ok](https://example.com) ![i](javascript:alert(4)) "
    '<svg onload="alert(5)"></svg>'
)


@pytest.fixture
def dialog(seeded, annotator):
    make_dialog_pool(base_url="http://127.0.0.1:9/v1")
    return svc.dialog_start(annotator=annotator)


def _settled_turn(dialog, text="Pytanie", texts=None):
    turn = svc.dialog_turn_start(dialog=dialog, user_text=text, typology="qa")
    for c in turn.candidates.select_related("seat"):
        c.status = DialogCandidate.Status.DONE
        c.text = (texts or {}).get(c.seat.label, f"answer {c.seat.label}")
        c.save(update_fields=["status", "text"])
    return turn


def _urls(dialog, turn):
    d, i = dialog.pk, turn.index
    return {
        "detail": ("get", reverse("dialogs:dialog_detail", args=[d])),
        "stream": ("get", reverse("dialogs:dialog_turn_stream", args=[d, i])),
        "candidate": ("get", reverse("dialogs:dialog_candidate", args=[d, i, "A"])),
        "turn_create": ("post", reverse("dialogs:dialog_turn_create", args=[d])),
        "decide": ("post", reverse("dialogs:dialog_turn_decide", args=[d, i])),
        "retry": ("post", reverse("dialogs:dialog_candidate_retry", args=[d, i, "A"])),
        "finish": ("post", reverse("dialogs:dialog_finish", args=[d])),
        "abandon": ("post", reverse("dialogs:dialog_abandon", args=[d])),
    }


def test_anonymous_is_sent_to_login(client, dialog):
    turn = _settled_turn(dialog)
    for name, (method, url) in {**_urls(dialog, turn), "list": ("get", reverse("dialogs:dialog_list")),
                                "start": ("post", reverse("dialogs:dialog_start"))}.items():
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], name


def test_other_annotator_gets_404_everywhere(login, dialog, annotator2):
    turn = _settled_turn(dialog)
    client = login(annotator2)
    for name, (method, url) in _urls(dialog, turn).items():
        assert getattr(client, method)(url).status_code == 404, name
    assert Dialog.objects.get(pk=dialog.pk).status == Dialog.Status.OPEN


@pytest.mark.parametrize("role", ["qa_lead", "admin"])
def test_qa_and_admin_read_any_dialog_but_cannot_act(login, dialog, users, role):
    turn = _settled_turn(dialog)
    client = login(users[role])
    response = client.get(reverse("dialogs:dialog_detail", args=[dialog.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Read-only" in body and "model-a" in body  # reviewers may see which model sat where
    assert 'id="decide-form"' not in body and 'id="turn-form"' not in body and "data-current-turn" not in body
    for name in ("stream", "turn_create", "decide", "retry", "finish", "abandon"):
        method, url = _urls(dialog, turn)[name]
        assert getattr(client, method)(url).status_code == 404, name


def test_wrong_methods(login, dialog, annotator):
    turn = _settled_turn(dialog)
    client = login(annotator)
    for name, (method, url) in _urls(dialog, turn).items():
        other = client.post if method == "get" else client.get
        assert other(url).status_code == 405, name
    assert client.get(reverse("dialogs:dialog_start")).status_code == 405
    assert client.post(reverse("dialogs:dialog_list")).status_code == 405


def test_list_start_and_resume(login, seeded, annotator):
    client = login(annotator)
    response = client.get(reverse("dialogs:dialog_list"))
    assert response.status_code == 200 and "at least three models" in response.content.decode()
    response = client.post(reverse("dialogs:dialog_start"), follow=True)
    assert "at least three" in response.content.decode() and not Dialog.objects.exists()
    make_dialog_pool(base_url="http://127.0.0.1:9/v1")
    assert 'id="start-dialog"' in client.get(reverse("dialogs:dialog_list")).content.decode()
    response = client.post(reverse("dialogs:dialog_start"))
    dialog = Dialog.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("dialogs:dialog_detail", args=[dialog.pk])
    client.post(reverse("dialogs:dialog_start"))  # double click
    assert Dialog.objects.count() == 1
    listing = client.get(reverse("dialogs:dialog_list")).content.decode()
    assert 'id="resume-dialog"' in listing and reverse("dialogs:dialog_detail", args=[dialog.pk]) in listing


def test_annotator_never_sees_model_names(login, dialog, annotator):
    _settled_turn(dialog)
    body = login(annotator).get(reverse("dialogs:dialog_detail", args=[dialog.pk])).content.decode()
    for name in ("model-a", "model-b", "model-c", "127.0.0.1:9"):
        assert name not in body
    assert "Answer A" in body and "Answer B" in body and "Answer C" in body


def test_turn_form_errors_keep_what_was_typed(login, dialog, annotator):
    client = login(annotator)
    url = reverse("dialogs:dialog_turn_create", args=[dialog.pk])
    response = client.post(url, {"user_text": "Ile nóg ma pająk?", "typology": ""})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Choose the type" in body and "Ile nóg ma pająk?</textarea>" in body
    response = client.post(url, {"user_text": "Ile nóg ma pająk?", "typology": "reasoning"})
    assert response.status_code == 302 and response["Location"].endswith("#turn-1")
    turn = DialogTurn.objects.get(dialog=dialog)
    assert turn.typology.key == "reasoning" and turn.candidates.count() == 3
    body = client.get(reverse("dialogs:dialog_detail", args=[dialog.pk])).content.decode()
    assert "data-current-turn" in body and reverse("dialogs:dialog_turn_stream", args=[dialog.pk, 1]) in body
    assert 'id="decide-submit" disabled' in body  # answers still to come
    assert 'id="finish-button" disabled' in body


def test_decide_errors_keep_custom_text_then_save(login, dialog, annotator):
    turn = _settled_turn(dialog)
    client = login(annotator)
    url = reverse("dialogs:dialog_turn_decide", args=[dialog.pk, turn.index])
    response = client.post(url, {"submission_id": str(uuid.uuid4()), "choice": "", "custom_text": "Mój tekst"})
    assert response.status_code == 400
    assert "Mój tekst</textarea>" in response.content.decode()
    sid = str(uuid.uuid4())
    data = {"submission_id": sid, "choice": "custom", "custom_text": "Mój tekst", "custom_from": "C",
            "time_ms": "4200"}
    assert client.post(url, data).status_code == 302
    assert client.post(url, data).status_code == 302  # double submit saves once
    turn.refresh_from_db()
    assert turn.custom_text == "Mój tekst" and turn.custom_from.seat.label == "C" and turn.time_ms == 4200
    body = client.get(reverse("dialogs:dialog_detail", args=[dialog.pk])).content.decode()
    assert "edited from answer C" in body and 'id="turn-form"' in body


def test_finish_enabled_from_turn_four(login, seeded, annotator):
    dialog = make_dialog(annotator, turns=4, finish=False)
    client = login(annotator)
    body = client.get(reverse("dialogs:dialog_detail", args=[dialog.pk])).content.decode()
    assert 'id="finish-button">' in body  # enabled
    response = client.post(reverse("dialogs:dialog_finish", args=[dialog.pk]))
    assert response.status_code == 302
    dialog.refresh_from_db()
    assert dialog.status == Dialog.Status.FINISHED
    body = client.get(reverse("dialogs:dialog_detail", args=[dialog.pk])).content.decode()
    assert 'id="turn-form"' not in body and 'id="finish-button"' not in body


def test_finish_too_early_is_a_clear_error(login, dialog, annotator):
    client = login(annotator)
    response = client.post(reverse("dialogs:dialog_finish", args=[dialog.pk]))
    assert response.status_code == 400 and "at least 4 turns" in response.content.decode()


def test_candidate_fragment_is_sanitised_markdown_for_htmx(login, dialog, annotator):
    turn = _settled_turn(dialog, texts={"A": "**gruba** | a |\n|---|\n| 1 |\n\n" + HOSTILE})
    client = login(annotator)
    url = reverse("dialogs:dialog_candidate", args=[dialog.pk, turn.index, "A"])
    assert client.get(url).status_code == 302  # not for full-page use
    response = client.get(url, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert 'data-seat="A"' in body and "<strong>gruba</strong>" in body
    _assert_inert(body)


_OWN_HANDLERS = {("select", "onchange", "this.form.submit()")}  # base.html's language switcher


class _ActiveContent(HTMLParser):
    """Collects what a browser would execute: script elements, on* attributes, javascript: URLs."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag == "script" and not dict(attrs).get("src", "").startswith("/static/"):
            self.found.append(("script", attrs))
        for name, value in attrs:
            if name.startswith("on") and (tag, name, value) not in _OWN_HANDLERS:
                self.found.append((tag, name, value))
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                ("javascript:", "data:", "vbscript:")
            ):
                self.found.append((tag, name, value))


def _assert_inert(body):
    parser = _ActiveContent()
    parser.feed(body)
    assert parser.found == []


def test_hostile_text_is_inert_on_the_page(login, dialog, annotator):
    turn = _settled_turn(dialog, text=HOSTILE, texts={"A": HOSTILE, "B": HOSTILE})
    svc.dialog_turn_decide(turn=turn, submission_id=uuid.uuid4(), choice="custom", custom_text=HOSTILE,
                           custom_from="A")
    turn2 = _settled_turn(dialog, text="drugie " + HOSTILE, texts={"C": HOSTILE})
    DialogCandidate.objects.filter(turn=turn2, seat__label="A").update(status="failed", text=HOSTILE)
    body = login(annotator).get(reverse("dialogs:dialog_detail", args=[dialog.pk])).content.decode()
    _assert_inert(body)
    assert "&lt;script&gt;" in body  # shown, escaped


def test_retry_via_htmx_returns_pending_column(login, dialog, annotator):
    turn = _settled_turn(dialog)
    DialogCandidate.objects.filter(turn=turn, seat__label="B").update(status="failed", error="transient: x")
    client = login(annotator)
    url = reverse("dialogs:dialog_candidate_retry", args=[dialog.pk, turn.index, "B"])
    body = client.get(reverse("dialogs:dialog_detail", args=[dialog.pk])).content.decode()
    assert url in body and "Retry it" in body
    response = client.post(url, headers={"HX-Request": "true"})
    assert response.status_code == 200 and 'data-status="pending"' in response.content.decode()
    response = client.post(reverse("dialogs:dialog_candidate_retry", args=[dialog.pk, turn.index, "A"]),
                           headers={"HX-Request": "true"})
    assert response.status_code == 400 and "nothing to retry" in response.content.decode()


def _sse_events(response):
    text = b"".join(response.streaming_content).decode()
    events = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_stream_of_a_decided_turn_just_ends(login, dialog, annotator):
    turn = _settled_turn(dialog)
    svc.dialog_turn_decide(turn=turn, submission_id=uuid.uuid4(), choice="A")
    response = login(annotator).get(reverse("dialogs:dialog_turn_stream", args=[dialog.pk, turn.index]))
    assert response["Content-Type"].startswith("text/event-stream")
    assert _sse_events(response) == [("end", {})]


@pytest.mark.vllm
def test_stream_view_sends_server_sent_events(login, seeded, annotator, vllm_server):
    make_dialog_pool(base_url=vllm_server.base_url, model=vllm_server.model, max_tokens=12)
    dialog = svc.dialog_start(annotator=annotator)
    client = login(annotator)
    client.post(reverse("dialogs:dialog_turn_create", args=[dialog.pk]), {"user_text": "Cześć!", "typology": "chit_chat"})
    response = client.get(reverse("dialogs:dialog_turn_stream", args=[dialog.pk, 1]))
    assert response.streaming
    assert response["Cache-Control"] == "no-cache" and response["X-Accel-Buffering"] == "no"
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    events = _sse_events(response)
    names = [name for name, _ in events]
    assert names[-1] == "end" and names.count("start") == 3 and names.count("done") == 3
    assert "delta" in names and "model-" not in json.dumps(events)
    for name, data in events:
        if name == "delta":
            assert set(data) <= {"seat", "delta", "t"} and data["seat"] in "ABC"
    assert set(DialogCandidate.objects.filter(turn__dialog=dialog).values_list("status", flat=True)) == {"done"}
