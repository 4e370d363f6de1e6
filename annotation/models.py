"""Taxonomy, prompts, annotation tasks, claims, submissions and dialogs.

Annotations are append-only facts: who, when, how long, what was shown in which order, and under
which guideline version. A revision is a new row that supersedes the previous one.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class CategoryGroup(models.TextChoices):
    GENERAL = "general", _("General")
    SAFETY = "safety", _("Safety")


class Category(models.Model):
    """A prompt category of the PLLuM-Align collection (seeded from the reference file)."""

    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    group = models.CharField(max_length=16, choices=CategoryGroup.choices)
    origin = models.CharField(max_length=16, default="original")  # original | adapted
    # Which sub-label the prompt form asks for: a topic, a generation type or an ethics theme.
    label_kind = models.CharField(max_length=16, default="topic")
    guideline = models.TextField(blank=True)
    paper_total_prompts = models.PositiveIntegerField(null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "key"]
        verbose_name_plural = _("categories")

    def __str__(self):
        return self.name


class Topic(models.Model):
    """A label under a category: a QA topic, one of the 43 generation types, or an ethics (sub)theme."""

    class Kind(models.TextChoices):
        TOPIC = "topic", _("Topic")
        GENERATION_TYPE = "generation_type", _("Generation type")
        ETHICS_THEME = "ethics_theme", _("Ethics theme")

    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.TOPIC)
    name = models.CharField(max_length=200)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    categories = models.ManyToManyField(Category, related_name="topics", blank=True)
    target = models.PositiveIntegerField(default=0, help_text=_("Coverage target (prompts) set by admins."))

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name", "parent"], name="topic_unique_in_parent"),
        ]

    def __str__(self):
        return f"{self.parent} › {self.name}" if self.parent_id else self.name


class DialogTypology(models.Model):
    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        verbose_name_plural = _("dialog typologies")

    def __str__(self):
        return self.name


class Criterion(models.Model):
    """A rating criterion with the guideline text shown next to its scale."""

    key = models.SlugField(max_length=64, unique=True)
    name_en = models.CharField(max_length=120)
    name_pl = models.CharField(max_length=120)
    guideline = models.TextField()
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        verbose_name_plural = _("criteria")

    def __str__(self):
        return self.name_en


class AttackStyle(models.Model):
    name = models.CharField(max_length=120, unique=True)

    def __str__(self):
        return self.name


class RedTeamTemplate(models.Model):
    """A red-teaming prompt template with named `{slots}` filled in by annotators."""

    text = models.TextField()
    attack_style = models.ForeignKey(AttackStyle, on_delete=models.PROTECT, related_name="templates")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["text"], name="redteam_template_unique_text")]

    def __str__(self):
        return self.text[:80]


class GuidelineVersion(models.Model):
    """The annotation guidelines in force; every submission records which version it followed."""

    version = models.CharField(max_length=32, unique=True)
    notes = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.version


class PromptSource(models.TextChoices):
    ORIGINAL = "original", _("Original")
    POLQA = "polqa", "PolQA"
    HH_RLHF = "hh_rlhf", "HH-RLHF"
    LONG = "long", "LONG"
    TOXIGEN = "toxigen", "Toxigen"


class Prompt(models.Model):
    text = models.TextField()
    # Normalised text (case, whitespace, punctuation and Polish diacritics folded) for duplicate checks.
    normalized = models.TextField(db_index=False)
    normalized_hash = models.CharField(max_length=64, db_index=True)  # exact-duplicate lookups
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="prompts")
    topic = models.ForeignKey(Topic, null=True, blank=True, on_delete=models.PROTECT, related_name="prompts")
    source = models.CharField(max_length=16, choices=PromptSource.choices, default=PromptSource.ORIGINAL)
    template = models.ForeignKey(
        RedTeamTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="prompts"
    )
    slot_values = models.JSONField(default=dict, blank=True)
    duplicate_reason = models.TextField(blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="prompts"
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            # coverage table: counts per (category, topic)
            models.Index(fields=["category", "topic"], name="prompt_cat_topic"),
            # "My prompts"
            models.Index(fields=["author", "-created"], name="prompt_author_created"),
        ]

    def __str__(self):
        return self.text[:80]

    @property
    def char_length(self) -> int:
        return len(self.text)


class TaskKind(models.TextChoices):
    RATING = "rating", _("Rating")
    RANKING = "ranking", _("Ranking")


class Task(models.Model):
    """One annotation item: a rating item (1 response) or a ranking item (4 responses).

    `remaining` counts the free annotation slots (overlap minus live claims and submissions); it is
    changed only inside the claim/expire/release services, under the task's row lock.
    """

    kind = models.CharField(max_length=16, choices=TaskKind.choices)
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="tasks")
    # Two rating tasks of one prompt (two distinct models) share a pair key.
    pair_key = models.CharField(max_length=64, blank=True, db_index=True)
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
    time_ms = models.PositiveIntegerField(default=0)
    guideline_version = models.CharField(max_length=32, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "annotator", "revision"], name="ranking_unique_revision"),
            models.UniqueConstraint(
                fields=["task", "annotator"], condition=Q(is_current=True), name="ranking_one_current"
            ),
            models.CheckConstraint(
                condition=Q(all_unacceptable=False) | ~Q(custom_text=""), name="ranking_custom_when_unacceptable"
            ),
        ]

    def __str__(self):
        return f"ranking {self.pk} of task {self.task_id}"


class Dialog(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("In progress")
        FINISHED = "finished", _("Finished")
        ABANDONED = "abandoned", _("Abandoned")

    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="dialogs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    guideline_version = models.CharField(max_length=32, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["annotator", "status"], name="dialog_by_annotator")]

    def __str__(self):
        return f"Dialog #{self.pk}"


class DialogSeat(models.Model):
    """One of the three models of a dialog, known to the annotator only as A, B or C."""

    dialog = models.ForeignKey(Dialog, on_delete=models.CASCADE, related_name="seats")
    label = models.CharField(max_length=1)
    endpoint = models.ForeignKey("generation.Endpoint", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["label"]
        constraints = [
            models.UniqueConstraint(fields=["dialog", "label"], name="seat_unique_label"),
            models.UniqueConstraint(fields=["dialog", "endpoint"], name="seat_unique_endpoint"),
        ]

    def __str__(self):
        return f"dialog {self.dialog_id} seat {self.label}"


class DialogTurn(models.Model):
    dialog = models.ForeignKey(Dialog, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveSmallIntegerField()  # 1-based
    user_text = models.TextField()
    typology = models.ForeignKey(DialogTypology, on_delete=models.PROTECT, related_name="+")
    column_order = models.JSONField(default=list)  # seat labels left to right, as shown this turn
    chosen = models.ForeignKey(
        "DialogCandidate", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    custom_text = models.TextField(blank=True)
    custom_from = models.ForeignKey(
        "DialogCandidate", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submission_id = models.UUIDField(null=True, blank=True, unique=True)
    time_ms = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["dialog", "index"]
        constraints = [
            models.UniqueConstraint(fields=["dialog", "index"], name="turn_unique_index"),
            models.CheckConstraint(condition=Q(index__gte=1, index__lte=10), name="turn_index_1_10"),
        ]

    def __str__(self):
        return f"dialog {self.dialog_id} turn {self.index}"

    @property
    def assistant_text(self) -> str:
        if self.custom_text:
            return self.custom_text
        return self.chosen.text if self.chosen_id else ""


class DialogCandidate(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        STREAMING = "streaming", _("Streaming")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    turn = models.ForeignKey(DialogTurn, on_delete=models.CASCADE, related_name="candidates")
    seat = models.ForeignKey(DialogSeat, on_delete=models.PROTECT, related_name="candidates")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    text = models.TextField(blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    finish_reason = models.CharField(max_length=32, blank=True)
    # While STREAMING: the request running this candidate renews the lease; an expired lease means the
    # process died mid-stream and another request may take the candidate over.
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["turn", "seat"], name="candidate_unique_seat")]

    def __str__(self):
        return f"turn {self.turn_id} seat {self.seat_id}"


class Invitation(models.Model):
    """Sign-up is by invitation only; the invitation names the role the new account gets."""

    token = models.CharField(max_length=64, unique=True)
    email = models.EmailField(blank=True)
    role = models.CharField(max_length=16)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="invitations_sent"
    )
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.email or self.token[:8]} ({self.role})"
