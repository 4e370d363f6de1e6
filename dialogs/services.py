"""Live dialogs: start a dialog with three pooled models, add turns, stream the three answers, decide, finish.

A dialog's three endpoints are drawn at random from the admin-configured pool (active endpoints with
`in_dialog_pool`) and known to the annotator only as seats A, B and C. Each turn shuffles the columns
(`DialogTurn.column_order`). The three candidates of a turn are produced by `turn_stream`, which runs the
three model streams concurrently in threads and multiplexes their deltas; the threads never touch the
database, so every write happens in the caller's thread (the streaming request) under short
transactions. Each model receives the whole conversation so far: earlier user messages and the chosen or
custom answers (`dialog_history`).

Each answer's `max_tokens` is budgeted per seat from what the conversation leaves of that model's context
(`generation.budget`: one ``/tokenize`` call per seat and turn, never above the endpoint's cap). When no
answer fits any more the request is not sent, the candidate fails as "context" and says so, and Retry refuses
it; the dialog page warns when fewer than two more turns fit (`dialogs.selectors`).
"""

from __future__ import annotations

import queue
import random
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import StudioError
from dialogs.models import Dialog, DialogCandidate, DialogSeat, DialogTurn
from generation import budget, client
from generation.models import Endpoint
from prompts.models import DialogTypology, GuidelineVersion

SEAT_LABELS = ("A", "B", "C")
MIN_TURNS = 4  # paper, appendix A.5.5: at least 4 turns
MAX_TURNS = 10  # ... and at most 10
LEASE_SECONDS = 60  # a running stream renews its candidates' lease every LEASE_RENEW_SECONDS
LEASE_RENEW_SECONDS = 15
STREAM_ATTEMPTS = 3  # transient failures before the first token are retried this many times in all
RETRY_BACKOFF_SECONDS = (0.5, 1.5)
KEEPALIVE_SECONDS = 5.0


class DialogError(StudioError):
    """A dialog action that cannot be done now, with a message fit for the annotator."""


# --- reads used by the services -------------------------------------------------------------------------


def dialog_pool():
    """Endpoints an admin put in the dialog pool (active and with a server URL)."""
    return Endpoint.objects.filter(is_active=True, in_dialog_pool=True).exclude(base_url="")


def turn_is_decided(turn: DialogTurn) -> bool:
    return turn.decided_at is not None


def dialog_history(*, dialog: Dialog, before_index: int) -> list[dict]:
    """The conversation before turn `before_index`: user messages and chosen/custom answers, in order."""
    history: list[dict] = []
    turns = dialog.turns.filter(index__lt=before_index, decided_at__isnull=False).select_related("chosen")
    for turn in turns.order_by("index"):
        history.append({"role": "user", "content": turn.user_text})
        history.append({"role": "assistant", "content": turn.assistant_text})
    return history


def turn_messages(*, turn: DialogTurn, endpoint: Endpoint, history: list[dict] | None = None) -> list[dict]:
    """What one model is sent for this turn: the whole conversation plus the new user message."""
    if history is None:
        history = dialog_history(dialog=turn.dialog, before_index=turn.index)
    return client.build_messages(
        user_text=turn.user_text,
        preprompt_text="",
        supports_system=endpoint.supports_system_role,
        placement="auto",
        history=history,
    )


_CONTEXT_ERROR = re.compile(r"^context: (?P<used>\d+) of (?P<limit>\d+) tokens")


def context_error_text(exc: budget.ContextFull) -> str:
    """A candidate's `error` when its conversation no longer fits the model's context (see `context_overflow`)."""
    return f"context: {exc.prompt_tokens} of {exc.context_length} tokens: {exc}"


def context_overflow(error: str) -> tuple[int, int] | None:
    """(conversation tokens, context length) when a candidate failed because the conversation no longer fits."""
    match = _CONTEXT_ERROR.match(error or "")
    return (int(match["used"]), int(match["limit"])) if match else None


