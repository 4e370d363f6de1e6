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
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Least
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import Claim, Task, TaskKind, TaskResponse

# First key of PostgreSQL's two-key advisory locks taken here (the second is the user id).
_CLAIM_LOCK_SPACE = 7301
EXPIRE_BATCH = 2000  # claims expired per transaction


class ClaimNotHeld(Exception):
    """A submission (or release) for an item the annotator does not hold."""

    def __init__(self, message: str | None = None):
        super().__init__(message or _("You do not hold this item (it was never assigned to you)."))


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _lease() -> timedelta:
    return timedelta(seconds=settings.STUDIO_CLAIM_LEASE_SECONDS)


def _serialise_annotator(annotator) -> None:
    """One claim at a time per annotator (a double click or a retried request cannot take two gold
    slots or two items at once). SQLite's IMMEDIATE transactions already serialise everything."""
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_CLAIM_LOCK_SPACE, annotator.pk])


def _candidates(*, annotator, kind: str, gold: bool) -> QuerySet[Task]:
    # Uses the partial indexes task_open_by_kind / task_gold_by_kind (kind, id).
    qs = Task.objects.filter(kind=kind, is_active=True, is_gold=gold)
    if not gold:
        qs = qs.filter(remaining__gt=0)
    qs = qs.exclude(id__in=Claim.objects.filter(annotator=annotator).values("task_id"))
    if settings.STUDIO_NO_OWN_PROMPTS:
        qs = qs.exclude(prompt__author=annotator)
    return qs.order_by("id")


def _gold_turn(annotator) -> bool:
    every = settings.STUDIO_GOLD_EVERY
    if every <= 0:
        return False
    # The FK index on claim.annotator_id makes this an index-only count of the annotator's claims.
    return Claim.objects.filter(annotator=annotator).count() % every == 0


def _take(task: Task) -> None:
    """Take one slot of a locked normal task (gold tasks have no slots)."""
    if not task.is_gold:
        Task.objects.filter(pk=task.pk).update(remaining=F("remaining") - 1)


def _give_back(task_ids: dict[int, int]) -> None:
    """Return slots ({task id: count}); task ids in order, so concurrent returns cannot deadlock."""
    for task_id in sorted(task_ids):
        Task.objects.filter(pk=task_id, is_gold=False).update(
            remaining=Least(F("remaining") + task_ids[task_id], F("overlap"))
        )


def held_claim(*, annotator, kind: str, now: datetime | None = None) -> Claim | None:
    """The annotator's live claim of this kind, if any (the item they were working on)."""
    now = now or timezone.now()
    return (
        Claim.objects.select_related("task__prompt")
        .filter(annotator=annotator, status=Claim.Status.ACTIVE, task__kind=kind, expires_at__gt=now)
        .order_by("claimed_at", "id")
        .first()
    )


@transaction.atomic
def task_claim_next(*, annotator, kind: str, now: datetime | None = None) -> Claim | None:
    """Give the annotator their next item of `kind` (rating or ranking), or None when there is none.

    A live claim of this kind is returned again (resuming; also makes a retried request harmless).
    Otherwise one slot of the oldest open task is taken, the responses' display order is shuffled for
    this annotator and stored on the claim. `claim.task.prompt` is loaded.
    """
    if kind not in TaskKind.values:
        raise ValueError(f"unknown task kind {kind!r}")
    now = now or timezone.now()
    _serialise_annotator(annotator)
    held = held_claim(annotator=annotator, kind=kind, now=now)
    if held is not None:
        return held
    task = None
    for gold in (True, False) if _gold_turn(annotator) else (False, True):
        qs = _candidates(annotator=annotator, kind=kind, gold=gold).select_related("prompt")
        if not gold and _postgres():
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        task = qs.first()
        if task is not None:
            break
    if task is None:
        return None
    _take(task)
    order = list(TaskResponse.objects.filter(task_id=task.pk).values_list("id", flat=True))
    random.shuffle(order)
    return Claim.objects.create(
        task=task, annotator=annotator, display_order=order, claimed_at=now, expires_at=now + _lease()
    )


def claim_lock_for_submit(*, annotator, task_id: int, now: datetime | None = None) -> Claim:
    """Inside a submission's transaction: lock and return the annotator's claim on the task.

    An expired or released claim is renewed when the task still has a free slot (nothing typed is
    lost); otherwise, or without any claim, ClaimNotHeld. A submitted claim is returned as is (the
    caller decides about revisions). `claim.task` is loaded.
    """
    now = now or timezone.now()
    qs = Claim.objects.select_related("task").filter(task_id=task_id, annotator=annotator)
    if _postgres():
        qs = qs.select_for_update(of=("self",))
    claim = qs.first()
    if claim is None:
        raise ClaimNotHeld
    if claim.status in (Claim.Status.EXPIRED, Claim.Status.RELEASED):
        task = claim.task
        if not task.is_gold:
            taken = Task.objects.filter(pk=task.pk, is_active=True, remaining__gt=0).update(
                remaining=F("remaining") - 1
            )
            if not taken:
                raise ClaimNotHeld(_("Your time on this item ran out and others have taken it."))
        claim.status = Claim.Status.ACTIVE
        claim.expires_at = now + _lease()
        claim.save(update_fields=["status", "expires_at"])
    return claim


def claim_mark_submitted(claim: Claim, *, now: datetime, give_back: bool = False) -> None:
    """Inside a submission's transaction: the claim is done; `give_back` returns its slot (a skip)."""
    claim.status = Claim.Status.SUBMITTED
    claim.submitted_at = now
    claim.save(update_fields=["status", "submitted_at"])
    if give_back:
        _give_back({claim.task_id: 1})


@transaction.atomic
def claim_release(*, annotator, task_id: int) -> Claim:
    """The annotator gives an item back unannotated; its slot returns to the pool (not to them)."""
    qs = Claim.objects.filter(task_id=task_id, annotator=annotator, status=Claim.Status.ACTIVE)
    if _postgres():
        qs = qs.select_for_update()
    claim = qs.first()
    if claim is None:
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
    if _postgres():
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
