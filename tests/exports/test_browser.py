"""An admin builds an export in a real browser: the form, the live progress bar, the finished page."""

from pathlib import Path

import pytest

from exports import tasks
from exports.models import Export
from tests.browser import assert_no_js_dialogs
from tests.factories import make_export_corpus

pytestmark = pytest.mark.browser


def test_create_export_watch_progress_and_download(
    page, login_as, seeded, annotator, annotator2, qa_lead, admin_user, settings, tmp_path, monkeypatch
):
    settings.EXPORT_ROOT = tmp_path / "exports"
    make_export_corpus([annotator, annotator2], reviewer=qa_lead, n_ranking=3, n_rating_pairs=2, n_dialogs=0)
    queued = []
    # The broker is the only thing replaced: the test runs the worker's task itself, in this process.
    monkeypatch.setattr(tasks.build_export, "delay", queued.append)
    login_as(admin_user, next_path="/exports/")
    page.click("text=New export")
    page.fill("#id_name", "Eksport <i>próbny</i>")
    page.fill("#id_eval_ratio", "0.3")
    page.check("input[name=task_types][value=ranking]")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    export = Export.objects.get()
    assert queued == [export.pk]
    assert page.locator("h1").inner_text() == "Eksport <i>próbny</i>"  # shown as text
    assert page.locator(f"#export-progress-{export.pk}[hx-get]").count() == 1  # polling while queued

    tasks.build_export(export.pk)  # the worker
    # the next poll sees "done" and reloads the page, which then lists the files and the card
    page.wait_for_selector("text=preference.train.jsonl", timeout=20_000)
    assert page.locator(f"#export-progress-{export.pk}[hx-get]").count() == 0
    assert "100%" in page.inner_text(f"#export-progress-{export.pk}")
    assert page.locator(".md table").count() >= 1  # Table 1 counts in the rendered card
    with page.expect_download() as info:
        page.click("text=manifest.json >> nth=0")
    saved = tmp_path / "manifest.json"
    info.value.save_as(saved)
    assert saved.read_bytes() == (Path(Export.objects.get().directory) / "manifest.json").read_bytes()
    assert_no_js_dialogs(page)
    assert page.js_errors == []
