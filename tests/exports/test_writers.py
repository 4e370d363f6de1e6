"""Export files: reproducible bytes, leak-free split, manifest and dataset card. Pure: no database."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from exports import pairs as P
from exports import writers as W

CRITERIA = P.criterion_keys()
CATEGORIES = ("qa_polish", "generation", "polqa", "toxic")


def _ranking_items(n: int) -> list[P.RankingItem]:
    items = []
    for i in range(n):
        candidates = tuple(
            P.Candidate(response_id=f"{i}{x}", text=f"odpowiedź {i}{x} — żółć", model=x) for x in "abcd"
        )
        order = tuple(f"{i}{x}" for x in ("abcd" if i % 2 else "dcba"))
        custom = "własna odpowiedź" if i % 7 == 0 else None
        items.append(
            P.RankingItem(
                item_id=f"rank{i}",
                prompt_id=f"p{i}",
                prompt=(P.Message(role="user", content=f"Pytanie numer {i}?"),),
                candidates=candidates,
                judgements=(
                    P.RankingJudgement(
                        annotator=f"u{i % 3}", order=order, custom_text=custom, hardness={order[-1]: "hard"}
                    ),
                ),
                category=CATEGORIES[i % len(CATEGORIES)],
            )
        )
    return items


def _rating_items(n: int) -> list[P.RatingItem]:
    items = []
    for i in range(n):
        responses = tuple(
            P.RatedResponse(
                response_id=f"{i}{x}",
                text=f"tekst {i}{x}",
                model=x,
                ratings=tuple(
                    P.CriterionRating(annotator=a, scores=dict.fromkeys(CRITERIA, score))
                    for a in ("u1", "u2")
                ),
            )
            for x, score in (("a", 5), ("b", 2 + i % 4))
        )
        # Every third rating prompt repeats a ranking prompt's text: it must land in the same split.
        text = f"Pytanie numer {i}?" if i % 3 == 0 else f"Zadanie {i}"
        items.append(
            P.RatingItem(
                item_id=f"rate{i}",
                prompt_id=f"q{i}",
                prompt=(P.Message(role="user", content=text),),
                responses=responses,
                category=CATEGORIES[i % len(CATEGORIES)],
            )
        )
    return items


def _dialogs(n: int) -> list[P.Dialog]:
    dialogs = []
    for d in range(n):
        history: list[P.Message] = []
        turns = []
        for t in range(4 + d % 3):
            history.append(P.Message(role="user", content=f"dialog {d} tura {t}"))
            cands = tuple(
                P.Candidate(response_id=f"d{d}t{t}{x}", text=f"d{d}t{t}{x}", model=x) for x in "xyz"
            )
            turns.append(
                P.DialogTurn(
                    turn_id=f"d{d}t{t}",
                    index=t,
                    context=tuple(history),
                    candidates=cands,
                    chosen_id=f"d{d}t{t}x",
                )
            )
            history.append(P.Message(role="assistant", content=f"d{d}t{t}x"))
        dialogs.append(P.Dialog(dialog_id=f"dlg{d}", annotator="u9", turns=tuple(turns)))
    return dialogs


def _export(out: Path, **params: object) -> dict:
    return W.write_export(
        out,
        ranking_items=iter(_ranking_items(60)),
        rating_items=iter(_rating_items(30)),
        dialogs=iter(_dialogs(12)),
        params=W.ExportParams(batch_size=16, **params),
        code_version="v0.1.0-test",
    )


def test_export_file_set(tmp_path: Path) -> None:
    manifest = _export(tmp_path / "e")
    names = sorted(p.name for p in (tmp_path / "e").iterdir())
    expected = [
        f"{stem}.{split}.{ext}"
        for stem in ("kto", "preference", "sft")
        for split in ("eval", "train")
        for ext in ("jsonl", "parquet")
    ]
    assert names == sorted([*expected, "README.md", "manifest.json", "scores.jsonl"])
    assert set(manifest["files"]) == set(names) - {"manifest.json"}
    for name, meta in manifest["files"].items():
        assert meta["sha256"] == W.sha256_file(tmp_path / "e" / name)


def test_rebuild_with_same_parameters_is_byte_identical(tmp_path: Path) -> None:
    _export(tmp_path / "one", ranking_strategy="ranking-best-vs-random", seed=5)
    _export(tmp_path / "two", ranking_strategy="ranking-best-vs-random", seed=5)
    one = {p.name: p.read_bytes() for p in (tmp_path / "one").iterdir()}
    two = {p.name: p.read_bytes() for p in (tmp_path / "two").iterdir()}
    assert one == two


def test_other_seed_gives_other_split(tmp_path: Path) -> None:
    _export(tmp_path / "a", seed=1)
    _export(tmp_path / "b", seed=2)
    a = (tmp_path / "a" / "preference.eval.jsonl").read_bytes()
    assert a != (tmp_path / "b" / "preference.eval.jsonl").read_bytes()


def _first_user(row: dict) -> str:
    return P.normalize_prompt_text(next(m["content"] for m in row["prompt"] if m["role"] == "user"))


@pytest.mark.parametrize("stem", ["preference", "kto"])
def test_no_prompt_or_dialog_in_both_train_and_eval(tmp_path: Path, stem: str) -> None:
    manifest = _export(tmp_path / "e", eval_ratio=0.3)
    train = list(W.iter_jsonl(tmp_path / "e" / f"{stem}.train.jsonl"))
    evaluation = list(W.iter_jsonl(tmp_path / "e" / f"{stem}.eval.jsonl"))
    assert train and evaluation
    assert not {_first_user(r) for r in train} & {_first_user(r) for r in evaluation}
    assert not {r["dialog_id"] for r in train if r["dialog_id"]} & {
        r["dialog_id"] for r in evaluation if r["dialog_id"]
    }
    counts = manifest["counts"]["splits"][stem]
    assert (counts["train"], counts["eval"]) == (len(train), len(evaluation))


def test_parquet_twins_match_jsonl(tmp_path: Path) -> None:
    _export(tmp_path / "e")
    for stem in ("preference", "kto", "sft"):
        for split in ("train", "eval"):
            rows = list(W.iter_jsonl(tmp_path / "e" / f"{stem}.{split}.jsonl"))
            table = pq.read_table(tmp_path / "e" / f"{stem}.{split}.parquet")
            assert table.to_pylist() == rows


def test_parquet_row_groups_are_batch_size_across_background_handoffs(tmp_path: Path) -> None:
    # batch_size 3: the writers hand 12-row stretches to the background thread many times per file.
    manifest = W.write_export(
        tmp_path / "e",
        ranking_items=iter(_ranking_items(150)),
        dialogs=iter(_dialogs(20)),
        params=W.ExportParams(batch_size=3, ranking_strategy="ranking-best-vs-all"),
        code_version="x",
    )
    assert manifest["files"]["kto.train.jsonl"]["rows"] > 5 * 4 * 3
    for stem in ("preference", "kto", "sft"):
        for split in ("train", "eval"):
            parquet = pq.ParquetFile(tmp_path / "e" / f"{stem}.{split}.parquet")
            sizes = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
            assert sizes[:-1] == [3] * (len(sizes) - 1) and 0 < sizes[-1] <= 3
            rows = list(W.iter_jsonl(tmp_path / "e" / f"{stem}.{split}.jsonl"))
            assert parquet.read().to_pylist() == rows


def test_a_failing_item_source_stops_the_background_thread_and_raises(tmp_path: Path) -> None:
    def items():
        yield from _ranking_items(200)
        raise RuntimeError("database went away")

    before = {t.name for t in threading.enumerate()}
    with pytest.raises(RuntimeError, match="database went away"):
        W.write_export(tmp_path / "e", ranking_items=items(), params=W.ExportParams(batch_size=2), code_version="x")
    assert "parquet-twins" not in {t.name for t in threading.enumerate()} - before


def test_preference_rows_keep_metadata_and_polish_text(tmp_path: Path) -> None:
    _export(tmp_path / "e", ranking_strategy="ranking-best-vs-all")
    raw = (tmp_path / "e" / "preference.train.jsonl").read_text(encoding="utf-8")
    assert "żółć" in raw  # ensure_ascii=False
    row = json.loads(raw.splitlines()[0])
    for key in (
        "pair_id",
        "category",
        "source_task",
        "strategy",
        "reject_hardness",
        "annotators",
        "item_id",
        "chosen_id",
        "rejected_id",
    ):
        assert key in row
    assert list(row) == sorted(row)


def test_table1_counts_in_manifest_and_card(tmp_path: Path) -> None:
    manifest = _export(tmp_path / "e", language="en")
    table1 = manifest["counts"]["table1"]
    # 60 ranking items, best-vs-worst: 1 pair each, except custom answers (i % 7 == 0: 9 items x 4 pairs).
    ranking_pairs = sum(c["ranking_pairs"] for c in table1["single_turn"].values())
    assert ranking_pairs == 51 + 9 * 4
    # Rating: chosen mean 5 always passes; the other mean 2..5; equal means (i % 4 == 3) give no pair.
    assert sum(c["rating_prompts"] for c in table1["single_turn"].values()) == 30 - 7
    dialogs = table1["dialogs"]
    assert dialogs["dialogs"] == 12 and dialogs["pairs"] == 2 * dialogs["turns"]
    assert dialogs["mean_turns"] == pytest.approx(dialogs["turns"] / 12, abs=0.01)
    card = (tmp_path / "e" / "README.md").read_text(encoding="utf-8")
    assert "| Prompt type | Rating #prompts | Rating #pairs | Ranking #prompts | Ranking #pairs |" in card
    assert "| Multi-turn dialogs | #dialogs | #turns | #pairs | mean #turns |" in card
    assert "| Fact-based QA (Polish context) |" in card and "| PolQA (adapted) |" in card
    assert "path: preference.train.jsonl" in card and "language:\n- en" in card


def test_card_follows_the_export_language(tmp_path: Path) -> None:
    """language=pl (the default): the card's prose and category names are Polish, none of the English text."""
    from exports import card as C
    from prompts import content

    _export(tmp_path / "pl")
    _export(tmp_path / "en", language="en")
    polish = (tmp_path / "pl" / "README.md").read_text(encoding="utf-8")
    english = (tmp_path / "en" / "README.md").read_text(encoding="utf-8")
    assert "language:\n- pl" in polish and "language:\n- en" in english
    for key in ("intro", "counts", "files", "split", "parameters", "table1_header", "dialog_header", "original"):
        assert C.TEXT["pl"][key] in polish and C.TEXT["en"][key] not in polish, key
        assert C.TEXT["en"][key] in english, key
    for key, name in content.category_names("pl").items():
        assert f"| {name} |" in polish
        assert f"| {content.category_names('en')[key]} |" not in polish
    assert "| Pytania o fakty (kontekst polski) |" in polish