def candidate_can_retry(candidate: DialogCandidate) -> bool:
    """A failed answer may be retried unless the conversation no longer fits its model: that would fail again."""
    return candidate.status == DialogCandidate.Status.FAILED and context_overflow(candidate.error) is None


def public_error(error: str) -> str:
    """What an annotator may see of a failure: never the endpoint's URL or model name (anonymity)."""
    if not error:
        return ""
    overflow = context_overflow(error)
    if overflow is not None:
        return _("The conversation no longer fits the model's context (%(used)s of %(limit)s tokens). Choose "
                 "another answer or write your own, and finish the dialog.") % {"used": overflow[0],
                                                                               "limit": overflow[1]}
    if error.startswith("permanent:"):
        return _("The model refused the request. Retry it, or choose another answer or write your own.")
    if error.startswith("interrupted:"):
        return _("The answer was interrupted. Retry it.")
    return _("The model did not answer in time or could not be reached. Retry it.")


# --- writes ---------------------------------------------------------------------------------------------


@transaction.atomic
def dialog_start(*, annotator) -> Dialog:
    """Start a dialog with three distinct pooled models, or return the annotator's open one.

    Returning the open dialog makes a double-clicked "start" create one dialog and lets a dialog be
    resumed after a reload or a new login.
    """
    get_user_model().objects.select_for_update().filter(pk=annotator.pk).first()  # serialise starts per user
    existing = Dialog.objects.filter(annotator=annotator, status=Dialog.Status.OPEN).order_by("-created").first()
    if existing is not None:
        return existing
    pool = list(dialog_pool())
    if len(pool) < len(SEAT_LABELS):
        raise DialogError(
            _("The dialog pool has %(count)s model(s); an admin must add at least three.") % {"count": len(pool)}
        )
    endpoints = random.SystemRandom().sample(pool, len(SEAT_LABELS))
    guideline = GuidelineVersion.objects.order_by("-created").values_list("version", flat=True).first() or ""
    dialog = Dialog.objects.create(annotator=annotator, guideline_version=guideline)
    DialogSeat.objects.bulk_create(
        DialogSeat(dialog=dialog, label=label, endpoint=endpoint)
        for label, endpoint in zip(SEAT_LABELS, endpoints, strict=True)
    )
    return dialog


@transaction.atomic
def dialog_abandon(*, dialog: Dialog) -> Dialog:
    dialog = Dialog.objects.select_for_update().get(pk=dialog.pk)
    if dialog.status == Dialog.Status.OPEN:
        dialog.status = Dialog.Status.ABANDONED
        dialog.finished_at = timezone.now()
        dialog.save(update_fields=["status", "finished_at"])
    return dialog


def _typology(typology: DialogTypology | str | int | None) -> DialogTypology:
    if isinstance(typology, DialogTypology):
        return typology
    if typology in (None, ""):
        raise DialogError(_("Choose the type of your message."))
    field_name = "pk" if isinstance(typology, int) or str(typology).isdigit() else "key"
    found = DialogTypology.objects.filter(**{field_name: typology}).first()
    if found is None:
        raise DialogError(_("Unknown message type."))
    return found


