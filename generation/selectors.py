"""Reads for the generation app: prompt selection, campaign progress, endpoint lists."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.dateparse import parse_date

from core.errors import StudioError
from prompts.models import Prompt

from .models import Campaign, Endpoint, Generation, PrePrompt, SavedPromptFilter

FILTER_KEYS = ("categories", "topics", "sources", "date_from", "date_to", "ids", "saved_filter")
TODO_STATUSES = (Generation.Status.PENDING, Generation.Status.RETRYING, Generation.Status.RUNNING)
RATE_WINDOW = dt.timedelta(minutes=2)  # tokens/s and ETA are measured over this recent window


class FilterError(StudioError):
    """A prompt filter that cannot be applied; the message says which key and why."""


def prompts_for_filter(prompt_filter: dict) -> QuerySet[Prompt]:
    """Prompts selected by a campaign filter: categories (keys), topics (ids), sources, dates, ids, saved_filter.

    Criteria combine with AND; an empty filter selects every prompt.
    """
    unknown = set(prompt_filter) - set(FILTER_KEYS)
    if unknown:
        raise FilterError(f"unknown filter keys: {', '.join(sorted(unknown))}")
    qs = Prompt.objects.all()
    if prompt_filter.get("saved_filter"):
        saved = SavedPromptFilter.objects.filter(name=prompt_filter["saved_filter"]).first()
        if saved is None:
            raise FilterError(f"no saved filter named {prompt_filter['saved_filter']!r}")
        qs = qs.filter(pk__in=prompts_for_filter(saved.prompt_filter).values("pk"))
    if prompt_filter.get("categories"):
        qs = qs.filter(category__key__in=prompt_filter["categories"])
    if prompt_filter.get("topics"):
        qs = qs.filter(topic_id__in=prompt_filter["topics"])
    if prompt_filter.get("sources"):
        qs = qs.filter(source__in=prompt_filter["sources"])
    if prompt_filter.get("ids"):
        qs = qs.filter(pk__in=prompt_filter["ids"])
    for key, lookup in (("date_from", "created__date__gte"), ("date_to", "created__date__lte")):
        if prompt_filter.get(key):
            day = parse_date(str(prompt_filter[key]))
            if day is None:
                raise FilterError(f"{key} must be a date YYYY-MM-DD, got {prompt_filter[key]!r}")
            qs = qs.filter(**{lookup: day})
    return qs.order_by("id")


def active_endpoints() -> QuerySet[Endpoint]:
    return Endpoint.objects.filter(is_active=True).exclude(base_url="").order_by("name")


def active_preprompts() -> QuerySet[PrePrompt]:
    return PrePrompt.objects.filter(is_active=True).prefetch_related("versions").order_by("id")


def campaign_list() -> QuerySet[Campaign]:
    return Campaign.objects.annotate(
        total=Count("generations"),
        done=Count("generations", filter=Q(generations__status=Generation.Status.DONE)),
        failed=Count("generations", filter=Q(generations__status=Generation.Status.FAILED)),
    ).order_by("-created")


@dataclass(frozen=True)
class Progress:
    total: int
    pending: int
    running: int
    retrying: int
    done: int
    failed: int
    cancelled: int
    completion_tokens: int
    tokens_per_second: float | None
    generations_per_minute: float | None
    eta_seconds: int | None
    echoes_preprompt: int = 0  # done answers that repeat their pre-prompt: held out of tasks and exports
    # Endpoints with work left whose server does not answer (circuit not closed): the campaign waits for them.
    waiting_for: tuple[str, ...] = ()

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.cancelled

    @property
    def percent(self) -> int:
        return int(100 * self.finished / self.total) if self.total else 0

    @property
    def todo(self) -> int:
        return self.pending + self.running + self.retrying


def campaign_progress(campaign: Campaign, *, now: dt.datetime | None = None) -> Progress:
    """Counts per status, recent throughput (last two minutes) and the ETA it implies."""
    now = now or timezone.now()
    counts = dict(
        Generation.objects.filter(campaign=campaign).values_list("status").annotate(n=Count("id")).order_by()
    )
    done_qs = Generation.objects.filter(campaign=campaign, status=Generation.Status.DONE)
    total_tokens = done_qs.aggregate(t=Sum("completion_tokens"))["t"] or 0
    window_start = max(now - RATE_WINDOW, campaign.started_at or now - RATE_WINDOW)
    recent = done_qs.filter(finished_at__gte=window_start).aggregate(n=Count("id"), t=Sum("completion_tokens"))
    seconds = (now - window_start).total_seconds()
    tokens_per_second = gens_per_minute = eta = None
    todo = sum(counts.get(s, 0) for s in TODO_STATUSES)
    if seconds > 1 and recent["n"]:
        tokens_per_second = round((recent["t"] or 0) / seconds, 1)
        per_second = recent["n"] / seconds
        gens_per_minute = round(per_second * 60, 1)
        eta = int(todo / per_second) if todo else 0
    return Progress(
        total=sum(counts.values()),
        pending=counts.get(Generation.Status.PENDING, 0),
        running=counts.get(Generation.Status.RUNNING, 0),
        retrying=counts.get(Generation.Status.RETRYING, 0),
        done=counts.get(Generation.Status.DONE, 0),
        failed=counts.get(Generation.Status.FAILED, 0),
        cancelled=counts.get(Generation.Status.CANCELLED, 0),
        completion_tokens=total_tokens,
        tokens_per_second=tokens_per_second,
        generations_per_minute=gens_per_minute,
        eta_seconds=eta,
        echoes_preprompt=Generation.objects.filter(campaign=campaign, echoes_preprompt=True).count(),
        waiting_for=tuple(campaign_waiting_endpoints(campaign)) if todo else (),
    )


def campaign_waiting_endpoints(campaign: Campaign) -> list[str]:
    """Names of the campaign's endpoints that still have work and whose circuit is open or half-open."""
    todo = Generation.objects.filter(campaign=campaign, status__in=TODO_STATUSES)
    return list(
        Endpoint.objects.filter(pk__in=todo.values("endpoint_id"))
        .exclude(circuit_state=Endpoint.Circuit.CLOSED).order_by("name").values_list("name", flat=True)
    )


