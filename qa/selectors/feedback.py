"""Feedback notes to annotators."""

from __future__ import annotations

from ..models import Feedback

# --------------------------------------------------------------------------------------------------
# Feedback
# --------------------------------------------------------------------------------------------------

def feedback_for(user, limit: int = 20) -> list[Feedback]:
    """The newest feedback sent to ``user`` (for the annotator's home page)."""
    if not user.is_authenticated:
        return []
    return list(
        Feedback.objects.filter(to_user=user).select_related("from_user", "task", "dialog").order_by(
            "-created", "-id"
        )[:limit]
    )


def feedback_sent(limit: int = 50) -> list[Feedback]:
    return list(Feedback.objects.select_related("to_user", "from_user").order_by("-created", "-id")[:limit])


def feedback_unread(user) -> int:
    """How many feedback notes ``user`` has not marked read (the home page's badge)."""
    if not user.is_authenticated:
        return 0
    return Feedback.objects.filter(to_user=user, read_at__isnull=True).count()
