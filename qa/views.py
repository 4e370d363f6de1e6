"""QA pages: agreement dashboard, review queues, gold set, feedback, coverage. QA leads and admins only."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from annotation.models import Ranking, Task
from core import roles
from core.access import qa_required
from core.errors import form_add_error
from dialogs.models import Dialog, DialogTurn
from prompts.models import Topic

from . import reports, selectors, services
from .forms import (
    DashboardFilterForm,
    FeedbackForm,
    GoldCandidateFilterForm,
    GoldForm,
    QueueFilterForm,
    ReviewForm,
    TopicTargetForm,
)
from .models import Review, ReviewTarget

QUEUES = {
    "custom": gettext_lazy("Custom answers"),
    "identical": gettext_lazy("Rating pairs with identical means"),
    "low_winner": gettext_lazy("Winning rating samples below 4.5"),
    "dialogs": gettext_lazy("Dialogs"),
}
PAGE_SIZE = 50


def _csv_response(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --------------------------------------------------------------------------------------------------
# Access: one getter per object type
# --------------------------------------------------------------------------------------------------

def _get_review_item(kind: str, target_id: int) -> selectors.ReviewItem:
    if kind not in ReviewTarget.values:
        raise Http404
    try:
        return selectors.review_item(kind, target_id)
    except (Task.DoesNotExist, Dialog.DoesNotExist, Ranking.DoesNotExist, DialogTurn.DoesNotExist,
            Review.DoesNotExist) as exc:
        raise Http404 from exc


def _get_task(task_id: int) -> Task:
    return get_object_or_404(Task.objects.select_related("prompt__category"), pk=task_id)


# --------------------------------------------------------------------------------------------------
# Dashboard
# --------------------------------------------------------------------------------------------------

@qa_required
@require_http_methods(["GET"])
def dashboard(request):
    form = DashboardFilterForm(request.GET or None)
    filters = form.filters()
    data = reports.cached_dashboard(filters, background=True)
    context = {"form": form, "data": data, "query": urlencode(filters.as_query())}
    template = "qa/dashboard.html#body" if request.htmx else "qa/dashboard.html"
    return render(request, template, context)


@qa_required
@require_http_methods(["GET"])
def chart_csv(request, chart: str):
    if chart not in reports.CHART_NAMES:
        raise Http404
    form = DashboardFilterForm(request.GET or None)
    data = reports.cached_dashboard(form.filters(), background=True)
    return _csv_response(data.charts[chart].csv(), f"qa-{chart}.csv")


# --------------------------------------------------------------------------------------------------
# Review queues
# --------------------------------------------------------------------------------------------------

@qa_required
@require_http_methods(["GET"])
def review_queue(request, queue: str = "custom"):
    if queue not in QUEUES:
        raise Http404
    form = QueueFilterForm(request.GET or None)
    status = form.status_value()
    keep = {"status": status, **({"sample": form.sample_value()} if queue == "dialogs" else {})}
    pairs = selectors.all_rating_pairs()  # read once for the tab counts and the rating-pair queues
    context = {"queue": queue, "queues": QUEUES, "form": form, "status": status,
               "counts": selectors.queue_counts(pairs=pairs), "base": urlencode(keep) + "&"}
    page = request.GET.get("page")
    if queue == "custom":
        context["rankings"] = Paginator(selectors.custom_ranking_queue(status), PAGE_SIZE).get_page(page)
        context["turns"] = Paginator(selectors.custom_turn_queue(status), PAGE_SIZE).get_page(
            request.GET.get("tpage"))
    elif queue == "dialogs":
        context["dialogs"] = Paginator(selectors.dialog_queue(status, form.sample_value()), PAGE_SIZE).get_page(page)
    else:
        context["pairs"] = Paginator(selectors.rating_pair_queue(queue, status, pairs=pairs), PAGE_SIZE).get_page(page)
    template = "qa/review_queue.html#list" if request.htmx else "qa/review_queue.html"
    return render(request, template, context)


@qa_required
@require_http_methods(["GET", "POST"])
def review_item(request, kind: str, target_id: int):
    item = _get_review_item(kind, target_id)
    form = ReviewForm(request.POST if request.method == "POST" else None, initial={"edited_text": item.effective_text or item.original_text})
    if request.method == "POST" and form.is_valid():
        try:
            services.review_decide(
                reviewer=request.user,
                target_kind=kind,
                target_id=target_id,
                decision=form.cleaned_data["decision"],
                note=form.cleaned_data["note"],
                edited_text=form.cleaned_data["edited_text"],
            )
        except ValidationError as exc:
            form_add_error(form, exc)
        else:
            if not request.htmx:
                messages.success(request, _("Decision saved."))
                return redirect("qa:review_item", kind=kind, target_id=target_id)
            item = _get_review_item(kind, target_id)
            form = ReviewForm(initial={"edited_text": item.effective_text or item.original_text})
    context = {"item": item, "form": form, "kind_label": ReviewTarget(kind).label}
    template = "qa/review_item.html#panel" if request.htmx else "qa/review_item.html"
    status = 422 if request.method == "POST" and form.errors else 200
    return render(request, template, context, status=status)


# --------------------------------------------------------------------------------------------------
# Gold set
# --------------------------------------------------------------------------------------------------

@qa_required
@require_http_methods(["GET"])
def gold(request):
    form = GoldCandidateFilterForm(request.GET or None)
    kind, category, query = "", None, ""
    if form.is_valid():
        kind = form.cleaned_data.get("kind") or ""
        category = form.cleaned_data["category"].id if form.cleaned_data.get("category") else None
        query = form.cleaned_data.get("q") or ""
    candidates = Paginator(selectors.gold_candidates(kind=kind, category_id=category, query=query),
                           PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "gold_tasks": selectors.gold_tasks(), "candidates": candidates,
               "accuracy": reports.gold_accuracy()}
    template = "qa/gold.html#candidates" if request.htmx else "qa/gold.html"
    return render(request, template, context)


@qa_required
@require_http_methods(["GET", "POST"])
def gold_edit(request, task_id: int):
    task = _get_task(task_id)
    responses = selectors.task_responses(task)
    reference = task.gold_reference or {}
    initial = {"is_gold": task.is_gold, "answer": reference.get("answer", "")}
    for place, rid in enumerate(reference.get("order", []), start=1):
        initial[f"rank_{place}"] = str(rid)
    for key, score in (reference.get("scores") or {}).items():
        initial[f"score_{key}"] = str(score)
    form = GoldForm(request.POST if request.method == "POST" else None, initial=initial, task=task, responses=responses,
                    criteria=selectors.criteria())
    if request.method == "POST" and form.is_valid():
        try:
            if form.cleaned_data["is_gold"]:
                services.gold_mark(task=task, marked_by=request.user, reference=form.reference())
                messages.success(request, _("Task marked as gold."))
            else:
                services.gold_unmark(task=task)
                messages.success(request, _("Task removed from the gold set."))
        except ValidationError as exc:
            form_add_error(form, exc)
        else:
            return redirect("qa:gold_edit", task_id=task.id)
    status = 422 if request.method == "POST" and form.errors else 200
    return render(request, "qa/gold_edit.html", {"task": task, "responses": responses, "form": form},
                  status=status)


# --------------------------------------------------------------------------------------------------
# Feedback
# --------------------------------------------------------------------------------------------------

@qa_required
@require_http_methods(["GET", "POST"])
def feedback(request):
    initial = {k: request.GET.get(k) for k in ("to_user", "task", "dialog") if request.GET.get(k)}
    form = FeedbackForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.feedback_send(
                sender=request.user,
                to_user=data["to_user"],
                text=data["text"],
                task=Task.objects.get(id=data["task"]) if data.get("task") else None,
                dialog=Dialog.objects.get(id=data["dialog"]) if data.get("dialog") else None,
            )
        except ValidationError as exc:
            form_add_error(form, exc)
        else:
            messages.success(request, _("Feedback sent."))
            return redirect("qa:feedback")
    status = 422 if request.method == "POST" and form.errors else 200
    return render(request, "qa/feedback.html", {"form": form, "sent": selectors.feedback_sent()}, status=status)


# --------------------------------------------------------------------------------------------------
# Coverage
# --------------------------------------------------------------------------------------------------

@qa_required
@require_http_methods(["GET", "POST"])
def coverage(request):
    target_form = TopicTargetForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not roles.is_admin(request.user):
            raise PermissionDenied  # targets are set by admins
        if target_form.is_valid():
            topic = get_object_or_404(Topic, pk=target_form.cleaned_data["topic"])
            services.topic_target_set(topic=topic, target=target_form.cleaned_data["target"])
            messages.success(request, _("Target saved."))
            return redirect(reverse("qa:coverage") + f"#topic-{topic.id}")
        messages.error(request, _("The target must be a whole number, 0 or more."))
    context = {"coverage": selectors.coverage(), "can_set_targets": roles.is_admin(request.user)}
    template = "qa/coverage.html#table" if request.htmx else "qa/coverage.html"
    return render(request, template, context, status=422 if request.method == "POST" else 200)


@qa_required
@require_http_methods(["GET"])
def coverage_csv(request):
    return _csv_response(reports.coverage_csv(selectors.coverage()), "qa-coverage.csv")
