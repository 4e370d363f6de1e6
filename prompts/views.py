"""Prompt collection pages: write (with duplicate warning and live coverage), my prompts, edit, import."""


from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from core import roles
from core.access import admin_required, annotator_required
from core.errors import form_add_error
from core.i18n import content_language
from core.reference import load_reference
from prompts import content
from prompts import services as prompt_services
from prompts.coverage import topic_coverage
from prompts.forms import PromptForm, PromptImportForm
from prompts.models import Category, Criterion, DialogTypology, Prompt
from prompts.selectors import tiebreak_steps


def _get_prompt_for_user(request, pk: int, *, for_edit: bool = False) -> Prompt:
    """Any annotator may read a prompt's text (duplicate checks need it); only the author edits it."""
    prompt = get_object_or_404(Prompt.objects.select_related("category", "topic", "author", "template"), pk=pk)
    if for_edit and prompt.author_id != request.user.pk:
        raise Http404
    return prompt


@login_required
@require_http_methods(["GET"])
def guidelines(request):
    criteria = list(Criterion.objects.all())
    return render(
        request,
        "prompts/guidelines.html",
        {
            "criteria": criteria,
            "categories": Category.objects.all(),
            "tiebreak": tiebreak_steps(criteria),
            "typologies": DialogTypology.objects.all(),
            "common_guideline": content.common_guideline(content_language()),
            "dialog": load_reference()["dialog"],  # turns and models per dialog (the paper's A.5.5)
        },
    )


def _prompt_page(request, form, *, duplicates=(), prompt=None, status=200):
    category = form.category
    context = {
        "form": form,
        "duplicates": duplicates,
        "prompt": prompt,
        "coverage": topic_coverage(category) if category else [],
        "category": category,
        "categories": Category.objects.all(),
    }
    if request.htmx and request.htmx.target in ("prompt-fields", "coverage", "duplicates"):
        return render(request, f"prompts/prompt_form.html#{request.htmx.target}", context)
    return render(request, "prompts/prompt_form.html", context, status=status)


@annotator_required
@require_http_methods(["GET", "POST"])
def prompt_create(request):
    if request.method == "GET" or request.POST.get("_refresh"):
        data = request.POST if request.method == "POST" else None
        initial = {"category": request.GET.get("category") or Category.objects.values_list("pk", flat=True).first()}
        form = PromptForm(data, initial=initial)
        duplicates = []
        if data is not None and (data.get("text") or "").strip():
            duplicates = prompt_services.prompt_duplicates(text=data["text"])
        return _prompt_page(request, form, duplicates=duplicates)

    form = PromptForm(request.POST)
    if not form.is_valid():
        return _prompt_page(request, form, status=422)
    data = form.cleaned_data
    try:
        text = (
            prompt_services.template_fill(template=data["template"], values=form.slot_values())
            if data["template"]
            else data["text"]
        )
    except prompt_services.PromptError as exc:
        form_add_error(form, exc)
        return _prompt_page(request, form, status=422)
    duplicates = prompt_services.prompt_duplicates(text=text)
    if duplicates and not (data["confirm_duplicate"] and data["duplicate_reason"].strip()):
        if data["confirm_duplicate"]:
            form.add_error("duplicate_reason", _("Say why this prompt should be kept."))
        return _prompt_page(request, form, duplicates=duplicates, status=409)
    try:
        prompt = prompt_services.prompt_create(
            author=request.user,
            text=text,
            category=data["category"],
            topic=data["topic"],
            source=data["source"],
            template=data["template"],
            slot_values=form.slot_values() if data["template"] else {},
            duplicate_reason=data["duplicate_reason"] if duplicates else "",
        )
    except prompt_services.PromptError as exc:
        form_add_error(form, exc)
        return _prompt_page(request, form, status=422)
    messages.success(request, _("Prompt saved."))
    url = reverse("prompts:prompt_create") + f"?category={prompt.category_id}"
    if request.htmx:
        # a 302 would be followed inside the XHR; tell htmx to navigate instead
        return HttpResponse(status=200, headers={"HX-Redirect": url})
    return redirect(url)


@annotator_required
@require_http_methods(["GET"])
def my_prompts(request):
    prompts = (
        Prompt.objects.filter(author=request.user)
        .select_related("category", "topic")
        .order_by("-created")
    )
    page = Paginator(prompts, 50).get_page(request.GET.get("page"))
    used = set(
        Prompt.objects.filter(pk__in=[p.pk for p in page], tasks__isnull=False).values_list("pk", flat=True)
    ) | set(Prompt.objects.filter(pk__in=[p.pk for p in page], generations__isnull=False).values_list("pk", flat=True))
    return render(request, "prompts/my_prompts.html", {"page": page, "used": used})


@annotator_required
@require_http_methods(["GET"])
def prompt_detail(request, pk: int):
    prompt = _get_prompt_for_user(request, pk)
    show_author = prompt.author_id == request.user.pk or roles.is_qa(request.user)
    return render(
        request,
        "prompts/prompt_detail.html",
        {"prompt": prompt, "show_author": show_author, "editable": prompt.author_id == request.user.pk
         and prompt_services.prompt_is_editable(prompt)},
    )


@annotator_required
@require_http_methods(["GET", "POST"])
def prompt_edit(request, pk: int):
    prompt = _get_prompt_for_user(request, pk, for_edit=True)
    if not prompt_services.prompt_is_editable(prompt):
        messages.error(request, _("This prompt is already used in a task and can no longer be edited."))
        return redirect("prompts:prompt_detail", pk=prompt.pk)
    initial = {"category": prompt.category_id, "topic": prompt.topic_id, "source": prompt.source,
               "text": prompt.text, "duplicate_reason": prompt.duplicate_reason}
    if request.method == "GET" or request.POST.get("_refresh"):
        form = PromptForm(request.POST if request.method == "POST" else None, initial=initial)
        return _prompt_page(request, form, prompt=prompt)
    form = PromptForm(request.POST)
    if not form.is_valid():
        return _prompt_page(request, form, prompt=prompt, status=422)
    data = form.cleaned_data
    duplicates = prompt_services.prompt_duplicates(text=data["text"], exclude_id=prompt.pk)
    if duplicates and not (data["confirm_duplicate"] and data["duplicate_reason"].strip()):
        return _prompt_page(request, form, prompt=prompt, duplicates=duplicates, status=409)
    try:
        prompt_services.prompt_update(
            prompt=prompt, text=data["text"], category=data["category"], topic=data["topic"],
            source=data["source"], duplicate_reason=data["duplicate_reason"] if duplicates else "",
        )
    except prompt_services.PromptError as exc:
        form_add_error(form, exc)
        return _prompt_page(request, form, prompt=prompt, status=422)
    messages.success(request, _("Prompt updated."))
    return redirect("prompts:my_prompts")


@admin_required
@require_http_methods(["GET", "POST"])
def prompt_import(request):
    form = PromptImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        data = upload.read()
        report = prompt_services.prompts_import(
            data=data,
            fmt=prompt_services.detect_format(upload.name, data),
            author=request.user,
            allow_duplicates=form.cleaned_data["allow_duplicates"],
        )
        if report.ok:
            messages.success(request, _("Imported %(n)s prompts.") % {"n": report.created})
            return redirect("prompts:prompt_import")
    status = 422 if report is not None and not report.ok else 200
    return render(request, "prompts/prompt_import.html", {"form": form, "report": report}, status=status)
