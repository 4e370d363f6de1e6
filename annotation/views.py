"""Annotator pages: rating and ranking items.

Claiming is a POST (it changes state); an item page shows the annotator's own claim and nothing else.
Submitting saves and goes straight on to the next item of the same kind (one round trip).
"""

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from annotation import selectors
from annotation.models import Claim, Ranking, SkipReason, TaskKind
from annotation.services import assignment, submissions
from annotation.services.assembly import RoutingRule, tasks_assemble
from core.access import admin_required, annotator_required
from core.errors import StudioError, error_messages
from generation import selectors as generation_selectors
from generation.forms import AssembleForm, ResponsesImportForm
from generation.models import Campaign
from prompts.selectors import tiebreak_steps

# What a submission can be refused with; each is shown to the annotator with what they typed kept.
REFUSALS = (ValidationError, StudioError)
ITEM_URL = {TaskKind.RATING: "annotation:rating_item", TaskKind.RANKING: "annotation:ranking_item"}


def _get_claim_for_user(request, task_id: int, kind: str) -> Claim:
    """The requesting annotator's own claim on the task; anything else is a 404."""
    claim = selectors.claim_for_task(annotator=request.user, task_id=task_id)
    if claim is None or claim.task.kind != kind:
        raise Http404
    return claim


# --------------------------------------------------------------------------------------------------
# Claiming
# --------------------------------------------------------------------------------------------------

def _go_next(request, kind: str):
    claim = assignment.task_claim_next(annotator=request.user, kind=kind)
    if claim is None:
        messages.info(request, _("No more items of this kind for you right now. Thank you!"))
        if selectors.own_prompts_withheld(request.user, kind):
            messages.info(request, _(
                "Items built from prompts you wrote are never given to you (you would judge your own prompt); "
                "the remaining items of this kind are all of that sort."
            ))
        return redirect("home:home")
    return redirect(ITEM_URL[kind], task_id=claim.task_id)


@annotator_required
@require_http_methods(["POST"])
def rating_next(request):
    return _go_next(request, TaskKind.RATING)


@annotator_required
@require_http_methods(["POST"])
def ranking_next(request):
    return _go_next(request, TaskKind.RANKING)


@annotator_required
@require_http_methods(["POST"])
def claim_release(request, task_id: int):
    try:
        claim = assignment.claim_release(annotator=request.user, task_id=task_id)
    except assignment.ClaimNotHeld as exc:
        raise Http404 from exc
    messages.info(request, _("The item was given back."))
    if request.POST.get("next") == "1":
        return _go_next(request, claim.task.kind)
    return redirect("home:home")


def _submit(request, claim: Claim, service, page, values: dict):
    """Submit what the form holds (`values` are the service's keyword arguments); on refusal re-render
    the page with the message and everything typed; on success go on to the next item."""
    revision = claim.status == Claim.Status.SUBMITTED
    try:
        result = service(
            annotator=request.user, task_id=claim.task_id, time_ms=request.POST.get("time_ms") or None, **values
        )
    except REFUSALS as exc:
        return page(request, claim, values=values, errors=error_messages(exc), status=400)
    if revision:
        # Back to where the annotator was: their held item of this kind (or the next one).
        messages.success(request, _("Your changes were saved."))
        return _go_next(request, claim.task.kind)
    if result.created:
        messages.success(request, _("Saved."))
    return _go_next(request, claim.task.kind)


def _task_context(request, claim: Claim) -> dict:
    """What every task page shows besides the item: where the annotator is in their queue, and the
    way back to their previous submission of this kind (to revise it)."""
    kind = claim.task.kind
    previous = selectors.annotation_previous(annotator=request.user, kind=kind, exclude_task_id=claim.task_id)
    return {
        "queue": selectors.queue_position(annotator=request.user, kind=kind, claim=claim),
        "previous": previous,
        "previous_url": reverse(ITEM_URL[kind], args=[previous.task_id]) if previous else "",
    }


# --------------------------------------------------------------------------------------------------
# Rating
# --------------------------------------------------------------------------------------------------