@transaction.atomic
def dialog_turn_start(*, dialog: Dialog, user_text: str, typology: DialogTypology | str | int | None) -> DialogTurn:
    """Add the annotator's next message (with its typology tag) and three pending candidates.

    Submitting the same message again while its turn is undecided returns that turn (double submit).
    """
    dialog = Dialog.objects.select_for_update().get(pk=dialog.pk)
    if dialog.status != Dialog.Status.OPEN:
        raise DialogError(_("This dialog is closed."))
    text = (user_text or "").replace("\r\n", "\n").strip()
    if not text:
        raise DialogError(_("Write a message first."))
    tag = _typology(typology)
    last = dialog.turns.order_by("-index").first()
    if last is not None and not turn_is_decided(last):
        if last.user_text == text and last.typology_id == tag.pk:
            return last
        raise DialogError(_("Choose or write the answer to turn %(index)s first.") % {"index": last.index})
    index = last.index + 1 if last else 1
    if index > MAX_TURNS:
        raise DialogError(_("A dialog has at most %(max)s turns; finish it.") % {"max": MAX_TURNS})
    order = list(SEAT_LABELS)
    random.SystemRandom().shuffle(order)
    turn = DialogTurn.objects.create(dialog=dialog, index=index, user_text=text, typology=tag, column_order=order)
    DialogCandidate.objects.bulk_create(DialogCandidate(turn=turn, seat=seat) for seat in dialog.seats.all())
    return turn


@transaction.atomic
def candidate_retry(*, turn: DialogTurn, seat: str) -> DialogCandidate:
    """Put a failed candidate back in the queue; the next `turn_stream` runs it again from scratch."""
    turn = DialogTurn.objects.select_for_update().select_related("dialog").get(pk=turn.pk)
    if turn.dialog.status != Dialog.Status.OPEN or turn_is_decided(turn):
        raise DialogError(_("This turn is already decided."))
    candidate = turn.candidates.filter(seat__label=seat).first()
    if candidate is None:
        raise DialogError(_("Unknown answer column."))
    if candidate.status == DialogCandidate.Status.FAILED:
        if not candidate_can_retry(candidate):  # the same conversation cannot fit on a second try
            raise DialogError(public_error(candidate.error))
        candidate.status = DialogCandidate.Status.PENDING
        candidate.save(update_fields=["status"])
    elif candidate.status == DialogCandidate.Status.DONE:
        raise DialogError(_("This answer is complete; there is nothing to retry."))
    return candidate


@transaction.atomic
def dialog_turn_decide(
    *,
    turn: DialogTurn,
    submission_id: uuid.UUID | str,
    choice: str,
    custom_text: str = "",
    custom_from: str | None = None,
    time_ms: int = 0,
) -> DialogTurn:
    """Record the annotator's decision for a turn: a seat ("A"/"B"/"C") or "custom" with its text.

    `custom_from` names the seat a custom answer was copied from (copy-and-edit). A copy submitted
    unchanged is recorded as choosing that seat. Replaying the same `submission_id` returns the turn
    unchanged, so a double-clicked submit saves once.
    """
    try:
        submission = uuid.UUID(str(submission_id))
    except ValueError as exc:
        raise DialogError(_("The form is out of date; reload the page.")) from exc
    turn = DialogTurn.objects.select_for_update().select_related("dialog").get(pk=turn.pk)
    if turn.submission_id == submission:
        return turn
    if DialogTurn.objects.filter(submission_id=submission).exists():
        raise DialogError(_("This form was already submitted; reload the page."))
    if turn.dialog.status != Dialog.Status.OPEN:
        raise DialogError(_("This dialog is closed."))
    if turn_is_decided(turn):
        raise DialogError(_("Turn %(index)s is already decided.") % {"index": turn.index})
    candidates = {c.seat.label: c for c in turn.candidates.select_related("seat")}
    in_flight = (DialogCandidate.Status.PENDING, DialogCandidate.Status.STREAMING)
    if any(c.status in in_flight for c in candidates.values()):
        raise DialogError(_("Wait until all three answers have arrived or failed."))
    custom = (custom_text or "").replace("\r\n", "\n").strip()
    chosen = source = None
    if choice == "custom":
        if not custom:
            raise DialogError(_("Write your own answer, or choose one of the three."))
        if custom_from:
            source = candidates.get(custom_from)
            if source is None:
                raise DialogError(_("Unknown answer column."))
            if source.status == DialogCandidate.Status.DONE and custom == source.text.strip():
                chosen, source, custom = source, None, ""  # copied without a change: a plain choice
    elif choice in candidates:
        chosen = candidates[choice]
        if chosen.status != DialogCandidate.Status.DONE:
            raise DialogError(_("Answer %(seat)s is incomplete; retry it, or choose another.") % {"seat": choice})
        custom = ""
    else:
        raise DialogError(_("Choose one of the answers or write your own."))
    turn.chosen = chosen
    turn.custom_text = custom
    turn.custom_from = source
    turn.submission_id = submission
    turn.time_ms = max(0, min(int(time_ms or 0), 24 * 3600 * 1000))
    turn.decided_at = timezone.now()
    try:
        with transaction.atomic():
            turn.save(update_fields=["chosen", "custom_text", "custom_from", "submission_id", "time_ms", "decided_at"])
    except IntegrityError as exc:  # the same submission id raced in for another turn
        raise DialogError(_("This form was already submitted; reload the page.")) from exc
    return turn


