from concurrent.futures import ThreadPoolExecutor

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from generation import selectors
from generation.models import Campaign
from generation.services.campaigns import CampaignError, campaign_start
from generation.services.runner import campaign_run_endpoint


def _run(campaign_id: int, endpoint_id: int):
    try:
        return campaign_run_endpoint(campaign_id=campaign_id, endpoint_id=endpoint_id, max_seconds=float("inf"))
    finally:
        connection.close()  # this thread's own connection


class Command(BaseCommand):
    help = ("Run a campaign in this process, without a Celery worker (one runner thread per endpoint). "
            "Safe next to workers: claims are leased, so nothing is generated twice.")

    def add_arguments(self, parser):
        parser.add_argument("campaign_id", type=int)

    def handle(self, *args, **options):
        campaign = Campaign.objects.filter(pk=options["campaign_id"]).first()
        if campaign is None:
            raise CommandError(f"no campaign {options['campaign_id']}")
        if campaign.status == Campaign.Status.DRAFT:
            try:
                campaign_start(campaign=campaign, enqueue=False)
            except CampaignError as exc:
                raise CommandError(str(exc)) from exc
        endpoint_ids = selectors.campaign_todo_endpoints(campaign)
        if len(endpoint_ids) <= 1:  # in this thread (and its database connection)
            reports = [campaign_run_endpoint(campaign_id=campaign.pk, endpoint_id=e, max_seconds=float("inf"))
                       for e in endpoint_ids]
        else:
            with ThreadPoolExecutor(len(endpoint_ids)) as pool:
                reports = list(pool.map(lambda e: _run(campaign.pk, e), endpoint_ids))
        campaign.refresh_from_db()
        progress = selectors.campaign_progress(campaign)
        self.stdout.write(f"campaign {campaign.pk} {campaign.status}: {progress.done} done, {progress.failed} failed, "
                          f"{progress.todo} left ({sum(r.claimed for r in reports)} requests sent)")
