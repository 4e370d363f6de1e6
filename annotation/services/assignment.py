"""Who annotates what next: concurrency-safe claims with leases, overlap per task, gold interleaving.

The invariant: `Task.remaining` = overlap − (live claims + submissions) for normal tasks, changed only
here and only while the task row is locked (an UPDATE takes the row lock itself):

* PostgreSQL: the next task is picked with `SELECT … FOR UPDATE OF task SKIP LOCKED LIMIT 1`, so parallel
  claimants never wait on each other and never see a row another transaction is handing out; the
  `remaining > 0` condition is re-checked by PostgreSQL on the locked row version.
* SQLite: settings open every transaction as `BEGIN IMMEDIATE`, which takes the database write lock at
  the start, so `transaction.atomic()` serialises claimants completely.

`remaining` is a PositiveSmallIntegerField (CHECK ≥ 0) and `remaining ≤ overlap` is a CheckConstraint,
so a bug here fails loudly instead of handing out a slot too many. A `Claim` is unique per
(task, annotator): nobody gets the same item twice, even after a release or expiry.

Gold tasks (`is_gold`) go to every annotator and do not use `remaining`; every
`STUDIO_GOLD_EVERY`-th claim of an annotator prefers an unseen gold item of the requested kind.

The cost of a claim does not grow with the annotator's history (bench/annotation.py --long-history):
their claim count is a counter and the next-item search starts after the tasks they already had
(`AnnotatorQueue`, kept in the claim's transaction); each remaining candidate costs one index probe.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Least
from django.utils import timezone
from django.utils.translation import gettext as _

from annotation import sql
from annotation.models import AnnotatorQueue, Claim, Task, TaskKind
from core.converters import MAX_ID
from core.errors import Conflict
from prompts.models import Prompt

EXPIRE_BATCH = 2000  # claims expired per transaction


class ClaimNotHeld(Conflict):
    """A submission (or release) for an item the annotator does not hold."""

    def __init__(self, message: str | None = None):
        super().__init__(message or _("You do not hold this item (it was never assigned to you)."))


def _lease() -> timedelta:
    return timedelta(seconds=settings.STUDIO_CLAIM_LEASE_SECONDS)


def _serialise_annotator(annotator) -> None:
    """One claim at a time per annotator (a double click or a retried request cannot take two gold
    slots or two items at once). SQLite's IMMEDIATE transactions already serialise everything."""
    if sql.postgres():
        with connection.cursor() as cursor:
            cursor.execute(*sql.annotator_claim_lock(annotator_id=annotator.pk))


def _give_back(task_ids: dict[int, int]) -> None:
    """Return slots ({task id: count}); task ids in order, so concurrent returns cannot deadlock."""
    for task_id in sorted(task_ids):
        Task.objects.filter(pk=task_id, is_gold=False).update(
            remaining=Least(F("remaining") + task_ids[task_id], F("overlap"))
        )


# --------------------------------------------------------------------------------------------------
# Hot path: next item and submission. Plain SQL, every statement in annotation/sql.py (a handful of
# short statements, no ORM query compilation, which cost more CPU than the database work); everything
# else uses the ORM.
# --------------------------------------------------------------------------------------------------

def _aware(value):
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value


def _json(value):
    return json.loads(value) if isinstance(value, str | bytes) else value


def fast_insert(obj) -> None:
    """INSERT one model instance the way Model.save() would (Python defaults, auto_now_add,
    get_db_prep_save per field) but without the ORM's query compiler; sets obj.pk (RETURNING)."""
    with connection.cursor() as cursor:
        cursor.execute(*sql.insert_returning(obj))
        obj.pk = cursor.fetchone()[0]
    obj._state.adding = False
    obj._state.db = connection.alias


@transaction.atomic
def task_claim_next(*, annotator, kind: str, now: datetime | None = None) -> Claim | None:
    """Give the annotator their next item of `kind` (rating or ranking), or None when there is none.

    A live claim of this kind is returned again (resuming; also makes a retried request harmless).
    Otherwise one slot of the oldest open task is taken, the responses' display order is shuffled for
    this annotator and stored on the claim. `claim.task.prompt` is loaded, and `claim.response_texts`
    ({TaskResponse id: text}) saves `selectors.claim_item` a query.
    """
    if kind not in TaskKind.values:
        raise ValueError(f"unknown task kind {kind!r}")
    now = now or timezone.now()
    _serialise_annotator(annotator)
    with connection.cursor() as cursor:
        cursor.execute(*sql.claim_held_and_queue(annotator_id=annotator.pk, kind=kind, now=now))
        held_id, n_claims, claimed_through = cursor.fetchone()
        if held_id is not None:
            return Claim.objects.select_related("task__prompt").get(pk=held_id)
        every = settings.STUDIO_GOLD_EVERY
        skip_own = settings.STUDIO_NO_OWN_PROMPTS
        row = None
        for gold in (True, False) if every > 0 and n_claims % every == 0 else (False, True):
            cursor.execute(*sql.task_next_candidate(
                kind=kind, annotator_id=annotator.pk, gold=gold, skip_own=skip_own,
                after=0 if gold else claimed_through or 0,
            ))
            row = cursor.fetchone()
            if row is not None:
                break
        if row is None:
            return None
        task_id, prompt_id, prompt_text = row
        if not gold:
            cursor.execute(*sql.task_take_slot(task_id=task_id))
        cursor.execute(*sql.task_response_texts(task_id=task_id))
        responses = cursor.fetchall()
    order = [response_id for response_id, _text in responses]
    random.shuffle(order)
    task = Task(id=task_id, kind=kind, prompt_id=prompt_id, is_gold=gold, is_active=True)
    task.prompt = Prompt(id=prompt_id, text=prompt_text)
    claim = Claim(task=task, annotator=annotator, display_order=order, claimed_at=now, expires_at=now + _lease())
    fast_insert(claim)
    with connection.cursor() as cursor:
        cursor.execute(*sql.annotator_queue_advance(
            annotator_id=annotator.pk, kind=kind, gold=gold, task_id=task_id, claimed_through=claimed_through
        ))
    claim.response_texts = dict(responses)
    return claim


