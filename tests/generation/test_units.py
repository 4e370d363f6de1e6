"""Generation without a model server: messages, post-processing, assembly, response import, commands."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Task, TaskKind, TaskResponse
from annotation.services.assembly import RoutingRule, tasks_assemble
from generation import client
from generation.models import Campaign, Endpoint, Generation, PrePrompt
from generation.postprocess import postprocess, strip_runaway_loop
from generation.services.campaigns import (
    CampaignError,
    campaign_cancel,
    campaign_create,
    campaign_pause,
    campaign_resume,
    campaign_start,
)
from generation.services.imports import responses_import
from generation.services.preprompts import preprompt_edit
from prompts.models import Prompt
from tests.factories import make_endpoint, make_generation, make_prompt

# --- messages ---------------------------------------------------------------------------------------


def test_build_messages_system_prepend_and_none():
    assert client.build_messages(user_text="Q", preprompt_text="P", supports_system=True) == [
        {"role": "system", "content": "P"}, {"role": "user", "content": "Q"}]
    assert client.build_messages(user_text="Q", preprompt_text="P", supports_system=False) == [
        {"role": "user", "content": "P\n\nQ"}]
    assert client.build_messages(user_text="Q", preprompt_text="P", supports_system=True, placement="prepend") == [
        {"role": "user", "content": "P\n\nQ"}]
    assert client.build_messages(user_text="Q", preprompt_text="P", supports_system=False, placement="system") == [
        {"role": "system", "content": "P"}, {"role": "user", "content": "Q"}]
    assert client.build_messages(user_text="Q", preprompt_text="", supports_system=True) == [
        {"role": "user", "content": "Q"}]


def test_build_messages_history_prepends_to_first_user_turn_only():
    history = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    messages = client.build_messages(user_text="c", preprompt_text="P", supports_system=False, history=history)
    assert [m["content"] for m in messages] == ["P\n\na", "b", "c"]
    assert history[0]["content"] == "a"  # the caller's list is not modified
    with pytest.raises(ValueError):
        client.build_messages(user_text="c", preprompt_text="", supports_system=True,
                              history=[{"role": "system", "content": "x"}])


def test_sampling_params_defaults_and_overrides():
    endpoint = Endpoint(name="e", model="m", top_k=40, max_tokens=2048)
    assert client.sampling_params(endpoint) == {"temperature": 0.3, "top_p": 0.95, "max_tokens": 2048, "top_k": 40}
    assert client.sampling_params(Endpoint(name="e", model="m"), {"max_tokens": 16}) == {
        "temperature": 0.3, "top_p": 0.95, "max_tokens": 16}


# --- post-processing -------------------------------------------------------------------------------


def test_postprocess_strips_runaway_loop_and_repeated_paragraphs():
    looped = "Stolica Polski to Warszawa. " + "I tak dalej, i tak dalej. " * 30 + "I tak d"
    assert postprocess(looped) == "Stolica Polski to Warszawa. I tak dalej, i tak dalej."
    assert postprocess("Akapit pierwszy jest tu.\n\nAkapit pierwszy jest tu.\n\nKoniec.<|im_end|>") == (
        "Akapit pierwszy jest tu.\n\nKoniec.")
    assert postprocess("a\x00b") == "ab"


def test_postprocess_keeps_ordinary_text():
    text = "1. Tak\n2. Tak\n\n| a | b |\n|---|---|\n| 1 | 1 |\n\nHa ha ha! Świetnie!!!"
    assert postprocess(text) == text
    assert strip_runaway_loop("abc") == "abc"


# --- campaigns (no worker: on_commit does not fire inside the test transaction) -----------------------


def test_campaign_start_is_idempotent_and_unique(seeded):
    prompts = [make_prompt() for _ in range(3)]
    endpoint = make_endpoint("m1", base_url="http://127.0.0.1:9/v1", is_active=True)
    pre = list(PrePrompt.objects.filter(key__in=["none", "safety"]))
    campaign = campaign_create(name="c", prompt_filter={"ids": [p.pk for p in prompts]}, endpoints=[endpoint],
                               preprompts=pre, samples=2)
    assert campaign_start(campaign=campaign) == 12
    assert campaign_start(campaign=campaign) == 12
    other = campaign_create(name="c2", prompt_filter={"ids": [p.pk for p in prompts]}, endpoints=[endpoint],
                            preprompts=pre, samples=2)
    assert campaign_start(campaign=other) == 0  # every combination exists already: nothing is generated twice
    assert Generation.objects.count() == 12
    campaign_pause(campaign=campaign)
    with pytest.raises(CampaignError):
        campaign_pause(campaign=campaign)
    campaign_resume(campaign=campaign)
    campaign_cancel(campaign=campaign)
    assert set(Generation.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"cancelled"}


def test_campaign_create_rejects_bad_input(seeded):
    endpoint = make_endpoint("m1", base_url="http://127.0.0.1:9/v1")
    pre = list(PrePrompt.objects.filter(key="none"))
    with pytest.raises(CampaignError, match="no prompts"):
        campaign_create(name="c", prompt_filter={"ids": [999999]}, endpoints=[endpoint], preprompts=pre)
    with pytest.raises(CampaignError, match="unknown filter"):
        campaign_create(name="c", prompt_filter={"colour": "red"}, endpoints=[endpoint], preprompts=pre)
    with pytest.raises(CampaignError, match="base URL"):
        campaign_create(name="c", prompt_filter={}, endpoints=[make_endpoint("imported")], preprompts=pre)
    make_prompt()
    with pytest.raises(CampaignError, match="max_tokens"):
        campaign_create(name="c", prompt_filter={}, endpoints=[endpoint], preprompts=pre,
                        params={"max_tokens": 99999})
    assert not Campaign.objects.exists()


def test_preprompt_edit_creates_new_version_and_old_generations_keep_theirs(seeded):
    safety = PrePrompt.objects.get(key="safety")
    old = safety.current_version()
    generation = make_generation(make_prompt(), make_endpoint(), text="x", preprompt_key="safety")
    new = preprompt_edit(preprompt=safety, text="Nowa treść.")
    assert new.version == old.version + 1 and safety.current_version() == new
    assert preprompt_edit(preprompt=safety, text="Nowa treść.") == new  # unchanged text: no new version
    generation.refresh_from_db()
    assert generation.preprompt_version == old


# --- task assembly ----------------------------------------------------------------------------------


def _pool(prompt, endpoints, texts):
    keys = ["none", "safety", "misinformation", "verbosity", "incoherence", "irrelevance"]
    made = []
    for i, text in enumerate(texts):
        made.append(make_generation(prompt, endpoints[i % len(endpoints)], text=text, preprompt_key=keys[i]))
    return made


DISTINCT = [
    "Warszawa jest stolicą Polski od końca XVI wieku.",
    "Kraków był stolicą, zanim dwór przeniósł się na północ.",
    "Nie wiem, zapytaj kogoś innego o to pytanie.",
    "Stolica? To zależy, co rozumiesz przez to słowo, drogi użytkowniku.",
    "Odpowiedź brzmi: Gdańsk, bez dwóch zdań, każdy to wie.",
    "Polska ma wiele pięknych miast, na przykład Wrocław i Poznań.",
]


@pytest.mark.postgres
def test_assembly_refreshes_the_planners_statistics_once_committed(seeded, django_capture_on_commit_callbacks):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL)")
    prompt = make_prompt(text="Jaka jest stolica Polski?")
    _pool(prompt, [make_endpoint("m1"), make_endpoint("m2"), make_endpoint("m3")], DISTINCT)
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        tasks_assemble(prompts=[prompt], seed=42)
    analyzed = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("ANALYZE")]
    assert any(Task._meta.db_table in statement for statement in analyzed), analyzed
    assert any(TaskResponse._meta.db_table in statement for statement in analyzed), analyzed


def test_ranking_items_have_four_distinct_responses_reproducible_from_seed(seeded):
    prompt = make_prompt(text="Jaka jest stolica Polski?")
    endpoints = [make_endpoint("m1"), make_endpoint("m2"), make_endpoint("m3")]
    _pool(prompt, endpoints, DISTINCT)
    report = tasks_assemble(prompts=[prompt], seed=42)
    assert report.ranking_items == 1 and report.rating_pairs == 0
    task = Task.objects.get(prompt=prompt)
    assert task.kind == TaskKind.RANKING and task.seed == 42
    chosen = list(TaskResponse.objects.filter(task=task).order_by("position").values_list("generation_id", flat=True))
    assert len(set(chosen)) == 4
    texts = set(Generation.objects.filter(pk__in=chosen).values_list("text", flat=True))
    assert len(texts) == 4

    def redo(seed):
        TaskResponse.objects.filter(task__prompt=prompt).delete()
        Task.objects.filter(prompt=prompt).delete()
        tasks_assemble(prompts=[prompt], seed=seed)
        return list(TaskResponse.objects.filter(task__prompt=prompt).order_by("position")
                    .values_list("generation_id", flat=True))

    assert redo(42) == chosen
    assert any(redo(seed) != chosen for seed in range(1, 8))  # another seed, another draw


def test_near_identical_candidates_not_in_the_same_ranking_item(seeded):
    prompt = make_prompt(text="Jaka jest stolica Polski?")
    endpoints = [make_endpoint("m1"), make_endpoint("m2")]
    texts = DISTINCT[:3] + ["Warszawa jest stolicą Polski od końca XVI wieku!", "Warszawa jest stolicą polski od końca XVI wieku."]
    _pool(prompt, endpoints, texts)
    report = tasks_assemble(prompts=[prompt], seed=1, fallback=False)
    # Only three clearly different answers exist: no ranking item can be built.
    assert report.ranking_items == 0 and report.skipped
    _pool_more = make_generation(prompt, endpoints[0], text=DISTINCT[4], preprompt_key="harmfulness")
    assert tasks_assemble(prompts=[prompt], seed=1).ranking_items == 1
    chosen = Generation.objects.filter(task_uses__task__prompt=prompt)
    warszawa = [g for g in chosen if g.text.lower().startswith("warszawa")]
    assert len(warszawa) == 1 and _pool_more in chosen


def test_rating_pairs_come_from_two_distinct_models(seeded):
    long_prompt = make_prompt(text="Opisz szczegółowo historię Polski. " * 30)
    endpoints = [make_endpoint("m1"), make_endpoint("m2")]
    _pool(long_prompt, endpoints, DISTINCT)
    for seed in range(5):
        TaskResponse.objects.all().delete()
        Task.objects.all().delete()
        report = tasks_assemble(prompts=[long_prompt], seed=seed)
        assert report.rating_pairs == 1
        tasks = Task.objects.filter(prompt=long_prompt)
        assert {t.kind for t in tasks} == {TaskKind.RATING} and len({t.pair_id for t in tasks}) == 1
        assert tasks[0].pair.prompt_id == long_prompt.pk and tasks[0].pair.seed == seed
        models = {tr.generation.endpoint_id for tr in TaskResponse.objects.filter(task__in=tasks)}
        assert len(models) == 2


def test_routing_rule_is_configurable():
    assert RoutingRule(rating_min_chars=100).route("Krótkie pytanie?") == TaskKind.RANKING
    assert RoutingRule(rating_min_chars=10).route("Krótkie pytanie, ale dłuższe?") == TaskKind.RATING
    steps = "Zrób to. Potem tamto. Następnie coś. I jeszcze. Oraz to. Na koniec tamto."
    assert RoutingRule(rating_min_chars=1000, rating_min_parts=6).route(steps) == TaskKind.RATING


def test_rating_needs_two_models(seeded):
    prompt = make_prompt(text="Opisz szczegółowo historię Polski. " * 30)
    _pool(prompt, [make_endpoint("only")], DISTINCT[:3])
    report = tasks_assemble(prompts=[prompt], seed=3)
    assert report.rating_pairs == 0 and report.ranking_items == 0 and not Task.objects.exists()


# --- import of existing responses -------------------------------------------------------------------


def _jsonl(*rows):
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()


@pytest.mark.postgres
def test_import_responses_refreshes_the_planners_statistics_once_committed(seeded, django_capture_on_commit_callbacks):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL)")
    prompt = make_prompt(text="Ile nóg ma pająk?")
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        report = responses_import(data=_jsonl({"prompt_id": prompt.pk, "model": "bielik", "response": "Osiem."}))
    assert report.ok and report.created == 1
    analyzed = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("ANALYZE")]
    assert any(Generation._meta.db_table in statement for statement in analyzed), analyzed


def test_import_responses_all_or_nothing_with_line_numbers(seeded):
    prompt = make_prompt(text="Ile nóg ma pająk?")
    data = _jsonl(
        {"prompt_id": prompt.pk, "model": "bielik", "response": "Osiem."},
        {"prompt": "ile nog ma pajak", "model": "bielik", "response": "8", "preprompt": "safety"},
        {"prompt_id": 999999, "model": "bielik", "response": "x"},
        {"prompt": "Nowe pytanie?", "model": "mistral", "response": "y"},
        {"prompt_id": prompt.pk, "model": "bielik", "response": "", "preprompt": "nope"},
    ) + b"\nnot json"
    report = responses_import(data=data)
    assert [line for line, _ in report.errors] == [3, 4, 5, 6]
    assert "999999" in report.errors[0][1] and "category" in report.errors[1][1]
    assert not Generation.objects.exists() and not Endpoint.objects.filter(name="bielik").exists()


def test_import_responses_creates_generations_without_any_server(seeded):
    prompt = make_prompt(text="Ile nóg ma pająk?")
    data = _jsonl(
        {"prompt_id": prompt.pk, "model": "bielik", "response": "Osiem."},
        {"prompt_id": prompt.pk, "model": "bielik", "response": "Osiem nóg."},
        {"prompt": "ILE NÓG MA PAJĄK", "model": "mistral", "response": "8", "preprompt": "safety"},
        {"prompt": "Nowe pytanie?", "category": "qa_polish", "model": "mistral", "response": "<b>y</b>"},
    )
    report = responses_import(data=data)
    assert report.ok, report.errors
    assert (report.created, report.prompts_created, report.endpoints_created) == (4, 1, 2)
    bielik = Generation.objects.filter(endpoint__name="bielik").order_by("sample_index")
    assert [g.sample_index for g in bielik] == [0, 1] and all(g.imported for g in bielik)
    assert Generation.objects.get(endpoint__name="mistral", prompt=prompt).preprompt_version.preprompt.key == "safety"
    assert Prompt.objects.filter(text="Nowe pytanie?").exists()
    # Importing the same explicit sample again is refused with its line number.
    again = responses_import(data=_jsonl({"prompt_id": prompt.pk, "model": "bielik", "response": "z",
                                          "sample_index": 1}))
    assert again.errors and again.errors[0][0] == 1 and Generation.objects.count() == 4


def test_import_responses_command(seeded, tmp_path):
    prompt = make_prompt()
    good = tmp_path / "good.jsonl"
    good.write_bytes(_jsonl({"prompt_id": prompt.pk, "model": "m", "response": "r"}))
    out = StringIO()
    call_command("import_responses", str(good), stdout=out)
    assert "imported 1 responses" in out.getvalue()
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(_jsonl({"prompt_id": prompt.pk, "model": "m"}))
    err = StringIO()
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("import_responses", str(bad), stderr=err)
    assert "bad.jsonl:1:" in err.getvalue()


def test_register_local_endpoint_is_idempotent(db):
    call_command("register_local_endpoint", "--url", "http://127.0.0.1:8100/v1/", "--model", "tiny", stdout=StringIO())
    call_command("register_local_endpoint", "--url", "http://127.0.0.1:8101/v1", "--model", "tiny", stdout=StringIO())
    endpoint = Endpoint.objects.get()
    assert endpoint.name == "local-tiny" and endpoint.base_url == "http://127.0.0.1:8101/v1" and endpoint.is_active
    assert not endpoint.in_dialog_pool


def test_run_sh_registers_three_dialog_seats_on_one_local_server(db):
    """scripts/run.sh's registration: a dialog needs three pooled endpoints; with one local model they are three
    endpoints on the same server at different temperatures."""
    from dialogs.services import dialog_pool

    url = "http://127.0.0.1:8100/v1"
    for name, temp in (("local-model", "0.7"), ("local-model-b", "1.0"), ("local-model-c", "0.3")):
        call_command("register_local_endpoint", "--url", url, "--model", "tiny", "--name", name, "--max-tokens", "256",
                     "--dialog-pool", "--temperature", temp, stdout=StringIO())
    pool = sorted(dialog_pool(), key=lambda e: e.name)
    assert [(e.name, e.temperature, e.max_tokens) for e in pool] == [
        ("local-model", 0.7, 256), ("local-model-b", 1.0, 256), ("local-model-c", 0.3, 256)
    ]


def test_check_endpoints_reports_down_server(db):
    make_endpoint("down", base_url="http://127.0.0.1:9/v1", is_active=True)
    out = StringIO()
    with pytest.raises(CommandError, match="1 endpoint"):
        call_command("check_endpoints", stdout=out)
    assert "DOWN down" in out.getvalue()
    assert Endpoint.objects.get(name="down").last_health["ok"] is False


# --- runner claims and leases (no HTTP involved) -------------------------------------------------------


def _started_campaign(n_prompts=3, max_concurrency=2):
    from generation.services.campaigns import campaign_start as start

    prompts = [make_prompt() for _ in range(n_prompts)]
    endpoint = make_endpoint("m1", base_url="http://127.0.0.1:9/v1", is_active=True, max_concurrency=max_concurrency)
    campaign = campaign_create(name="c", prompt_filter={"ids": [p.pk for p in prompts]}, endpoints=[endpoint],
                               preprompts=list(PrePrompt.objects.filter(key="none")))
    start(campaign=campaign)
    return campaign, endpoint


def test_claims_respect_the_endpoint_concurrency_across_runners(seeded):
    from generation.services.runner import generations_claim

    campaign, endpoint = _started_campaign(n_prompts=5, max_concurrency=2)
    first = generations_claim(campaign_id=campaign.pk, endpoint=endpoint, owner="a" * 32, limit=10)
    assert len(first) == 2
    assert generations_claim(campaign_id=campaign.pk, endpoint=endpoint, owner="b" * 32, limit=10) == []
    assert first[0].messages == [{"role": "user", "content": Generation.objects.get(pk=first[0].generation_id)
                                  .prompt.text}]


def test_results_are_written_only_under_the_writers_lease(seeded):
    from django.utils import timezone

    from generation.services.runner import generation_record_error, generation_record_result, generations_claim

    campaign, endpoint = _started_campaign(n_prompts=1)
    (job,) = generations_claim(campaign_id=campaign.pk, endpoint=endpoint, owner="a" * 32, limit=1)
    # The lease expires (worker presumed dead) and another runner reclaims the row.
    Generation.objects.filter(pk=job.generation_id).update(lease_until=timezone.now() - timezone.timedelta(seconds=1))
    (again,) = generations_claim(campaign_id=campaign.pk, endpoint=endpoint, owner="b" * 32, limit=1)
    assert again.generation_id == job.generation_id and again.attempt == 2
    result = client.ChatResult(text="late", finish_reason="stop", prompt_tokens=3, completion_tokens=1, latency_ms=5)
    assert not generation_record_result(job=job, owner="a" * 32, result=result)  # the old runner writes nothing
    assert generation_record_error(job=job, owner="a" * 32, error=client.TransientError("x"),
                                   campaign_cancelled=False) == ""
    on_time = client.ChatResult(text="on time", finish_reason="stop", prompt_tokens=3, completion_tokens=1,
                                latency_ms=5)
    assert generation_record_result(job=again, owner="b" * 32, result=on_time)
    row = Generation.objects.get(pk=job.generation_id)
    assert row.status == Generation.Status.DONE and row.text == "on time" and row.lease_owner == ""


def test_transient_errors_back_off_then_fail_permanent_errors_fail_at_once(seeded, settings):
    from django.utils import timezone

    from generation.services.runner import generation_record_error, generations_claim

    settings.STUDIO_GENERATION_MAX_ATTEMPTS = 2
    campaign, endpoint = _started_campaign(n_prompts=2)
    jobs = generations_claim(campaign_id=campaign.pk, endpoint=endpoint, owner="a" * 32, limit=2)
    assert generation_record_error(job=jobs[0], owner="a" * 32, error=client.TransientError("HTTP 503"),
                                   campaign_cancelled=False) == Generation.Status.RETRYING
    assert generation_record_error(job=jobs[1], owner="a" * 32, error=client.PermanentError("HTTP 400"),
                                   campaign_cancelled=False) == Generation.Status.FAILED
    retrying = Generation.objects.get(pk=jobs[0].generation_id)
    assert retrying.next_attempt_at > timezone.now() and "HTTP 503" in retrying.error
    # Not due yet: nothing to claim; once due, claimed again, and the second transient error is final.
    assert generations_claim(campaign_id=campaign.pk, endpoint=endpoint, owner="b" * 32, limit=2) == []
    Generation.objects.filter(pk=retrying.pk).update(next_attempt_at=timezone.now())
    (job,) = generations_claim(campaign_id=campaign.pk, endpoint=endpoint, owner="b" * 32, limit=2)
    assert generation_record_error(job=job, owner="b" * 32, error=client.TransientError("timeout"),
                                   campaign_cancelled=False) == Generation.Status.FAILED


def test_imported_responses_become_tasks_without_any_server(seeded):
    """The no-server path: import responses, assemble tasks; every task points at imported generations."""
    short = make_prompt(text="Ile nóg ma pająk?")
    long = make_prompt(text="Opisz szczegółowo historię Polski. " * 30)
    rows = [{"prompt_id": short.pk, "model": f"m{i % 2}", "response": text} for i, text in enumerate(DISTINCT[:4])]
    rows += [{"prompt_id": long.pk, "model": f"m{i % 2}", "response": text} for i, text in enumerate(DISTINCT[2:])]
    assert responses_import(data=_jsonl(*rows)).ok
    out = StringIO()
    call_command("assemble_tasks", "--seed", "7", stdout=out)
    assert "1 ranking items, 1 rating pairs" in out.getvalue()
    assert Task.objects.get(prompt=short).kind == TaskKind.RANKING
    assert {t.kind for t in Task.objects.filter(prompt=long)} == {TaskKind.RATING}
    assert all(tr.generation.imported for tr in TaskResponse.objects.all())
    call_command("assemble_tasks", "--seed", "7", stdout=StringIO())  # nothing left: no second set
    assert Task.objects.count() == 3
