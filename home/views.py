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
    context = {"feedback": qa_selectors.feedback_for(request.user)}
    if roles.is_annotator(request.user):
        context.update(
            available=annotation_selectors.work_available(request.user),
            totals=selectors.annotator_totals(request.user),
            dialogs_open=selectors.dialogs_open(request.user),
            recent=annotation_selectors.recent_annotations(request.user),
        )
    context["unread"] = sum(1 for f in context["feedback"] if f.read_at is None)
    return render(request, "home/home.html", context)


@login_required
@require_http_methods(["POST"])
def feedback_read(request, pk: int):
    try:
        feedback = qa_services.feedback_mark_read(user=request.user, feedback_id=pk)
    except Feedback.DoesNotExist as exc:
        raise Http404 from exc
    if request.htmx:
        return render(request, "home/home.html#feedback-item", {"note": feedback})
    return redirect("home:home")
