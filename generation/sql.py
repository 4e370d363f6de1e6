"""The generation app's hand-written SQL, one named statement each (everything else is the ORM).

Each says which benchmark justified leaving the ORM. Values, status values included, are parameters:
Django's psycopg backend binds them client side, so PostgreSQL plans the same text it would with
literals and the partial index `generation_todo` (status IN pending/retrying/running) stays usable.
"""

# ruff: noqa: S608 - the statements interpolate only table names from model metadata; values are parameters.

from __future__ import annotations

from functools import cache

from prompts.models import Prompt

from .models import Generation, PrePromptVersion


@cache
def claim() -> str:
    """PostgreSQL only: count the endpoint's busy rows, pick the due ones (SKIP LOCKED) and lease them.

    Benchmark: bench/generation.py (a campaign vs driving the same vLLM server directly; target
    campaign/direct ≥ 0.95, 1.01 measured on 2026-11-30). On a busy machine every database round trip
    between two requests leaves a server slot idle, so after the endpoint lock the count, pick and lease
    are one statement instead of three (commit 7814942).
    Parameters: endpoint, campaign, now, limit, max (requests the endpoint may have in flight: its
    max_concurrency, or 1 while its circuit is half-open), owner, lease (expiry, renewed by the heartbeat),
    and the status values pending, retrying, running.
    Returns (id, attempts after this claim, params, prompt text, pre-prompt version text) per leased row.
    """
    generation, prompt, version = (m._meta.db_table for m in (Generation, Prompt, PrePromptVersion))
    return f"""
WITH busy AS (
    SELECT count(*) AS n FROM {generation}
    WHERE endpoint_id = %(endpoint)s AND status = %(running)s AND lease_until > %(now)s
), picked AS (
    SELECT id FROM {generation}
    WHERE campaign_id = %(campaign)s AND endpoint_id = %(endpoint)s
      AND (status = %(pending)s
           OR (status = %(retrying)s AND next_attempt_at <= %(now)s)
           OR (status = %(running)s AND lease_until <= %(now)s))
    ORDER BY id
    LIMIT GREATEST(0, LEAST(%(limit)s, %(max)s - (SELECT n FROM busy)))
    FOR UPDATE SKIP LOCKED
)
UPDATE {generation} AS g
SET status = %(running)s, lease_owner = %(owner)s, lease_until = %(lease)s, attempts = g.attempts + 1,
    next_attempt_at = NULL
FROM picked, {prompt} AS p, {version} AS v
WHERE g.id = picked.id AND p.id = g.prompt_id AND v.id = g.preprompt_version_id
RETURNING g.id, g.attempts, g.params, p.text, v.text
"""


# PostgreSQL only: the runner's many small commits don't wait for the WAL flush. Benchmark:
# bench/generation.py, the same change as `claim` (commit 7814942). Why it is safe: runner._fast_commits.
SYNCHRONOUS_COMMIT_OFF = "SET synchronous_commit TO OFF"
SYNCHRONOUS_COMMIT_DEFAULT = "SET synchronous_commit TO DEFAULT"
