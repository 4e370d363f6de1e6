"""Celery: recompute the shared QA dashboard figures in the background (see reports.cached_dashboard)."""

from celery import shared_task
from django.utils import translation


@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=600, time_limit=660, ignore_result=True)
def dashboard_refresh(query: dict, language: str) -> None:
    """Idempotent: a redelivered job recomputes the same figures from the same filters."""
    from . import reports
    from .forms import DashboardFilterForm

    with translation.override(language):
        form = DashboardFilterForm(query or None)
        reports.store_dashboard(form.filters())
