"""Answers that echo their pre-prompt: flagged by post-processing (campaigns and imports), held out of task
assembly and exports, counted on the campaign page."""

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from annotation.models import TaskResponse
from annotation.services.assembly import tasks_assemble
from exports import adapters as A
from exports import services as export_services
from exports.models import Export
from generation import client as model_client
from generation.models import Generation, PrePrompt
from generation.postprocess import echoes_preprompt
from generation.selectors import campaign_progress, prompts_without_tasks
from generation.services.campaigns import campaign_create, campaign_start
from generation.services.imports import responses_import
from generation.services.runner import generation_record_result, generations_claim
from tests.factories import (
    make_endpoint,
    make_generation,
    make_prompt,
    make_qa_ranking,
    make_qa_ranking_task,
    make_qa_rating,
    make_qa_rating_pair,
)

ANSWER = "Ziemniak to warzywo, które rośnie w ziemi; w Polsce jada się go gotowanego z koperkiem."


def _reference() -> dict[str, str]:
    data = json.loads(settings.REFERENCE_FILE.read_text(encoding="utf-8"))
    return {row["key"]: row["text_pl"] for row in data["preprompts"]}


INCOHERENCE = _reference()["incoherence"]
ECHO = f"{ANSWER} {INCOHERENCE} I tak dalej."


def test_echo_detection():
    assert echoes_preprompt(ECHO, INCOHERENCE)
    # one sentence of it, re-cased and re-punctuated, one letter wrong
    assert echoes_preprompt(f"{ANSWER}\nTWOJE WYPOWIEDZI MAJĄ BYĆ TRUDNE DO ZROZUMIEIA!!", INCOHERENCE)
    # the instruction cut off by the token limit, with nothing else
    assert echoes_preprompt(INCOHERENCE[:70], INCOHERENCE)
    # not echoes: an ordinary answer, a short one sharing words, a paraphrase, no pre-prompt ("none")
    assert not echoes_preprompt(ANSWER, INCOHERENCE)
    assert not echoes_preprompt("Odpowiem chaotycznie.", INCOHERENCE)
    assert not echoes_preprompt(f"{ANSWER} Mam pisać bez ładu i składu, więc piszę nieskładnie.", INCOHERENCE)
    assert not echoes_preprompt(ECHO, "")
    assert not echoes_preprompt("", INCOHERENCE)


def test_every_reference_preprompt_is_caught_and_none_is_mistaken_for_another():
    reference = {k: v for k, v in _reference().items() if v}
    assert len(reference) == 8 + 1  # eight flaw-inducing and the safety pre-prompt
    for key, text in reference.items():
        assert echoes_preprompt(f"{ANSWER} {text}", text), key
        others = [other for other_key, other in reference.items() if other_key != key]
        assert not any(echoes_preprompt(f"{ANSWER} {text}", other) for other in others), key
        assert not echoes_preprompt(ANSWER, text), key


@pytest.mark.django_db
def test_campaign_answers_are_flagged_and_counted_on_the_campaign_page(seeded, client, admin_user):
    prompt = make_prompt()
    endpoint = make_endpoint("gen-model", base_url="http://127.0.0.1:9/v1", is_active=True)
    campaign = campaign_create(name="echo", prompt_filter={"ids": [prompt.pk]}, endpoints=[endpoint],
                               preprompts=list(PrePrompt.objects.filter(key__in=["none", "incoherence"])))
    assert campaign_start(campaign=campaign) == 2
    jobs = generations_claim(campaign_id=campaign.pk, endpoint=endpoint, owner="o" * 32, limit=8)
    assert sorted(job.preprompt_text for job in jobs) == ["", INCOHERENCE]  # the claim carries the text
    for job in jobs:  # both models echo the same text; only the one whose pre-prompt it is, is flagged
        result = model_client.ChatResult(text=ECHO + "<|im_end|>", finish_reason="stop", prompt_tokens=9,
                                   completion_tokens=90, latency_ms=5)
        assert generation_record_result(job=job, owner="o" * 32, result=result)
    flags = dict(Generation.objects.values_list("preprompt_version__preprompt__key", "echoes_preprompt"))
    assert flags == {"none": False, "incoherence": True}
    assert campaign_progress(campaign).echoes_preprompt == 1
    client.force_login(admin_user)
    page = client.get(reverse("generation:campaign_detail", args=[campaign.pk])).content.decode()
    assert '<div class="count" id="echo-count"' in page
    assert page.split('id="echo-count"')[1].split("</strong>")[0].endswith("<strong>1")