def claim_lock_for_submit(*, annotator, task_id: int, now: datetime | None = None) -> Claim:
    """Inside a submission's transaction: lock and return the annotator's claim on the task.

    An expired or released claim is renewed when the task still has a free slot (nothing typed is
    lost); otherwise, or without any claim, ClaimNotHeld. A submitted claim is returned as is (the
    caller decides about revisions). `claim.task` carries kind, is_gold, pair_id and prompt_id.
    """
    now = now or timezone.now()
    if not 0 < task_id <= MAX_ID:  # names no task; raw SQL lacks the ORM's guard and would fail on it (500)
        raise ClaimNotHeld
    with connection.cursor() as cursor:
        cursor.execute(*sql.claim_for_submit(task_id=task_id, annotator_id=annotator.pk))
        row = cursor.fetchone()
    if row is None:
        raise ClaimNotHeld
    claim_id, status, order, claimed_at, expires_at, kind, is_gold, pair_id, prompt_id = row
    task = Task(id=task_id, kind=kind, is_gold=bool(is_gold), pair_id=pair_id, prompt_id=prompt_id)
    claim = Claim(
        id=claim_id, task=task, annotator=annotator, status=status, display_order=_json(order),
        claimed_at=_aware(claimed_at), expires_at=_aware(expires_at),
    )
    claim._state.adding = False
    if claim.status in (Claim.Status.EXPIRED, Claim.Status.RELEASED):
        if not task.is_gold:
            taken = Task.objects.filter(pk=task.pk, is_active=True, remaining__gt=0).update(
                remaining=F("remaining") - 1
            )
            if not taken:
                raise ClaimNotHeld(_("Your time on this item ran out and others have taken it."))
        claim.status = Claim.Status.ACTIVE
        claim.expires_at = now + _lease()
        Claim.objects.filter(pk=claim.pk).update(status=claim.status, expires_at=claim.expires_at)
    return claim


def annotator_queues_rewind(*, kind: str, first_task_id: int) -> None:
    """Tasks of `kind` from `first_task_id` on were just created: no annotator's queue may start after
    them (`AnnotatorQueue.claimed_through`). Needed only when another assembly committed higher ids
    first and someone claimed past these; call it in the transaction that created the tasks."""
    AnnotatorQueue.objects.filter(kind=kind, claimed_through__gte=first_task_id).update(
        claimed_through=first_task_id - 1
    )


def claim_mark_submitted(claim: Claim, *, now: datetime, give_back: bool = False) -> None:
    """Inside a submission's transaction: the claim is done; `give_back` returns its slot (a skip)."""
    claim.status = Claim.Status.SUBMITTED
    claim.submitted_at = now
    with connection.cursor() as cursor:
        cursor.execute(*sql.claim_mark_submitted(claim_id=claim.pk, now=now))
    if give_back:
        _give_back({claim.task_id: 1})


@transaction.atomic
def claim_release(*, annotator, task_id: int) -> Claim:
    """The annotator gives an item back unannotated; its slot returns to the pool (not to them)."""
    if not 0 < task_id <= MAX_ID:  # names no task; the database would fail on it (a 500) rather than match nothing
        raise ClaimNotHeld
    qs = Claim.objects.filter(task_id=task_id, annotator=annotator, status=Claim.Status.ACTIVE)
    if sql.postgres():
        qs = qs.select_for_update()
    claim = qs.first()
    if claim is None:
        if Claim.objects.filter(task_id=task_id, annotator=annotator).exists():
            raise ClaimNotHeld(_("You no longer hold this item (it was submitted, given back or its time ran out)."))
        raise ClaimNotHeld
    claim.status = Claim.Status.RELEASED
    claim.save(update_fields=["status"])
    _give_back({task_id: 1})
    return claim


@transaction.atomic
def claims_expire(*, now: datetime | None = None, limit: int = EXPIRE_BATCH) -> int:
    """Expire leases that ran out and return their slots. Safe to run concurrently (skip locked)."""
    now = now or timezone.now()
    qs = Claim.objects.filter(status=Claim.Status.ACTIVE, expires_at__lt=now).order_by("id")
    if sql.postgres():
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    rows = list(qs.values_list("id", "task_id")[:limit])
    if not rows:
        return 0
    Claim.objects.filter(id__in=[claim_id for claim_id, _task in rows]).update(status=Claim.Status.EXPIRED)
    slots: dict[int, int] = {}
    for _claim_id, task_id in rows:
        slots[task_id] = slots.get(task_id, 0) + 1
    _give_back(slots)
    return len(rows)
