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
* Leases are short (``STUDIO_GENERATION_LEASE_SECONDS``) and renewed by the runner's heartbeat while the
  request is in flight. A killed worker's rows are claimable again, and stop counting against the
  endpoint's ``max_concurrency``, one lease after its last heartbeat; beat's ``resume_stalled_campaigns``
  starts a new runner (the killed task's message comes back only after the broker's visibility timeout).

And how a dead model server spends nothing: a request that gets no answer (``client.UnreachableError``)
puts its row back to pending with its attempt refunded and counts against the endpoint's circuit
(``circuit.py``). Once the circuit is open the runner claims nothing for that endpoint and probes it with
backoff; when it answers, one request goes through (half-open), and the first answer closes it.
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
from .circuit import circuit_record_answer, circuit_record_failure, endpoint_probe

log = logging.getLogger(__name__)

G = Generation.Status
C = Endpoint.Circuit
POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 5.0  # at most; a third of the lease when that is shorter
STATUS_CHECK_SECONDS = 1.0
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 60.0


def max_attempts() -> int:
    return settings.STUDIO_GENERATION_MAX_ATTEMPTS


def lease_seconds() -> float:
    return float(settings.STUDIO_GENERATION_LEASE_SECONDS)


def heartbeat_seconds() -> float:
    """How often a runner renews its leases and says it is alive: three renewals fit in one lease."""
    return min(HEARTBEAT_SECONDS, lease_seconds() / 3)


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
    unanswered: int = 0  # requests that got no answer: back to pending, no attempt spent
    probes: int = 0
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


def _allowed_in_flight(locked: tuple[int, str] | None, endpoint: Endpoint) -> int:
    """Requests the endpoint may have in flight: none while its circuit is open, one while half-open."""
    max_concurrency, circuit = locked or (endpoint.max_concurrency, C.CLOSED)
    if circuit == C.OPEN:
        return 0
    return 1 if circuit == C.HALF_OPEN else max_concurrency


