"""Export pages for admins: list with live progress, create form, detail (card, manifest, files), download."""

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from core.access import admin_required
from core.errors import form_add_error
from core.rendering import render_markdown

from . import selectors, services
from .forms import ExportForm
from .models import Export

PAGE_SIZE = 50


def _get_export(export_id: int) -> Export:
    return get_object_or_404(Export.objects.select_related("created_by"), pk=export_id)


def _is_active(export: Export) -> bool:
    return export.status in (Export.Status.QUEUED, Export.Status.RUNNING)


@admin_required
@require_http_methods(["GET"])
def export_list(request):
    page = Paginator(selectors.exports_recent(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "exports/list.html", {"page": page})


@admin_required
@require_http_methods(["GET", "POST"])
def export_create(request):
    form = ExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            export = services.export_create(user=request.user, name=form.cleaned_data["name"], params=form.params())
        except ValidationError as exc:
            form_add_error(form, exc)
        else:
            messages.success(request, _("The export is queued; this page shows its progress."))
            return redirect("exports:detail", export_id=export.pk)
    return render(request, "exports/create.html", {"form": form})


@admin_required
@require_http_methods(["GET"])
def export_detail(request, export_id: int):
    export = _get_export(export_id)
    front_matter, body = selectors.export_card(export)
    manifest = selectors.export_manifest(export)
    context = {
        "export": export,
        "active": _is_active(export),
        "params_json": json.dumps(export.params, ensure_ascii=False, indent=2, sort_keys=True),
        "card_front_matter": front_matter,
        "card_html": render_markdown(body) if body else "",
        "manifest_json": json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) if manifest else "",
        "files": selectors.export_files(export),
    }
    return render(request, "exports/detail.html", context)


@admin_required
@require_http_methods(["GET"])
def export_progress(request, export_id: int):
    """The progress fragment (polled by htmx while the build runs); without htmx, the detail page."""
    export = _get_export(export_id)
    if not request.htmx:
        return redirect("exports:detail", export_id=export.pk)
    response = render(request, "exports/list.html#progress", {"export": export})
    if not _is_active(export):
        response["HX-Refresh"] = "true"  # finished: reload the page to show files, card and counts
    return response


@admin_required
@require_http_methods(["POST"])
def export_rebuild(request, export_id: int):
    export = services.export_rebuild(export_id=_get_export(export_id).pk)
    messages.success(request, _("The export is queued for a rebuild with the same parameters."))
    return redirect("exports:detail", export_id=export.pk)


@admin_required
@require_http_methods(["GET"])
def export_download(request, export_id: int, name: str):
    path = selectors.export_file_path(_get_export(export_id), name)
    if path is None:
        raise Http404
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
