"""The annotation app's hand-written SQL, one named statement each: the claim / submit hot path (everything
else in the app is the ORM).

Benchmark: bench/annotation.py (16 API clients claiming and submitting rating items through gunicorn, one
request per annotation). Compiling the equivalent ORM queries cost more CPU per annotation than the database
work itself, so the hot path became these short statements (commit d75e46b); measured on 2026-11-30 on
PostgreSQL with 4 workers: 139–143 annotations/s, web CPU 8.3 ms and PostgreSQL CPU 4.3–5.1 ms per
annotation against a 2.1 ms authenticated-ping baseline (README, Benchmarks). Each function says which step
of that loop it is.

Each function returns ``(sql, params)`` for ``cursor.execute``. Only quoted table and column names from
model metadata are interpolated; every value — ids, times, and the status / kind / flag values — is a
parameter (Django's psycopg backend binds client side, so PostgreSQL still matches the partial indexes'
predicates). The literals are ``remaining > 0``, written as the task_open_by_kind index states it, and
the fixed shapes of a statement (``LIMIT 1 OFFSET 0``, ``t.id - 1``, a new counter's ``1``).
PostgreSQL and SQLite differ only where a function says so: row locks (``FOR UPDATE``, ``SKIP LOCKED``)
and advisory locks exist only on PostgreSQL; SQLite opens every transaction as ``BEGIN IMMEDIATE``
(config settings), which serialises writers completely.
"""

# ruff: noqa: S608 - the SQL interpolates only quoted table and column names from model metadata;
# every value is a query parameter.

from __future__ import annotations

from datetime import datetime

from django.db import connection

from annotation.models import AnnotatorQueue, Claim, Task, TaskResponse
from generation.models import Generation
from prompts.models import Prompt

Statement = tuple[str, list]

# First key of PostgreSQL's two-key advisory locks taken by claims (the second is the user id).
CLAIM_LOCK_SPACE = 7301


