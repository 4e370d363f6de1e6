"""Export jobs: create one (queued to Celery after commit), build it (streamed into a temp dir, renamed).

Building is deliberately not one transaction: it streams millions of rows and reports progress that the
admin page must see while it runs. It reads the annotations chunk by chunk in primary-key order; the
files depend only on the selected data and the stored parameters (defaults are resolved and stored at
creation), so a rebuild — or a redelivered Celery job — writes byte-identical files.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import adapters as A
from . import card as C
from . import tasks
from . import writers as W
from .models import Export

log = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 0.5


@functools.cache
def code_version() -> str:
    """The code this process runs (read once: the shared checkout may move on while a worker lives)."""
    return W.describe_code_version()


def export_directory(export_id: int) -> Path:
    return Path(settings.EXPORT_ROOT) / str(export_id)


def _enqueue(export_id: int) -> None:
    transaction.on_commit(lambda: tasks.build_export.delay(export_id))


@transaction.atomic
def export_create(*, user, name: str, params: Mapping[str, Any], enqueue: bool = True) -> Export:
    """Validate and store an export request; the build is queued once the transaction commits."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Give the export a name.")})
    if len(name) > 200:
        raise ValidationError({"name": _("At most 200 characters.")})
    try:
        export_params, filters = A.split_params(params)
    except A.ParamsError as exc:
        raise ValidationError({"params": str(exc)}) from exc
    export = Export.objects.create(
        name=name,
        params=A.stored_params(export_params, filters),
        created_by=user if user is not None and user.is_authenticated else None,
    )
    if enqueue:
        _enqueue(export.pk)
    return export


@transaction.atomic
def export_rebuild(*, export_id: int) -> Export:
    """Queue a rebuild with the stored parameters (a running build finishes first; both give equal bytes)."""
    export = Export.objects.select_for_update().get(pk=export_id)
    if export.status in (Export.Status.QUEUED, Export.Status.RUNNING):
        return export
    export.status, export.progress, export.error = Export.Status.QUEUED, 0.0, ""
    export.save(update_fields=["status", "progress", "error"])
    _enqueue(export.pk)
    return export


class _Progress:
    """`on_item` callback: writes progress at most every PROGRESS_EVERY_SECONDS (outside any transaction)."""

    def __init__(self, export_id: int, total: int) -> None:
        self.export_id, self.total, self.done = export_id, max(total, 1), 0
        self._last = time.monotonic()

    def __call__(self, source_task: str) -> None:
        self.done += 1
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY_SECONDS:
            self._last = now
            Export.objects.filter(pk=self.export_id).update(
                progress=min(self.done / self.total, 0.99),
                counters={"items_done": self.done, "items_total": self.total},
            )


def _ranking_items(filters: A.ExportFilters, params: W.ExportParams, stats: A.AdapterStats, chunk_size: int):
    if not filters.wants("ranking"):
        return ()
    items = A.iter_ranking_items(filters, chunk_size=chunk_size, stats=stats)
    if filters.hard_share is None:
        return items
    counting = A.iter_ranking_items(filters, chunk_size=chunk_size)  # first pass only counts
    return A.limit_hard_share((counting, items), params=params, target=filters.hard_share, stats=stats)


def _selection_section(filters: A.ExportFilters, stats: A.AdapterStats, language: str) -> str:
    """The card's account of what was read and held back, in the card's language (exports/card.py)."""
    t = C.text(language)
    lines = ["", t["selection"], ""]
    lines += [f"- `{k}`: `{json.dumps(v, ensure_ascii=False)}`" for k, v in sorted(filters.as_dict().items())]
    rule = t[f"rule_{filters.review_status}"]
    lines += ["", t["review_rule"].format(status=filters.review_status, rule=rule)]
    lines += [
        t["held_back_rules"],
        "",
        t["read_table"],
        "| --- | ---: |",
    ]
    lines += [f"| {k} | {v} |" for k, v in sorted(stats.items.items())]
    if stats.held_back:
        lines += ["", t["held_back_table"], "| --- | ---: |"]
        lines += [f"| {k} | {v} |" for k, v in sorted(stats.held_back.items())]
    return "\n".join(lines) + "\n"


