"""Live dialogs with three anonymous models: seats, turns and the candidates of each turn."""


from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from prompts.models import DialogTypology


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
    max_tokens = models.PositiveIntegerField(null=True, blank=True)  # the answer's budget this turn was sent with
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