def postgres() -> bool:
    return connection.vendor == "postgresql"


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _dt(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


# --------------------------------------------------------------------------------------------------
# Claim (assignment.task_claim_next): bench/annotation.py, the "next item" half of every annotation
# --------------------------------------------------------------------------------------------------

def annotator_claim_lock(*, annotator_id: int) -> Statement:
    """PostgreSQL only: one claim at a time per annotator, until the transaction ends.

    Benchmark: bench/annotation.py, first statement of every claim; its retried requests (``--retry-share``)
    check that a retried or double-clicked "next" never takes two slots or two gold items at once.
    (SQLite's IMMEDIATE transactions already serialise everything.)
    Parameters: the lock space, the annotator id.
    """
    return "SELECT pg_advisory_xact_lock(%s, %s)", [CLAIM_LOCK_SPACE, annotator_id]


def claim_held_and_queue(*, annotator_id: int, kind: str, now: datetime) -> Statement:
    """The annotator's live claim of this kind (resume), how many claims they ever had (gold turn) and
    where their queue of this kind starts (``AnnotatorQueue.claimed_through``).

    Benchmark: bench/annotation.py, every claim; one round trip instead of two compiled ORM queries. The
    claim count was a ``COUNT(*)`` over all the annotator's claims, which grew with their history
    (``--long-history``); it is now the sum of the per-kind counters (at most one row per kind, unique
    index). Uses the claim_active_by_user partial index for the live claim.
    Parameters: annotator, the active status, kind, now, annotator, annotator, kind. Returns one row
    (claim id or NULL, claim count, claimed_through or NULL).
    """
    q = _t(AnnotatorQueue)
    sql = (
        f"SELECT (SELECT c.id FROM {_t(Claim)} c INNER JOIN {_t(Task)} t ON t.id = c.task_id"
        f" WHERE c.annotator_id = %s AND c.status = %s AND t.kind = %s AND c.expires_at > %s"
        f" ORDER BY c.claimed_at, c.id LIMIT 1),"
        f" (SELECT COALESCE(SUM(claims), 0) FROM {q} WHERE annotator_id = %s),"
        f" (SELECT claimed_through FROM {q} WHERE annotator_id = %s AND kind = %s)"
    )
    return sql, [annotator_id, Claim.Status.ACTIVE, kind, _dt(now), annotator_id, annotator_id, kind]


def _not_claimed_by(annotator_id: int) -> tuple[str, list]:
    """``NOT EXISTS`` probe of the claim (task, annotator) unique index for the row ``t``.

    ``LIMIT 1 OFFSET 0`` keeps PostgreSQL from pulling the subquery up into an anti join (an OFFSET makes
    the EXISTS not "simple"): it stays a SubPlan run once per candidate, i.e. one probe of
    claim_once_per_annotator, whatever the statistics say. As an anti join the planner chose, after 700
    claims of one annotator, a nested loop re-reading all their claims per open task (62.5 ms) or, after
    ANALYZE, a merge anti join over them (2.1 ms): both grow with the annotator's history.
    """
    return (
        f"NOT EXISTS (SELECT 1 FROM {_t(Claim)} c WHERE c.task_id = t.id AND c.annotator_id = %s LIMIT 1 OFFSET 0)",
        [annotator_id],
    )


def task_next_candidate(
    *, kind: str, annotator_id: int, gold: bool, skip_own: bool, after: int = 0
) -> Statement:
    """The oldest open task of the kind that this annotator never had, with its prompt.

    Benchmark: bench/annotation.py, every claim (16 clients all asking for the oldest open item), and
    ``--long-history`` (one annotator from 0 to 5,000 claims: the cost must not grow with them). The
    task_open_by_kind / task_gold_by_kind partial indexes serve ``kind = ? AND id > ? ORDER BY id``, and
    each candidate is checked with one probe of the claim (task, annotator) unique index
    (``_not_claimed_by``). ``after`` (normal tasks: the annotator's ``AnnotatorQueue.claimed_through``)
    skips the tasks they already had: with overlap 2 those stay open, and probing them one by one made the
    walk as long as the annotator's history. On PostgreSQL a normal task is locked with
    ``FOR UPDATE OF t SKIP LOCKED``: rows a concurrent transaction is handing out are skipped, not waited
    for, and ``remaining > 0`` is re-checked on the locked row version. Gold tasks take no slot, so they
    are not locked.
    Parameters: kind, is_active (True), is_gold, after, annotator [, annotator when own prompts are skipped].
    Returns (task id, prompt id, prompt text) or no row.
    """
    probe, probe_params = _not_claimed_by(annotator_id)
    sql = (
        f"SELECT t.id, t.prompt_id, p.text FROM {_t(Task)} t INNER JOIN {_t(Prompt)} p ON p.id = t.prompt_id"
        f" WHERE t.kind = %s AND t.is_active = %s AND t.is_gold = %s AND t.id > %s AND {probe}"
    )
    params: list = [kind, True, gold, after, *probe_params]
    if not gold:
        sql += " AND t.remaining > 0"
    if skip_own:
        sql += " AND (p.author_id IS NULL OR p.author_id <> %s)"
        params.append(annotator_id)
    sql += " ORDER BY t.id LIMIT 1"
    if not gold and postgres():
        sql += " FOR UPDATE OF t SKIP LOCKED"
    return sql, params


def annotator_queue_advance(
    *, annotator_id: int, kind: str, gold: bool, task_id: int, claimed_through: int | None
) -> Statement:
    """After a claim of ``task_id``: count it, and move the annotator's ``claimed_through`` of the kind up
    to just before the first normal task of the kind they never had (all tasks up to it are theirs).

    Benchmark: bench/annotation.py ``--long-history`` (one annotator, overlap 2: every item they claimed
    stays open, so without this the next-item query would probe all of them). The search starts at the
    stored value and walks the task primary key over the annotator's own claims since it (usually one or
    two probes); a gold claim only counts. It runs after the new claim's INSERT, so that claim is seen.
    Only a change made since the read (``claimed_through`` as read, NULL when there was no row) is kept:
    task assembly lowers the value when it creates tasks below it (``annotator_queues_rewind``).
    Parameters: annotator, kind, [kind, False, start, annotator, task id for a normal claim,] the value read.
    """
    q = _t(AnnotatorQueue)
    start = claimed_through or 0
    if gold:
        value, params = "%s", [start]
    else:
        probe, probe_params = _not_claimed_by(annotator_id)
        value = (
            f"COALESCE((SELECT t.id - 1 FROM {_t(Task)} t WHERE t.kind = %s AND t.is_gold = %s AND t.id > %s"
            f" AND {probe} ORDER BY t.id LIMIT 1), %s)"
        )
        params = [kind, False, start, *probe_params, task_id]
    sql = (
        f"INSERT INTO {q} (annotator_id, kind, claims, claimed_through) VALUES (%s, %s, 1, {value})"
        f" ON CONFLICT (annotator_id, kind) DO UPDATE SET claims = {q}.claims + 1,"
        f" claimed_through = CASE WHEN {q}.claimed_through = %s THEN excluded.claimed_through"
        f" ELSE {q}.claimed_through END"
    )
    return sql, [annotator_id, kind, *params, -1 if claimed_through is None else claimed_through]


def task_take_slot(*, task_id: int) -> Statement:
    """Take one free slot of the task picked (and, on PostgreSQL, locked) by task_next_candidate.

    Benchmark: bench/annotation.py, every claim of a normal item. Parameter: the task id.
    """
    return f"UPDATE {_t(Task)} SET remaining = remaining - 1 WHERE id = %s", [task_id]


def task_response_texts(*, task_id: int) -> Statement:
    """(TaskResponse id, text) of a task's responses in canonical order: the claim's display order is
    shuffled from these, and the texts go straight into the API payload (no second query for the item).

    Benchmark: bench/annotation.py, every claim. Parameter: the task id.
    """
    sql = (
        f"SELECT r.id, g.text FROM {_t(TaskResponse)} r INNER JOIN {_t(Generation)} g ON g.id = r.generation_id"
        f" WHERE r.task_id = %s ORDER BY r.position"
    )
    return sql, [task_id]


def insert_returning(obj) -> Statement:
    """INSERT one model instance the way Model.save() would (Python defaults, auto_now_add,
    get_db_prep_save per field), RETURNING its primary key.

    Benchmark: bench/annotation.py, the new claim and the new rating of every round, without the ORM's
    insert compiler. Parameters: every concrete field but the primary key, prepared for the database.
    """
    meta = obj._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    params = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    sql = "INSERT INTO {} ({}) VALUES ({}) RETURNING {}".format(
        _t(obj), ", ".join(quote(f.column) for f in fields), ", ".join(["%s"] * len(fields)), quote(meta.pk.column)
    )
    return sql, params


# --------------------------------------------------------------------------------------------------
# Submission (submissions.rating_submit / ranking_submit): bench/annotation.py, the "submit" half
# --------------------------------------------------------------------------------------------------

def claim_for_submit(*, task_id: int, annotator_id: int) -> Statement:
    """The annotator's claim on the task with the task fields a submission needs (kind, gold, rating pair,
    prompt), locked on PostgreSQL (``FOR UPDATE OF c``) so two racing submissions of one claim run one
    after the other.

    Benchmark: bench/annotation.py, first statement of every submission (its retries race on purpose); one
    statement instead of a claim query plus a task query. Parameters: task, annotator. Returns (claim id,
    status, display order, claimed at, expires at, kind, is_gold, pair id, prompt id) or no row.
    """
    sql = (
        f"SELECT c.id, c.status, c.display_order, c.claimed_at, c.expires_at, t.kind, t.is_gold, t.pair_id,"
        f" t.prompt_id FROM {_t(Claim)} c INNER JOIN {_t(Task)} t ON t.id = c.task_id"
        f" WHERE c.task_id = %s AND c.annotator_id = %s"
    )
    if postgres():
        sql += " FOR UPDATE OF c"
    return sql, [task_id, annotator_id]


def claim_mark_submitted(*, claim_id: int, now: datetime) -> Statement:
    """The claim is done (its submission was stored in the same transaction).

    Benchmark: bench/annotation.py, every first submission. Parameters: the submitted status, now, claim id.
    """
    return (
        f"UPDATE {_t(Claim)} SET status = %s, submitted_at = %s WHERE id = %s",
        [Claim.Status.SUBMITTED, _dt(now), claim_id],
    )


def submission_lookup(model, *, submission_id) -> Statement:
    """Who stored a submission id, on which task (a replay or a conflict); the unique index on
    submission_id serves it (``model``: Rating or Ranking).

    Benchmark: bench/annotation.py, every submission (a share of them replayed on purpose). Parameter: the
    submission id. Returns (annotation id, annotator id, task id) or no row.
    """
    field = model._meta.get_field("submission_id")
    return (
        f"SELECT id, annotator_id, task_id FROM {_t(model)} WHERE submission_id = %s",
        [field.get_db_prep_value(submission_id, connection)],
    )
