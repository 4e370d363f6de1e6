"""train_orpo / train_dpo / train_kto on a tiny model built offline at test time (2 CPU steps each).

No database: the commands only read an export directory. The settings tests are fast; the runs are marked
`training` (a few seconds each on two cores).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exports import pairs as P
from exports import writers as W
from tests.training.support import OFFLINE, finite, run_command
from training import trainer as T

# ---- settings -------------------------------------------------------------------------------------------


def test_orpo_defaults_are_the_papers() -> None:
    s, _ = T.resolve_settings("orpo")
    assert (s["beta"], s["num_train_epochs"], s["learning_rate"]) == (0.2, 3, 8e-6)
    assert (s["per_device_train_batch_size"], s["gradient_accumulation_steps"]) == (2, 8)
    assert (s["lr_scheduler_type"], s["warmup_steps"], s["weight_decay"], s["max_grad_norm"]) == (
        "cosine",
        0.05,
        1e-3,
        1.0,
    )
    assert (s["max_length"], s["max_completion_length"]) == (8192, 4096)
    assert (s["adam_beta1"], s["adam_beta2"], s["eval_accumulation_steps"]) == (0.9, 0.999, 8)


def test_dpo_and_kto_defaults() -> None:
    dpo, _ = T.resolve_settings("dpo")
    assert (dpo["beta"], dpo["learning_rate"], dpo["per_device_train_batch_size"]) == (0.1, 1e-6, 1)
    assert dpo["weight_decay"] == 1e-3 and "max_completion_length" not in dpo
    kto, _ = T.resolve_settings("kto")
    assert kto["beta"] == 0.1 and kto["learning_rate"] == 1e-6
    # The paper's 1 x 8 as 2 x 4 for KTO (TRL refuses a per-device batch of 1): same effective batch.
    assert (kto["per_device_train_batch_size"], kto["gradient_accumulation_steps"]) == (2, 4)
    assert kto["per_device_eval_batch_size"] == 2


def test_report_to_flag_reaches_the_trainer_config(tmp_path: Path) -> None:
    base = {"data": tmp_path, "model": "m", "output": tmp_path / "o"}
    request = T.request_from_options("dpo", {**base, "report_to": "tensorboard, wandb"}, code_version="x")
    assert request.settings["report_to"] == ["tensorboard", "wandb"]
    assert T.request_from_options("dpo", base, code_version="x").settings["report_to"] == []


def test_kto_batch_of_one_is_refused_while_parsing_arguments() -> None:
    with pytest.raises(ValueError, match="KTO needs per_device_train_batch_size >= 2"):
        T.resolve_settings("kto", overrides={"per_device_train_batch_size": 1})
    T.resolve_settings("dpo", overrides={"per_device_train_batch_size": 1})  # fine for DPO


def test_precedence_paper_then_file_then_cpu_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "orpo.yaml"
    config.write_text("learning_rate: 1.0e-5\nbeta: 0.3\nbf16: true\nlora:\n  r: 4\n", encoding="utf-8")
    s, lora = T.resolve_settings("orpo", config_file=config, cpu=True, overrides={"beta": 0.5, "seed": None})
    assert s["learning_rate"] == 1e-5 and s["beta"] == 0.5 and s["bf16"] is False and s["use_cpu"] is True
    assert s["num_train_epochs"] == 3  # untouched paper value
    assert lora == {"r": 4}
    json_config = tmp_path / "dpo.json"
    json_config.write_text(json.dumps({"warmup_ratio": 0.1}), encoding="utf-8")
    assert T.resolve_settings("dpo", config_file=json_config)[0]["warmup_steps"] == 0.1


def test_unknown_setting_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown training settings"):
        T.resolve_settings("dpo", overrides={"max_prompt_lenght": 5})


def test_set_option_parses_json_values() -> None:
    assert T.parse_set_option(["logging_steps=5", 'report_to=["wandb"]', "optim=adamw_torch"]) == {
        "logging_steps": 5,
        "report_to": ["wandb"],
        "optim": "adamw_torch",
    }
    with pytest.raises(ValueError):
        T.parse_set_option(["novalue"])


def test_kto_weights_balance_rejects() -> None:
    assert T.kto_class_weights([True, False, False, False], settings={}) == {"desirable_weight": 3.45}
    assert T.kto_class_weights([True, False], settings={}) == {}
    assert T.kto_class_weights([True, False, False], settings={"undesirable_weight": 1.0}) == {}


# ---- tiny runs ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small export with single-turn and multi-turn (system prompt + history) prompts in both splits."""
    ranking = []
    for i in range(10):
        cands = tuple(
            P.Candidate(response_id=f"{i}{x}", text=f"Odpowiedź {x} na pytanie {i}.") for x in "abcd"
        )
        ranking.append(
            P.RankingItem(
                item_id=f"r{i}",
                prompt_id=f"p{i}",
                prompt=(P.Message(role="user", content=f"Gdzie leży Gdańsk? ({i})"),),
                candidates=cands,
                judgements=(P.RankingJudgement(annotator="u1", order=tuple(c.response_id for c in cands)),),
                category="qa_polish",
            )
        )
    dialogs = []
    for d in range(4):
        history = [P.Message(role="system", content="Jesteś pomocnym asystentem.")]
        turns = []
        for t in range(4):
            history.append(P.Message(role="user", content=f"Dialog {d}, pytanie {t}: ile to 2+2?"))
            cands = tuple(P.Candidate(response_id=f"{d}{t}{x}", text=f"To {x} {t}.") for x in "xyz")
            turns.append(
                P.DialogTurn(
                    turn_id=f"{d}{t}", index=t, context=tuple(history), candidates=cands, chosen_id=f"{d}{t}x"
                )
            )
            history.append(P.Message(role="assistant", content=f"To x {t}."))
        dialogs.append(P.Dialog(dialog_id=f"d{d}", annotator="u2", turns=tuple(turns)))
    out = tmp_path_factory.mktemp("export") / "e"
    W.write_export(
        out,
        ranking_items=ranking,
        dialogs=dialogs,
        params=W.ExportParams(eval_ratio=0.3),
        code_version="test",
    )
    for stem in ("preference", "kto"):
        assert (out / f"{stem}.eval.jsonl").stat().st_size > 0, "fixture needs a non-empty eval split"
    return out


