"""Annotation tasks, rating pairs, claims and submissions (ratings, rankings).

Annotations are append-only facts: who, when, how long, what was shown in which order, and under
which guideline version. A revision is a new row that supersedes the previous one.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from prompts.models import Prompt


class TaskKind(models.TextChoices):
    RATING = "rating", _("Rating")
    RANKING = "ranking", _("Ranking")


class RatingPair(models.Model):
    """Two rating tasks of one prompt, each showing one response of a different model (`tasks`).

    Each response is rated on its own; the pair is what QA reviews (the response with the higher mean
    score wins) and what an export turns into one preference pair. Made by task assembly
    (`annotation.services.assembly`), with the seed that chose the two responses.

    `locked_at`: from then on the annotators can no longer revise their ratings of either task (QA
    reviewed the pair). Set and read only through `annotation.services.locking`.
    """

    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="rating_pairs")
    seed = models.BigIntegerField(null=True, blank=True)  # the assembly seed that produced this pair
    created = models.DateTimeField(auto_now_add=True)
    locked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"rating pair #{self.pk}"


class Task(models.Model):
    """One annotation item: a rating item (1 response) or a ranking item (4 responses).

    `remaining` counts the free annotation slots (overlap minus live claims and submissions); it is
    changed only inside the claim/expire/release services, under the task's row lock.
    """

    kind = models.CharField(max_length=16, choices=TaskKind.choices)
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="tasks")
    # The rating pair this rating task is one half of (None for ranking tasks and unpaired rating tasks).
    pair = models.ForeignKey(RatingPair, null=True, blank=True, on_delete=models.PROTECT, related_name="tasks")
    overlap = models.PositiveSmallIntegerField(default=2)
    remaining = models.PositiveSmallIntegerField(default=2)
    is_gold = models.BooleanField(default=False)
    gold_reference = models.JSONField(null=True, blank=True)  # expected ranking or reference scores/answer
    seed = models.BigIntegerField(null=True, blank=True)  # the assembly seed that produced this item
    is_active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # next-item query: WHERE kind=? AND is_active AND remaining > 0 ORDER BY id
            models.Index(
                fields=["kind", "id"], condition=Q(is_active=True, remaining__gt=0), name="task_open_by_kind"
            ),
            # gold next-item query
            models.Index(fields=["kind", "id"], condition=Q(is_active=True, is_gold=True), name="task_gold_by_kind"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(remaining__lte=models.F("overlap")), name="task_remaining_le_overlap"),
            models.CheckConstraint(
                condition=Q(pair__isnull=True) | Q(kind=TaskKind.RATING), name="task_pair_only_rating"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk}"


class TaskResponse(models.Model):
    """A response shown in a task; `position` is the canonical (unshuffled) index."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="task_responses")
    generation = models.ForeignKey("generation.Generation", on_delete=models.PROTECT, related_name="task_uses")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["task", "position"]
        constraints = [
            models.UniqueConstraint(fields=["task", "position"], name="taskresponse_unique_position"),
            models.UniqueConstraint(fields=["task", "generation"], name="taskresponse_unique_generation"),
        ]

    def __str__(self):
        return f"task {self.task_id} · response {self.position}"