def _as_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _rating_page(request, claim: Claim, *, values: dict, errors: dict | None = None, status: int = 200):
    annotation = selectors.annotation_current(annotator=request.user, task=claim.task)
    revisable = annotation is None or submissions.annotation_is_revisable(annotation)
    criteria = selectors.criteria()
    scores = {key: _as_int(value) for key, value in (values.get("scores") or {}).items()}
    rows = [(c, scores.get(c.key), (errors or {}).get(f"score_{c.key}")) for c in criteria]
    context = {
        "item": selectors.claim_item(claim),
        "claim": claim,
        "annotation": annotation,
        "revisable": revisable,
        "rows": rows,
        "values": values,
        "errors": errors or {},
        "skip_reasons": SkipReason.choices,
        "submission_id": values.get("submission_id") or uuid.uuid4(),
        "scale": range(1, 6),
        **_task_context(request, claim),
    }
    return render(request, "annotation/rating.html", context, status=status)


@annotator_required
@require_http_methods(["GET", "POST"])
def rating_item(request, task_id: int):
    claim = _get_claim_for_user(request, task_id, TaskKind.RATING)
    if request.method == "GET":
        values = {}
        current = selectors.annotation_current(annotator=request.user, task=claim.task)
        if current is not None:
            values = {"scores": current.scores, "comment": current.comment}
        return _rating_page(request, claim, values=values)
    keys = submissions.criterion_keys()
    skipping = request.POST.get("action") == "skip"
    values = {
        "submission_id": request.POST.get("submission_id", ""),
        "scores": {k: request.POST.get(f"score_{k}") for k in keys if request.POST.get(f"score_{k}")},
        "comment": request.POST.get("comment", ""),
        "skip_reason": request.POST.get("skip_reason", "") if skipping else "",
    }
    if skipping and not values["skip_reason"]:
        return _rating_page(
            request, claim, values=values, errors={"skip_reason": [_("Choose why you skip this item.")]}, status=400
        )
    return _submit(request, claim, submissions.rating_submit, _rating_page, values)


# --------------------------------------------------------------------------------------------------
# Ranking
# --------------------------------------------------------------------------------------------------

def _ranking_values_from_post(post, shown: list[int]) -> dict:
    order_raw = post.get("order", "").strip()
    if order_raw:
        order = [part for part in order_raw.split(",") if part.strip()]
    else:
        # Without JavaScript: one "rank" select per response.
        ranked = []
        for response_id in shown:
            try:
                ranked.append((int(post.get(f"rank_{response_id}", "")), response_id))
            except ValueError:
                ranked.append((99, response_id))
        positions = [r for r, _id in ranked]
        order = [rid for _r, rid in sorted(ranked)] if len(set(positions)) == len(positions) else []
    all_unacceptable = post.get("all_unacceptable") == "on"
    # The best response is not rejected unless all are unacceptable (its select is just hidden).
    rejectable = [rid for rid in shown if all_unacceptable or not order or str(rid) != str(order[0]).strip()]
    return {
        "submission_id": post.get("submission_id", ""),
        "order": order,
        "hardness": {str(rid): post[f"hardness_{rid}"] for rid in rejectable if post.get(f"hardness_{rid}")},
        "all_unacceptable": all_unacceptable,
        "custom_text": post.get("custom_text", ""),
        "custom_from": post.get("custom_from") or None,
        "comment": post.get("comment", ""),
        "order_confirmed_unchanged": post.get("order_confirmed_unchanged") == "on",
    }


def _ranking_page(request, claim: Claim, *, values: dict, errors: dict | None = None, status: int = 200):
    annotation = selectors.annotation_current(annotator=request.user, task=claim.task)
    revisable = annotation is None or submissions.annotation_is_revisable(annotation)
    item = selectors.claim_item(claim)
    by_id = {r.id: r for r in item.responses}
    try:
        wanted = [int(x) for x in values.get("order") or []]
    except ValueError:
        wanted = []
    order = wanted if sorted(wanted) == sorted(by_id) else list(by_id)
    hardness = values.get("hardness") or {}
    rows = [(rank, by_id[rid], hardness.get(str(rid), "soft")) for rank, rid in enumerate(order, start=1)]
    criteria = selectors.criteria()
    context = {
        "item": item,
        "claim": claim,
        "annotation": annotation,
        "revisable": revisable,
        "rows": rows,
        "order_csv": ",".join(str(rid) for rid in order),
        "values": values,
        "errors": errors or {},
        "tiebreak": tiebreak_steps(criteria),
        "submission_id": values.get("submission_id") or uuid.uuid4(),
        "raw_texts": {str(r.id): r.text for r in item.responses},
        "positions": range(1, len(order) + 1),
        # The order as first shown to this annotator: a submission in exactly this order needs the
        # explicit confirmation (ranking.js compares against it; the service decides).
        "shown_csv": ",".join(str(rid) for rid in claim.display_order),
        "skip_reasons": SkipReason.choices,
        **_task_context(request, claim),
    }
    return render(request, "annotation/ranking.html", context, status=status)


