"""Live dialog pages: list/start, the dialog itself, the per-turn SSE stream, decisions, retry, finish.

The three answers of a turn stream over Server-Sent Events from a plain WSGI view (a sync generator);
everything else is ordinary form posts that redirect, or htmx fragments of the same template.
"""

import json
import uuid

from django.contrib import messages
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from core.access import annotator_required
from core.errors import message_error
from dialogs import services as dialog_services
from dialogs.models import Dialog, DialogCandidate, DialogTurn
from dialogs.selectors import dialog_for_user, dialog_state, dialogs_of
from dialogs.services import MAX_TURNS, MIN_TURNS, DialogError
from prompts.models import DialogTypology


def _get_dialog_for_user(request, pk: int, *, write: bool = False) -> Dialog:
    return dialog_for_user(request.user, pk, write=write)


def _get_turn(dialog: Dialog, index: int) -> DialogTurn:
    return get_object_or_404(DialogTurn.objects.select_related("dialog"), dialog=dialog, index=index)


def _detail_url(dialog: Dialog, turn_index: int | None = None) -> str:
    url = reverse("dialogs:dialog_detail", args=[dialog.pk])
    return f"{url}#turn-{turn_index}" if turn_index else url


@annotator_required
@require_http_methods(["GET"])
def dialog_list(request):
    dialogs = list(dialogs_of(request.user)[:200])
    open_dialog = next((d for d in dialogs if d.status == Dialog.Status.OPEN), None)
    return render(
        request,
        "dialogs/dialog_list.html",
        {
            "dialogs": dialogs,
            "open_dialog": open_dialog,
            "pool_size": dialog_services.dialog_pool().count(),
            "min_turns": MIN_TURNS,
            "max_turns": MAX_TURNS,
        },
    )


@annotator_required
@require_http_methods(["POST"])
def dialog_start(request):
    try:
        dialog = dialog_services.dialog_start(annotator=request.user)
    except DialogError as exc:
        message_error(request, exc)
        return redirect("dialogs:dialog_list")
    return redirect(_detail_url(dialog))


def _page(request, dialog: Dialog, *, status: int = 200, turn_values=None, decide_values=None, error: str = ""):
    state = dialog_state(dialog)
    readonly = dialog.annotator_id != request.user.pk
    context = {
        "dialog": dialog,
        "state": state,
        "readonly": readonly,
        "editable": state.is_open and not readonly,
        # Only a QA lead reading someone else's dialog sees which model sat where; annotators never do.
        "seats": {s.label: s.endpoint for s in dialog.seats.select_related("endpoint")} if readonly else {},
        "typologies": DialogTypology.objects.all(),
        "turn_values": turn_values or {},
        "decide_values": decide_values or {},
        "submission_id": uuid.uuid4(),
        "error": error,
        "min_turns": MIN_TURNS,
        "max_turns": MAX_TURNS,
    }
    return render(request, "dialogs/dialog.html", context, status=status)


@annotator_required
@require_http_methods(["GET"])
def dialog_detail(request, pk: int):
    dialog = _get_dialog_for_user(request, pk)
    return _page(request, dialog)


@annotator_required
@require_http_methods(["POST"])
def dialog_turn_create(request, pk: int):
    dialog = _get_dialog_for_user(request, pk, write=True)
    values = {"user_text": request.POST.get("user_text", ""), "typology": request.POST.get("typology", "")}
    try:
        turn = dialog_services.dialog_turn_start(
            dialog=dialog, user_text=values["user_text"], typology=values["typology"]
        )
    except DialogError as exc:
        return _page(request, dialog, status=400, turn_values=values, error=str(exc))
    return redirect(_detail_url(dialog, turn.index))


def _sse(events):
    """Server-Sent Events framing; the leading comment makes the browser see the stream open at once."""
    yield b"retry: 2000\n: open\n\n"
    for event in events:
        name = event.pop("event")
        if name == "ping":
            yield b": ping\n\n"
            continue
        if name == "error":  # EventSource reserves "error" for connection errors
            name = "failed"
        payload = json.dumps(event, ensure_ascii=False)
        yield f"event: {name}\ndata: {payload}\n\n".encode()


