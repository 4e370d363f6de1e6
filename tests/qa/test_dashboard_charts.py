"""The dashboard is readable: charts as wide as their cards, one "computed at" for every process.

Charts used to render at 288 × 115 px (a 600 px SVG squeezed into a third of the row with a figure's 40 px
side margins). The "computed at" flipped between two values on successive polls: each gunicorn worker kept
its own copy of the figures in a per-process (locmem) cache, and the Celery refresh wrote into a third one.
"""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.urls import reverse

from qa import reports
from qa.selectors import Filters
from tests.factories import make_qa_rating, make_qa_rating_pair


def _rated(annotator, annotator2, n=4):
    for i in range(n):
        for task in make_qa_rating_pair():
            make_qa_rating(task, annotator, 1 + (i + task.id) % 5)
            make_qa_rating(task, annotator2, 1 + (i + task.id + 1) % 5)


@pytest.mark.django_db
def test_another_process_reads_the_same_computation(seeded, annotator, annotator2):
    """What a second gunicorn worker (or the Celery worker) sees: the figures this process computed."""
    _rated(annotator, annotator2)
    data = reports.cached_dashboard(Filters())
    key = reports._cache_key(Filters())
    code = (
        "from django.core.cache import cache\n"
        f"hit = cache.get({key!r})\n"
        "print('computed_at=' + (hit[0].computed_at.isoformat() if hit else 'none'))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=settings.BASE_DIR, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("computed_at=")]
    assert lines == [f"computed_at={data.computed_at.isoformat()}"], done.stderr[-2000:]


@pytest.mark.django_db
def test_successive_polls_show_one_computed_at(seeded, annotator, annotator2, login, qa_lead):
    _rated(annotator, annotator2)
    client = login(qa_lead)
    first = client.get(reverse("qa:dashboard"), headers={"HX-Request": "true"})
    again = client.get(reverse("qa:dashboard"), headers={"HX-Request": "true"})
    assert first.context["data"].computed_at == again.context["data"].computed_at


@pytest.mark.browser
def test_dashboard_charts_are_at_least_500px_wide_at_1366(page, login_as, qa_lead, seeded, annotator, annotator2):
    _rated(annotator, annotator2)
    page.set_viewport_size({"width": 1366, "height": 900})
    login_as(qa_lead, next_path="/qa/dashboard/")
    page.goto("/qa/dashboard/")
    page.wait_for_selector("figure.chart img")
    sizes = page.eval_on_selector_all(
        "figure.chart img",
        "els => els.map(e => [e.alt, e.getBoundingClientRect().width, e.getBoundingClientRect().height])",
    )
    assert len(sizes) == len(reports.CHART_NAMES) - 1  # every chart but the per-annotator table's CSV
    narrow = [(alt, round(w), round(h)) for alt, w, h in sizes if w < 500]
    assert not narrow, f"charts narrower than 500 px at 1366 px: {narrow}"
    # and they keep their aspect ratio (no squashed text)
    assert all(abs(w / h - 600 / 240) < 0.05 for _alt, w, h in sizes)
