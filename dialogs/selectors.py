"""Reads of live dialogs: the annotator's list, the page state, and a transcript for QA and exports."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Max, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from core import roles
from dialogs.models import Dialog, DialogCandidate, DialogTurn
from dialogs.services import MAX_TURNS, MIN_TURNS, candidate_can_retry, public_error
from generation import budget

CONTEXT_WARN_TURNS = 2  # warn when fewer than this many more turns fit the tightest model's context


def dialog_for_user(user, pk: int, *, write: bool = False) -> Dialog:
    """The user's own dialog; QA leads (and admins) may read anyone's. Anything else is a 404."""
    dialog = get_object_or_404(Dialog.objects.select_related("annotator"), pk=pk)
    if dialog.annotator_id == user.pk or (not write and roles.is_qa(user)):
        return dialog
    raise Http404


def dialogs_of(user) -> QuerySet[Dialog]:
    """The user's own dialogs, newest first, with decided-turn counts."""
    return (
        Dialog.objects.filter(annotator=user)
        .annotate(
            decided_turns=Count("turns", filter=Q(turns__decided_at__isnull=False)),
            last_activity=Max("turns__created"),
        )
        .order_by("-created")
    )


@dataclass
class TurnView:
    turn: DialogTurn
    columns: list[DialogCandidate]  # left to right, as shown to the annotator
    decided: bool

    @property
    def in_flight(self) -> bool:
        return any(c.status in (DialogCandidate.Status.PENDING, DialogCandidate.Status.STREAMING) for c in self.columns)

    @property
    def chosen_label(self) -> str:
        return self.turn.chosen.seat.label if self.turn.chosen_id else ""


@dataclass
class DialogState:
    dialog: Dialog
    turns: list[TurnView]
    decided_count: int
    context_turns_left: int | None = None  # more turns that fit the tightest model's context; None: unknown

    @property
    def current(self) -> TurnView | None:
        """The undecided last turn, if any."""
        if self.turns and not self.turns[-1].decided:
            return self.turns[-1]
        return None

    @property
    def is_open(self) -> bool:
        return self.dialog.status == Dialog.Status.OPEN

    @property
    def can_add_turn(self) -> bool:
        return self.is_open and self.current is None and len(self.turns) < MAX_TURNS

    @property
    def can_finish(self) -> bool:
        return self.is_open and self.current is None and self.decided_count >= MIN_TURNS

    @property
    def next_index(self) -> int:
        return len(self.turns) + 1

    @property
    def context_warning(self) -> bool:
        """Fewer than CONTEXT_WARN_TURNS more turns fit, and the context (not the turn limit) is what stops."""
        if not self.is_open or self.context_turns_left is None:
            return False
        return self.context_turns_left < min(CONTEXT_WARN_TURNS, MAX_TURNS - self.decided_count)


def _conversation_estimate(decided: list[TurnView]) -> int:
    messages = []
    for view in decided:
        messages += [{"content": view.turn.user_text}, {"content": view.turn.assistant_text}]
    return budget.estimate_tokens(messages)


def context_turns_left(decided: list[TurnView]) -> int | None:
    """How many more turns fit the tightest seat's context, forecast from the decided turns so far.

    Per seat: the last decided turn's prompt as the model counted it (usage), plus the answer that entered the
    conversation (the chosen answer's completion tokens, else an estimate); seats whose endpoint has no known
    context length are skipped. None when nothing is decided or no context length is known.
    """
    if not decided:
        return None
    last = decided[-1]
    chosen = last.turn.chosen if last.turn.chosen_id and not last.turn.custom_text else None
    if chosen is not None and chosen.completion_tokens:
        answer_tokens = chosen.completion_tokens
    else:
        answer_tokens = budget.estimate_text_tokens(last.turn.assistant_text)
    forecasts = []
    for candidate in last.columns:
        context_length = candidate.seat.endpoint.context_length
        if not context_length:
            continue
        if candidate.prompt_tokens:
            used = candidate.prompt_tokens + answer_tokens + budget.MESSAGE_OVERHEAD_TOKENS
        else:  # this model failed that turn: no usage to go by
            used = _conversation_estimate(decided)
        forecasts.append(budget.turns_that_fit(context_length=context_length, used_tokens=used,
                                               turns_done=len(decided)))
    return min(forecasts, default=None)