@transaction.atomic
def dialog_finish(*, dialog: Dialog) -> Dialog:
    """Close a dialog of 4..10 decided turns. Finishing twice is harmless."""
    dialog = Dialog.objects.select_for_update().get(pk=dialog.pk)
    if dialog.status == Dialog.Status.FINISHED:
        return dialog
    if dialog.status != Dialog.Status.OPEN:
        raise DialogError(_("This dialog is closed."))
    if dialog.turns.filter(decided_at__isnull=True).exists():
        raise DialogError(_("Choose or write the answer to the last turn first."))
    decided = dialog.turns.count()
    if decided < MIN_TURNS:
        raise DialogError(
            _("A dialog needs at least %(min)s turns; this one has %(count)s.") % {"min": MIN_TURNS, "count": decided}
        )
    dialog.status = Dialog.Status.FINISHED
    dialog.finished_at = timezone.now()
    dialog.save(update_fields=["status", "finished_at"])
    return dialog


# --- streaming the three answers -------------------------------------------------------------------------


@dataclass
class _Run:
    """A candidate this request is running."""

    candidate_id: int
    claimed_attempts: int
    started: float
    parts: list[str] = field(default_factory=list)
    first_token_ms: int | None = None
    max_tokens: int | None = None  # the budget the worker asked for


def _claim(candidate_ids: list[int]) -> dict[int, int]:
    """Take pending candidates (or ones whose stream died) for this request in one UPDATE.

    Returns {candidate id: attempts} of those taken. The lease timestamp written doubles as this
    request's claim token, so a concurrent request claiming the same rows cannot be mistaken for us.
    """
    if not candidate_ids:
        return {}
    now = timezone.now()
    lease = now + timedelta(seconds=LEASE_SECONDS, microseconds=random.SystemRandom().randrange(1000))
    claimable = Q(status=DialogCandidate.Status.PENDING) | Q(
        status=DialogCandidate.Status.STREAMING, lease_until__lt=now
    )
    changed = DialogCandidate.objects.filter(claimable, pk__in=candidate_ids).update(
        status=DialogCandidate.Status.STREAMING,
        attempts=F("attempts") + 1,
        lease_until=lease,
        text="",
        error="",
        finish_reason="",
        prompt_tokens=None,
        completion_tokens=None,
        max_tokens=None,
        first_token_ms=None,
        latency_ms=None,
    )
    if not changed:
        return {}
    return dict(
        DialogCandidate.objects.filter(
            pk__in=candidate_ids, status=DialogCandidate.Status.STREAMING, lease_until=lease
        ).values_list("pk", "attempts")
    )


def _owned(run: _Run):
    return DialogCandidate.objects.filter(
        pk=run.candidate_id, status=DialogCandidate.Status.STREAMING, attempts=run.claimed_attempts
    )


