"""Celery tasks: thin wrappers that take ids and call the runner / campaign services."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

log = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True,
             autoretry_for=(InterfaceError, OperationalError), retry_backoff=True, retry_backoff_max=60,
             max_retries=20)
def run_campaign_endpoint(*, campaign_id: int, endpoint_id: int) -> dict:
    """Drive one endpoint of a campaign; idempotent, so a redelivered or duplicate task is harmless."""
    from .services.runner import campaign_run_endpoint

    report = campaign_run_endpoint(campaign_id=campaign_id, endpoint_id=endpoint_id)
    if report.continued:
        run_campaign_endpoint.delay(campaign_id=campaign_id, endpoint_id=endpoint_id)
    log.info("campaign %s endpoint %s: %s", campaign_id, endpoint_id, report)
    return {"claimed": report.claimed, "done": report.done, "retrying": report.retrying,
            "failed": report.failed, "continued": report.continued}


@shared_task(acks_late=True, ignore_result=True)
def resume_stalled_campaigns() -> int:
    """Beat: re-enqueue runners of running campaigns that show no sign of a live worker."""
    from .services.campaigns import campaigns_resume_stalled

    return len(campaigns_resume_stalled(stale_after_seconds=settings.STUDIO_RUNNER_STALE_SECONDS))


@shared_task(acks_late=True, ignore_result=True)
def check_endpoint_health(*, endpoint_id: int) -> bool:
    from .models import Endpoint
    from .services.endpoints import endpoint_check_health

    endpoint = Endpoint.objects.filter(pk=endpoint_id).first()
    return bool(endpoint and endpoint_check_health(endpoint=endpoint).ok)
