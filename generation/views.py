"""Admin pages for generation: campaigns (live progress, preview), generated texts, endpoints (health),
pre-prompts (versions), import."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from core.access import admin_required
from core.errors import form_add_error, message_error

from . import selectors
from .forms import AssembleForm, CampaignForm, EndpointForm, GenerationFilterForm, PrePromptForm, ResponsesImportForm
from .models import (
    MAX_CONTEXT_LENGTH,
    MAX_MAX_TOKENS,
    MIN_CONTEXT_LENGTH,
    MIN_MAX_TOKENS,
    Campaign,
    Endpoint,
    Generation,
    PrePrompt,
    SavedPromptFilter,
)
from .services import campaigns as campaign_services
from .services.endpoints import endpoint_check_health
from .services.imports import responses_import
from .services.preprompts import preprompt_edit

CAMPAIGN_ACTIONS = {
    "start": campaign_services.campaign_start,
    "pause": campaign_services.campaign_pause,
    "resume": campaign_services.campaign_resume,
    "cancel": campaign_services.campaign_cancel,
    "retry_failed": campaign_services.campaign_retry_failed,
}
GENERATIONS_PAGE_SIZE = 50


def _get_campaign(pk: int) -> Campaign:
    return get_object_or_404(Campaign.objects.prefetch_related("endpoints", "preprompts"), pk=pk)


def _get_endpoint(pk: int) -> Endpoint:
    return get_object_or_404(Endpoint, pk=pk)


def _get_preprompt(pk: int) -> PrePrompt:
    return get_object_or_404(PrePrompt, pk=pk)


def _get_generation(pk: int) -> Generation:
    return get_object_or_404(Generation.objects.select_related("campaign"), pk=pk)


def _campaigns_page(request, form, status=200, preview=None):
    return render(request, "generation/campaigns.html", {
        "campaigns": selectors.campaign_list()[:100],
        "endpoints": Endpoint.objects.order_by("-is_active", "name"),
        "form": form,
        "preview": preview,
    }, status=status)


@admin_required
@require_http_methods(["GET", "POST"])
def campaigns(request):
    """List, endpoint readiness, and the new-campaign form (POST creates, and starts if asked)."""
    if request.method == "GET" and request.htmx and request.GET.get("part") == "endpoints":
        # Polled by the page: re-check the active servers so "ready" appears once the local model is up.
        for endpoint in selectors.active_endpoints():
            endpoint_check_health(endpoint=endpoint, timeout=2.0)
        return render(request, "generation/campaigns.html#endpoints",
                      {"endpoints": Endpoint.objects.order_by("-is_active", "name")})
    if request.method == "GET":
        return _campaigns_page(request, CampaignForm(initial={"preprompts": PrePrompt.objects.filter(key="none")}))
    form = CampaignForm(request.POST)
    if not form.is_valid():
        return _campaigns_page(request, form, status=400)
    data = form.cleaned_data
    if request.POST.get("action") == "preview":
        # Count what the campaign would make before creating anything.
        try:
            preview = selectors.campaign_preview(
                prompt_filter=form.prompt_filter(), endpoints=data["endpoints"], preprompts=data["preprompts"],
                samples=data["samples"],
            )
        except selectors.FilterError as exc:
            form.add_error(None, str(exc))
            return _campaigns_page(request, form, status=400)
        return _campaigns_page(request, form, preview=preview)
    try:
        with transaction.atomic():
            prompt_filter = form.prompt_filter()
            if data["save_filter_as"]:
                SavedPromptFilter.objects.create(name=data["save_filter_as"], prompt_filter=prompt_filter,
                                                 created_by=request.user)
            campaign = campaign_services.campaign_create(
                name=data["name"], prompt_filter=prompt_filter, endpoints=list(data["endpoints"]),
                preprompts=list(data["preprompts"]), samples=data["samples"],
                params={"max_tokens": data["max_tokens"]}, created_by=request.user,
            )
            if data["start_now"]:
                campaign_services.campaign_start(campaign=campaign)
    except campaign_services.CampaignError as exc:
        form_add_error(form, exc)
        return _campaigns_page(request, form, status=400)
    return redirect("generation:campaign_detail", pk=campaign.pk)


@admin_required
@require_http_methods(["GET"])
def campaign_detail(request, pk: int):
    campaign = _get_campaign(pk)
    context = {
        "campaign": campaign,
        "progress": selectors.campaign_progress(campaign),
        "failed": selectors.campaign_failed(campaign),
        "assemble_form": AssembleForm(),
    }
    if request.htmx:
        return render(request, "generation/campaign_detail.html#progress", context)
    return render(request, "generation/campaign_detail.html", context)


@admin_required
@require_http_methods(["POST"])
def campaign_action(request, pk: int, action: str):
    campaign = _get_campaign(pk)
    service = CAMPAIGN_ACTIONS.get(action)
    if service is None:
        raise Http404
    try:
        service(campaign=campaign)
    except campaign_services.CampaignError as exc:
        message_error(request, exc)
    if request.htmx:
        campaign.refresh_from_db()
        return render(request, "generation/campaign_detail.html#progress", {
            "campaign": campaign, "progress": selectors.campaign_progress(campaign),
            "failed": selectors.campaign_failed(campaign),
        })
    return redirect("generation:campaign_detail", pk=campaign.pk)


@admin_required
@require_http_methods(["POST"])
def generation_retry(request, pk: int):
    generation = _get_generation(pk)
    try:
        campaign_services.generation_retry(generation=generation)
        messages.success(request, _("Generation queued again."))
    except campaign_services.CampaignError as exc:
        message_error(request, exc)
    if generation.campaign_id:
        return redirect("generation:campaign_detail", pk=generation.campaign_id)
    return redirect("generation:campaigns")


# --- endpoints ---------------------------------------------------------------------------------------


def _endpoint_page(request, form, *, endpoint=None, status=200):
    limits = {"min_max_tokens": MIN_MAX_TOKENS, "max_max_tokens": MAX_MAX_TOKENS,
              "min_context": MIN_CONTEXT_LENGTH, "max_context": MAX_CONTEXT_LENGTH}
    return render(request, "generation/endpoint_form.html", {"form": form, "endpoint": endpoint, **limits},
                  status=status)


@admin_required
@require_http_methods(["GET"])
def endpoint_list(request):
    return render(request, "generation/endpoints.html", {"endpoints": Endpoint.objects.order_by("name")})


@admin_required
@require_http_methods(["GET", "POST"])
def endpoint_create(request):
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        endpoint = form.save()
        endpoint_check_health(endpoint=endpoint)
        messages.success(request, _("Endpoint saved."))
        return redirect("generation:endpoint_list")
    return _endpoint_page(request, form, status=400 if request.method == "POST" else 200)


@admin_required
@require_http_methods(["GET", "POST"])
def endpoint_edit(request, pk: int):
    endpoint = _get_endpoint(pk)
    form = EndpointForm(request.POST or None, instance=endpoint)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Endpoint saved."))
        return redirect("generation:endpoint_list")
    return _endpoint_page(request, form, endpoint=endpoint, status=400 if request.method == "POST" else 200)


@admin_required
@require_http_methods(["POST"])
def endpoint_check(request, pk: int):
    endpoint = _get_endpoint(pk)
    endpoint_check_health(endpoint=endpoint)
    if request.htmx:
        return render(request, "generation/endpoints.html#health", {"endpoint": endpoint})
    return redirect("generation:campaigns" if request.POST.get("next") == "campaigns" else "generation:endpoint_list")


# --- pre-prompts -------------------------------------------------------------------------------------


@admin_required
@require_http_methods(["GET"])
def preprompt_list(request):
    return render(request, "generation/preprompts.html", {"preprompts": selectors.active_preprompts()})


@admin_required
@require_http_methods(["GET", "POST"])
def preprompt_edit_view(request, pk: int):
    preprompt = _get_preprompt(pk)
    current = preprompt.current_version()
    if request.method == "POST":
        form = PrePromptForm(request.POST)
        if form.is_valid():
            version = preprompt_edit(preprompt=preprompt, text=form.cleaned_data["text"],
                                     name=form.cleaned_data["name"], placement=form.cleaned_data["placement"])
            messages.success(request, _("Saved as version %(v)s.") % {"v": version.version})
            return redirect("generation:preprompt_list")
    else:
        form = PrePromptForm(initial={"name": preprompt.name, "placement": preprompt.placement,
                                      "text": current.text if current else ""})
    return render(request, "generation/preprompt_form.html", {
        "form": form, "preprompt": preprompt, "versions": preprompt.versions.order_by("-version"),
    }, status=400 if request.method == "POST" else 200)


# --- import ------------------------------------------------------------------------------------------


@admin_required
@require_http_methods(["GET", "POST"])
def responses_import_view(request):
    form = ResponsesImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        report = responses_import(data=form.cleaned_data["file"].read(), user=request.user)
        if report.ok:
            messages.success(request, _("Imported %(n)s responses.") % {"n": report.created})
            if report.echoes_preprompt:
                messages.warning(request, _("%(n)s of them repeat their pre-prompt's instruction: they are kept out "
                                            "of annotation tasks and exports.") % {"n": report.echoes_preprompt})
            return redirect("generation:responses_import")
    status = 400 if request.method == "POST" else 200
    return render(request, "generation/responses_import.html", {
        "form": form, "report": report, "assemble_form": AssembleForm(),
        "ready": selectors.prompts_without_tasks().count(),
    }, status=status)


# --------------------------------------------------------------------------------------------------
# Generated texts
# --------------------------------------------------------------------------------------------------

@admin_required
@require_http_methods(["GET"])
def generations(request):
    """Every generated text, filterable by campaign, prompt, model, pre-prompt and the echo flag."""
    form = GenerationFilterForm(request.GET or None)
    rows = selectors.generations_browse(**form.filters())
    page = Paginator(rows, GENERATIONS_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    template = "generation/generations.html#results" if request.htmx else "generation/generations.html"
    return render(request, template, context)
