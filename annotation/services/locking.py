"""Which annotations their authors can no longer revise: the one place that sets and reads the lock.

A rating or ranking stays revisable by its author (a new row superseding the previous one, see
`submissions`) until the item is locked; from then on a revision is refused with
`submissions.AlreadyReviewed`. The lock lives on the rows annotation owns:

* a ranking: `Ranking.locked_at` of the reviewed row;
* a rating: `RatingPair.locked_at` of its task's pair (the pair is reviewed as a whole, so the ratings of
  both tasks lock together). A rating task without a pair is never locked (nothing can review it).

Locking is what QA's review does (`qa.services.review_decide` calls `item_lock` in the transaction that
stores the Review); annotation never reads QA's tables. Dialogs have no lock: a decided turn cannot be
changed anyway (`dialogs.services.dialog_turn_decide`).
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from annotation.models import Ranking, Rating, RatingPair, Task

Lockable = type[Ranking] | type[RatingPair]


def item_lock(model: Lockable, item_id: int, *, now: datetime | None = None) -> None:
    """Lock a ranking or a rating pair against revision by its annotators (no-op if it is locked already:
    the first lock's time is kept; no-op for an id that does not exist).

    Call it inside the caller's transaction, before reading what the lock freezes: the UPDATE takes the
    row lock, so a revision running at the same time either finishes first (and is what the caller then
    reads) or waits and is refused.
    """
    if model not in (Ranking, RatingPair):
        raise TypeError(f"{model.__name__} cannot be locked")
    model.objects.filter(pk=item_id, locked_at__isnull=True).update(locked_at=now or timezone.now())


def is_locked(annotation: Rating | Ranking, *, for_update: bool = False) -> bool:
    """Whether the author can no longer revise this annotation.

    A ranking's lock is read from the instance (load it fresh, e.g. with select_for_update, when it
    matters). A rating's lock is read from its task's pair; `for_update` also locks the pair row until the
    transaction ends, so a review cannot slip in between this check and the revision.
    """
    if isinstance(annotation, Ranking):
        return annotation.locked_at is not None
    # A subquery, not a join: FOR UPDATE then locks the pair row only, never the task row claims use.
    pairs = RatingPair.objects.filter(pk__in=Task.objects.filter(pk=annotation.task_id).values("pair_id"))
    if for_update:
        pairs = pairs.select_for_update()
    return any(locked_at is not None for locked_at in pairs.values_list("locked_at", flat=True))
