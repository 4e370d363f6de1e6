"""A real vLLM server (tiny random model on the CPU): chat, streaming, and proof of the exact prompt."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from devtools import localserver as ls
from devtools.modelbuild import CHATML_TEMPLATE

pytestmark = pytest.mark.vllm

SYSTEM = (
    "Jesteś pomocnym asystentem. Odpowiadaj po polsku: zażółć gęślą jaźń, ĄĆĘŁŃÓŚŹŻ.\n"
    "  Wcięcie, tabulator\t, cudzysłowy \"…\" i 'apostrof' — oraz emoji ✓."
)
USER = "Cześć! Jak się masz?"


def _stream_chat(server, messages, **extra):
    body = {
        "model": server.model,
        "messages": messages,
        "max_tokens": 24,
        "temperature": 0.8,
        "stream": True,
        "stream_options": {"include_usage": True},
        **extra,
    }
    chunks = []
    with httpx.stream("POST", server.base_url + "/chat/completions", json=body, timeout=60) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunks.append(json.loads(line[len("data: ") :]))
    return chunks


def _wait_for(fn, timeout=5.0):
    end = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > end:
            return value
        time.sleep(0.1)


def test_models_endpoint(vllm_live):
    models = httpx.get(vllm_live.base_url + "/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == [vllm_live.model]


def test_streaming_chat_with_polish_system_prompt_reaches_server_verbatim(vllm_live):
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    chunks = _stream_chat(vllm_live, messages, return_token_ids=True)

    # Real streaming: a role chunk, several content deltas, a finish reason, and usage at the end.
    deltas = [c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert sum(1 for d in deltas if d) >= 2
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finish[-1] in ("length", "stop")
    usage = chunks[-1]["usage"]
    assert 1 <= usage["completion_tokens"] <= 24
    response_id = chunks[0]["id"]

    # The exact prompt the model saw: the ChatML rendering of our messages, byte for byte.
    expected = f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{USER}<|im_end|>\n<|im_start|>assistant\n"

    # (1) API level: prompt_token_ids in the first chunk, turned back into text by the server.
    prompt_ids = chunks[0]["prompt_token_ids"]
    assert len(prompt_ids) == usage["prompt_tokens"]
    assert vllm_live.detokenize(prompt_ids) == expected

    # (2) Server log: the request body as received, and the rendered prompt handed to the engine.
    bodies = _wait_for(lambda: [r for r in vllm_live.received_requests() if r.body.get("messages") == messages])
    assert bodies, "request body not found in the vLLM log"
    assert bodies[-1].body["messages"][0]["content"].encode() == SYSTEM.encode()
    prompt = _wait_for(lambda: ls.prompt_for_response(vllm_live.log_path, response_id))
    assert prompt == expected
    logged = [p for p in vllm_live.received_prompts() if p.request_id == response_id]
    assert logged and logged[0].token_ids == prompt_ids


def test_non_streaming_n_and_token_ids(vllm_live):
    messages = [{"role": "system", "content": "Bądź zwięzły."}, {"role": "user", "content": "Ile to 2+2?"}]
    r = httpx.post(
        vllm_live.base_url + "/chat/completions",
        timeout=60,
        json={
            "model": vllm_live.model,
            "messages": messages,
            "max_tokens": 8,
            "n": 3,
            "seed": 1,
            "return_token_ids": True,
        },
    )
    r.raise_for_status()
    data = r.json()
    assert len(data["choices"]) == 3
    assert all(1 <= len(c["token_ids"]) <= 8 for c in data["choices"])
    assert "Bądź zwięzły." in vllm_live.detokenize(data["prompt_token_ids"])


def test_template_file_matches_builder(vllm_live):
    if vllm_live.model_dir is None:
        pytest.skip("external server")
    assert (vllm_live.model_dir / "chat_template.jinja").read_text() == CHATML_TEMPLATE