class Claim(models.Model):
    """An annotator's lease on a task. At most one per (task, annotator), ever."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUBMITTED = "submitted", _("Submitted")
        EXPIRED = "expired", _("Expired")
        RELEASED = "released", _("Released")

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="claims")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="claims")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # The order the responses were shown in (TaskResponse ids), randomised per annotator.
    display_order = models.JSONField(default=list)
    claimed_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "annotator"], name="claim_once_per_annotator")]
        indexes = [
            # expire_claims(): WHERE status='active' AND expires_at < now
            models.Index(fields=["expires_at"], condition=Q(status="active"), name="claim_active_expiry"),
            # resume my open claim: WHERE annotator=? AND status='active'
            models.Index(fields=["annotator", "task"], condition=Q(status="active"), name="claim_active_by_user"),
        ]

    def __str__(self):
        return f"{self.annotator} → {self.task} ({self.status})"


class AnnotatorQueue(models.Model):
    """An annotator's place in the queue of one kind, kept by the claim service (`assignment`) so that
    the next item costs the same after thousands of claims as after none (bench/annotation.py
    --long-history).

    `claims`: how many claims of this kind the annotator ever made; their sum over kinds decides the gold
    turn (it was a COUNT(*) over all their claims). `claimed_through`: every normal (non-gold) task of this
    kind with an id up to it was claimed by this annotator, so the next-item query starts after it. Claims
    are never deleted, so it stays true; task assembly lowers it if tasks appear below it (a concurrent
    assembly that committed late). Written only in `annotation.services`.
    """

    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotation_queues")
    kind = models.CharField(max_length=16, choices=TaskKind.choices)
    claims = models.PositiveIntegerField(default=0)
    claimed_through = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # the claim's upsert (sql.annotator_queue_advance: ON CONFLICT (annotator, kind)) and its reads
            models.UniqueConstraint(fields=["annotator", "kind"], name="annotatorqueue_once_per_kind"),
        ]

    def __str__(self):
        return f"{self.annotator} · {self.kind} queue"


class SkipReason(models.TextChoices):
    CANNOT_FACT_CHECK = "cannot_fact_check", _("Cannot fact-check quickly")
    NEEDS_EXPERT = "needs_expert", _("Needs expert knowledge")
    BROKEN_PROMPT = "broken_prompt", _("Broken prompt")


class Rating(models.Model):
    """Seven Likert scores (1–5) for one response, or a skip with its reason."""

    submission_id = models.UUIDField(unique=True, default=uuid.uuid4)
    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="ratings")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ratings")
    revision = models.PositiveSmallIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    scores = models.JSONField(default=dict)  # {criterion key: 1..5}
    comment = models.TextField(blank=True)
    skip_reason = models.CharField(max_length=32, choices=SkipReason.choices, blank=True)
    time_ms = models.PositiveIntegerField(default=0)
    guideline_version = models.CharField(max_length=32, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "annotator", "revision"], name="rating_unique_revision"),
            models.UniqueConstraint(
                fields=["task", "annotator"], condition=Q(is_current=True), name="rating_one_current"
            ),
        ]

    def __str__(self):
        return f"rating {self.pk} of task {self.task_id}"

    @property
    def mean(self) -> float | None:
        values = list(self.scores.values())
        return sum(values) / len(values) if values else None


class Ranking(models.Model):
    """Four responses ranked best to worst (TaskResponse ids), with reject hardness and custom answer."""

    submission_id = models.UUIDField(unique=True, default=uuid.uuid4)
    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="rankings")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rankings")
    revision = models.PositiveSmallIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    order = models.JSONField(default=list)  # TaskResponse ids, best first
    display_order = models.JSONField(default=list)  # as shown to this annotator
    hardness = models.JSONField(default=dict)  # {TaskResponse id: "hard" | "soft"} for lower-ranked ones
    all_unacceptable = models.BooleanField(default=False)
    custom_text = models.TextField(blank=True)
    custom_from = models.ForeignKey(
        TaskResponse, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )  # the response the custom answer was copied from, if any
    comment = models.TextField(blank=True)
    # The annotator submitted the order exactly as shown and confirmed it explicitly (a ranking that
    # matches the display order is refused without it); QA can split the position-bias figures by it.
    order_confirmed_unchanged = models.BooleanField(default=False)
    # A skip (with its reason) instead of a ranking: no order, and the slot goes back to the pool.
    skip_reason = models.CharField(max_length=32, choices=SkipReason.choices, blank=True)
    time_ms = models.PositiveIntegerField(default=0)
    guideline_version = models.CharField(max_length=32, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    # From then on the author can no longer revise it (QA reviewed it); see annotation.services.locking.
    locked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "annotator", "revision"], name="ranking_unique_revision"),
            models.UniqueConstraint(
                fields=["task", "annotator"], condition=Q(is_current=True), name="ranking_one_current"
            ),
            models.CheckConstraint(
                condition=Q(all_unacceptable=False) | ~Q(custom_text=""), name="ranking_custom_when_unacceptable"
            ),
            models.CheckConstraint(
                condition=Q(skip_reason="") | Q(order=[]), name="ranking_skip_has_no_order"
            ),
        ]

    def __str__(self):
        return f"ranking {self.pk} of task {self.task_id}"