def dialog_state(dialog: Dialog) -> DialogState:
    turns = list(
        dialog.turns.select_related("typology", "chosen__seat", "custom_from__seat")
        .prefetch_related("candidates__seat__endpoint")
        .order_by("index")
    )
    views = []
    for turn in turns:
        by_label = {c.seat.label: c for c in turn.candidates.all()}
        for candidate in by_label.values():
            candidate.public_error = public_error(candidate.error)
            candidate.can_retry = candidate_can_retry(candidate)
        order = [label for label in turn.column_order if label in by_label] or sorted(by_label)
        views.append(TurnView(turn=turn, columns=[by_label[label] for label in order], decided=turn.decided_at is not None))
    decided = [v for v in views if v.decided]
    return DialogState(dialog=dialog, turns=views, decided_count=len(decided),
                       context_turns_left=context_turns_left(decided))


def dialog_transcript(dialog: Dialog) -> dict:
    """Everything QA and exports need about one dialog, as plain data.

    Per turn: the user message, its typology key, the column order shown, `context` (the messages every
    model was sent: earlier user messages and chosen/custom answers, then this user message), the three
    candidates (seat, endpoint name/model, status, text, tokens, timings), the chosen candidate id or the
    custom text (with the seat it was copied from), and `assistant_text` (what entered the context).
    """
    seats = {s.label: s for s in dialog.seats.select_related("endpoint")}
    turns = []
    history: list[dict] = []  # built as dialog_history() builds it, without a query per turn
    for view in dialog_state(dialog).turns:
        turn = view.turn
        context = [*history, {"role": "user", "content": turn.user_text}]
        if view.decided:
            history = [*context, {"role": "assistant", "content": turn.assistant_text}]
        turns.append(
            {
                "id": turn.pk,
                "index": turn.index,
                "user_text": turn.user_text,
                "typology": turn.typology.key,
                "column_order": list(turn.column_order),
                "context": context,
                "candidates": [
                    {
                        "id": c.pk,
                        "seat": c.seat.label,
                        "endpoint": seats[c.seat.label].endpoint.name,
                        "model": seats[c.seat.label].endpoint.model,
                        "status": c.status,
                        "text": c.text,
                        "finish_reason": c.finish_reason,
                        "attempts": c.attempts,
                        "prompt_tokens": c.prompt_tokens,
                        "completion_tokens": c.completion_tokens,
                        "max_tokens": c.max_tokens,  # the answer's budget: what the context had left, capped
                        "first_token_ms": c.first_token_ms,
                        "latency_ms": c.latency_ms,
                    }
                    for c in sorted(view.columns, key=lambda c: c.seat.label)
                ],
                "decided": view.decided,
                "chosen_id": turn.chosen_id,
                "chosen_seat": view.chosen_label,
                "custom_text": turn.custom_text,
                "custom_from_seat": turn.custom_from.seat.label if turn.custom_from_id else "",
                "assistant_text": turn.assistant_text,
                "time_ms": turn.time_ms,
                "decided_at": turn.decided_at.isoformat() if turn.decided_at else None,
            }
        )
    return {
        "id": dialog.pk,
        "annotator_id": dialog.annotator_id,
        "status": dialog.status,
        "guideline_version": dialog.guideline_version,
        "created": dialog.created.isoformat(),
        "finished_at": dialog.finished_at.isoformat() if dialog.finished_at else None,
        "seats": {label: {"endpoint": s.endpoint.name, "model": s.endpoint.model} for label, s in seats.items()},
        "turns": turns,
    }
