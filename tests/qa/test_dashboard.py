"""The agreement dashboard: figures from the database match qa.stats on the same records, filters narrow
them, charts come with their CSV, hostile names stay text, and the query count does not grow with data."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from annotation.models import Rating
from prompts.models import Category, Criterion
from qa import reports, stats
from qa.selectors import Filters
from tests.factories import (
    make_qa_dialog,
    make_qa_ranking,
    make_qa_ranking_task,
    make_qa_rating,
    make_qa_rating_pair,
)

pytestmark = pytest.mark.django_db


def _double_rated(annotator, annotator2, n=6, category="qa_polish"):
    """n pairs, both responses rated by both annotators; annotator2 is one point harsher on half."""
    tasks = []
    for i in range(n):
        for task in make_qa_rating_pair(category=category):
            score = 1 + (i + task.id) % 5
            make_qa_rating(task, annotator, score)
            make_qa_rating(task, annotator2, max(1, score - (i % 2)))
            tasks.append(task)
    return tasks


def test_alpha_matches_stats_on_the_same_rows(seeded, annotator, annotator2):
    _double_rated(annotator, annotator2)
    keys = list(Criterion.objects.values_list("key", flat=True))
    rows = [
        (task_id, ann, key, score)
        for task_id, ann, scores in Rating.objects.values_list("task_id", "annotator_id", "scores")
        for key, score in scores.items()
    ]
    expected = stats.krippendorff_alpha_by_criterion(rows, keys)
    data = reports.build_dashboard(Filters())
    assert data.alpha == expected
    assert all(e.defined for e in data.alpha.values())
    assert data.counts["ratings"] == 24
    names = {a.name for a in data.annotators}
    assert names == {"ania", "bartek"}


def test_gold_agreement_and_deviation(seeded, annotator, annotator2, qa_lead):
    from qa import services

    a, b = make_qa_rating_pair(is_gold=True)
    services.gold_mark(task=a, marked_by=qa_lead, reference={"scores": dict.fromkeys(
        Criterion.objects.values_list("key", flat=True), 5)})
    make_qa_rating(a, annotator, 5)
    make_qa_rating(a, annotator2, 3)
    make_qa_rating(b, annotator, 2)
    make_qa_rating(b, annotator2, 1)
    task, ids = make_qa_ranking_task(is_gold=True)
    services.gold_mark(task=task, marked_by=qa_lead, reference={"order": ids})
    make_qa_ranking(task, annotator, ids)
    make_qa_ranking(task, annotator2, list(reversed(ids)))
    data = reports.build_dashboard(Filters())
    by_name = {row.name: row for row in data.annotators}
    assert by_name["ania"].gold.mean_abs_deviation == 0
    assert by_name["bartek"].gold.mean_abs_deviation == 2
    assert by_name["ania"].ranking_gold.mean_tau == pytest.approx(1.0)
    assert by_name["bartek"].ranking_gold.top1_agreement == 0
    assert data.w_gold.defined and data.tau_gold.value == pytest.approx(-1.0)
    assert data.top1_gold.value == 0
    assert all(e.defined for e in data.alpha_gold.values())


def test_ranking_position_bias_is_flagged(seeded, annotator, annotator2, login, qa_lead):
    for _ in range(40):
        task, ids = make_qa_ranking_task()
        shown = [ids[2], ids[0], ids[3], ids[1]]
        make_qa_ranking(task, annotator, [shown[0], *shown[1:]], display_order=shown)  # always the first slot
        make_qa_ranking(task, annotator2, [shown[0], *shown[1:]], display_order=shown)
    data = reports.build_dashboard(Filters())
    assert data.bias_ranking.n_slots == 4
    assert data.bias_ranking.overall.flagged
    assert data.bias_ranking.overall.counts == (80, 0, 0, 0)
    assert all(row.flagged for row in data.annotators)
    assert data.top1.value == 1.0 and data.tau.value == pytest.approx(1.0)
    rows = list(csv.reader(io.StringIO(data.charts["slots_ranking"].csv())))
    assert rows[0][:4] == ["source", "annotator", "n", "wins_slot_1"]
    assert rows[1][2:4] == ["80", "80"]
    page = login(qa_lead).get(reverse("qa:dashboard")).content.decode()
    table = page.split('data-testid="bias-table"')[1].split("</table>")[0]
    assert "ania" in table and "bartek" in table
    assert table.count('class="badge hard"') == 2


def test_dialog_column_bias_and_custom_rate(seeded, annotator):
    turns = [("ABC", "A", ""), ("BCA", "B", ""), ("CAB", "C", ""), ("ABC", None, "Własna")]
    for _ in range(5):
        make_qa_dialog(annotator, turns)
    data = reports.build_dashboard(Filters())
    assert data.bias_dialog.n_slots == 3
    assert data.bias_dialog.overall.counts == (15, 0, 0)
    assert data.custom.overall.value == pytest.approx(0.25)
    assert data.times.overall["dialog"] == 20.0


def test_skip_rate_and_median_time(seeded, annotator, annotator2):
    a, b = make_qa_rating_pair()
    make_qa_rating(a, annotator, 4, time_ms=10_000)
    make_qa_rating(b, annotator, 0, skip_reason="cannot_fact_check", time_ms=30_000)
    make_qa_rating(a, annotator2, 4, time_ms=50_000)
    data = reports.build_dashboard(Filters())
    assert data.skip.overall.k == 1 and data.skip.overall.n == 3
    assert data.times.overall["rating"] == 30.0
    row = next(r for r in data.annotators if r.name == "ania")
    assert row.skip.value == 0.5


def test_filters_narrow_the_records(seeded, annotator, annotator2, django_user_model):
    from core import roles

    _double_rated(annotator, annotator2, n=2, category="qa_polish")
    _double_rated(annotator, annotator2, n=3, category="toxic")
    toxic = Category.objects.get(key="toxic")
    assert reports.build_dashboard(Filters(category_id=toxic.id)).counts["ratings"] == 12
    assert reports.build_dashboard(Filters(task_type="ranking")).counts["ratings"] == 0
    old = timezone.now() - timedelta(days=30)
    Rating.objects.filter(task__prompt__category=toxic).update(created=old)
    today = timezone.localdate()
    assert reports.build_dashboard(Filters(date_from=today)).counts["ratings"] == 8
    assert reports.build_dashboard(Filters(date_to=today - timedelta(days=20))).counts["ratings"] == 12
    third = django_user_model.objects.create_user(username="cezary", password="x-very-long-pw")
    roles.set_role(third, roles.ANNOTATOR)
    a, b = make_qa_rating_pair()
    make_qa_rating(a, third, 3)
    make_qa_rating(a, annotator, 4)
    data = reports.build_dashboard(Filters(annotator_id=third.id))
    assert data.counts["ratings"] == 2  # the items cezary rated, with his peer's ratings
    assert [row.name for row in data.annotators] == ["cezary"]


def test_alpha_over_time_has_one_point_per_week(seeded, annotator, annotator2):
    _double_rated(annotator, annotator2, n=4)
    Rating.objects.filter(task_id__in=Rating.objects.order_by("task_id").values("task_id")[:4]).update(
        created=timezone.now() - timedelta(days=14))
    chart = reports.build_dashboard(Filters()).charts["alpha_time"]
    weeks = {row[0] for row in chart.rows}
    assert len(weeks) == 2


def test_page_renders_charts_and_escapes_hostile_names(seeded, annotator2, django_user_model, login, qa_lead):
    from core import roles

    hostile = django_user_model.objects.create_user(username='<img src=x onerror=alert(1)>', password="x-long-pw1")
    roles.set_role(hostile, roles.ANNOTATOR)
    _double_rated(hostile, annotator2, n=3)
    client = login(qa_lead)
    response = client.get(reverse("qa:dashboard"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert page.count('src="data:image/svg+xml;base64,') >= 7
    for name in reports.CHART_NAMES:
        assert reverse("qa:chart_csv", args=[name]) in page
    partial = client.get(reverse("qa:dashboard"), {"task_type": "rating"}, headers={"HX-Request": "true"})
    assert "<html" not in partial.content.decode() and "data:image/svg+xml" in partial.content.decode()


def test_csv_download_has_the_chart_numbers_and_guards_formulas(seeded, django_user_model, annotator2, login,
                                                                 qa_lead):
    from core import roles

    sneaky = django_user_model.objects.create_user(username="=HYPERLINK(1)", password="x-long-pw1")
    roles.set_role(sneaky, roles.ANNOTATOR)
    _double_rated(sneaky, annotator2, n=3)
    client = login(qa_lead)
    response = client.get(reverse("qa:chart_csv", args=["alpha"]))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["criterion", "alpha", "n_units"]
    assert len(rows) == 8
    data = reports.build_dashboard(Filters())
    assert float(rows[1][1]) == pytest.approx(data.alpha[rows[1][0]].value)
    scores = client.get(reverse("qa:chart_csv", args=["scores"]), {"task_type": "rating"}).content.decode()
    assert "'=HYPERLINK(1)" in scores


def test_invalid_filters_show_errors_and_filter_nothing(seeded, login, qa_lead):
    client = login(qa_lead)
    response = client.get(reverse("qa:dashboard"), {"date_from": "2026-05-02", "date_to": "2026-05-01"})
    assert response.status_code == 200
    assert 'value="2026-05-02"' in response.content.decode()
    assert response.context["form"].errors


def _queries_for_dashboard(client) -> int:
    from django.core.cache import cache

    cache.clear()
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("qa:dashboard")).status_code == 200
    return len(ctx.captured_queries)


def test_query_count_does_not_grow_with_annotations(seeded, annotator, annotator2, login, qa_lead):
    client = login(qa_lead)
    _double_rated(annotator, annotator2, n=2)
    task, ids = make_qa_ranking_task()
    make_qa_ranking(task, annotator, ids)
    make_qa_dialog(annotator, [("ABC", "A", "")])
    small = _queries_for_dashboard(client)
    _double_rated(annotator, annotator2, n=12)
    for _ in range(10):
        task, ids = make_qa_ranking_task()
        make_qa_ranking(task, annotator, ids)
        make_qa_ranking(task, annotator2, ids, custom_text="Własna")
    for _ in range(5):
        make_qa_dialog(annotator, [("ABC", "A", ""), ("BAC", "C", "")])
    assert _queries_for_dashboard(client) == small


def test_dashboard_is_shared_until_the_data_changes(seeded, annotator, annotator2, monkeypatch):
    _double_rated(annotator, annotator2, n=2)
    first = reports.cached_dashboard(Filters())
    assert reports.cached_dashboard(Filters()) is not None
    assert reports.cached_dashboard(Filters()).computed_at == first.computed_at
    a, _b = make_qa_rating_pair()
    make_qa_rating(a, annotator, 2)
    # within the minute the shared figures are served even though a rating arrived...
    assert reports.cached_dashboard(Filters()).counts["ratings"] == 8
    # ...after it, a changed fingerprint means a fresh computation
    monkeypatch.setattr(reports, "DASHBOARD_MAX_AGE_SECONDS", 0)
    assert reports.cached_dashboard(Filters()).counts["ratings"] == 9
    again = reports.cached_dashboard(Filters())
    assert again.counts["ratings"] == 9 and again.computed_at == reports.cached_dashboard(Filters()).computed_at
    assert reports.cached_dashboard(Filters(task_type="rating")).counts["ratings"] == 9


def test_stale_figures_are_served_while_celery_recomputes(seeded, annotator, annotator2, monkeypatch, login,
                                                          qa_lead, django_capture_on_commit_callbacks):
    from qa import tasks

    _double_rated(annotator, annotator2, n=2)
    assert reports.cached_dashboard(Filters(), background=True).counts["ratings"] == 8
    a, _b = make_qa_rating_pair()
    make_qa_rating(a, annotator, 2)
    monkeypatch.setattr(reports, "DASHBOARD_MAX_AGE_SECONDS", 0)
    queued = []
    # the broker is the network edge: record what would be sent to the worker
    monkeypatch.setattr(tasks.dashboard_refresh, "delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        stale = reports.cached_dashboard(Filters(), background=True)
    assert stale.refreshing and stale.counts["ratings"] == 8
    assert queued == [({}, "pl")]
    page = login(qa_lead).get(reverse("qa:dashboard")).content.decode()
    assert 'data-testid="refreshing"' in page and 'hx-trigger="every 5s"' in page
    assert len(queued) == 1  # one refresh at a time
    tasks.dashboard_refresh(*queued[0])  # what the worker runs
    fresh = reports.cached_dashboard(Filters(), background=True)
    assert not fresh.refreshing and fresh.counts["ratings"] == 9
    assert 'data-testid="refreshing"' not in login(qa_lead).get(reverse("qa:dashboard")).content.decode()


def test_a_refresh_that_never_finishes_is_computed_in_the_request(seeded, annotator, annotator2, monkeypatch):
    import time

    from django.core.cache import cache

    _double_rated(annotator, annotator2, n=2)
    reports.cached_dashboard(Filters())
    a, _b = make_qa_rating_pair()
    make_qa_rating(a, annotator, 2)
    monkeypatch.setattr(reports, "DASHBOARD_MAX_AGE_SECONDS", 0)
    key = reports._cache_key(Filters())
    cache.set(key + ":refreshing", time.time() - reports.REFRESH_LOCK_SECONDS - 1, 600)  # a dead worker's job
    data = reports.cached_dashboard(Filters(), background=True)
    assert not data.refreshing and data.counts["ratings"] == 9
