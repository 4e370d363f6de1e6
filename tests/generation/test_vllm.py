"""Generation against the real tiny vLLM server (no mocks): client, pre-prompts as received, runner in-process."""

import json
import uuid

import pytest
from django.conf import settings

from generation import client
from generation.models import Campaign, Endpoint, Generation, PrePrompt
from generation.services.campaigns import campaign_create, campaign_start
from generation.services.endpoints import endpoint_check_health
from generation.services.runner import campaign_run_endpoint
from tests.factories import make_prompt

pytestmark = pytest.mark.vllm


def _reference_preprompts() -> dict[str, str]:
    data = json.loads(settings.REFERENCE_FILE.read_text(encoding="utf-8"))
    return {row["key"]: row["text_pl"] for row in data["preprompts"]}


def _endpoint(server, name="tiny", **kwargs) -> Endpoint:
    defaults = {"base_url": server.base_url, "model": server.model, "max_concurrency": 4, "timeout_seconds": 60,
                "is_active": True}
    defaults.update(kwargs)
    return Endpoint.objects.create(name=name, **defaults)


def _bodies_with(server, marker: str) -> list[dict]:
    """Request bodies the server logged whose last user message contains `marker`."""
    return [r.body for r in server.received_requests()
            if r.body.get("messages") and marker in r.body["messages"][-1]["content"]]


def test_chat_and_stream_against_real_server(vllm_live):
    endpoint = Endpoint(name="x", base_url=vllm_live.base_url, model=vllm_live.model, max_tokens=1024)
    messages = client.build_messages(user_text="Jaka jest stolica Polski?", preprompt_text="Odpowiadaj krótko.",
                                     supports_system=True)
    result = client.chat(endpoint, messages, params={"max_tokens": 8})
    assert result.completion_tokens and result.completion_tokens <= 8
    assert result.prompt_tokens > 5 and result.latency_ms > 0
    assert result.finish_reason in ("length", "stop")

    events = list(client.stream_chat(endpoint, messages, params={"max_tokens": 8}))
    assert events[-1].done and events[-1].completion_tokens == len(events) - 1 or events[-1].completion_tokens
    assert all(not e.done for e in events[:-1])
    assert events[-1].prompt_tokens == result.prompt_tokens


def test_client_error_kinds(vllm_live):
    wrong_model = Endpoint(name="x", base_url=vllm_live.base_url, model="no-such-model")
    with pytest.raises(client.PermanentError) as exc:
        client.chat(wrong_model, [{"role": "user", "content": "x"}], params={"max_tokens": 2})
    assert exc.value.status_code == 404
    unreachable = Endpoint(name="y", base_url="http://127.0.0.1:9/v1", model="tiny")
    with pytest.raises(client.TransientError):
        client.chat(unreachable, [{"role": "user", "content": "x"}], timeout=2)
    with pytest.raises(client.TransientError):
        list(client.stream_chat(unreachable, [{"role": "user", "content": "x"}], timeout=2))


def test_health_check_records_result(db, vllm_live):
    endpoint = _endpoint(vllm_live)
    assert endpoint_check_health(endpoint=endpoint).ok
    endpoint.refresh_from_db()
    assert endpoint.last_health["ok"] is True
    endpoint.model = "other"
    endpoint.save()
    assert not endpoint_check_health(endpoint=endpoint).ok
    assert "not served" in Endpoint.objects.get(pk=endpoint.pk).last_health["detail"]


