"""Review decisions and feedback. Reviews never overwrite annotations: the original stays."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ReviewTarget(models.TextChoices):
    RANKING = "ranking", _("Ranking (custom answer)")
    RATING_PAIR = "rating_pair", _("Rating pair")
    DIALOG = "dialog", _("Dialog")
    DIALOG_TURN = "dialog_turn", _("Dialog turn (custom answer)")


class Review(models.Model):
    class Decision(models.TextChoices):
        APPROVE = "approve", _("Approve")
        EDIT = "edit", _("Edit")
        REJECT = "reject", _("Reject")

    target_kind = models.CharField(max_length=16, choices=ReviewTarget.choices)
    target_id = models.BigIntegerField()  # Ranking id, Task id (first of the pair), Dialog id, DialogTurn id
    decision = models.CharField(max_length=16, choices=Decision.choices)
    note = models.TextField(blank=True)
    original_text = models.TextField(blank=True)
    edited_text = models.TextField(blank=True)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            # latest decision per target (review queues and exports)
            models.Index(fields=["target_kind", "target_id", "-created"], name="review_by_target"),
        ]

    def __str__(self):
        return f"{self.target_kind} {self.target_id}: {self.decision}"


class Feedback(models.Model):
    """A QA lead's note to an annotator, optionally about one task or dialog."""

    to_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feedback")
    from_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    task = models.ForeignKey("annotation.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    dialog = models.ForeignKey(
        "dialogs.Dialog", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    created = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["to_user", "-created"], name="feedback_inbox")]

    def __str__(self):
        return f"feedback to {self.to_user_id}"
