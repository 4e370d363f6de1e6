"""Export builds from annotations made through the services: adapters, review rule, filters, job, files."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.models import Ranking, TaskKind
from annotation.services import assignment, submissions
from exports import adapters as A
from exports import services, tasks
from exports import writers as W
from exports.models import Export
from qa import services as qa_services
from tests.factories import make_export_corpus, make_prompt, make_qa_ranking_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def export_root(settings, tmp_path: Path) -> Path:
    settings.EXPORT_ROOT = tmp_path / "exports"
    return settings.EXPORT_ROOT


@pytest.fixture
def corpus(seeded, annotator, annotator2, qa_lead):
    return make_export_corpus([annotator, annotator2], reviewer=qa_lead)


def _build(admin_user, params: dict | None = None, name: str = "test") -> Export:
    export = services.export_create(user=admin_user, name=name, params=params or {}, enqueue=False)
    return services.export_build(export_id=export.pk)


def _rows(export: Export, name: str) -> list[dict]:
    return list(W.iter_jsonl(Path(export.directory) / name))


def _all_pairs(export: Export) -> list[dict]:
    return _rows(export, "preference.train.jsonl") + _rows(export, "preference.eval.jsonl")


def _file_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_default_export_from_service_annotations(export_root, corpus, admin_user):
    export = _build(admin_user, {"eval_ratio": 0.3})
    assert export.status == Export.Status.DONE, export.error
    directory = Path(export.directory)
    assert directory == export_root / str(export.pk)
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    assert export.manifest_sha256 == W.sha256_file(directory / "manifest.json")
    for name, meta in manifest["files"].items():
        assert W.sha256_file(directory / name) == meta["sha256"]
    assert manifest["parameters"]["filters"]["review_status"] == "approved"
    pairs = _all_pairs(export)
    by_source = {s: [p for p in pairs if p["source_task"] == s] for s in ("ranking", "rating", "dialog")}
    # 8 ranking items: 7 give best-vs-worst (merged over two annotators), item 0 each annotator's custom
    # answer vs the 4 responses
    custom = [p for p in by_source["ranking"] if p["chosen_is_custom"]]
    assert len(custom) == 2 * 4 and custom[0]["chosen"][0]["content"].startswith("Własna odpowiedź")
    assert len(by_source["ranking"]) == 7 + 8
    assert all(p["reject_hardness"] == "hard" for p in by_source["ranking"] if not p["chosen_is_custom"])
    assert len(by_source["rating"]) == 5
    assert all(p["chosen_score"] == 5.0 and p["rejected_score"] == 2.0 for p in by_source["rating"])
    # 2 dialogs x 4 turns: turn 2 custom (QA-edited) vs 3 candidates, other turns chosen vs 2 others
    assert len(by_source["dialog"]) == 2 * (3 * 2 + 3)
    edited = [p for p in by_source["dialog"] if p["chosen_is_custom"]]
    assert {p["chosen"][0]["content"] for p in edited} == {"Poprawiona przez QA odpowiedź 0.",
                                                           "Poprawiona przez QA odpowiedź 1."}
    later = [p for p in by_source["dialog"] if p["turn_index"] == 3]
    assert any(m["content"].startswith("Poprawiona przez QA") for p in later for m in p["prompt"])
    # prompts are the prompt text only, no pre-prompt; annotators are pseudonymous
    assert all(p["prompt"][0]["role"] == "user" for p in pairs)
    assert all(a.startswith("a") and a[1:].isdigit() for p in pairs for a in p["annotators"])
    # grouped split: no prompt in both train and eval
    train = {json.dumps(p["prompt"][0]) for p in _rows(export, "preference.train.jsonl")}
    evals = {json.dumps(p["prompt"][0]) for p in _rows(export, "preference.eval.jsonl")}
    assert train and evals and not train & evals
    card = (directory / "README.md").read_text(encoding="utf-8")
    # the default export language is Polish: so is the card, the selection section included
    assert "## Wybór danych i przegląd QA" in card and "Reguła przeglądu" in card
    assert "## Selection and QA review" not in card and "Human preference data" not in card
    assert export.counters["rows"] > 0 and export.counters["items"] == {"dialog": 2, "ranking": 8, "rating": 5}


def test_english_export_has_an_english_card(export_root, corpus, admin_user):
    export = _build(admin_user, {"eval_ratio": 0.3, "language": "en"})
    card = (Path(export.directory) / "README.md").read_text(encoding="utf-8")
    assert "language:\n- en" in card and "# Preference Studio preference dataset" in card
    assert "## Selection and QA review" in card and "Review rule" in card and "| Fact-based QA (Polish context) |" in card
    assert "Wybór danych" not in card and "Pytania o fakty" not in card


def test_rebuild_is_byte_identical_and_leaves_no_temp_dirs(export_root, corpus, admin_user):
    export = _build(admin_user, {"eval_ratio": 0.3, "ranking_strategy": "ranking-best-vs-random"})
    first = _file_bytes(Path(export.directory))
    again = services.export_build(export_id=export.pk)
    assert again.status == Export.Status.DONE
    assert _file_bytes(Path(again.directory)) == first
    other = _build(admin_user, {"eval_ratio": 0.3, "ranking_strategy": "ranking-best-vs-random"}, name="twin")
    assert _file_bytes(Path(other.directory)) == first
    assert sorted(p.name for p in export_root.iterdir()) == sorted([str(export.pk), str(other.pk)])


def test_task_is_queued_on_commit_and_a_redelivered_job_rebuilds(
    export_root, corpus, admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        export = services.export_create(user=admin_user, name="queued", params={})
    assert len(callbacks) == 1
    assert Export.objects.get(pk=export.pk).status == Export.Status.QUEUED
    tasks.build_export(export.pk)  # what the worker runs
    first = _file_bytes(export_root / str(export.pk))
    tasks.build_export(export.pk)  # redelivered (acks_late): rebuilt and renamed over the old one
    assert _file_bytes(export_root / str(export.pk)) == first
    assert [p.name for p in export_root.iterdir()] == [str(export.pk)]
    assert tasks.build_export.acks_late and tasks.build_export.soft_time_limit


def test_failed_build_is_recorded_and_cleaned_up(export_root, corpus, admin_user):
    export = services.export_create(user=admin_user, name="bad", params={}, enqueue=False)
    Export.objects.filter(pk=export.pk).update(params={**export.params, "ranking_strategy": "best-of-luck"})
    failed = services.export_build(export_id=export.pk)
    assert failed.status == Export.Status.FAILED and "best-of-luck" in failed.error
    assert list(export_root.iterdir()) == []


def test_bad_parameters_are_refused_with_a_message(db, admin_user):
    from django.core.exceptions import ValidationError

    for params in ({"eval_ratio": 2}, {"nonsense": 1}, {"review_status": "maybe"}, {"date_from": "yesterday"},
                   {"task_types": []}, {"hard_share": 1.5}):
        with pytest.raises(ValidationError):
            services.export_create(user=admin_user, name="x", params=params, enqueue=False)
    assert not Export.objects.exists()


def _pending_custom(annotator, text="Własna odpowiedź do sprawdzenia."):
    prompt = make_prompt(text="Eksport: pytanie z odpowiedzią własną?")
    task, _ = make_qa_ranking_task(prompt=prompt, texts=[f"Zła odpowiedź {x}." for x in "ABCD"])
    while True:
        claim = assignment.task_claim_next(annotator=annotator, kind=TaskKind.RANKING)
        if claim.task_id == task.pk:
            break
        submissions.ranking_submit(annotator=annotator, task_id=claim.task_id, submission_id=uuid.uuid4(),
                                   order=sorted(claim.display_order), order_confirmed_unchanged=True)
    return submissions.ranking_submit(
        annotator=annotator, task_id=task.pk, submission_id=uuid.uuid4(), order=sorted(claim.display_order),
        order_confirmed_unchanged=True, all_unacceptable=True, custom_text=text,
    ).annotation


def _custom_texts(export: Export) -> set[str]:
    return {p["chosen"][0]["content"] for p in _all_pairs(export) if p["chosen_is_custom"] and p["source_task"] == "ranking"}


def test_review_rule_for_custom_answers(export_root, seeded, annotator, qa_lead, admin_user):
    ranking = _pending_custom(annotator)
    only = {"task_types": ["ranking"]}
    # pending: held back by default (and its all-unacceptable order with it), kept when only rejects are out
    default = _build(admin_user, only)
    assert "Własna odpowiedź do sprawdzenia." not in _custom_texts(default)
    assert not [p for p in _all_pairs(default) if p["item_id"] == str(ranking.task_id)]
    assert default.counters["held_back"] == {"ranking_custom_pending": 1}
    assert "Własna odpowiedź do sprawdzenia." in _custom_texts(_build(admin_user, {**only, "review_status": "not_rejected"}))
    # edited: the QA lead's text is exported
    qa_services.review_decide(reviewer=qa_lead, target_kind="ranking", target_id=ranking.pk, decision="edit",
                              edited_text="Wersja QA.")
    assert "Wersja QA." in _custom_texts(_build(admin_user, only))
    # rejected (latest decision wins): out under both rules, back only when reviews are ignored
    qa_services.review_decide(reviewer=qa_lead, target_kind="ranking", target_id=ranking.pk, decision="reject",
                              note="nieprawda")
    assert not _custom_texts(_build(admin_user, only))
    assert not _custom_texts(_build(admin_user, {**only, "review_status": "not_rejected"}))
    assert _custom_texts(_build(admin_user, {**only, "review_status": "all"})) == {"Własna odpowiedź do sprawdzenia."}


def test_unreviewed_dialogs_wait_for_approval(export_root, corpus, admin_user, qa_lead):
    dialog = corpus["dialogs"][0]
    qa_services.review_decide(reviewer=qa_lead, target_kind="dialog", target_id=dialog.pk, decision="reject",
                              note="zatrucie danych")
    export = _build(admin_user, {"task_types": ["dialog"]})
    assert {p["dialog_id"] for p in _all_pairs(export)} == {str(corpus["dialogs"][1].pk)}
    assert export.counters["held_back"] == {"dialog_reject": 1}


def test_rejected_turn_cuts_the_dialog(export_root, corpus, admin_user, qa_lead):
    dialog = corpus["dialogs"][0]
    turn = dialog.turns.get(index=2)
    qa_services.review_decide(reviewer=qa_lead, target_kind="dialog_turn", target_id=turn.pk, decision="reject",
                              note="zła")
    export = _build(admin_user, {"task_types": ["dialog"]})
    turns = {p["turn_index"] for p in _all_pairs(export) if p["dialog_id"] == str(dialog.pk)}
    assert turns == {1}


def test_filters_categories_annotators_dates_task_types(export_root, corpus, admin_user, annotator, annotator2):
    assert not _all_pairs(_build(admin_user, {"categories": ["toxic"], "task_types": ["ranking", "rating"]}))
    assert _all_pairs(_build(admin_user, {"categories": ["qa_polish"], "task_types": ["rating"]}))
    assert not _all_pairs(_build(admin_user, {"sources": ["polqa"], "task_types": ["ranking", "rating"]}))
    mine = _build(admin_user, {"annotators": [annotator.pk]})
    assert {a for p in _all_pairs(mine) for a in p["annotators"]} == {f"a{annotator.pk}"}
    Ranking.objects.filter(annotator=annotator2).update(created="2020-01-02T10:00:00Z")
    old = _build(admin_user, {"task_types": ["ranking"], "date_to": "2020-12-31"})
    assert {a for p in _all_pairs(old) for a in p["annotators"]} == {f"a{annotator2.pk}"}
    assert not _all_pairs(_build(admin_user, {"task_types": ["ranking"], "date_from": "2030-01-01"}))


def test_hard_share_thins_the_overrepresented_kind(export_root, seeded, annotator, admin_user):
    for i in range(40):
        task, _ = make_qa_ranking_task(prompt=make_prompt(text=f"Twardość {i}?"),
                                       texts=[f"Odp {x} {i}" for x in "ABCD"])
        claim = assignment.task_claim_next(annotator=annotator, kind=TaskKind.RANKING)
        order = sorted(claim.display_order)
        submissions.ranking_submit(annotator=annotator, task_id=claim.task_id, submission_id=uuid.uuid4(),
                                   order=order, order_confirmed_unchanged=True,
                                   hardness={str(order[-1]): "hard" if i % 4 else "soft"})
    full = [p["reject_hardness"] for p in _all_pairs(_build(admin_user, {"task_types": ["ranking"]}))]
    assert full.count("hard") == 30 and full.count("soft") == 10
    half = [p["reject_hardness"] for p in _all_pairs(_build(admin_user, {"task_types": ["ranking"], "hard_share": 0.5}))]
    assert half.count("soft") == 10 and 5 <= half.count("hard") <= 16
    none = [p["reject_hardness"] for p in _all_pairs(_build(admin_user, {"task_types": ["ranking"], "hard_share": 0}))]
    assert none == ["soft"] * 10


def test_queries_do_not_grow_with_items(export_root, seeded, annotator, annotator2, qa_lead, admin_user):
    def count() -> int:
        export = services.export_create(user=admin_user, name="q", params={}, enqueue=False)
        with CaptureQueriesContext(connection) as ctx:
            services.export_build(export_id=export.pk)
        return len(ctx.captured_queries)

    make_export_corpus([annotator, annotator2], reviewer=qa_lead, n_ranking=2, n_rating_pairs=1, n_dialogs=1)
    small = count()
    make_export_corpus([annotator, annotator2], reviewer=qa_lead, n_ranking=6, n_rating_pairs=4, n_dialogs=3)
    assert count() == small


def test_split_params_normalises_lists():
    params, filters = A.split_params({"categories": ["b", "a", "a"], "task_types": ["dialog", "ranking"],
                                      "annotators": ["3", 1], "outputs": ["preference", "kto"]})
    assert filters.categories == ("a", "b") and filters.task_types == ("ranking", "dialog")
    assert filters.annotators == (1, 3) and params.outputs == ("preference", "kto")
    stored = A.stored_params(params, filters)
    assert A.split_params(stored) == (params, filters)


def test_progress_is_written_while_building(db, admin_user, monkeypatch):
    export = services.export_create(user=admin_user, name="p", params={}, enqueue=False)
    monkeypatch.setattr(services, "PROGRESS_EVERY_SECONDS", 0.0)
    progress = services._Progress(export.pk, 4)
    progress("ranking")
    progress("rating")
    export.refresh_from_db()
    assert export.progress == 0.5 and export.counters == {"items_done": 2, "items_total": 4}
    for _ in range(10):
        progress("dialog")
    export.refresh_from_db()
    assert export.progress == 0.99  # 1.0 only once the files are in place


def test_job_for_a_deleted_export_does_nothing(export_root, db):
    tasks.build_export(123456)
    assert not export_root.exists() or list(export_root.iterdir()) == []
