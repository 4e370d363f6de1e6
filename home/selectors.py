"""What the home page shows: an annotator's totals across every kind of work."""

from datetime import datetime, time

from django.db.models import Count, Q
from django.utils import timezone

from annotation.models import Ranking, Rating
from dialogs.models import Dialog, DialogTurn
from prompts.models import Prompt


def _today_start() -> datetime:
    return timezone.make_aware(datetime.combine(timezone.localdate(), time.min))


def _totals(qs, today: datetime) -> dict[str, int]:
    return qs.aggregate(total=Count("id"), today=Count("id", filter=Q(created__gte=today)))


def annotator_totals(annotator) -> dict[str, dict[str, int]]:
    """Own totals today and overall: ratings and rankings (without skips), dialog turns, prompts."""
    today = _today_start()
    return {
        "rating": _totals(Rating.objects.filter(annotator=annotator, is_current=True, skip_reason=""), today),
        "ranking": _totals(Ranking.objects.filter(annotator=annotator, is_current=True, skip_reason=""), today),
        "dialog": _totals(DialogTurn.objects.filter(dialog__annotator=annotator), today),
        "prompt": _totals(Prompt.objects.filter(author=annotator), today),
    }


def dialogs_open(annotator) -> int:
    return Dialog.objects.filter(annotator=annotator, status=Dialog.Status.OPEN).count()
