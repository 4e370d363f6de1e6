"""Reads for the export pages and API: the manifest, the dataset card, and files named in the manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.db.models import QuerySet

from . import writers as W
from .models import Export


def exports_recent() -> QuerySet:
    return Export.objects.select_related("created_by").order_by("-created", "-id")


def export_manifest(export: Export) -> dict[str, Any] | None:
    """The manifest of a finished export, or None (not built yet, or its directory is gone)."""
    if export.status != Export.Status.DONE or not export.directory:
        return None
    path = Path(export.directory) / W.MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def export_files(export: Export) -> list[dict[str, Any]]:
    """[{name, sha256, bytes, rows}] for every file in the manifest, plus the manifest itself."""
    manifest = export_manifest(export)
    if manifest is None:
        return []
    files = [{"name": name, **meta} for name, meta in sorted(manifest["files"].items())]
    path = Path(export.directory) / W.MANIFEST
    files.append({"name": W.MANIFEST, "sha256": export.manifest_sha256, "bytes": path.stat().st_size})
    return files


def export_file_path(export: Export, name: str) -> Path | None:
    """The path of a downloadable file: only names listed in the manifest (or the manifest itself).

    The name is looked up, never joined blindly, so "../" or absolute names cannot leave the directory.
    """
    manifest = export_manifest(export)
    if manifest is None or (name != W.MANIFEST and name not in manifest["files"]):
        return None
    path = Path(export.directory) / name
    return path if path.is_file() else None


def export_card(export: Export) -> tuple[str, str]:
    """(YAML front matter, Markdown body) of the dataset card, or ("", "")."""
    path = export_file_path(export, W.CARD)
    if path is None:
        return "", ""
    text = path.read_text(encoding="utf-8")
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end != -1:
            return text[4:end], text[end + 5:]
    return "", text
