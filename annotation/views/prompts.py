from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from ..access import annotator_required
from ..models import Category, Criterion


@login_required
@require_http_methods(["GET"])
def guidelines(request):
    return render(
        request,
        "annotation/guidelines.html",
        {"criteria": Criterion.objects.all(), "categories": Category.objects.all()},
    )


@annotator_required
@require_http_methods(["GET", "POST"])
def prompt_create(request):
    return render(request, "annotation/guidelines.html", {})


@annotator_required
@require_http_methods(["GET"])
def my_prompts(request):
    return render(request, "annotation/guidelines.html", {})
