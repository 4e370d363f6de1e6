"""Review decisions and feedback. Reviews never overwrite annotations: the original stays."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ReviewTarget(models.TextChoices):
    RANKING = "ranking", _("Ranking (custom answer)")
    RATING_PAIR = "rating_pair", _("Rating pair")
    DIALOG = "dialog", _("Dialog")
    DIALOG_TURN = "dialog_turn", _("Dialog turn (custom answer)")


# The foreign key of Review that names the target of each kind (the field name is the kind).
TARGET_FIELDS = {
    ReviewTarget.RANKING: "ranking",
    ReviewTarget.RATING_PAIR: "rating_pair",
    ReviewTarget.DIALOG: "dialog",
    ReviewTarget.DIALOG_TURN: "dialog_turn",
}


def _exactly_the_target_of_its_kind() -> models.Q:
    condition = models.Q()
    for kind, name in TARGET_FIELDS.items():
        condition |= models.Q(
            target_kind=kind.value, **{f"{other}__isnull": other != name for other in TARGET_FIELDS.values()}
        )
    return condition


class Review(models.Model):
    """A QA decision on one target: a ranking's custom answer, a rating pair's winner, a dialog, or a dialog
    turn's custom answer. Exactly the foreign key of `target_kind` is set (a CheckConstraint); the targets
    are protected, so the audit trail never points at nothing."""

    class Decision(models.TextChoices):
        APPROVE = "approve", _("Approve")
        EDIT = "edit", _("Edit")
        REJECT = "reject", _("Reject")

    target_kind = models.CharField(max_length=16, choices=ReviewTarget.choices)
    # Each target key is indexed together with `created` below (not on its own: db_index=False).
    ranking = models.ForeignKey(
        "annotation.Ranking", null=True, blank=True, on_delete=models.PROTECT, related_name="reviews", db_index=False
    )
    rating_pair = models.ForeignKey(
        "annotation.RatingPair", null=True, blank=True, on_delete=models.PROTECT, related_name="reviews",
        db_index=False,
    )
    dialog = models.ForeignKey(
        "dialogs.Dialog", null=True, blank=True, on_delete=models.PROTECT, related_name="reviews", db_index=False
    )
    dialog_turn = models.ForeignKey(
        "dialogs.DialogTurn", null=True, blank=True, on_delete=models.PROTECT, related_name="reviews",
        db_index=False,
    )
    decision = models.CharField(max_length=16, choices=Decision.choices)
    note = models.TextField(blank=True)
    original_text = models.TextField(blank=True)
    edited_text = models.TextField(blank=True)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        # Latest decision per target: `WHERE <key> = ? ORDER BY created DESC, id DESC LIMIT 1` (the
        # `latest_decision` / `reviewed` subqueries of the custom-answer and dialog review queues,
        # qa.selectors.reviews._with_status) and `WHERE <key> IN (...) ORDER BY <key>, created DESC, id DESC`
        # (review_state: the rating-pair queues, queue_counts and the exports). One partial index per key:
        # each holds only the reviews of its kind.
        indexes = [
            models.Index(
                fields=[name, "-created", "-id"], condition=models.Q(**{f"{name}__isnull": False}),
                name=f"review_by_{name}",
            )
            for name in TARGET_FIELDS.values()
        ]
        constraints = [
            models.CheckConstraint(condition=_exactly_the_target_of_its_kind(), name="review_target_matches_kind"),
        ]

    def __str__(self):
        return f"{self.target_kind} {self.target_id}: {self.decision}"

    @staticmethod
    def target_field(target_kind: str) -> str:
        """The foreign key naming a target of this kind ("ranking", "rating_pair", "dialog", "dialog_turn")."""
        return TARGET_FIELDS[ReviewTarget(target_kind)]

    @property
    def target_id(self) -> int | None:
        """The id of the reviewed object (Ranking, RatingPair, Dialog or DialogTurn, by `target_kind`)."""
        return getattr(self, f"{self.target_field(self.target_kind)}_id")


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
