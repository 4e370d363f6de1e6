"""OpenAI-compatible chat client (vLLM) over httpx: plain and streaming.

Used by generation campaigns and by live dialogs. Errors are sorted into two kinds so callers can decide
what to do without parsing messages:

* ``TransientError`` — connection refused/reset, timeouts, HTTP 429 and 5xx: retry later with backoff. Its
  subclass ``UnreachableError`` says no answer came at all (refused, reset, timed out): the server may be
  dead, so a campaign pauses the endpoint rather than spend the row's attempts (services/circuit.py).
* ``PermanentError`` — any other 4xx (bad model name, prompt too long…): retrying would not help.

The API key is read from ``os.environ[endpoint.api_key_env]`` at call time and never stored.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol

import httpx

from core.errors import StudioError

logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request is noise in workers

DEFAULT_TIMEOUT = 300.0
CONNECT_TIMEOUT = 10.0
PREPEND_SEPARATOR = "\n\n"


class EndpointLike(Protocol):
    """What the client needs from an endpoint (``generation.models.Endpoint`` fits)."""

    base_url: str
    model: str
    api_key_env: str
    temperature: float
    top_p: float
    top_k: int | None
    max_tokens: int
    timeout_seconds: int


class ClientError(StudioError):
    """Base class: something went wrong talking to a model server (`status_code`: the server's answer, if any)."""

    status = HTTPStatus.BAD_GATEWAY

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class TransientError(ClientError):
    """Worth retrying: network errors, timeouts, 429 and 5xx."""


class UnreachableError(TransientError):
    """No answer from the server (connect error, timeout, connection dropped): says nothing about the request."""


class PermanentError(ClientError):
    """Not worth retrying: a 4xx other than 429, or a malformed response."""


@dataclass(frozen=True)
class ChatResult:
    text: str
    finish_reason: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: int
    response_id: str = ""


@dataclass(frozen=True)
class StreamEvent:
    """A streamed delta (``text``), or the final event (``done=True``) with finish reason and usage."""

    text: str = ""
    done: bool = False
    finish_reason: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: int | None = None
    response_id: str = ""
    extra: dict = field(default_factory=dict)


# --- messages -------------------------------------------------------------------------------------


def build_messages(
    *,
    user_text: str,
    preprompt_text: str,
    supports_system: bool,
    placement: str = "auto",
    history: list[dict] | None = None,
) -> list[dict]:
    """The chat messages for one request.

    ``history`` holds earlier turns (``{"role": "user"|"assistant", "content": …}``) without a system
    message; ``user_text`` is the new user turn. The pre-prompt goes verbatim into the system message when
    ``placement`` is "system", or "auto" and the endpoint's chat template accepts a system role; otherwise
    (placement "prepend", or no system role) it is prepended to the *first* user message of the
    conversation followed by a blank line. An empty pre-prompt adds nothing.
    """
    if placement not in ("auto", "system", "prepend"):
        raise ValueError(f"unknown pre-prompt placement {placement!r}")
    conversation = [{"role": m["role"], "content": m["content"]} for m in (history or [])]
    if any(m["role"] == "system" for m in conversation):
        raise ValueError("history must not contain a system message; pass the pre-prompt instead")
    conversation.append({"role": "user", "content": user_text})
    if not preprompt_text:
        return conversation
    as_system = placement == "system" or (placement == "auto" and supports_system)
    if as_system:
        return [{"role": "system", "content": preprompt_text}, *conversation]
    for message in conversation:
        if message["role"] == "user":
            message["content"] = preprompt_text + PREPEND_SEPARATOR + message["content"]
            break
    return conversation


def resolve_placement(*, placement: str, supports_system: bool) -> str:
    """"system" or "prepend": where the pre-prompt actually goes for this endpoint (recorded in params)."""
    if placement == "system" or (placement == "auto" and supports_system):
        return "system"
    return "prepend"


# --- requests -------------------------------------------------------------------------------------


def sampling_params(endpoint: EndpointLike, overrides: dict | None = None) -> dict:
    """The endpoint's sampling defaults (temperature, top_p, top_k if set, max_tokens), overridable."""
    params: dict[str, Any] = {
        "temperature": endpoint.temperature,
        "top_p": endpoint.top_p,
        "max_tokens": endpoint.max_tokens,
    }
    if endpoint.top_k is not None:
        params["top_k"] = endpoint.top_k  # vLLM extension of the OpenAI API
    if overrides:
        params.update({k: v for k, v in overrides.items() if v is not None})
    return params


def _headers(endpoint: EndpointLike) -> dict:
    headers = {"Content-Type": "application/json"}
    key_name = getattr(endpoint, "api_key_env", "") or ""
    key = os.environ.get(key_name) if key_name else None
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def _url(endpoint: EndpointLike, path: str) -> str:
    return endpoint.base_url.rstrip("/") + path


def _timeout(endpoint: EndpointLike, timeout: float | None) -> httpx.Timeout:
    total = timeout
    if total is None:
        total = float(getattr(endpoint, "timeout_seconds", 0) or DEFAULT_TIMEOUT)
    return httpx.Timeout(total, connect=min(CONNECT_TIMEOUT, total))


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.read().decode("utf-8", "replace")[:1000]
    except httpx.HTTPError:
        body = ""
    message = f"HTTP {response.status_code} from {response.request.url}: {body}"
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientError(message, status_code=response.status_code)
    raise PermanentError(message, status_code=response.status_code)


def _transport_error(exc: httpx.HTTPError, endpoint: EndpointLike) -> TransientError:
    kind = type(exc).__name__
    if isinstance(exc, httpx.TransportError):  # connect/read/write errors and timeouts: no answer at all
        return UnreachableError(f"{kind} talking to {endpoint.base_url}: {exc}")
    return TransientError(f"{kind} talking to {endpoint.base_url}: {exc}")


_client_cache: dict[int, httpx.Client] = {}


def http_client() -> httpx.Client:
    """A connection-pooling client per process (reused across requests and threads; httpx is thread-safe)."""
    pid = os.getpid()
    client = _client_cache.get(pid)
    if client is None:
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        client = httpx.Client(limits=limits)
        _client_cache.clear()  # a forked child must not reuse the parent's sockets
        _client_cache[pid] = client
    return client


def chat(
    endpoint: EndpointLike,
    messages: list[dict],
    *,
    params: dict | None = None,
    timeout: float | None = None,
) -> ChatResult:
    """One chat completion (non-streaming)."""
    body = {"model": endpoint.model, "messages": messages, **sampling_params(endpoint, params)}
    started = time.perf_counter()
    try:
        response = http_client().post(
            _url(endpoint, "/chat/completions"),
            json=body,
            headers=_headers(endpoint),
            timeout=_timeout(endpoint, timeout),
        )
    except httpx.HTTPError as exc:
        raise _transport_error(exc, endpoint) from exc
    _raise_for_status(response)
    latency_ms = int((time.perf_counter() - started) * 1000)
    try:
        data = response.json()
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise PermanentError(f"malformed response from {endpoint.base_url}: {response.text[:500]}") from exc
    usage = data.get("usage") or {}
    return ChatResult(
        text=text,
        finish_reason=choice.get("finish_reason") or "",
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        latency_ms=latency_ms,
        response_id=data.get("id", ""),
    )


def stream_chat(
    endpoint: EndpointLike,
    messages: list[dict],
    *,
    params: dict | None = None,
    timeout: float | None = None,
) -> Iterator[StreamEvent]:
    """Stream a chat completion: text deltas, then one final event with finish reason and token usage.

    ``timeout`` bounds each read (a hung server raises ``TransientError`` rather than blocking forever).
    Errors raised before the first event can be retried safely; after deltas have been yielded the caller
    decides (a partial answer is visible to it).
    """
    body = {
        "model": endpoint.model,
        "messages": messages,
        **sampling_params(endpoint, params),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    finish_reason = ""
    usage: dict = {}
    response_id = ""
    try:
        with http_client().stream(
            "POST",
            _url(endpoint, "/chat/completions"),
            json=body,
            headers=_headers(endpoint),
            timeout=_timeout(endpoint, timeout),
        ) as response:
            _raise_for_status(response)
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                try:
                    chunk = json.loads(payload)
                except ValueError as exc:
                    raise PermanentError(f"malformed stream chunk: {payload[:200]}") from exc
                if chunk.get("object") == "error" or ("error" in chunk and not chunk.get("choices")):
                    raise TransientError(f"server error in stream: {str(chunk)[:500]}")
                response_id = response_id or chunk.get("id", "")
                if chunk.get("usage"):
                    usage = chunk["usage"]
                for choice in chunk.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content") or ""
                    if choice.get("finish_reason"):
                        finish_reason = choice["finish_reason"]
                    if delta:
                        yield StreamEvent(text=delta, response_id=response_id)
    except httpx.HTTPError as exc:
        raise _transport_error(exc, endpoint) from exc
    yield StreamEvent(
        done=True,
        finish_reason=finish_reason,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        latency_ms=int((time.perf_counter() - started) * 1000),
        response_id=response_id,
    )


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str
    models: list[str]
    latency_ms: int
    context_length: int | None = None  # the served model's max_model_len, when the server reports it


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def health(endpoint: EndpointLike, *, timeout: float = 5.0) -> Health:
    """``GET /v1/models``: reachable, is the configured model served, and its context length (vLLM's
    ``max_model_len``; other OpenAI-compatible servers may not say)."""
    started = time.perf_counter()
    try:
        response = http_client().get(_url(endpoint, "/models"), headers=_headers(endpoint), timeout=timeout)
        latency_ms = int((time.perf_counter() - started) * 1000)
        if response.status_code >= 400:
            return Health(False, f"HTTP {response.status_code}: {response.text[:200]}", [], latency_ms)
        entries = [m for m in response.json().get("data", []) if isinstance(m, dict)]
        models = [m.get("id", "") for m in entries]
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        return Health(False, f"{type(exc).__name__}: {exc}", [], int((time.perf_counter() - started) * 1000))
    if endpoint.model not in models:
        return Health(False, f"model {endpoint.model!r} not served (served: {', '.join(models) or 'none'})",
                      models, latency_ms)
    served = entries[models.index(endpoint.model)]
    return Health(True, "ok", models, latency_ms, context_length=_positive_int(served.get("max_model_len")))


@dataclass(frozen=True)
class TokenCount:
    tokens: int  # the prompt as the chat template renders it, generation prompt included
    context_length: int | None  # max_model_len, if the server said


def server_root(base_url: str) -> str:
    """'http://h:p/v1' -> 'http://h:p': vLLM serves /tokenize at the root, not under /v1."""
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


_NO_TOKENIZE: set[str] = set()  # servers that answered /tokenize with 404/405: not asked again by this process


def count_tokens(endpoint: EndpointLike, messages: list[dict], *, timeout: float = 10.0) -> TokenCount | None:
    """The prompt's token count from the server's own tokenizer and chat template (vLLM ``POST /tokenize``).

    None when the server has no such endpoint (remembered per process), or cannot answer now: the caller then
    estimates. Never raises for a server problem; a real request will report it properly.
    """
    root = server_root(endpoint.base_url)
    if not root or root in _NO_TOKENIZE:
        return None
    body = {"model": endpoint.model, "messages": messages, "add_generation_prompt": True}
    try:
        response = http_client().post(root + "/tokenize", json=body, headers=_headers(endpoint),
                                      timeout=_timeout(endpoint, timeout))
        if response.status_code in (HTTPStatus.NOT_FOUND, HTTPStatus.METHOD_NOT_ALLOWED):
            _NO_TOKENIZE.add(root)
            return None
        if response.status_code >= 400:
            return None
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        logging.getLogger(__name__).info("tokenize at %s failed: %s", root, exc)
        return None
    tokens = data.get("count") if isinstance(data, dict) else None
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
        return None
    return TokenCount(tokens=tokens, context_length=_positive_int(data.get("max_model_len")))
