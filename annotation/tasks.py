"""Celery tasks of the annotation app (thin: they call services)."""

from celery import shared_task


@shared_task(soft_time_limit=50, time_limit=60)
def expire_claims() -> int:
    """Beat runs this every minute: leases that ran out give their slots back. Idempotent."""
    from .services import assignment

    expired = 0
    while True:
        batch = assignment.claims_expire()
        expired += batch
        if batch < assignment.EXPIRE_BATCH:
            return expired