@annotator_required
@require_http_methods(["GET", "POST"])
def ranking_item(request, task_id: int):
    claim = _get_claim_for_user(request, task_id, TaskKind.RANKING)
    if request.method == "GET":
        values = {}
        current: Ranking | None = selectors.annotation_current(annotator=request.user, task=claim.task)
        if current is not None:
            values = {
                "order": current.order,
                "hardness": current.hardness,
                "all_unacceptable": current.all_unacceptable,
                "custom_text": current.custom_text,
                "custom_from": current.custom_from_id,
                "comment": current.comment,
                "order_confirmed_unchanged": current.order_confirmed_unchanged,
            }
        return _ranking_page(request, claim, values=values)
    values = _ranking_values_from_post(request.POST, list(claim.display_order))
    if request.POST.get("action") == "skip":
        values = {"submission_id": values["submission_id"], "comment": values["comment"],
                  "skip_reason": request.POST.get("skip_reason", "")}
        if not values["skip_reason"]:
            return _ranking_page(
                request, claim, values=values, errors={"skip_reason": [_("Choose why you skip this item.")]},
                status=400,
            )
    return _submit(request, claim, submissions.ranking_submit, _ranking_page, values)


# --------------------------------------------------------------------------------------------------
# Task assembly (admins; the buttons sit on the generation pages)
# --------------------------------------------------------------------------------------------------

def _assemble(request, form: AssembleForm, prompt_filter: dict) -> None:
    """Assemble and say what happened to every selected prompt: built, or skipped and why."""
    data = form.cleaned_data
    selection = selectors.assembly_selection(prompt_filter)
    report = tasks_assemble(
        prompts=selection.ready, seed=data["seed"], overlap=data["overlap"],
        rule=RoutingRule(rating_min_chars=data["rating_min_chars"], rating_min_parts=data["rating_min_parts"]),
    )
    too_similar = sum(1 for _pk, why in report.skipped if why.startswith("not enough distinct"))
    skipped = selection.with_tasks + selection.too_few_responses + len(report.skipped)
    messages.success(request, _(
        "%(ranking)s ranking items and %(rating)s rating pairs built from %(selected)s selected prompts; "
        "%(skipped)s prompts skipped: %(with_tasks)s already had tasks, %(few)s had fewer than 2 usable "
        "responses (finished and not echoing their pre-prompt), %(similar)s had too few distinct responses."
    ) % {"ranking": report.ranking_items, "rating": report.rating_pairs, "selected": selection.selected,
         "skipped": skipped, "with_tasks": selection.with_tasks + len(report.skipped) - too_similar,
         "few": selection.too_few_responses, "similar": too_similar})


@admin_required
@require_http_methods(["POST"])
def campaign_assemble(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    form = AssembleForm(request.POST)
    if not form.is_valid():
        return render(request, "generation/campaign_detail.html", {
            "campaign": campaign, "progress": generation_selectors.campaign_progress(campaign),
            "failed": generation_selectors.campaign_failed(campaign), "assemble_form": form,
        }, status=400)
    _assemble(request, form, campaign.prompt_filter)
    return redirect("generation:campaign_detail", pk=campaign.pk)


@admin_required
@require_http_methods(["POST"])
def tasks_assemble_all(request):
    """Tasks for every prompt with responses and no tasks yet (e.g. right after importing responses)."""
    form = AssembleForm(request.POST)
    if not form.is_valid():
        return render(request, "generation/responses_import.html", {
            "form": ResponsesImportForm(), "assemble_form": form,
            "ready": generation_selectors.prompts_without_tasks().count(),
        }, status=400)
    _assemble(request, form, {})
    return redirect("generation:responses_import")
