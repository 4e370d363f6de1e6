"""The campaign runner: one loop per (campaign, endpoint) keeping `max_concurrency` requests in flight.

How a generation is never lost nor stored twice, whatever dies:

* Every generation row exists before any request (``campaign_start``); the unique constraint on
  (prompt, endpoint, pre-prompt version, sample) forbids a second row.
* A runner *claims* rows in a short transaction: the endpoint row is locked (so concurrent runners
  share the endpoint's concurrency limit), pending / due-retrying / lease-expired rows are picked
  with ``SELECT … FOR UPDATE SKIP LOCKED`` and set ``running`` with a lease (owner + expiry).
* Results are written with a conditional UPDATE (``status = running AND lease_owner = me``): a
  runner whose lease was taken over writes nothing.
* HTTP runs in a thread pool; all database work stays in the runner's own thread.
* A killed worker's task is redelivered (acks_late) or revived by ``resume_stalled_campaigns``; its
  rows are reclaimed when their lease expires (request timeout + margin).
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from .. import client, sql
from ..models import Campaign, CampaignRunner, Endpoint, Generation
from ..postprocess import echoes_preprompt, postprocess
from .campaigns import campaign_maybe_finish

log = logging.getLogger(__name__)

G = Generation.Status
LEASE_MARGIN_SECONDS = 30
POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 5.0
STATUS_CHECK_SECONDS = 1.0
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 60.0


def max_attempts() -> int:
    return settings.STUDIO_GENERATION_MAX_ATTEMPTS


def runner_slice_seconds() -> float:
    """A runner hands over to a fresh task after this long, well inside Celery's soft time limit."""
    return float(settings.STUDIO_RUNNER_SLICE_SECONDS)


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with ±20 % jitter: 2, 4, 8 … capped at 60 s."""
    base = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempt - 1))
    return base * random.uniform(0.8, 1.2)


@dataclass(frozen=True)
class Job:
    generation_id: int
    attempt: int
    messages: list[dict]
    params: dict
    preprompt_text: str = ""  # the answer is checked for echoing it (postprocess.echoes_preprompt)


@dataclass
class RunnerReport:
    claimed: int = 0
    done: int = 0
    retrying: int = 0
    failed: int = 0
    lost_lease: int = 0
    continued: bool = False
    errors: list[str] = field(default_factory=list)


def _todo(campaign_id: int, endpoint_id: int):
    return Generation.objects.filter(campaign_id=campaign_id, endpoint_id=endpoint_id)


def _jobs(rows, endpoint: Endpoint) -> list[Job]:
    jobs = []
    for generation_id, attempt, params, prompt_text, preprompt_text in sorted(rows):
        params = dict(json.loads(params) if isinstance(params, str) else params)
        placement = params.pop("placement", "auto")
        messages = client.build_messages(user_text=prompt_text, preprompt_text=preprompt_text,
                                         supports_system=endpoint.supports_system_role, placement=placement)
        jobs.append(Job(generation_id=generation_id, attempt=attempt, messages=messages, params=params,
                        preprompt_text=preprompt_text or ""))
    return jobs


def _claim_postgresql(*, campaign_id: int, endpoint: Endpoint, owner: str, limit: int) -> list[Job]:
    """The same claim as below in two statements (lock, then count + pick + lease in one), because on a
    busy machine every database round trip between two requests leaves a server slot idle."""
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        # The lock is its own statement so the count below reads a snapshot taken after it (READ COMMITTED).
        locked = list(Endpoint.objects.select_for_update().filter(pk=endpoint.pk).values_list("max_concurrency",
                                                                                               flat=True))
        cursor.execute(sql.claim(), {
            "endpoint": endpoint.pk, "campaign": campaign_id, "now": now, "limit": limit,
            "max": locked[0] if locked else endpoint.max_concurrency, "owner": owner,
            "lease": now + timezone.timedelta(seconds=endpoint.timeout_seconds + LEASE_MARGIN_SECONDS),
            "pending": G.PENDING, "retrying": G.RETRYING, "running": G.RUNNING,
        })
        rows = cursor.fetchall()
    return _jobs(rows, endpoint)


def generations_claim(*, campaign_id: int, endpoint: Endpoint, owner: str, limit: int) -> list[Job]:
    """Claim up to `limit` rows (never more than the endpoint's free concurrency) and build their requests."""
    if connection.vendor == "postgresql":
        return _claim_postgresql(campaign_id=campaign_id, endpoint=endpoint, owner=owner, limit=limit)
    now = timezone.now()
    with transaction.atomic():
        # Serialises claims on this endpoint so the concurrency limit holds across runners and campaigns.
        locked = Endpoint.objects.select_for_update().filter(pk=endpoint.pk).values_list("max_concurrency", flat=True)
        max_concurrency = locked.first() or endpoint.max_concurrency
        busy = Generation.objects.filter(endpoint=endpoint, status=G.RUNNING, lease_until__gt=now).count()
        free = min(limit, max_concurrency - busy)
        if free <= 0:
            return []
        due = (
            Q(status=G.PENDING)
            | Q(status=G.RETRYING, next_attempt_at__lte=now)
            | Q(status=G.RUNNING, lease_until__lte=now)
        )
        # The texts come with the locked rows (FOR UPDATE OF the generation only): one round trip.
        rows = list(
            _todo(campaign_id, endpoint.pk).filter(due).select_for_update(skip_locked=True, of=("self",))
            .order_by("id").values_list("id", "attempts", "params", "prompt__text", "preprompt_version__text")[:free]
        )
        if not rows:
            return []
        lease_until = now + timezone.timedelta(seconds=endpoint.timeout_seconds + LEASE_MARGIN_SECONDS)
        Generation.objects.filter(pk__in=[row[0] for row in rows]).update(
            status=G.RUNNING, lease_owner=owner, lease_until=lease_until, attempts=F("attempts") + 1,
            next_attempt_at=None,
        )
    return _jobs([(pk, attempts + 1, params, prompt, pre) for pk, attempts, params, prompt, pre in rows], endpoint)


def storable(text: str) -> str:
    """Raw model output as it came, except NUL (PostgreSQL text cannot hold it; random models emit it)."""
    return text.replace("\x00", "\ufffd")


def generation_record_result(*, job: Job, owner: str, result: client.ChatResult) -> bool:
    """Store a finished answer, only if this runner still holds the row's lease."""
    text = postprocess(result.text)
    return bool(
        Generation.objects.filter(pk=job.generation_id, status=G.RUNNING, lease_owner=owner).update(
            status=G.DONE, raw_text=storable(result.text), text=text,
            echoes_preprompt=echoes_preprompt(text, job.preprompt_text),
            finish_reason=result.finish_reason[:32], prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens, latency_ms=result.latency_ms, error="",
            lease_owner="", lease_until=None, next_attempt_at=None, finished_at=timezone.now(),
        )
    )


def generation_record_error(*, job: Job, owner: str, error: Exception, campaign_cancelled: bool) -> str:
    """Transient errors go back to the queue with backoff (until max attempts), others fail. Returns status."""
    transient = isinstance(error, client.TransientError)
    now = timezone.now()
    message = f"attempt {job.attempt}: {type(error).__name__}: {error}"[:2000]
    if campaign_cancelled:
        status, next_at = G.CANCELLED, None
    elif transient and job.attempt < max_attempts():
        status, next_at = G.RETRYING, now + timezone.timedelta(seconds=backoff_seconds(job.attempt))
    else:
        status, next_at = G.FAILED, None
    updated = Generation.objects.filter(pk=job.generation_id, status=G.RUNNING, lease_owner=owner).update(
        status=status, error=message, next_attempt_at=next_at, lease_owner="", lease_until=None,
        finished_at=now if status == G.FAILED else None,
    )
    return status if updated else ""


def _seconds_until_due(campaign_id: int, endpoint_id: int) -> float | None:
    """None when nothing is left for this endpoint; otherwise how long until something may be claimable."""
    todo = _todo(campaign_id, endpoint_id).filter(status__in=[G.PENDING, G.RETRYING, G.RUNNING])
    agg = todo.aggregate(
        retry=Min("next_attempt_at", filter=Q(status=G.RETRYING)),
        lease=Min("lease_until", filter=Q(status=G.RUNNING)),
    )
    if not todo.exists():
        return None
    if todo.filter(status=G.PENDING).exists():
        return POLL_SECONDS  # blocked by the concurrency limit (other runners): poll
    now = timezone.now()
    moments = [m for m in (agg["retry"], agg["lease"]) if m is not None]
    return max(0.0, (min(moments) - now).total_seconds()) if moments else POLL_SECONDS


def _fast_commits(on: bool) -> None:
    """PostgreSQL: don't wait for the WAL flush on the runner's many small commits.

    Safe for our invariants: after a database crash the last few hundred ms of commits are gone as a
    whole, so a row is back to `running` under an old lease (reclaimed and generated again when the lease
    expires) or `pending`; never half-written, never a second row.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql.SYNCHRONOUS_COMMIT_OFF if on else sql.SYNCHRONOUS_COMMIT_DEFAULT)


def _call(endpoint: Endpoint, job: Job) -> client.ChatResult:
    return client.chat(endpoint, job.messages, params=job.params, timeout=float(endpoint.timeout_seconds))


def campaign_run_endpoint(*, campaign_id: int, endpoint_id: int, max_seconds: float | None = None) -> RunnerReport:
    """Drive one endpoint of a campaign until nothing is left, the campaign stops running, or the slice ends."""
    report = RunnerReport()
    endpoint = Endpoint.objects.get(pk=endpoint_id)
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + (max_seconds if max_seconds is not None else runner_slice_seconds())
    runner, _ = CampaignRunner.objects.get_or_create(campaign_id=campaign_id, endpoint=endpoint)
    last_beat = last_status_check = 0.0
    status = None
    in_flight: dict[Future, Job] = {}
    _fast_commits(True)
    pool = ThreadPoolExecutor(max_workers=max(1, endpoint.max_concurrency), thread_name_prefix=f"gen-{endpoint_id}")
    try:
        while True:
            if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                CampaignRunner.objects.filter(pk=runner.pk).update(heartbeat_at=timezone.now())
                last_beat = time.monotonic()
            if time.monotonic() - last_status_check >= STATUS_CHECK_SECONDS:  # pause/cancel seen within a second
                status = Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first()
                last_status_check = time.monotonic()
            running = status == Campaign.Status.RUNNING
            claiming = running and time.monotonic() < deadline
            if claiming and len(in_flight) < endpoint.max_concurrency:
                for job in generations_claim(campaign_id=campaign_id, endpoint=endpoint, owner=owner,
                                             limit=endpoint.max_concurrency - len(in_flight)):
                    in_flight[pool.submit(_call, endpoint, job)] = job
                    report.claimed += 1
            if not in_flight:
                if not claiming:
                    report.continued = running  # slice over: hand over to a fresh task
                    break
                wait_for = _seconds_until_due(campaign_id, endpoint_id)
                if wait_for is None:
                    break
                time.sleep(min(max(wait_for, 0.05), POLL_SECONDS * 2))
                continue
            finished, _ = wait(list(in_flight), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            cancelled = status == Campaign.Status.CANCELLED
            for future in finished:
                job = in_flight.pop(future)
                _record(job=job, owner=owner, future=future, cancelled=cancelled, report=report)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        try:
            _fast_commits(False)
        except DatabaseError:  # the connection is gone anyway; don't hide the original error
            log.warning("could not reset synchronous_commit", exc_info=True)
    campaign_maybe_finish(campaign_id=campaign_id)
    return report


def _record(*, job: Job, owner: str, future: Future, cancelled: bool, report: RunnerReport) -> None:
    try:
        result = future.result()
    except client.ClientError as exc:
        outcome = generation_record_error(job=job, owner=owner, error=exc, campaign_cancelled=cancelled)
        if outcome == G.RETRYING:
            report.retrying += 1
        elif outcome == G.FAILED:
            report.failed += 1
        elif not outcome:
            report.lost_lease += 1
        report.errors = [*report.errors[-49:], str(exc)[:200]]
        log.warning("generation %s attempt %s: %s", job.generation_id, job.attempt, exc)
        return
    except Exception as exc:  # a bug in our own code: fail the row, keep the runner going
        log.exception("generation %s crashed", job.generation_id)
        generation_record_error(job=job, owner=owner, error=client.PermanentError(repr(exc)),
                                campaign_cancelled=cancelled)
        report.failed += 1
        return
    try:
        stored = generation_record_result(job=job, owner=owner, result=result)
    except DatabaseError as exc:  # e.g. text the database refuses: fail this row, keep the runner going
        log.exception("generation %s: cannot store the answer", job.generation_id)
        generation_record_error(job=job, owner=owner, error=client.PermanentError(f"cannot store: {exc}"),
                                campaign_cancelled=cancelled)
        report.failed += 1
        return
    if stored:
        report.done += 1
    else:
        report.lost_lease += 1