def _stream_worker(label: str, endpoint: Endpoint, messages: list[dict], events: queue.Queue,
                   cancel: threading.Event) -> None:
    """Runs in a thread: one model's stream into the shared queue. Never touches the database.

    The answer's budget is computed once (one token count), before the first attempt: retries of a
    transient failure send the same request.
    """
    try:
        plan = budget.request_budget(endpoint, messages)
    except budget.ContextFull as exc:  # nothing is sent: the server would refuse it
        events.put(("error", label, context_error_text(exc), 0))
        return
    except Exception as exc:  # noqa: BLE001 - a bug here must fail this seat, not leave it streaming
        events.put(("error", label, f"permanent: {type(exc).__name__}: {exc}", 0))
        return
    if cancel.is_set():
        return
    events.put(("budget", label, plan.max_tokens, 0))
    params = {"max_tokens": plan.max_tokens}
    attempt = 0
    while True:
        attempt += 1
        got_text = False
        stream = client.stream_chat(endpoint, messages, params=params)
        try:
            for event in stream:
                if cancel.is_set():
                    return
                if event.done:
                    events.put(("done", label, event, attempt - 1))
                    return
                text = event.text.replace("\x00", "")  # PostgreSQL text cannot hold NUL; nobody needs it
                if text:
                    got_text = True
                    events.put(("delta", label, text, time.time()))
        except client.TransientError as exc:
            if not got_text and attempt < STREAM_ATTEMPTS and not cancel.is_set():
                cancel.wait(RETRY_BACKOFF_SECONDS[min(attempt, len(RETRY_BACKOFF_SECONDS)) - 1])
                continue
            events.put(("error", label, f"transient: {exc}", attempt - 1))
            return
        except client.PermanentError as exc:
            full = budget.context_error(exc)  # our count was off, or the server counts differently
            error = context_error_text(full) if full else f"permanent: {type(exc).__name__}: {exc}"
            events.put(("error", label, error, attempt - 1))
            return
        except Exception as exc:  # noqa: BLE001 - an unexpected failure fails this seat only
            events.put(("error", label, f"permanent: {type(exc).__name__}: {exc}", attempt - 1))
            return
        finally:
            stream.close()


