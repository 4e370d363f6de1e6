"""Campaigns: create, start (all generation rows up front), pause, resume, cancel, retry failed."""

from __future__ import annotations

from http import HTTPStatus

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import StudioError

from .. import client, selectors, tasks
from ..models import Campaign, CampaignRunner, Endpoint, Generation, PrePrompt

S = Campaign.Status
G = Generation.Status
FINISHED = (S.DONE, S.DONE_WITH_FAILURES)  # "retry failed" reopens either (a done campaign may hold failed rows
# from before the distinction, or a single retried row that failed again)
MAX_TOKENS_LIMIT = 16384


class CampaignError(StudioError):
    """A campaign that cannot be created (400), or an action its state refuses (409 CONFLICT)."""


def _clean_params(params: dict | None) -> dict:
    """Campaign sampling overrides; only known keys, in range."""
    params = dict(params or {})
    allowed = {"temperature", "top_p", "top_k", "max_tokens"}
    unknown = set(params) - allowed
    if unknown:
        raise CampaignError(f"unknown sampling parameters: {', '.join(sorted(unknown))}")
    params = {k: v for k, v in params.items() if v not in (None, "")}
    if "max_tokens" in params and not 1 <= int(params["max_tokens"]) <= MAX_TOKENS_LIMIT:
        raise CampaignError(f"max_tokens must be between 1 and {MAX_TOKENS_LIMIT}")
    if "temperature" in params and not 0 <= float(params["temperature"]) <= 2:
        raise CampaignError("temperature must be between 0 and 2")
    if "top_p" in params and not 0 < float(params["top_p"]) <= 1:
        raise CampaignError("top_p must be in (0, 1]")
    return params


@transaction.atomic
def campaign_create(*, name: str, prompt_filter: dict, endpoints: list[Endpoint], preprompts: list[PrePrompt],
                    samples: int = 1, params: dict | None = None, created_by=None) -> Campaign:
    if not name.strip():
        raise CampaignError("a campaign needs a name")
    if not endpoints:
        raise CampaignError("choose at least one endpoint")
    if not preprompts:
        raise CampaignError("choose at least one pre-prompt (\"none\" for the plain prompt)")
    if not 1 <= samples <= 16:
        raise CampaignError("samples per combination must be between 1 and 16")
    unusable = [e.name for e in endpoints if not e.base_url]
    if unusable:
        raise CampaignError(f"endpoints without a base URL cannot generate: {', '.join(unusable)}")
    try:
        count = selectors.prompts_for_filter(prompt_filter).count()
    except selectors.FilterError as exc:
        raise CampaignError(str(exc)) from exc
    if count == 0:
        raise CampaignError("the filter selects no prompts")
    campaign = Campaign.objects.create(
        name=name.strip(), prompt_filter=prompt_filter, samples=samples, params=_clean_params(params),
        created_by=created_by,
    )
    campaign.endpoints.set(endpoints)
    campaign.preprompts.set(preprompts)
    return campaign


def _generation_rows(campaign: Campaign) -> list[Generation]:
    prompts = list(selectors.prompts_for_filter(campaign.prompt_filter).values_list("id", flat=True))
    rows = []
    for endpoint in campaign.endpoints.all():
        for preprompt in campaign.preprompts.all():
            version = preprompt.current_version()
            placement = client.resolve_placement(
                placement=preprompt.placement, supports_system=endpoint.supports_system_role
            )
            # The parameters actually sent are fixed here, so retries send exactly the same request.
            params = {**client.sampling_params(endpoint, campaign.params), "placement": placement}
            for prompt_id in prompts:
                for sample in range(campaign.samples):
                    rows.append(Generation(
                        prompt_id=prompt_id, endpoint=endpoint, preprompt_version=version, sample_index=sample,
                        campaign=campaign, params=params,
                    ))
    return rows


def _enqueue_runners(campaign: Campaign, endpoint_ids: list[int]) -> None:
    now = timezone.now()
    for endpoint_id in endpoint_ids:
        runner, _ = CampaignRunner.objects.get_or_create(campaign=campaign, endpoint_id=endpoint_id)
        CampaignRunner.objects.filter(pk=runner.pk).update(enqueued_at=now)
        transaction.on_commit(
            lambda c=campaign.pk, e=endpoint_id: tasks.run_campaign_endpoint.delay(campaign_id=c, endpoint_id=e)
        )


@transaction.atomic
def campaign_start(*, campaign: Campaign, enqueue: bool = True) -> int:
    """Create every generation row (idempotent: existing ones are kept) and enqueue one runner per endpoint.

    A (prompt, endpoint, pre-prompt version, sample) that already exists, from this or an earlier
    campaign or an import, is not generated again. Returns the number of rows this campaign owns.
    """
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in (S.DRAFT, S.RUNNING):
        raise CampaignError(f"cannot start a campaign that is {campaign.get_status_display()}",
                            status=HTTPStatus.CONFLICT)
    Generation.objects.bulk_create(_generation_rows(campaign), ignore_conflicts=True, batch_size=1000)
    campaign.status = S.RUNNING
    campaign.started_at = campaign.started_at or timezone.now()
    campaign.finished_at = None
    campaign.save(update_fields=["status", "started_at", "finished_at"])
    if enqueue:  # False when the caller runs the runners itself (manage.py run_campaign)
        _enqueue_runners(campaign, selectors.campaign_todo_endpoints(campaign))
    if not selectors.campaign_todo_endpoints(campaign):
        campaign_maybe_finish(campaign_id=campaign.pk)
    return Generation.objects.filter(campaign=campaign).count()


