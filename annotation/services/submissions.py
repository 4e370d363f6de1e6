"""Rating and ranking submissions: validated, idempotent, append-only, revisable until QA reviews them.

* Idempotent: every submission carries a client-generated `submission_id` (UUID). The claim row is
  locked first, then the id is looked up, so a double click or a retry — even two requests racing —
  stores one row and the replay gets that row back (`Submitted.created` is False).
* Only the holder of a claim may submit (`assignment.ClaimNotHeld` otherwise). A later submission with a
  new id by the same author is a revision: a new row with `revision + 1`, the previous row kept with
  `is_current=False`; refused once the item is locked — QA reviewed it — (`AlreadyReviewed`; the lock
  is `locking`'s, set by QA's review service).
* Each row records time on task, the display order shown (rankings) and the guideline version in force.
* A rating skip (with its reason) is stored as a fact but gives the slot back so someone else rates it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from annotation import sql
from annotation.models import Claim, Ranking, Rating, SkipReason, TaskKind
from core.errors import Conflict
from prompts.models import Criterion, GuidelineVersion

from . import assignment, locking

HARDNESS = ("hard", "soft")
MAX_TEXT = 20_000
MAX_TIME_MS = 24 * 3600 * 1000
_CACHE_SECONDS = 30.0
_cache: dict[str, tuple[float, Any]] = {}


class AlreadyReviewed(Conflict):
    def __init__(self):
        super().__init__(_("QA has already reviewed this annotation; it can no longer be changed."))


class SubmissionConflict(Conflict):
    """A submission id already stored for something else: another annotator's submission, or the same
    annotator's submission of another item. Nothing is stored; the client should send a fresh id."""

    def __init__(self, *, foreign: bool):
        if foreign:
            message = _("This submission id belongs to another annotator's submission; send a new id.")
        else:
            message = _("You already used this submission id for a different item; send a new id.")
        super().__init__(message)


@dataclass(frozen=True)
class Submitted:
    annotation: Rating | Ranking
    created: bool  # False when the submission id had been stored before (a retry or double click)


def _cached(key: str, load):
    """Small per-process cache for near-static rows read on every submission."""
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is None or now - hit[0] > _CACHE_SECONDS:
        hit = (now, load())
        _cache[key] = hit
    return hit[1]


def cache_clear() -> None:
    _cache.clear()


def criterion_keys() -> tuple[str, ...]:
    return _cached("criteria", lambda: tuple(Criterion.objects.order_by("position").values_list("key", flat=True)))


def guideline_version_current() -> str:
    return _cached(
        "guideline",
        lambda: GuidelineVersion.objects.order_by("-created", "-id").values_list("version", flat=True).first() or "",
    )


def _clean_text(value: Any, field: str) -> str:
    text = str(value or "").replace("\x00", "").replace("\r\n", "\n").strip()
    if len(text) > MAX_TEXT:
        raise ValidationError({field: _("At most %(n)d characters.") % {"n": MAX_TEXT}})
    return text


def _time_on_task(time_ms: int | None, claim: Claim, now: datetime) -> int:
    elapsed = int((now - claim.claimed_at).total_seconds() * 1000)
    if time_ms is None:
        return max(0, min(elapsed, MAX_TIME_MS))
    try:
        value = int(time_ms)
    except (TypeError, ValueError):
        value = elapsed
    return max(0, min(value, MAX_TIME_MS))


def _replayed(model, *, submission_id: uuid.UUID, annotator, task_id: int) -> Submitted | None:
    # Plain SQL on the hot path (see annotation/sql.py).
    with connection.cursor() as cursor:
        cursor.execute(*sql.submission_lookup(model, submission_id=submission_id))
        row = cursor.fetchone()
    if row is None:
        return None
    if row[1] != annotator.pk:
        raise SubmissionConflict(foreign=True)
    if row[2] != task_id:
        raise SubmissionConflict(foreign=False)
    return Submitted(model.objects.get(pk=row[0]), created=False)


def _as_uuid(value) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValidationError({"submission_id": _("A submission id (UUID) is required.")}) from exc


def _begin(
    model, *, annotator, task_id: int, submission_id, now: datetime
) -> tuple[Claim, uuid.UUID, Submitted | None]:
    """The first steps of every submission: lock the claim (or refuse), answer a replay, check the kind."""
    submission_id = _as_uuid(submission_id)
    claim = assignment.claim_lock_for_submit(annotator=annotator, task_id=task_id, now=now)
    replay = _replayed(model, submission_id=submission_id, annotator=annotator, task_id=task_id)
    kind = TaskKind.RATING if model is Rating else TaskKind.RANKING
    if replay is None and claim.task.kind != kind:
        raise ValidationError({"task": _("This item is not a %(kind)s item.") % {"kind": kind.label}})
    return claim, submission_id, replay


