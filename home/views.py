"""The home page: each role's queues, totals and feedback inbox; marking feedback read."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from annotation import selectors as annotation_selectors
from core import roles
from qa import selectors as qa_selectors
from qa import services as qa_services
from qa.models import Feedback

from . import selectors


@login_required
@require_http_methods(["GET"])
def home(request):
    if request.htmx and request.htmx.target == "feedback-unread":
        # The inbox badge refreshes itself after "Mark as read" (the `feedbackRead` HX-Trigger).
        return render(request, "home/home.html#feedback-unread", {"unread": qa_selectors.feedback_unread(request.user)})
    feedback = qa_selectors.feedback_for(request.user)
    context = {"feedback": feedback}
    if roles.is_annotator(request.user):
        context.update(
            available=annotation_selectors.work_available(request.user),
            withheld=annotation_selectors.own_prompts_withheld(request.user),
            totals=selectors.annotator_totals(request.user),
            dialogs_open=selectors.dialogs_open(request.user),
            recent=annotation_selectors.recent_annotations(request.user),
        )
    # Feedback about an item links to it when the annotator can open it (they worked on it).
    context["feedback_items"] = annotation_selectors.claimed_task_ids(
        request.user, [f.task_id for f in feedback if f.task_id]
    )
    context["unread"] = sum(1 for f in feedback if f.read_at is None)
    return render(request, "home/home.html", context)


@login_required
@require_http_methods(["POST"])
def feedback_read(request, pk: int):
    try:
        feedback = qa_services.feedback_mark_read(user=request.user, feedback_id=pk)
    except Feedback.DoesNotExist as exc:
        raise Http404 from exc
    if request.htmx:
        feedback_items = annotation_selectors.claimed_task_ids(request.user, [feedback.task_id] if feedback.task_id else [])
        response = render(request, "home/home.html#feedback-item", {"note": feedback, "feedback_items": feedback_items})
        response["HX-Trigger"] = "feedbackRead"  # the unread badge refreshes itself
        return response
    return redirect("home:home")
