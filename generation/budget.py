"""Fitting a chat request into a model's context: count the prompt, give the answer what is left.

A model attends to `context_length` tokens, prompt and answer together (vLLM's ``max_model_len``). A live
dialog resends the whole conversation every turn, so its prompt grows each turn; once the prompt alone exceeds
the context, vLLM answers HTTP 400 (0.32 quietly shortens a too large ``max_tokens``; other OpenAI-compatible
servers refuse that too). Each turn therefore asks for ``min(endpoint.max_tokens, context_length -
prompt_tokens)`` new tokens, and when fewer than `MIN_ANSWER_TOKENS` are left the request is not sent at all
(`ContextFull`), nor sent again by a retry.

The prompt is counted by the server itself (vLLM's ``POST /tokenize`` with the same messages and chat
template: one call per request, a few milliseconds); servers without it get a deliberately high estimate
(`estimate_tokens`). The conversation is never shortened to make room: it is what the annotator saw, and an
unchanged prefix is what lets vLLM reuse its prefix cache from one turn to the next.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from http import HTTPStatus

from . import client
from .models import MIN_MAX_TOKENS

MIN_ANSWER_TOKENS = MIN_MAX_TOKENS
# Chat models' tokenizers average 3-4 characters per token on English and Polish prose; counting 2 overestimates
# the prompt, so an estimated budget errs towards a shorter answer rather than a refused request. (The tests' tiny
# byte-level tokenizer needs ~1.8 characters per token: served by vLLM, it is counted, never estimated.)
CHARS_PER_TOKEN = 2.0
MESSAGE_OVERHEAD_TOKENS = 8  # role markers and separators a chat template adds around each message
GENERATION_PROMPT_TOKENS = 8  # the assistant header that opens the answer


class ContextFull(client.PermanentError):
    """The prompt leaves no room for an answer in the model's context; sending the request would be refused."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY  # not the server's fault: this request cannot be served anywhere

    def __init__(self, *, prompt_tokens: int, context_length: int):
        self.prompt_tokens, self.context_length = prompt_tokens, context_length
        super().__init__(context_full_message(prompt_tokens, context_length))


def context_full_message(prompt_tokens: int, context_length: int) -> str:
    return f"the conversation no longer fits the model's context ({prompt_tokens} of {context_length} tokens)"


def estimate_text_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_tokens(messages: list[dict]) -> int:
    """A high estimate of a chat prompt's tokens, for servers that cannot count them."""
    return GENERATION_PROMPT_TOKENS + sum(
        MESSAGE_OVERHEAD_TOKENS + estimate_text_tokens(m.get("content") or "") for m in messages
    )


def answer_budget(*, prompt_tokens: int, context_length: int | None, max_tokens: int) -> int:
    """``max_tokens`` for one request: what the prompt leaves of the context, never above the endpoint's cap.

    Unknown context length: the cap as it is. Raises `ContextFull` when less than `MIN_ANSWER_TOKENS` (or the
    cap, if smaller) would be left.
    """
    if context_length is None:
        return max_tokens
    left = context_length - prompt_tokens
    if left < min(MIN_ANSWER_TOKENS, max_tokens):
        raise ContextFull(prompt_tokens=prompt_tokens, context_length=context_length)
    return min(max_tokens, left)


@dataclass(frozen=True)
class Budget:
    prompt_tokens: int
    counted: bool  # by the server's tokenizer; False: estimated
    context_length: int | None
    max_tokens: int  # what the request asks for


def request_budget(endpoint, messages: list[dict]) -> Budget:
    """Count `messages` for `endpoint` (one ``/tokenize`` call, else an estimate) and budget the answer.

    The context length is the smaller of the endpoint's (from the health check, or the admin) and the one the
    server reports with the count. Raises `ContextFull`.
    """
    count = client.count_tokens(endpoint, messages) if endpoint.base_url else None
    lengths = [n for n in (endpoint.context_length, count.context_length if count else None) if n]
    context_length = min(lengths) if lengths else None
    prompt_tokens = count.tokens if count else estimate_tokens(messages)
    max_tokens = answer_budget(prompt_tokens=prompt_tokens, context_length=context_length,
                               max_tokens=endpoint.max_tokens)
    return Budget(prompt_tokens=prompt_tokens, counted=count is not None, context_length=context_length,
                  max_tokens=max_tokens)


# vLLM 0.32 refuses only a prompt that alone exceeds the context (it shortens a too large max_tokens itself):
# "This model's maximum context length is 2048 tokens. However, your prompt contains at least 2049 input tokens,
# which exceeds this limit even without any output tokens. …"; older versions said "… you requested 2100 tokens
# (1900 in the messages, 200 in the completion)". Groups: the limit, then the prompt's tokens.
_TOO_LONG = re.compile(
    r"maximum context length is (?P<limit>\d+) tokens.*?"
    r"(?:prompt contains (?:at least )?(?P<prompt>\d+) (?:input )?tokens|\((?P<messages>\d+) in the messages)",
    re.IGNORECASE | re.DOTALL,
)


def context_error(error: client.ClientError) -> ContextFull | None:
    """A server's refusal that says the prompt is too long for the context, as `ContextFull`; else None."""
    if error.status_code != 400:
        return None
    match = _TOO_LONG.search(str(error))
    if match is None:
        return None
    return ContextFull(prompt_tokens=int(match["prompt"] or match["messages"]), context_length=int(match["limit"]))


def turns_that_fit(*, context_length: int, used_tokens: int, turns_done: int) -> int:
    """How many more dialog turns fit, if each costs what the turns so far cost on average.

    `used_tokens`: the conversation after `turns_done` decided turns (prompt and answers), as the model counts
    it. Answers shrink when the context is nearly full, so this is a forecast for full-length turns.
    """
    if turns_done <= 0:
        raise ValueError("no turn to average over")
    per_turn = max(1, math.ceil(used_tokens / turns_done))
    return max(0, (context_length - used_tokens) // per_turn)