def _fields(claim: Claim, *, submission_id: uuid.UUID, time_ms: int | None, now: datetime, **data) -> dict:
    return {
        "submission_id": submission_id,
        "task_id": claim.task_id,
        "annotator": claim.annotator,
        "time_ms": _time_on_task(time_ms, claim, now),
        "guideline_version": guideline_version_current(),
        **data,
    }


def _store(model, claim: Claim, fields: dict, *, now: datetime, check_revision, give_back: bool = False) -> Submitted:
    """Insert the first annotation of a held claim, or a revision superseding the author's current row."""
    if claim.status == Claim.Status.SUBMITTED:
        current = (
            model.objects.select_for_update()
            .filter(task_id=claim.task_id, annotator_id=claim.annotator_id, is_current=True)
            .first()
        )
        if current is None:
            raise assignment.ClaimNotHeld
        check_revision(current)
        model.objects.filter(pk=current.pk).update(is_current=False)
        return Submitted(model.objects.create(revision=current.revision + 1, **fields), created=True)
    row = model(**fields)
    assignment.fast_insert(row)
    assignment.claim_mark_submitted(claim, now=now, give_back=give_back)
    return Submitted(row, created=True)


# --------------------------------------------------------------------------------------------------
# Rating
# --------------------------------------------------------------------------------------------------

def rating_clean(*, scores: dict | None, skip_reason: str, comment: str) -> dict[str, Any]:
    """Validate a rating: all seven criteria scored 1–5, or a skip with a known reason."""
    comment = _clean_text(comment, "comment")
    skip_reason = (skip_reason or "").strip()
    if skip_reason:
        if skip_reason not in SkipReason.values:
            raise ValidationError({"skip_reason": _("Choose why you skip this item.")})
        return {"scores": {}, "skip_reason": skip_reason, "comment": comment}
    keys = criterion_keys()
    scores = scores or {}
    errors = {}
    clean = {}
    for key in keys:
        raw = scores.get(key)
        try:
            value = int(raw)
        except (TypeError, ValueError):
            value = None
        if value is None or not 1 <= value <= 5 or (isinstance(raw, float) and raw != value):
            errors[f"score_{key}"] = _("Give a score from 1 to 5.")
        else:
            clean[key] = value
    unknown = set(scores) - set(keys)
    if unknown:
        errors["scores"] = _("Unknown criteria: %(keys)s") % {"keys": ", ".join(sorted(map(str, unknown)))}
    if errors:
        raise ValidationError(errors)
    return {"scores": clean, "skip_reason": "", "comment": comment}


@transaction.atomic
def rating_submit(
    *,
    annotator,
    task_id: int,
    submission_id: uuid.UUID | str,
    scores: dict[str, int] | None = None,
    comment: str = "",
    skip_reason: str = "",
    time_ms: int | None = None,
    now: datetime | None = None,
) -> Submitted:
    """Store a rating of a held rating item, or revise the author's current rating of it."""
    now = now or timezone.now()
    claim, submission_id, replay = _begin(
        Rating, annotator=annotator, task_id=task_id, submission_id=submission_id, now=now
    )
    if replay is not None:
        return replay
    data = rating_clean(scores=scores, skip_reason=skip_reason, comment=comment)
    common = _fields(claim, submission_id=submission_id, time_ms=time_ms, now=now, **data)

    def check(current: Rating) -> None:
        if current.skip_reason or data["skip_reason"]:
            raise ValidationError({"skip_reason": _("A skipped item cannot be rated later, nor a rating skipped.")})
        if locking.is_locked(current, for_update=True):
            raise AlreadyReviewed

    # A skip gives the slot back: the item still needs its overlap of real ratings.
    return _store(Rating, claim, common, now=now, check_revision=check, give_back=bool(data["skip_reason"]))


# --------------------------------------------------------------------------------------------------
# Ranking
# --------------------------------------------------------------------------------------------------

def _ids(values, field: str) -> list[int]:
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise ValidationError({field: _("Unknown response.")}) from exc


class OrderUnconfirmed(ValidationError):
    """A ranking in exactly the order shown, without the annotator confirming that order."""

    def __init__(self):
        super().__init__({"order": _(
            "The order is still the one shown. Move the responses into your order, or confirm that the "
            "shown order is your ranking."
        )})