@pytest.mark.django_db
def test_imported_answers_go_through_the_same_postprocessing(seeded):
    prompt = make_prompt()
    lines = [
        {"prompt_id": prompt.pk, "model": "imp-a", "preprompt": "incoherence", "response": ECHO},
        {"prompt_id": prompt.pk, "model": "imp-b", "preprompt": "incoherence", "response": ANSWER},
        {"prompt_id": prompt.pk, "model": "imp-c", "response": ECHO},  # no pre-prompt: nothing to echo
    ]
    report = responses_import(data="\n".join(json.dumps(line, ensure_ascii=False) for line in lines).encode())
    assert report.ok and report.created == 3 and report.echoes_preprompt == 1
    assert dict(Generation.objects.values_list("endpoint__name", "echoes_preprompt")) == {
        "imp-a": True, "imp-b": False, "imp-c": False}


@pytest.mark.django_db
def test_echoing_answer_is_held_out_of_task_assembly(seeded):
    prompt = make_prompt(text="Jakie warzywa rosną w Polsce?")
    texts = ["Ziemniaki, buraki i marchew.", "Najczęściej kapusta, ogórki oraz pomidory w szklarniach.",
             "W ogrodach rosną też fasola, groch i cebula."]
    clean = [make_generation(prompt, make_endpoint(f"asm-{i}"), text=text, preprompt_key="incoherence")
             for i, text in enumerate(texts)]
    echo = make_generation(prompt, make_endpoint("asm-echo"), text=ECHO, preprompt_key="incoherence")
    Generation.objects.filter(pk=echo.pk).update(echoes_preprompt=True)
    # Four responses would make a ranking item; without the echo only three are usable: a rating pair.
    report = tasks_assemble(prompts=[prompt], seed=1)
    assert (report.ranking_items, report.rating_pairs) == (0, 1)
    used = set(TaskResponse.objects.values_list("generation_id", flat=True))
    assert echo.pk not in used and used <= {g.pk for g in clean}
    other = make_prompt(text="Co to jest burak?")
    make_generation(other, make_endpoint("asm-0"), text=ANSWER, preprompt_key="incoherence")
    only_echo = make_generation(other, make_endpoint("asm-echo"), text=ECHO, preprompt_key="incoherence")
    Generation.objects.filter(pk=only_echo.pk).update(echoes_preprompt=True)
    assert other not in prompts_without_tasks()  # one usable answer is not enough to build a task from


@pytest.fixture
def export_root(settings, tmp_path: Path) -> Path:
    settings.EXPORT_ROOT = tmp_path / "exports"
    return settings.EXPORT_ROOT


@pytest.mark.django_db
def test_echoing_answer_is_held_out_of_exports(export_root, seeded, annotator, annotator2, admin_user):
    # Tasks assembled before the answer was flagged (or built by hand): the export still holds it back.
    task, ids = make_qa_ranking_task(texts=[f"Odpowiedź rankingowa {i}, całkiem rozsądna." for i in range(3)]
                                     + [ECHO])
    echo_id = ids[3]
    Generation.objects.filter(task_uses__pk=echo_id).update(echoes_preprompt=True)
    make_qa_ranking(task, annotator, [echo_id, ids[0], ids[1], ids[2]])  # the echo ranked best
    first, second = make_qa_rating_pair(texts=("Ocena: porządna odpowiedź o Warszawie.", ECHO))
    Generation.objects.filter(task_uses__task=second).update(echoes_preprompt=True)
    for rating_task, score in ((first, 5), (second, 2)):
        make_qa_rating(rating_task, annotator, score)
        make_qa_rating(rating_task, annotator2, score)

    stats = A.AdapterStats()
    items = list(A.iter_ranking_items(A.ExportFilters(review_status="all"), stats=stats))
    assert [c.response_id for c in items[0].candidates] == [str(i) for i in ids[:3]]
    assert items[0].judgements[0].order == tuple(str(i) for i in ids[:3])  # the others keep their order
    rating = list(A.iter_rating_items(A.ExportFilters(review_status="all"), stats=stats))
    assert [len(item.responses) for item in rating] == [1]
    assert dict(stats.held_back) == {"ranking_response_echoes_preprompt": 1, "rating_response_echoes_preprompt": 1}

    export = export_services.export_create(user=admin_user, name="echo", params={"review_status": "all"},
                                           enqueue=False)
    export = export_services.export_build(export_id=export.pk)
    assert export.status == Export.Status.DONE, export.error
    directory = Path(export.directory)
    for path in directory.iterdir():
        assert "nie umie ułożyć swoich myśli" not in path.read_text(encoding="utf-8", errors="replace"), path.name
    assert export.counters["held_back"] == {"ranking_response_echoes_preprompt": 1,
                                            "rating_response_echoes_preprompt": 1}
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    assert "ranking_response_echoes_preprompt" in json.dumps(manifest)
    pairs = [json.loads(line) for name in ("preference.train.jsonl", "preference.eval.jsonl")
             for line in (directory / name).read_text(encoding="utf-8").splitlines()]
    ranking_pairs = [p for p in pairs if p["source_task"] == "ranking"]
    assert ranking_pairs and {p["chosen_id"] for p in ranking_pairs} == {str(ids[0])}  # the best clean answer
