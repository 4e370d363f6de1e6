"""Dialog API: the same checks as the pages (roles, own dialogs, typology, 4..10 turns, idempotent decisions)."""

import uuid

import pytest
from django.urls import reverse

from devtools.localserver import free_port
from dialogs import services as svc
from dialogs.models import Dialog, DialogTurn
from tests.factories import make_dialog, make_dialog_pool

pytestmark = pytest.mark.django_db


def _decide(client, dialog_id, index, **data):
    data.setdefault("submission_id", str(uuid.uuid4()))
    return client.post(reverse("dialogs_api:dialog-decide", args=[dialog_id, index]), data, content_type="application/json")


def test_anonymous_and_other_annotators_are_refused(client, login, seeded, annotator, annotator2):
    dialog = make_dialog(annotator, turns=4, finish=False)
    urls = [
        ("get", reverse("dialogs_api:dialogs")),
        ("get", reverse("dialogs_api:dialog", args=[dialog.pk])),
        ("post", reverse("dialogs_api:dialog-turns", args=[dialog.pk])),
        ("post", reverse("dialogs_api:dialog-decide", args=[dialog.pk, 1])),
        ("post", reverse("dialogs_api:dialog-retry", args=[dialog.pk, 1])),
        ("post", reverse("dialogs_api:dialog-finish", args=[dialog.pk])),
    ]
    for method, url in urls:
        assert getattr(client, method)(url).status_code in (401, 403), url
    other = login(annotator2)
    for method, url in urls[1:]:
        assert getattr(other, method)(url, {}, content_type="application/json").status_code == 404, url
    assert other.get(reverse("dialogs_api:dialogs")).json() == []


def test_qa_lead_reads_any_dialog_with_seats_but_cannot_act(login, seeded, annotator, qa_lead):
    dialog = make_dialog(annotator, turns=4, custom_on=(2,), finish=False)
    client = login(qa_lead)
    data = client.get(reverse("dialogs_api:dialog", args=[dialog.pk])).json()
    assert set(data["seats"].values()) == {"model-a", "model-b", "model-c"}
    assert len(data["turns"]) == 4 and data["turns"][1]["custom_text"] == "Poprawiona odpowiedź 2."
    assert data["turns"][1]["custom_from_seat"] == "B"
    assert client.post(reverse("dialogs_api:dialog-finish", args=[dialog.pk])).status_code == 404
    owner = login(annotator).get(reverse("dialogs_api:dialog", args=[dialog.pk])).json()
    assert "seats" not in owner and "model-a" not in str(owner)


def test_start_needs_pool_and_returns_the_open_dialog(login, seeded, annotator):
    client = login(annotator)
    response = client.post(reverse("dialogs_api:dialogs"))
    assert response.status_code == 400 and "at least three" in response.json()["detail"]
    make_dialog_pool(base_url="http://127.0.0.1:9/v1")
    first = client.post(reverse("dialogs_api:dialogs"))
    assert first.status_code == 201 and first.json()["can_add_turn"] and not first.json()["can_finish"]
    again = client.post(reverse("dialogs_api:dialogs"))
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert [d["id"] for d in client.get(reverse("dialogs_api:dialogs")).json()] == [first.json()["id"]]


def test_decide_and_finish_checks(login, seeded, annotator):
    dialog = make_dialog(annotator, turns=3, finish=False)
    client = login(annotator)
    response = client.post(reverse("dialogs_api:dialog-finish", args=[dialog.pk]))
    assert response.status_code == 400 and "at least 4" in response.json()["detail"]
    turn = svc.dialog_turn_start(dialog=dialog, user_text="Czwarte", typology="qa")
    turn.candidates.update(status="done", text="gotowe")
    assert _decide(client, dialog.pk, 4, choice="D").status_code == 400
    response = _decide(client, dialog.pk, 4, choice="custom", custom_text="")
    assert response.status_code == 400 and "own answer" in response.json()["detail"]
    sid = str(uuid.uuid4())
    ok = _decide(client, dialog.pk, 4, submission_id=sid, choice="custom", custom_text="Własna", custom_from="A")
    assert ok.status_code == 200 and ok.json()["turns"][3]["custom_text"] == "Własna"
    assert _decide(client, dialog.pk, 4, submission_id=sid, choice="B").status_code == 200  # replay
    assert DialogTurn.objects.get(pk=turn.pk).custom_text == "Własna"
    assert _decide(client, dialog.pk, 4, choice="B").status_code == 400  # already decided
    assert _decide(client, dialog.pk, 9, choice="B").status_code == 404
    done = client.post(reverse("dialogs_api:dialog-finish", args=[dialog.pk]))
    assert done.status_code == 200 and done.json()["status"] == "finished"


def test_turn_input_errors(login, seeded, annotator):
    make_dialog_pool(base_url="http://127.0.0.1:9/v1")
    client = login(annotator)
    dialog_id = client.post(reverse("dialogs_api:dialogs")).json()["id"]
    url = reverse("dialogs_api:dialog-turns", args=[dialog_id])
    assert "typology" in client.post(url, {"user_text": "Hej"}, content_type="application/json").json()
    response = client.post(url, {"user_text": "Hej", "typology": "nope"}, content_type="application/json")
    assert response.status_code == 400 and "Unknown message type" in response.json()["detail"]
    assert not DialogTurn.objects.exists()


@pytest.mark.vllm
def test_run_turns_retry_and_finish_against_the_real_server(login, seeded, annotator, vllm_server):
    endpoints = make_dialog_pool(base_url=vllm_server.base_url, model=vllm_server.model, max_tokens=12)
    client = login(annotator)
    dialog_id = client.post(reverse("dialogs_api:dialogs")).json()["id"]
    broken = Dialog.objects.get(pk=dialog_id).seats.get(label="C").endpoint
    broken.base_url = f"http://127.0.0.1:{free_port()}/v1"
    broken.save(update_fields=["base_url"])
    url = reverse("dialogs_api:dialog-turns", args=[dialog_id])
    response = client.post(url, {"user_text": "Cześć, jak leci?", "typology": "chit_chat"},
                           content_type="application/json")
    assert response.status_code == 201
    turn = response.json()["turns"][0]
    by_seat = {c["seat"]: c for c in turn["candidates"]}
    assert [c["seat"] for c in turn["candidates"]] == turn["column_order"]
    assert by_seat["A"]["status"] == by_seat["B"]["status"] == "done" and by_seat["A"]["text"]
    assert by_seat["C"]["status"] == "failed" and "127.0.0.1" not in by_seat["C"]["error"]
    response = client.post(url, {"user_text": "Drugie", "typology": "qa"}, content_type="application/json")
    assert response.status_code == 400 and "turn 1 first" in response.json()["detail"]

    broken.base_url = vllm_server.base_url
    broken.save(update_fields=["base_url"])
    retried = client.post(reverse("dialogs_api:dialog-retry", args=[dialog_id, 1]), {"seat": "C"},
                          content_type="application/json")
    assert retried.status_code == 200
    assert {c["status"] for c in retried.json()["turns"][0]["candidates"]} == {"done"}
    assert _decide(client, dialog_id, 1, choice="C").status_code == 200
    for index in range(2, 5):
        response = client.post(url, {"user_text": f"Pytanie {index}", "typology": "qa"},
                               content_type="application/json")
        assert response.status_code == 201
        assert _decide(client, dialog_id, index, choice="A").status_code == 200
    final = client.post(reverse("dialogs_api:dialog-finish", args=[dialog_id])).json()
    assert final["status"] == "finished" and len(final["turns"]) == 4
    assert len(endpoints) == 3
