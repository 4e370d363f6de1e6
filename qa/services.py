"""Writes for quality assurance: review decisions, gold marking, feedback, coverage targets.

Reviews are new rows: the annotation is never changed, the original text is copied into the review and
the exports read the latest decision through `qa.selectors.effective_custom_text`. A review of a ranking or a
rating pair also locks it (`annotation.services.locking`): its annotators can no longer revise it.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from annotation.models import Ranking, RatingPair, Task, TaskKind
from annotation.services import locking
from core import roles
from dialogs.models import Dialog
from prompts.models import Criterion, Topic

from . import selectors
from .models import Feedback, Review, ReviewTarget

EDITABLE_TARGETS = (ReviewTarget.RANKING, ReviewTarget.DIALOG_TURN, ReviewTarget.RATING_PAIR)
# What a review freezes against revision by its annotators. Dialogs need no lock: a decided turn cannot
# be changed (dialogs.services.dialog_turn_decide), and a dialog is reviewed once finished.
LOCKED_BY_REVIEW = {ReviewTarget.RANKING: Ranking, ReviewTarget.RATING_PAIR: RatingPair}


def _clean_text(text: str) -> str:
    return (text or "").replace("\r\n", "\n").replace("\r", "\n")


@transaction.atomic
def review_decide(
    *,
    reviewer,
    target_kind: str,
    target_id: int,
    decision: str,
    note: str = "",
    edited_text: str = "",
) -> Review:
    """Record a QA decision (approve / edit / reject) on a custom answer, rating pair or dialog.

    `target_id`: the Ranking, RatingPair, Dialog or DialogTurn id. A ranking or rating pair is locked
    against revision in the same transaction.
    """
    if target_kind not in ReviewTarget.values:
        raise ValidationError(_("Unknown review target."))
    if decision not in Review.Decision.values:
        raise ValidationError({"decision": _("Choose approve, edit or reject.")})
    if target_kind in LOCKED_BY_REVIEW:
        # First, before the original is read: the lock's row lock orders this review after a revision
        # in flight (whose text is then the one reviewed) or makes that revision wait and be refused.
        # Nothing stays locked when the decision is refused below: the transaction rolls back.
        locking.item_lock(LOCKED_BY_REVIEW[target_kind], target_id)
    originals = selectors.original_texts(target_kind, [target_id])
    if target_id not in originals:
        raise ValidationError(_("This item does not exist or has nothing to review."))
    original = originals[target_id]
    note = _clean_text(note).strip()
    edited = _clean_text(edited_text)
    if decision == Review.Decision.EDIT:
        if target_kind not in EDITABLE_TARGETS:
            raise ValidationError({"decision": _("A dialog as a whole cannot be edited; edit its turns.")})
        if target_kind == ReviewTarget.RATING_PAIR and not original:
            raise ValidationError({"decision": _("The two responses have equal means: there is no winner to edit.")})
        if not edited.strip():
            raise ValidationError({"edited_text": _("Write the corrected text.")})
        if edited == original:
            raise ValidationError({"edited_text": _("The text is unchanged: approve instead.")})
    else:
        edited = ""
    if decision == Review.Decision.REJECT and not note:
        raise ValidationError({"note": _("Say why the item is rejected.")})
    return Review.objects.create(
        target_kind=target_kind,
        **{f"{Review.target_field(target_kind)}_id": target_id},
        decision=decision,
        note=note,
        original_text=original,
        edited_text=edited,
        reviewer=reviewer,
    )


def _ranking_reference(task: Task, data: dict[str, Any]) -> dict[str, Any]:
    order = data.get("order") or []
    if order:
        response_ids = set(task.task_responses.values_list("id", flat=True))
        try:
            order = [int(i) for i in order]
        except (TypeError, ValueError) as exc:
            raise ValidationError({"order": _("The expected ranking must list response ids.")}) from exc
        if len(order) != len(set(order)) or set(order) != response_ids:
            raise ValidationError({"order": _("The expected ranking must list each response exactly once.")})
    return {"order": order} if order else {}


def _rating_reference(data: dict[str, Any]) -> dict[str, Any]:
    scores = data.get("scores") or {}
    known = set(Criterion.objects.values_list("key", flat=True))
    clean: dict[str, int] = {}
    for key, value in scores.items():
        if value in (None, ""):
            continue
        if key not in known:
            raise ValidationError({"scores": _("Unknown criterion: %(key)s") % {"key": key}})
        try:
            score = int(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError({"scores": _("Scores must be whole numbers 1 to 5.")}) from exc
        if not 1 <= score <= 5:
            raise ValidationError({"scores": _("Scores must be whole numbers 1 to 5.")})
        clean[key] = score
    return {"scores": clean} if clean else {}


@transaction.atomic
def gold_mark(*, task: Task, marked_by, reference: dict[str, Any] | None = None) -> Task:
    """Mark a rating or ranking task as gold, optionally with a reference.

    ``reference``: ``{"order": [TaskResponse ids best first]}`` for ranking tasks or ``{"scores":
    {criterion: 1..5}}`` for rating tasks, plus an optional ``"answer"`` (reference answer text).
    Stored in ``Task.gold_reference`` (None when no reference was given).
    """
    task = Task.objects.select_for_update().get(pk=task.pk)
    data = dict(reference or {})
    clean = _ranking_reference(task, data) if task.kind == TaskKind.RANKING else _rating_reference(data)
    answer = _clean_text(data.get("answer", "")).strip()
    if answer:
        clean["answer"] = answer
    if clean:
        clean["marked_by"] = marked_by.pk
        clean["marked_at"] = timezone.now().isoformat()
    task.is_gold = True
    task.gold_reference = clean or None
    task.save(update_fields=["is_gold", "gold_reference"])
    return task


@transaction.atomic
def gold_unmark(*, task: Task) -> Task:
    """Take a task out of the gold set; its reference is kept for the record."""
    task = Task.objects.select_for_update().get(pk=task.pk)
    task.is_gold = False
    task.save(update_fields=["is_gold"])
    return task


@transaction.atomic
def feedback_send(*, sender, to_user, text: str, task: Task | None = None, dialog: Dialog | None = None) -> Feedback:
    text = _clean_text(text).strip()
    if not text:
        raise ValidationError({"text": _("Write the feedback.")})
    if roles.ANNOTATOR not in roles.role_names(to_user):
        raise ValidationError({"to_user": _("Feedback goes to annotators.")})
    return Feedback.objects.create(to_user=to_user, from_user=sender, text=text, task=task, dialog=dialog)


@transaction.atomic
def feedback_mark_read(*, user, feedback_id: int) -> Feedback:
    """The annotator marks one of their own feedback notes read (Feedback.DoesNotExist otherwise)."""
    feedback = Feedback.objects.select_for_update().get(pk=feedback_id, to_user=user)
    if feedback.read_at is None:
        feedback.read_at = timezone.now()
        feedback.save(update_fields=["read_at"])
    return feedback


@transaction.atomic
def topic_target_set(*, topic: Topic, target: int) -> Topic:
    if target < 0:
        raise ValidationError({"target": _("The target cannot be negative.")})
    topic.target = target
    topic.save(update_fields=["target"])
    return topic