def test_nine_preprompts_reach_the_server_byte_identical(seeded, vllm_live):
    """Through a real campaign run: system messages (and, for a no-system endpoint, the prepended user
    message) as logged by vLLM equal the reference file's texts byte for byte."""
    reference = _reference_preprompts()
    assert len(reference) == 9
    marker = f"Kim jesteś? [{uuid.uuid4().hex[:8]}]"
    prompt = make_prompt(text=marker)
    with_system = _endpoint(vllm_live, "tiny-system")
    without_system = _endpoint(vllm_live, "tiny-prepend", supports_system_role=False)
    campaign = campaign_create(
        name="pre-prompts", prompt_filter={"ids": [prompt.pk]}, endpoints=[with_system, without_system],
        preprompts=list(PrePrompt.objects.all()), params={"max_tokens": 2},
    )
    assert campaign_start(campaign=campaign) == 2 * 10
    for endpoint in (with_system, without_system):
        report = campaign_run_endpoint(campaign_id=campaign.pk, endpoint_id=endpoint.pk)
        assert report.done == 10, report
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DONE

    bodies = _bodies_with(vllm_live, marker)
    assert len(bodies) == 20
    systems = [b["messages"][0]["content"] for b in bodies if b["messages"][0]["role"] == "system"]
    assert sorted(systems) == sorted(reference.values())  # nine, each once, "none" adds no system message
    # Without a system message: the endpoint without a system role (nine prepended + "none"), and "none"
    # on the endpoint with one.
    prepended = [b["messages"][0]["content"] for b in bodies if b["messages"][0]["role"] == "user"]
    assert sorted(prepended) == sorted([text + "\n\n" + marker for text in reference.values()] + [marker] * 2)
    # …and the rendered prompt handed to the engine contains each text verbatim.
    rendered = [p.prompt for p in vllm_live.received_prompts() if marker in p.prompt]
    for text in reference.values():
        assert sum(text in r for r in rendered) == 2
    # Each generation records the exact text it used.
    for generation in Generation.objects.filter(campaign=campaign).select_related("preprompt_version__preprompt"):
        key = generation.preprompt_version.preprompt.key
        assert generation.preprompt_version.text == reference.get(key, "")
        assert generation.params["placement"] == ("system" if generation.endpoint == with_system else "prepend")


def test_runner_stores_each_generation_once_with_tokens_and_postprocessing(seeded, vllm_live):
    prompts = [make_prompt() for _ in range(3)]
    endpoint = _endpoint(vllm_live, max_concurrency=3)
    campaign = campaign_create(
        name="c", prompt_filter={"ids": [p.pk for p in prompts]}, endpoints=[endpoint],
        preprompts=list(PrePrompt.objects.filter(key__in=["none", "safety"])), samples=2,
        params={"max_tokens": 12},
    )
    assert campaign_start(campaign=campaign) == 12
    assert campaign_start(campaign=campaign) == 12  # idempotent
    report = campaign_run_endpoint(campaign_id=campaign.pk, endpoint_id=endpoint.pk)
    assert report.done == 12 and report.failed == 0
    rows = Generation.objects.filter(campaign=campaign)
    assert rows.count() == 12
    for g in rows:
        assert g.status == Generation.Status.DONE and g.attempts == 1
        assert g.completion_tokens and g.prompt_tokens and g.latency_ms is not None
        assert g.params["max_tokens"] == 12 and g.params["temperature"] == 0.3 and g.params["top_p"] == 0.95
        assert g.raw_text and g.finish_reason
    # A second runner finds nothing to do and sends nothing.
    assert campaign_run_endpoint(campaign_id=campaign.pk, endpoint_id=endpoint.pk).claimed == 0


def test_run_campaign_command_without_celery(seeded, vllm_live):
    from io import StringIO

    from django.core.management import call_command

    prompt = make_prompt()
    endpoint = _endpoint(vllm_live)
    campaign = campaign_create(name="inline", prompt_filter={"ids": [prompt.pk]}, endpoints=[endpoint],
                               preprompts=list(PrePrompt.objects.filter(key__in=["none", "biasedness"])),
                               params={"max_tokens": 4})
    out = StringIO()
    call_command("run_campaign", str(campaign.pk), stdout=out)
    assert "2 done, 0 failed, 0 left" in out.getvalue()
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DONE