def _claim_postgresql(*, campaign_id: int, endpoint: Endpoint, owner: str, limit: int) -> list[Job]:
    """The same claim as below in two statements (lock, then count + pick + lease in one), because on a
    busy machine every database round trip between two requests leaves a server slot idle."""
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        # The lock is its own statement so the count below reads a snapshot taken after it (READ COMMITTED).
        locked = Endpoint.objects.select_for_update().filter(pk=endpoint.pk).values_list("max_concurrency",
                                                                                          "circuit_state").first()
        allowed = _allowed_in_flight(locked, endpoint)
        if allowed <= 0:
            return []
        cursor.execute(sql.claim(), {
            "endpoint": endpoint.pk, "campaign": campaign_id, "now": now, "limit": limit,
            "max": allowed, "owner": owner, "lease": now + timezone.timedelta(seconds=lease_seconds()),
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
        locked = Endpoint.objects.select_for_update().filter(pk=endpoint.pk).values_list("max_concurrency",
                                                                                          "circuit_state").first()
        max_concurrency = _allowed_in_flight(locked, endpoint)
        if max_concurrency <= 0:
            return []
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
        lease_until = now + timezone.timedelta(seconds=lease_seconds())
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


def generations_renew_leases(*, owner: str) -> int:
    """The runner's heartbeat: its rows in flight keep their lease for another STUDIO_GENERATION_LEASE_SECONDS."""
    until = timezone.now() + timezone.timedelta(seconds=lease_seconds())
    return Generation.objects.filter(status=G.RUNNING, lease_owner=owner).update(lease_until=until)


def generation_record_error(*, job: Job, owner: str, error: Exception, campaign_cancelled: bool) -> str:
    """What an error does to the row; returns its new status ("" if this runner no longer holds it).

    No answer at all (the server is down or unreachable): back to pending and the attempt is refunded, the
    endpoint's circuit decides when to try again. An error answer from a live server spends the attempt:
    transient ones (429, 5xx) are retried with backoff until STUDIO_GENERATION_MAX_ATTEMPTS, others fail.
    """
    transient = isinstance(error, client.TransientError)
    now = timezone.now()
    message = f"attempt {job.attempt}: {type(error).__name__}: {error}"[:2000]
    if not campaign_cancelled and isinstance(error, client.UnreachableError):
        updated = Generation.objects.filter(pk=job.generation_id, status=G.RUNNING, lease_owner=owner).update(
            status=G.PENDING, attempts=F("attempts") - 1, error=f"no answer (not counted as an attempt): {error}"[:2000],
            next_attempt_at=None, lease_owner="", lease_until=None,
        )
        return G.PENDING if updated else ""
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


class _Circuit:
    """The runner's view of its endpoint's circuit, read with the campaign status (about once a second)."""

    def __init__(self, endpoint_id: int):
        self.endpoint_id = endpoint_id
        self.state = C.CLOSED
        self.failures = 0
        self.next_probe_at = None

    def refresh(self) -> None:
        row = Endpoint.objects.filter(pk=self.endpoint_id).values_list(
            "circuit_state", "consecutive_failures", "next_probe_at").first()
        if row:
            self.state, self.failures, self.next_probe_at = row

    @property
    def open(self) -> bool:
        return self.state == C.OPEN

    def probe_due(self) -> bool:
        return self.open and (self.next_probe_at is None or self.next_probe_at <= timezone.now())

    def answered(self) -> None:
        """A live answer: close the circuit / reset the count, with a write only when there is something to reset."""
        if self.state != C.CLOSED or self.failures:
            circuit_record_answer(endpoint_id=self.endpoint_id)
            self.state, self.failures, self.next_probe_at = C.CLOSED, 0, None

    def unanswered(self) -> None:
        self.state = circuit_record_failure(endpoint_id=self.endpoint_id)
        self.failures += 1


def campaign_run_endpoint(*, campaign_id: int, endpoint_id: int, max_seconds: float | None = None) -> RunnerReport:
    """Drive one endpoint of a campaign until nothing is left, the campaign stops running, or the slice ends."""
    report = RunnerReport()
    endpoint = Endpoint.objects.get(pk=endpoint_id)
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + (max_seconds if max_seconds is not None else runner_slice_seconds())
    runner, _ = CampaignRunner.objects.get_or_create(campaign_id=campaign_id, endpoint=endpoint)
    circuit = _Circuit(endpoint_id)
    beat_every = heartbeat_seconds()
    last_beat = last_status_check = 0.0
    status = None
    in_flight: dict[Future, Job] = {}
    _fast_commits(True)
    pool = ThreadPoolExecutor(max_workers=max(1, endpoint.max_concurrency), thread_name_prefix=f"gen-{endpoint_id}")
    try:
        while True:
            if time.monotonic() - last_beat >= beat_every:
                # Alive: the beat task leaves this runner alone, and its requests in flight keep their rows.
                CampaignRunner.objects.filter(pk=runner.pk).update(heartbeat_at=timezone.now())
                if in_flight:
                    generations_renew_leases(owner=owner)
                last_beat = time.monotonic()
            if time.monotonic() - last_status_check >= STATUS_CHECK_SECONDS:  # pause/cancel seen within a second
                status = Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first()
                circuit.refresh()
                last_status_check = time.monotonic()
            running = status == Campaign.Status.RUNNING
            claiming = running and time.monotonic() < deadline
            if claiming and circuit.probe_due():
                # Bounded by a third of the lease, so the heartbeat above still comes in time.
                if endpoint_probe(endpoint=endpoint, timeout=min(5.0, beat_every)) is not None:
                    report.probes += 1
                circuit.refresh()
            if claiming and not circuit.open and len(in_flight) < endpoint.max_concurrency:
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
                _record(job=job, owner=owner, future=future, cancelled=cancelled, report=report, circuit=circuit)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        try:
            _fast_commits(False)
        except DatabaseError:  # the connection is gone anyway; don't hide the original error
            log.warning("could not reset synchronous_commit", exc_info=True)
    campaign_maybe_finish(campaign_id=campaign_id)
    return report


def _record(*, job: Job, owner: str, future: Future, cancelled: bool, report: RunnerReport,
            circuit: _Circuit) -> None:
    try:
        result = future.result()
    except client.ClientError as exc:
        if isinstance(exc, client.UnreachableError):
            circuit.unanswered()
        else:
            circuit.answered()
        outcome = generation_record_error(job=job, owner=owner, error=exc, campaign_cancelled=cancelled)
        if outcome == G.PENDING:
            report.unanswered += 1
        elif outcome == G.RETRYING:
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
    circuit.answered()
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