@transaction.atomic
def campaign_pause(*, campaign: Campaign) -> Campaign:
    """Runners stop claiming; requests in flight finish and are stored."""
    updated = Campaign.objects.filter(pk=campaign.pk, status=S.RUNNING).update(status=S.PAUSED)
    if not updated:
        raise CampaignError("only a running campaign can be paused", status=HTTPStatus.CONFLICT)
    campaign.refresh_from_db()
    return campaign


@transaction.atomic
def campaign_resume(*, campaign: Campaign) -> Campaign:
    updated = Campaign.objects.filter(pk=campaign.pk, status=S.PAUSED).update(status=S.RUNNING)
    if not updated:
        raise CampaignError("only a paused campaign can be resumed", status=HTTPStatus.CONFLICT)
    campaign.refresh_from_db()
    _enqueue_runners(campaign, selectors.campaign_todo_endpoints(campaign))
    return campaign


@transaction.atomic
def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Pending and retrying generations are cancelled; those in flight still finish and are kept."""
    updated = Campaign.objects.filter(pk=campaign.pk, status__in=[S.DRAFT, S.RUNNING, S.PAUSED]).update(
        status=S.CANCELLED, finished_at=timezone.now()
    )
    if not updated:
        raise CampaignError("this campaign is already finished", status=HTTPStatus.CONFLICT)
    Generation.objects.filter(campaign=campaign, status__in=[G.PENDING, G.RETRYING]).update(
        status=G.CANCELLED, next_attempt_at=None
    )
    campaign.refresh_from_db()
    return campaign


@transaction.atomic
def generation_retry(*, generation: Generation) -> Generation:
    """Put a failed generation back in the queue (its campaign resumes if it had finished)."""
    updated = Generation.objects.filter(pk=generation.pk, status=G.FAILED).update(
        status=G.PENDING, attempts=0, error="", next_attempt_at=None
    )
    if not updated:
        raise CampaignError("only a failed generation can be retried", status=HTTPStatus.CONFLICT)
    generation.refresh_from_db()
    campaign = generation.campaign
    if campaign is not None:
        Campaign.objects.filter(pk=campaign.pk, status__in=FINISHED).update(status=S.RUNNING, finished_at=None)
        campaign.refresh_from_db()
        if campaign.status == S.RUNNING:
            _enqueue_runners(campaign, [generation.endpoint_id])
    return generation


@transaction.atomic
def campaign_retry_failed(*, campaign: Campaign) -> int:
    count = Generation.objects.filter(campaign=campaign, status=G.FAILED).update(
        status=G.PENDING, attempts=0, error="", next_attempt_at=None
    )
    if count:
        Campaign.objects.filter(pk=campaign.pk, status__in=FINISHED).update(status=S.RUNNING, finished_at=None)
        campaign.refresh_from_db()
        if campaign.status == S.RUNNING:
            _enqueue_runners(campaign, selectors.campaign_todo_endpoints(campaign))
    return count


def campaign_maybe_finish(*, campaign_id: int) -> bool:
    """Finish a running campaign when nothing is left to do (conditional, so safe from any runner): `done` when
    every generation succeeded, `done with failures` otherwise (its failed rows can still be retried)."""
    todo = Generation.objects.filter(campaign_id=campaign_id, status__in=selectors.TODO_STATUSES)
    idle = Campaign.objects.filter(Q(pk=campaign_id, status=S.RUNNING), ~Q(pk__in=todo.values("campaign_id")))
    failed = Generation.objects.filter(campaign_id=campaign_id, status=G.FAILED)
    now = timezone.now()
    return bool(
        idle.filter(pk__in=failed.values("campaign_id")).update(status=S.DONE_WITH_FAILURES, finished_at=now)
        or idle.update(status=S.DONE, finished_at=now)
    )


def campaigns_resume_stalled(*, stale_after_seconds: int) -> list[tuple[int, int]]:
    """Re-enqueue runners of running campaigns whose runner has shown no sign of life for a while.

    A runner heartbeats every few seconds while it works (also while its endpoint is down and it only
    probes); a worker killed hard (its task not redelivered by the broker before the visibility timeout)
    leaves the heartbeat old. A second runner is harmless: claims are row-locked and results are written
    only under the writer's own lease; the dead runner's rows are free once their lease lapses.
    """
    cutoff = timezone.now() - timezone.timedelta(seconds=stale_after_seconds)
    restarted = []
    for campaign in Campaign.objects.filter(status=S.RUNNING):
        stale = []
        for endpoint_id in selectors.campaign_todo_endpoints(campaign):
            runner = CampaignRunner.objects.filter(campaign=campaign, endpoint_id=endpoint_id).first()
            last = max(filter(None, [runner and runner.heartbeat_at, runner and runner.enqueued_at]), default=None)
            if last is None or last < cutoff:
                stale.append(endpoint_id)
        if stale:
            with transaction.atomic():
                _enqueue_runners(campaign, stale)
            restarted += [(campaign.pk, e) for e in stale]
        else:
            campaign_maybe_finish(campaign_id=campaign.pk)
    return restarted