def ranking_clean(
    *,
    shown: list[int],
    order: list,
    hardness: dict | None,
    all_unacceptable: bool,
    custom_text: str,
    custom_from: int | None,
    comment: str,
    order_confirmed_unchanged: bool = False,
    skip_reason: str = "",
) -> dict[str, Any]:
    """Validate a ranking against the responses shown: a strict order of all of them, best first.

    An order identical to the one shown counts only when the annotator confirmed it
    (`order_confirmed_unchanged`): an untouched list is otherwise indistinguishable from no decision.
    A skip (a known reason) carries no order, rejects or custom answer.
    """
    skip_reason = (skip_reason or "").strip()
    if skip_reason:
        if skip_reason not in SkipReason.values:
            raise ValidationError({"skip_reason": _("Choose why you skip this item.")})
        return {
            "order": [], "hardness": {}, "all_unacceptable": False, "custom_text": "", "custom_from_id": None,
            "comment": _clean_text(comment, "comment"), "order_confirmed_unchanged": False,
            "skip_reason": skip_reason,
        }
    order = _ids(order or [], "order")
    if len(order) != len(set(order)) or sorted(order) != sorted(shown):
        raise ValidationError({"order": _("Rank every response exactly once, best to worst (no ties).")})
    unchanged = order == [int(x) for x in shown]
    if unchanged and not order_confirmed_unchanged:
        raise OrderUnconfirmed
    all_unacceptable = bool(all_unacceptable)
    rejectable = set(order) if all_unacceptable else set(order[1:])
    clean_hardness: dict[str, str] = {}
    for key, value in (hardness or {}).items():
        (response_id,) = _ids([key], "hardness")
        if response_id not in rejectable:
            raise ValidationError({"hardness": _("Only responses ranked below the best can be rejected.")})
        if value not in HARDNESS:
            raise ValidationError({"hardness": _("A reject is either hard or soft.")})
        clean_hardness[str(response_id)] = value
    for response_id in order:
        if response_id in rejectable:
            clean_hardness.setdefault(str(response_id), "soft")
    custom_text = _clean_text(custom_text, "custom_text")
    if all_unacceptable and not custom_text:
        raise ValidationError({"custom_text": _("When all responses are unacceptable, write a custom answer.")})
    if custom_text and not all_unacceptable:
        raise ValidationError(
            {"custom_text": _("A custom answer is only for items whose responses are all unacceptable.")}
        )
    if custom_from in ("", None) or not all_unacceptable:
        custom_from = None
    else:
        (custom_from,) = _ids([custom_from], "custom_from")
        if custom_from not in shown:
            raise ValidationError({"custom_from": _("Unknown response.")})
    return {
        "order": order,
        "hardness": clean_hardness,
        "all_unacceptable": all_unacceptable,
        "custom_text": custom_text,
        "custom_from_id": custom_from,
        "comment": _clean_text(comment, "comment"),
        "order_confirmed_unchanged": unchanged,
        "skip_reason": "",
    }


@transaction.atomic
def ranking_submit(
    *,
    annotator,
    task_id: int,
    submission_id: uuid.UUID | str,
    order: list[int] | None = None,
    hardness: dict[str, str] | None = None,
    all_unacceptable: bool = False,
    custom_text: str = "",
    custom_from: int | None = None,
    comment: str = "",
    order_confirmed_unchanged: bool = False,
    skip_reason: str = "",
    time_ms: int | None = None,
    now: datetime | None = None,
) -> Submitted:
    """Store a ranking of a held ranking item, or revise the author's current ranking of it.

    An order identical to the display order needs `order_confirmed_unchanged` (else `OrderUnconfirmed`);
    a skip (`skip_reason`) stores no order and gives the slot back, like a rating skip.
    """
    now = now or timezone.now()
    claim, submission_id, replay = _begin(
        Ranking, annotator=annotator, task_id=task_id, submission_id=submission_id, now=now
    )
    if replay is not None:
        return replay
    data = ranking_clean(
        shown=list(claim.display_order),
        order=order,
        hardness=hardness,
        all_unacceptable=all_unacceptable,
        custom_text=custom_text,
        custom_from=custom_from,
        comment=comment,
        order_confirmed_unchanged=order_confirmed_unchanged,
        skip_reason=skip_reason,
    )
    common = _fields(
        claim, submission_id=submission_id, time_ms=time_ms, now=now, display_order=list(claim.display_order), **data
    )

    def check(current: Ranking) -> None:
        if current.skip_reason or data["skip_reason"]:
            raise ValidationError({"skip_reason": _("A skipped item cannot be ranked later, nor a ranking skipped.")})
        if locking.is_locked(current):  # `current` was just read with its row lock (_store)
            raise AlreadyReviewed

    return _store(Ranking, claim, common, now=now, check_revision=check, give_back=bool(data["skip_reason"]))


def annotation_is_revisable(annotation: Rating | Ranking) -> bool:
    """The author may still change it: current, not a skip, and not locked (reviewed by QA)."""
    if not annotation.is_current:
        return False
    if annotation.skip_reason:
        return False
    return not locking.is_locked(annotation)