def test_sft_cap_per_source(tmp_path: Path) -> None:
    manifest = _export(tmp_path / "e", sft_cap_per_source=3, sft_capped_sources=("polqa",))
    rows = [
        *W.iter_jsonl(tmp_path / "e" / "sft.train.jsonl"),
        *W.iter_jsonl(tmp_path / "e" / "sft.eval.jsonl"),
    ]
    assert sum(r["category"] == "polqa" for r in rows) == 3
    assert sum(r["category"] == "qa_polish" for r in rows) > 3
    assert manifest["parameters"]["sft_cap_per_source"] == 3


def test_reject_hardness_filter(tmp_path: Path) -> None:
    _export(
        tmp_path / "e",
        ranking_strategy="ranking-best-vs-all",
        keep_reject_hardness=("hard",),
        outputs=("preference",),
    )
    rows = list(W.iter_jsonl(tmp_path / "e" / "preference.train.jsonl"))
    assert rows and {r["reject_hardness"] for r in rows} == {"hard"}
    assert not (tmp_path / "e" / "kto.train.jsonl").exists()


def test_scores_file_has_split_and_criteria(tmp_path: Path) -> None:
    _export(tmp_path / "e")
    rows = list(W.iter_jsonl(tmp_path / "e" / "scores.jsonl"))
    assert len(rows) == 60
    assert set(rows[0]["scores"]) == set(CRITERIA)
    assert {r["split"] for r in rows} <= {"train", "eval"}


