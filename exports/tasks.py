"""Celery: build an export. Takes an id, calls the service; a redelivered job simply builds again."""

import logging

from celery import shared_task

from .models import Export

log = logging.getLogger(__name__)

# Big exports stream for minutes; the limits stop a stuck build without killing a healthy one.
SOFT_TIME_LIMIT = 2 * 3600
TIME_LIMIT = SOFT_TIME_LIMIT + 300


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=TIME_LIMIT,
    ignore_result=True,
)
def build_export(export_id: int) -> None:
    """Build into a fresh temp dir and rename it into place (idempotent; failures are stored on the row)."""
    from . import services

    try:
        services.export_build(export_id=export_id)
    except Export.DoesNotExist:
        log.warning("export %s was deleted before its build ran", export_id)