def turn_stream(*, turn: DialogTurn, poll_seconds: float = 0.25) -> Iterator[dict]:
    """Run the turn's pending candidates concurrently and yield events as they happen.

    Events (dicts with "event" and "seat"): ``start``; ``delta`` with ``delta`` (the first one per seat
    also carries ``t``, the epoch milliseconds when this process received it); ``done`` with ``status``;
    ``error`` with a public ``error`` message; ``ping`` while nothing happens; finally ``end``.
    Candidates already DONE or FAILED are reported as such, so a reloaded page catches up. A candidate
    streamed by another request is waited for; if that request goes away (reload) it puts the candidate
    back to PENDING and this one takes it over. Closing this generator (client disconnect) cancels the
    model streams and puts their candidates back to PENDING.
    """
    turn = DialogTurn.objects.select_related("dialog").get(pk=turn.pk)
    candidates = {c.seat.label: c for c in turn.candidates.select_related("seat__endpoint")}
    events: queue.Queue = queue.Queue()
    cancel = threading.Event()
    running: dict[str, _Run] = {}
    waiting: set[str] = set()
    history: list[dict] | None = None  # the same conversation goes to every seat; read it once

    def start(labels: list[str]) -> list[str]:
        """Claim these seats and send their model requests; returns the labels actually started."""
        nonlocal history
        claimed = _claim([candidates[label].pk for label in labels])
        if claimed and history is None:
            history = dialog_history(dialog=turn.dialog, before_index=turn.index)
        started = []
        for label in labels:
            candidate = candidates[label]
            if candidate.pk not in claimed:
                continue
            endpoint = candidate.seat.endpoint
            messages = turn_messages(turn=turn, endpoint=endpoint, history=history)
            running[label] = _Run(candidate.pk, claimed[candidate.pk], time.perf_counter())
            threading.Thread(
                target=_stream_worker, args=(label, endpoint, messages, events, cancel), daemon=True,
                name=f"dialog-{turn.pk}-{label}",
            ).start()
            started.append(label)
        return started

    def settled(label: str, status: str, error: str) -> dict:
        if status == DialogCandidate.Status.DONE:
            return {"event": "done", "seat": label, "status": status}
        return {"event": "error", "seat": label, "status": status, "error": public_error(error)}

    try:
        settled_now = (DialogCandidate.Status.DONE, DialogCandidate.Status.FAILED)
        to_run = [label for label in sorted(candidates) if candidates[label].status not in settled_now]
        started = start(to_run)
        for label in started:
            yield {"event": "start", "seat": label}
        waiting.update(set(to_run) - set(started))
        for label in sorted(candidates):
            if candidates[label].status in settled_now:
                yield settled(label, candidates[label].status, candidates[label].error)
        last_sent = last_renewed = time.monotonic()
        while running or waiting:
            try:
                kind, label, payload, extra = events.get(timeout=poll_seconds if waiting else 1.0)
            except queue.Empty:
                now = time.monotonic()
                for label in sorted(waiting):
                    status, error = DialogCandidate.objects.values_list("status", "error").get(
                        pk=candidates[label].pk
                    )
                    if status in (DialogCandidate.Status.DONE, DialogCandidate.Status.FAILED):
                        waiting.discard(label)
                        yield settled(label, status, error)
                        last_sent = now
                    elif start([label]):
                        waiting.discard(label)
                        yield {"event": "start", "seat": label}
                        last_sent = now
                if running and now - last_renewed >= LEASE_RENEW_SECONDS:
                    lease = timezone.now() + timedelta(seconds=LEASE_SECONDS)
                    for run in running.values():
                        _owned(run).update(lease_until=lease)
                    last_renewed = now
                if now - last_sent >= KEEPALIVE_SECONDS:
                    yield {"event": "ping"}
                    last_sent = now
                continue
            run = running.get(label)
            if run is None:
                continue
            last_sent = time.monotonic()
            if kind == "budget":
                run.max_tokens = payload
                continue
            if kind == "delta":
                event = {"event": "delta", "seat": label, "delta": payload}
                if not run.parts:
                    run.first_token_ms = int((time.perf_counter() - run.started) * 1000)
                    event["t"] = int(extra * 1000)
                run.parts.append(payload)
                yield event
            elif kind == "done":
                _owned(run).update(
                    status=DialogCandidate.Status.DONE,
                    text="".join(run.parts),
                    finish_reason=payload.finish_reason or "",
                    prompt_tokens=payload.prompt_tokens,
                    completion_tokens=payload.completion_tokens,
                    max_tokens=run.max_tokens,
                    first_token_ms=run.first_token_ms,
                    latency_ms=int((time.perf_counter() - run.started) * 1000),
                    attempts=F("attempts") + extra,
                    lease_until=None,
                )
                del running[label]
                yield settled(label, DialogCandidate.Status.DONE, "")
            else:  # error: keep the partial text so it can still be copied into the editor
                _owned(run).update(
                    status=DialogCandidate.Status.FAILED,
                    text="".join(run.parts),
                    error=payload[:4000],
                    max_tokens=run.max_tokens,
                    first_token_ms=run.first_token_ms,
                    latency_ms=int((time.perf_counter() - run.started) * 1000),
                    attempts=F("attempts") + extra,
                    lease_until=None,
                )
                del running[label]
                yield settled(label, DialogCandidate.Status.FAILED, payload)
        yield {"event": "end"}
    finally:
        cancel.set()
        for run in running.values():  # the client went away mid-stream: let the next request run it
            _owned(run).update(status=DialogCandidate.Status.PENDING, text="", lease_until=None)


def turn_run(*, turn: DialogTurn) -> DialogTurn:
    """Run the turn's pending candidates to completion without streaming (API clients)."""
    for _event in turn_stream(turn=turn):
        pass
    return turn