def test_export_refuses_non_empty_dir(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(FileExistsError):
        W.write_export(tmp_path, params=W.ExportParams(), code_version="x")


def test_manifest_records_parameters_and_caller_timestamp(tmp_path: Path) -> None:
    manifest = W.write_export(
        tmp_path / "e", params=W.ExportParams(), code_version="abc", created_at="2026-01-01T00:00:00Z"
    )
    on_disk = json.loads((tmp_path / "e" / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == manifest
    assert manifest["created_at"] == "2026-01-01T00:00:00Z" and manifest["code_version"] == "abc"
    assert manifest["parameters"]["rating_threshold"] == P.default_rating_threshold()
    assert manifest["files"]["preference.train.parquet"]["rows"] == 0


def test_split_is_stable_and_near_ratio() -> None:
    splits = [W.split_of(f"g{i}", seed=0, eval_ratio=0.1) for i in range(5000)]
    assert splits == [W.split_of(f"g{i}", seed=0, eval_ratio=0.1) for i in range(5000)]
    assert 0.08 < splits.count("eval") / 5000 < 0.12


def test_params_round_trip_through_json_and_progress_callback(tmp_path: Path) -> None:
    params = W.ExportParams(seed=3, keep_reject_hardness=("hard",), sft_cap_per_source=None)
    stored = json.loads(json.dumps(params.as_dict()))
    assert W.ExportParams.from_dict(stored) == params
    with pytest.raises(ValueError, match="unknown export parameters"):
        W.ExportParams.from_dict({"sede": 1})
    seen: list[str] = []
    W.write_export(
        tmp_path / "e",
        ranking_items=_ranking_items(3),
        rating_items=_rating_items(2),
        dialogs=_dialogs(1),
        params=params,
        code_version="x",
        on_item=seen.append,
    )
    assert seen == ["ranking"] * 3 + ["rating"] * 2 + ["dialog"]


def _small_export(out: Path, n_prompts: int, **params: object) -> dict:
    return W.write_export(
        out,
        ranking_items=iter(_ranking_items(n_prompts)),
        params=W.ExportParams(batch_size=4, **params),
        code_version="v0.1.0-test",
    )


def _hash_splits(n_prompts: int, *, seed: int, eval_ratio: float) -> list[str]:
    groups = [_group(i) for i in range(n_prompts)]
    return [W.split_of(g, seed=seed, eval_ratio=eval_ratio) for g in groups]


def _group(i: int) -> str:
    return P.group_id_for((P.Message(role="user", content=f"Pytanie numer {i}?"),))


def _seed_where(predicate, n_prompts: int, eval_ratio: float) -> int:
    return next(s for s in range(1000) if predicate(_hash_splits(n_prompts, seed=s, eval_ratio=eval_ratio)))


def test_two_groups_at_the_default_ratio_still_get_an_eval_split(tmp_path: Path) -> None:
    # A seed where the plain hash puts both groups in train: the rebalance must move one to eval.
    seed = _seed_where(lambda splits: set(splits) == {"train"}, 2, 0.1)
    manifest = _small_export(tmp_path / "e", 2, seed=seed, eval_ratio=0.1, language="en")
    for stem in ("preference", "kto", "sft"):
        train = list(W.iter_jsonl(tmp_path / "e" / f"{stem}.train.jsonl"))
        evaluation = list(W.iter_jsonl(tmp_path / "e" / f"{stem}.eval.jsonl"))
        assert train and evaluation, stem
        assert not {r["group_id"] for r in train} & {r["group_id"] for r in evaluation}
        assert manifest["counts"]["splits"][stem] == {"train": len(train), "eval": len(evaluation)}
        for split, rows in (("train", train), ("eval", evaluation)):
            assert pq.read_table(tmp_path / "e" / f"{stem}.{split}.parquet").to_pylist() == rows
    groups = manifest["counts"]["groups"]
    assert (groups["train"], groups["eval"], groups["moved"]["to"]) == (1, 1, "eval")
    card = (tmp_path / "e" / "README.md").read_text(encoding="utf-8")
    assert "Prompt groups: 1 in train, 1 in eval." in card and "was moved from train to eval" in card
    for name, meta in manifest["files"].items():
        assert meta["sha256"] == W.sha256_file(tmp_path / "e" / name)
    _small_export(tmp_path / "again", 2, seed=seed, eval_ratio=0.1, language="en")
    assert {p.name: p.read_bytes() for p in (tmp_path / "e").iterdir()} == {
        p.name: p.read_bytes() for p in (tmp_path / "again").iterdir()
    }


def test_a_single_group_always_trains(tmp_path: Path) -> None:
    seed = _seed_where(lambda splits: splits == ["eval"], 1, 0.5)
    manifest = _small_export(tmp_path / "e", 1, seed=seed, eval_ratio=0.5)
    assert manifest["counts"]["splits"]["preference"]["train"] > 0
    assert manifest["counts"]["splits"]["preference"]["eval"] == 0
    assert manifest["counts"]["groups"]["moved"] == {"group_id": _group(0), "from": "eval", "to": "train"}


def test_no_rebalance_when_the_hash_split_has_both_sides(tmp_path: Path) -> None:
    manifest = _export(tmp_path / "e", eval_ratio=0.3)
    assert manifest["counts"]["groups"]["moved"] is None
    assert manifest["counts"]["groups"]["eval"] > 0


def test_eval_ratio_zero_keeps_everything_in_train(tmp_path: Path) -> None:
    manifest = _small_export(tmp_path / "e", 3, eval_ratio=0.0)
    assert manifest["counts"]["groups"] == {"train": 3, "eval": 0, "moved": None}