WAITING_FOR_ENDPOINT = "waiting for endpoint"


def campaign_state(campaign: Campaign, progress: Progress) -> str:
    """What the campaign is doing, in words: its status, or "waiting for endpoint" while it runs but a model
    server it needs does not answer (its generations are paused, spending no attempts)."""
    if campaign.status == Campaign.Status.RUNNING and progress.waiting_for:
        return WAITING_FOR_ENDPOINT
    return campaign.status.replace("_", " ")  # "running", "done", "done with failures"…: stable, untranslated


def campaign_failed(campaign: Campaign, *, limit: int = 200) -> QuerySet[Generation]:
    return (
        Generation.objects.filter(campaign=campaign, status=Generation.Status.FAILED)
        .select_related("prompt", "endpoint", "preprompt_version__preprompt")
        .order_by("id")[:limit]
    )


def campaign_todo_endpoints(campaign: Campaign) -> list[int]:
    """Endpoints of the campaign that still have work (pending, retrying or running rows)."""
    return list(
        Generation.objects.filter(campaign=campaign, status__in=TODO_STATUSES)
        .values_list("endpoint_id", flat=True)
        .distinct()
        .order_by("endpoint_id")
    )


def prompt_generations(prompt_id: int) -> QuerySet[Generation]:
    """Finished, non-empty generations of a prompt that do not echo their pre-prompt (the pool task assembly
    samples from)."""
    return (
        Generation.objects.filter(prompt_id=prompt_id, status=Generation.Status.DONE, echoes_preprompt=False)
        .exclude(text="")
        .select_related("endpoint", "preprompt_version__preprompt")
        .order_by("id")
    )


def prompts_without_tasks(prompt_filter: dict | None = None) -> QuerySet[Prompt]:
    """Prompts (optionally filtered) that have at least two usable finished responses (not echoing their
    pre-prompt) and no annotation task yet."""
    qs = prompts_for_filter(prompt_filter or {})
    usable = Q(generations__status=Generation.Status.DONE, generations__echoes_preprompt=False)
    return (
        qs.annotate(responses=Count("generations", filter=usable))
        .filter(responses__gte=2, tasks__isnull=True)
        .order_by("id")
    )


@dataclass(frozen=True)
class CampaignPreview:
    """What starting a campaign would do, counted before it exists."""

    prompts: int
    combinations: int  # prompts × models × pre-prompts × samples
    existing: int  # of those, already generated (this or an earlier campaign, an import): not made again
    new: int  # generations the campaign will make


def campaign_preview(*, prompt_filter: dict, endpoints, preprompts, samples: int) -> CampaignPreview:
    """Count the generations a campaign with this selection would create (`campaign_start` skips the
    (prompt, model, pre-prompt version, sample) combinations that exist). A bad filter: FilterError."""
    prompt_ids = prompts_for_filter(prompt_filter).values("id")
    n_prompts = prompts_for_filter(prompt_filter).count()
    versions = [v for v in (p.current_version() for p in preprompts) if v is not None]
    endpoints = list(endpoints)
    combinations = n_prompts * len(endpoints) * len(versions) * samples
    existing = (
        Generation.objects.filter(
            prompt_id__in=prompt_ids, endpoint__in=endpoints, preprompt_version__in=versions,
            sample_index__lt=samples,
        ).count()
        if combinations else 0
    )
    return CampaignPreview(prompts=n_prompts, combinations=combinations, existing=existing,
                           new=max(0, combinations - existing))


def generations_browse(*, campaign: Campaign | None = None, prompt_id: int | None = None,
                       endpoint_id: int | None = None, preprompt_id: int | None = None,
                       echo: bool | None = None, query: str = "") -> QuerySet[Generation]:
    """Generated texts for the admins' browser, newest first, filtered by campaign, prompt, model,
    pre-prompt, the echo flag (`echoes_preprompt`) and text."""
    qs = Generation.objects.select_related("prompt", "endpoint", "preprompt_version__preprompt", "campaign")
    if campaign is not None:
        qs = qs.filter(campaign=campaign)
    if prompt_id:
        qs = qs.filter(prompt_id=prompt_id)
    if endpoint_id:
        qs = qs.filter(endpoint_id=endpoint_id)
    if preprompt_id:
        qs = qs.filter(preprompt_version__preprompt_id=preprompt_id)
    if echo is not None:
        qs = qs.filter(echoes_preprompt=echo)
    if query:
        qs = qs.filter(Q(text__icontains=query) | Q(prompt__text__icontains=query))
    return qs.order_by("-id")