@pytest.mark.training
@pytest.mark.parametrize("method", ["orpo", "dpo", "kto"])
def test_two_step_run(
    method: str, tiny_model: Path, export_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    output = tmp_path / method
    messages, stdout = run_command(
        f"train_{method}",
        "--data",
        str(export_dir),
        "--model",
        str(tiny_model),
        "--output",
        str(output),
        "--cpu",
        "--max-steps",
        "2",
    )  # every other argument is the command's default (the paper's hyperparameters)
    assert not [m for m in messages if T.PREFIX_WARNING in m], messages
    assert "2 steps" in stdout
    assert "rewards/margins" in stdout and "final" in stdout  # the summary table

    record = json.loads((output / T.RUN_RECORD).read_text(encoding="utf-8"))
    assert record["tokenization_warnings"] == []
    assert record["results"]["global_step"] == 2
    assert finite(record["results"]["training_loss"])
    report = record["report"]
    final = report["final_eval"]
    learned = ("rewards/chosen", "rewards/rejected", "kl") if method == "kto" else (
        "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected"
    )
    assert all(finite(final[name]) for name in (*learned, "loss")), final
    assert report["eval"] and all("step" in row for row in report["eval"])
    assert report["plot"] == T.CURVES_PLOT and (output / T.CURVES_PLOT).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert finite(record["results"]["eval_metrics"]["eval_loss"])
    assert record["data"]["manifest_sha256"] == W.sha256_file(export_dir / "manifest.json")
    assert record["data"]["eval_rows"] > 0
    assert record["parameters"]["max_steps"] == 2 and record["parameters"]["use_cpu"] is True

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(output)
    tokenizer = AutoTokenizer.from_pretrained(output)
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Cześć"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )["input_ids"]
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=ids).logits).all()