def build_files(
    out_dir: Path,
    *,
    params: W.ExportParams,
    filters: A.ExportFilters,
    on_item=None,
    chunk_size: int = 2000,
) -> tuple[dict[str, Any], A.AdapterStats]:
    """Write every file of an export into the empty `out_dir`; returns (manifest, what was read)."""
    stats = A.AdapterStats()
    manifest = W.write_export(
        out_dir,
        ranking_items=_ranking_items(filters, params, stats, chunk_size),
        rating_items=(
            A.iter_rating_items(filters, merge=params.rating_merge, chunk_size=chunk_size, stats=stats)
            if filters.wants("rating")
            else ()
        ),
        dialogs=A.iter_dialogs(filters, chunk_size=max(chunk_size // 4, 1), stats=stats) if filters.wants("dialog") else (),
        params=params,
        code_version=code_version(),
        title=C.text(params.language)["title"],
        on_item=on_item,
    )
    with (out_dir / W.CARD).open("a", encoding="utf-8", newline="\n") as card:
        card.write(_selection_section(filters, stats, params.language))
    manifest = W.write_manifest(
        out_dir,
        parameters={**manifest["parameters"], "filters": filters.as_dict()},
        counts={**manifest["counts"], "selection": stats.as_dict()},
        rows={name: meta["rows"] for name, meta in manifest["files"].items() if "rows" in meta},
        code_version=manifest["code_version"],
        created_at=None,
        unchanged={name: meta for name, meta in manifest["files"].items() if name != W.CARD},
    )
    return manifest, stats


def _swap_into_place(built: Path, final: Path) -> None:
    """Rename the finished build over the export's directory (the old one, if any, is renamed away first)."""
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{uuid.uuid4().hex}")
        os.rename(final, old)
    os.rename(built, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_build(*, export_id: int, chunk_size: int = 2000) -> Export:
    """Build an export's files (status running -> done | failed). Safe to run again: it rebuilds."""
    export = Export.objects.get(pk=export_id)
    root = Path(settings.EXPORT_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    Export.objects.filter(pk=export_id).update(status=Export.Status.RUNNING, progress=0.0, error="", finished_at=None)
    build_dir = Path(tempfile.mkdtemp(prefix=f".build-{export_id}-", dir=root))
    try:
        params, filters = A.split_params(export.params)
        totals = A.count_items(filters)
        manifest, stats = build_files(
            build_dir,
            params=params,
            filters=filters,
            on_item=_Progress(export_id, sum(totals.values())),
            chunk_size=chunk_size,
        )
        final = export_directory(export_id)
        _swap_into_place(build_dir, final)
    except Exception as exc:  # recorded on the row: the admin page shows it, Celery does not retry data errors
        log.exception("export %s failed", export_id)
        shutil.rmtree(build_dir, ignore_errors=True)
        Export.objects.filter(pk=export_id).update(
            status=Export.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:5000], finished_at=timezone.now()
        )
        return Export.objects.get(pk=export_id)
    rows = {name: meta.get("rows", 0) for name, meta in manifest["files"].items()}
    counters = {
        **stats.as_dict(),
        "items_total": sum(totals.values()),
        "splits": manifest["counts"].get("splits", {}),
        "scores": manifest["counts"].get("scores", 0),
        "files": len(rows),
        "rows": sum(n for name, n in rows.items() if name.endswith(".jsonl")),  # Parquet files repeat them
    }
    Export.objects.filter(pk=export_id).update(
        status=Export.Status.DONE,
        progress=1.0,
        counters=counters,
        directory=str(final),
        manifest_sha256=W.sha256_file(final / W.MANIFEST),
        finished_at=timezone.now(),
    )
    return Export.objects.get(pk=export_id)