@annotator_required
@require_http_methods(["GET"])
def dialog_turn_stream(request, pk: int, index: int):
    dialog = _get_dialog_for_user(request, pk, write=True)
    turn = _get_turn(dialog, index)
    if dialog.status != Dialog.Status.OPEN or turn.decided_at is not None:
        events = iter([{"event": "end"}])
    else:
        events = dialog_services.turn_stream(turn=turn)
    response = StreamingHttpResponse(_sse(events), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def _candidate_context(request, dialog: Dialog, turn: DialogTurn, candidate: DialogCandidate) -> dict:
    position = (turn.column_order.index(candidate.seat.label) + 1) if candidate.seat.label in turn.column_order else 0
    readonly = dialog.annotator_id != request.user.pk
    candidate.public_error = dialog_services.public_error(candidate.error)
    candidate.can_retry = dialog_services.candidate_can_retry(candidate)
    return {
        "dialog": dialog,
        "turn": turn,
        "c": candidate,
        "position": position,
        "live": turn.decided_at is None and dialog.status == Dialog.Status.OPEN and not readonly,
        "readonly": readonly,
    }


@annotator_required
@require_http_methods(["GET"])
def dialog_candidate(request, pk: int, index: int, seat: str):
    """One answer column (final text as sanitised Markdown), swapped in when its stream ends."""
    dialog = _get_dialog_for_user(request, pk)
    turn = _get_turn(dialog, index)
    candidate = get_object_or_404(DialogCandidate.objects.select_related("seat"), turn=turn, seat__label=seat)
    if not request.htmx:
        return redirect(_detail_url(dialog, turn.index))
    return render(request, "dialogs/dialog.html#candidate", _candidate_context(request, dialog, turn, candidate))


@annotator_required
@require_http_methods(["POST"])
def dialog_candidate_retry(request, pk: int, index: int, seat: str):
    dialog = _get_dialog_for_user(request, pk, write=True)
    turn = _get_turn(dialog, index)
    try:
        candidate = dialog_services.candidate_retry(turn=turn, seat=seat)
    except DialogError as exc:
        if request.htmx:
            return render(request, "dialogs/dialog.html#error", {"error": str(exc)}, status=400)
        message_error(request, exc)
        return redirect(_detail_url(dialog, turn.index))
    if request.htmx:
        candidate = DialogCandidate.objects.select_related("seat").get(pk=candidate.pk)
        return render(request, "dialogs/dialog.html#candidate", _candidate_context(request, dialog, turn, candidate))
    return redirect(_detail_url(dialog, turn.index))


@annotator_required
@require_http_methods(["POST"])
def dialog_turn_decide(request, pk: int, index: int):
    dialog = _get_dialog_for_user(request, pk, write=True)
    turn = _get_turn(dialog, index)
    values = {
        "choice": request.POST.get("choice", ""),
        "custom_text": request.POST.get("custom_text", ""),
        "custom_from": request.POST.get("custom_from", ""),
    }
    try:
        time_ms = int(request.POST.get("time_ms") or 0)
    except ValueError:
        time_ms = 0
    try:
        dialog_services.dialog_turn_decide(
            turn=turn,
            submission_id=request.POST.get("submission_id", ""),
            choice=values["choice"],
            custom_text=values["custom_text"],
            custom_from=values["custom_from"] or None,
            time_ms=time_ms,
        )
    except DialogError as exc:
        return _page(request, dialog, status=400, decide_values=values, error=str(exc))
    return redirect(reverse("dialogs:dialog_detail", args=[dialog.pk]) + "#next")


@annotator_required
@require_http_methods(["POST"])
def dialog_finish(request, pk: int):
    dialog = _get_dialog_for_user(request, pk, write=True)
    try:
        dialog_services.dialog_finish(dialog=dialog)
    except DialogError as exc:
        return _page(request, dialog, status=400, error=str(exc))
    messages.success(request, _("Dialog #%(id)s finished. Thank you!") % {"id": dialog.pk})
    return redirect(_detail_url(dialog))


@annotator_required
@require_http_methods(["POST"])
def dialog_abandon(request, pk: int):
    dialog = _get_dialog_for_user(request, pk, write=True)
    dialog_services.dialog_abandon(dialog=dialog)
    return redirect("dialogs:dialog_list")