@pytest.mark.training
def test_dpo_with_lora_saves_an_adapter(
    tiny_model: Path, export_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    output = tmp_path / "lora"
    messages, _ = run_command(
        "train_dpo",
        "--data",
        str(export_dir),
        "--model",
        str(tiny_model),
        "--output",
        str(output),
        "--cpu",
        "--max-steps",
        "2",
        "--batch-size",
        "2",
        "--grad-accum",
        "1",
        "--max-length",
        "256",
        "--no-eval",
        "--save-strategy",
        "no",
        "--lora",
        "--lora-r",
        "4",
        "--lora-target-modules",
        "q_proj,v_proj",
    )
    assert not [m for m in messages if T.PREFIX_WARNING in m]
    record = json.loads((output / T.RUN_RECORD).read_text(encoding="utf-8"))
    assert record["lora"]["r"] == 4 and record["results"]["global_step"] == 2
    from peft import AutoPeftModelForCausalLM

    assert AutoPeftModelForCausalLM.from_pretrained(output) is not None


@pytest.mark.training
def test_a_broken_chat_template_is_reported(
    tiny_model: Path, export_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard the other runs rely on: a generation prompt that is not a prefix of the chat is caught."""
    import shutil

    from transformers import AutoTokenizer

    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_model, broken)
    tokenizer = AutoTokenizer.from_pretrained(broken)
    tokenizer.chat_template = tokenizer.chat_template.replace(
        "'<|im_start|>assistant\\n'", "'<|im_start|>assistant\\nOdpowiedź: '"
    )
    assert "Odpowiedź: " in tokenizer.chat_template
    tokenizer.save_pretrained(broken)
    (broken / "chat_template.jinja").write_text(tokenizer.chat_template, encoding="utf-8")
    output = tmp_path / "out"
    run_command(
        "train_dpo",
        "--data",
        str(export_dir),
        "--model",
        str(broken),
        "--output",
        str(output),
        "--cpu",
        "--max-steps",
        "1",
        "--batch-size",
        "2",
        "--grad-accum",
        "1",
        "--max-length",
        "256",
        "--no-eval",
        "--save-strategy",
        "no",
    )
    record = json.loads((output / T.RUN_RECORD).read_text(encoding="utf-8"))
    assert record["tokenization_warnings"] and T.PREFIX_WARNING in record["tokenization_warnings"][0]


def _single_group_export(root: Path) -> Path:
    """An export whose every row comes from one prompt: nothing can go to eval."""
    cands = tuple(P.Candidate(response_id=f"a{x}", text=f"Odpowiedź {x}.") for x in "abcd")
    item = P.RankingItem(
        item_id="r0",
        prompt_id="p0",
        prompt=(P.Message(role="user", content="Gdzie leży Kraków?"),),
        candidates=cands,
        judgements=(P.RankingJudgement(annotator="u1", order=tuple(c.response_id for c in cands)),),
        category="qa_polish",
    )
    out = root / "single"
    W.write_export(out, ranking_items=[item], params=W.ExportParams(eval_ratio=0.1), code_version="test")
    assert (out / "preference.eval.jsonl").stat().st_size == 0
    return out


def test_empty_eval_split_fails_fast_with_one_clear_line(tmp_path: Path) -> None:
    from django.core.management.base import CommandError

    data = _single_group_export(tmp_path)
    for method in T.METHODS:
        # No such model: the error must come from the data check, before any model is loaded.
        with pytest.raises(CommandError, match=r"eval\.jsonl is empty: .* or train with --no-eval"):
            run_command(f"train_{method}", "--data", str(data), "--model", str(tmp_path / "none"),
                        "--output", str(tmp_path / "o"), "--cpu", "--max-steps", "1")
    with pytest.raises(CommandError, match="eval.parquet is empty"):
        run_command("train_dpo", "--data", str(data), "--model", str(tmp_path / "none"), "--format", "parquet",
                    "--output", str(tmp_path / "o"), "--cpu", "--max-steps", "1")


@pytest.mark.training
def test_single_group_export_trains_with_no_eval(tiny_model: Path, tmp_path: Path, monkeypatch) -> None:
    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)
    data = _single_group_export(tmp_path)
    (data / "preference.eval.parquet").unlink()  # --no-eval must not even look at the eval files
    for data_format in ("jsonl", "parquet"):
        output = tmp_path / f"out-{data_format}"
        _, stdout = run_command("train_dpo", "--data", str(data), "--model", str(tiny_model), "--output",
                                str(output), "--cpu", "--max-steps", "1", "--no-eval", "--format", data_format)
        record = json.loads((output / T.RUN_RECORD).read_text(encoding="utf-8"))
        assert record["data"]["eval_rows"] == 0 and record["results"]["global_step"] == 1
        assert "no evaluation" in stdout
