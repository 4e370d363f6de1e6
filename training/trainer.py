"""ORPO, DPO and KTO training on an export directory, with the paper's hyperparameters as defaults.

Django-free and torch-free at import time (torch, transformers, trl, peft and datasets are imported inside
functions), so the web process can import the commands without the training stack.

Precedence of settings, lowest first: the paper's values (read from the reference file, PLLuM-Align App.
A.4) -> platform defaults -> a JSON/YAML config file -> `--cpu` -> explicit flags and `--set key=value`.
Parameter names are the installed TRL/transformers names: the paper's `max_prompt_length` no longer exists
(TRL 1.x: `max_length`, plus `max_completion_length = max_length - max_prompt_length` for ORPO), and
`warmup_ratio` is `warmup_steps` given as a fraction (transformers 5.x).

Every run writes `training_run.json` next to the model: the export's manifest hash, the parameters, the
library versions, the losses and what the model learned on the eval split (chosen/rejected log-probabilities,
rewards, margins and accuracies; KL and desirable/undesirable rewards for KTO) per logging step, per
evaluation and at the end, plus `training_curves.png` (loss and margins over steps), so a model can always be
traced to its data and judged by its curves.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.reference import load_reference

METHODS = ("orpo", "dpo", "kto")
RUN_RECORD = "training_run.json"
CURVES_PLOT = "training_curves.png"
# What the trainers log about preferences (TRL 1.x names; eval rows carry an "eval_" prefix). KTO logs
# "chosen" for desirable and "rejected" for undesirable completions, plus the KL estimate.
REPORT_METRICS = (
    "loss",
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracies",
    "logps/chosen",
    "logps/rejected",
    "kl",
    "log_odds_ratio",
    "nll_loss",
)
# TRL's KTO estimates the KL term from mismatched (prompt, completion) pairs inside a batch, so it refuses a
# per-device batch of 1 ("Actual (not effective) batch size must be > 1").
KTO_MIN_BATCH = 2
PREFIX_WARNING = "not a prefix"

# The paper's optimizer name -> the transformers `optim` value (Adam with decoupled weight decay).
_OPTIMIZERS = {"adam": "adamw_torch", "adamw": "adamw_torch"}
# Columns each trainer reads; the export's metadata columns are dropped before training.
_COLUMNS = {
    "orpo": ("prompt", "chosen", "rejected"),
    "dpo": ("prompt", "chosen", "rejected"),
    "kto": ("prompt", "completion", "label"),
}
_STEMS = {"orpo": "preference", "dpo": "preference", "kto": "kto"}
# Not paper values: sensible platform defaults, all overridable.
_PLATFORM_DEFAULTS: dict[str, Any] = {
    "report_to": [],
    "logging_steps": 10,
    "save_strategy": "epoch",
    # Ten evaluations per run (a float < 1 is a fraction of the steps) and one at the end: the eval curves of
    # the run record without evaluating the whole eval split every logging step.
    "eval_strategy": "steps",
    "eval_steps": 0.1,
    "remove_unused_columns": False,  # ORPO's collator needs it; harmless for DPO/KTO
}
CPU_SETTINGS: dict[str, Any] = {
    "use_cpu": True,
    "bf16": False,
    "fp16": False,
    "gradient_checkpointing": False,
    "dataloader_num_workers": 0,
}


def import_orpo() -> tuple[type, type]:
    """ORPO lives in trl.experimental in TRL 1.x; the one place to change when it moves again."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    return ORPOConfig, ORPOTrainer


def trainer_classes(method: str) -> tuple[type, type]:
    """(ConfigClass, TrainerClass) of a method."""
    if method == "orpo":
        return import_orpo()
    if method == "dpo":
        from trl import DPOConfig, DPOTrainer

        return DPOConfig, DPOTrainer
    if method == "kto":
        from trl import KTOConfig, KTOTrainer

        return KTOConfig, KTOTrainer
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")


# --------------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------------


def paper_hyperparameters(method: str) -> dict[str, Any]:
    """The paper's settings for a method, under the paper's names (learning rate of the 8B/12B models).

    DPO shares ORPO's optimizer settings (the paper says so; the reference flags it). The paper gives no
    KTO numbers: KTO takes DPO's, the closest objective (both keep a reference model; beta 0.1).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    training = load_reference()["training"]
    orpo = dict(training["orpo"])
    orpo["learning_rate"] = orpo["learning_rate"]["8B/12B"]
    orpo.pop("per_device_train_batch_size_70b", None)
    if method == "orpo":
        return orpo
    dpo = {k: v for k, v in training["dpo"].items() if k != "same_optimizer_as_orpo"}
    if training["dpo"].get("same_optimizer_as_orpo"):
        dpo = {**orpo, **dpo}
    return dpo


def paper_defaults(method: str) -> dict[str, Any]:
    """The paper's settings translated to the installed TRL/transformers config field names."""
    paper = paper_hyperparameters(method)
    out: dict[str, Any] = {
        "beta": paper["beta"],
        "num_train_epochs": paper["num_train_epochs"],
        "per_device_train_batch_size": paper["per_device_train_batch_size"],
        # "Evaluation used the same batch size settings."
        "per_device_eval_batch_size": paper["per_device_train_batch_size"],
        "gradient_accumulation_steps": paper["gradient_accumulation_steps"],
        "learning_rate": paper["learning_rate"],
        "max_length": paper["max_length"],
    }
    for key in (
        "eval_accumulation_steps",
        "weight_decay",
        "adam_beta1",
        "adam_beta2",
        "max_grad_norm",
        "lr_scheduler_type",
    ):
        if key in paper:
            out[key] = paper[key]
    if "optimizer" in paper:
        out["optim"] = _OPTIMIZERS.get(paper["optimizer"], paper["optimizer"])
    if "warmup_ratio" in paper:
        out["warmup_ratio"] = paper["warmup_ratio"]
    if method == "orpo" and "max_prompt_length" in paper:
        out["max_completion_length"] = paper["max_length"] - paper["max_prompt_length"]
    if method == "kto" and out["per_device_train_batch_size"] < KTO_MIN_BATCH:
        # The paper's 1 x 8 (taken from DPO) as 2 x 4: the same effective batch in a shape KTO accepts.
        effective = out["per_device_train_batch_size"] * out["gradient_accumulation_steps"]
        out["per_device_train_batch_size"] = out["per_device_eval_batch_size"] = KTO_MIN_BATCH
        out["gradient_accumulation_steps"] = max(1, effective // KTO_MIN_BATCH)
    return out


def check_settings(method: str, settings: Mapping[str, Any]) -> None:
    """Constraints TRL would only report deep inside training, checked while parsing the arguments."""
    if method == "kto":
        for key in ("per_device_train_batch_size", "per_device_eval_batch_size"):
            if int(settings.get(key) or KTO_MIN_BATCH) < KTO_MIN_BATCH:
                raise ValueError(
                    f"KTO needs {key} >= {KTO_MIN_BATCH} (TRL estimates its KL term from mismatched pairs "
                    f"within a batch); got {settings[key]}. Use --batch-size/--eval-batch-size "
                    f"{KTO_MIN_BATCH} or more and lower --grad-accum to keep the effective batch."
                )


def _config_fields(method: str) -> set[str]:
    config_class, _ = trainer_classes(method)
    return {f.name for f in dataclasses.fields(config_class)}


def normalize_keys(settings: Mapping[str, Any], *, fields: set[str]) -> dict[str, Any]:
    """Map paper-era names onto the installed ones and reject unknown keys with a clear error."""
    out = dict(settings)
    if "warmup_ratio" in out and "warmup_ratio" not in fields:
        out["warmup_steps"] = out.pop("warmup_ratio")  # a float < 1 is a ratio in transformers 5.x
    if "max_prompt_length" in out and "max_prompt_length" not in fields:
        prompt_budget = out.pop("max_prompt_length")
        if "max_completion_length" in fields and out.get("max_length"):
            out.setdefault("max_completion_length", out["max_length"] - prompt_budget)
    if "gradient_checkpointing" in out and "activation_checkpointing" in fields:
        out["activation_checkpointing"] = out.pop("gradient_checkpointing")  # transformers 5.x name
    if out.get("optim") in _OPTIMIZERS:
        out["optim"] = _OPTIMIZERS[out["optim"]]
    unknown = sorted(set(out) - fields)
    if unknown:
        raise ValueError(f"unknown training settings {unknown} (not fields of the installed TRL config)")
    return out


def load_config_file(path: Path) -> dict[str, Any]:
    """A flat mapping of config fields, in JSON or YAML (by extension); an optional `lora:` mapping."""
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of settings")
    return data


def parse_set_option(items: Sequence[str]) -> dict[str, Any]:
    """`--set key=value` pairs; values are JSON when they parse (numbers, booleans, lists), else strings."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value, got {item!r}")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


@dataclass(frozen=True)
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str | tuple[str, ...] = "all-linear"


@dataclass(frozen=True)
class TrainingRequest:
    """Everything one run needs; `settings` are final TRL config kwargs (output_dir excluded)."""

    method: str
    data_dir: Path
    model: str
    output_dir: Path
    settings: Mapping[str, Any]
    lora: LoraSettings | None = None
    evaluate: bool = True
    data_format: str = "jsonl"
    verify_checksums: bool = True
    code_version: str = "unknown"
    extra: Mapping[str, Any] = field(default_factory=dict)


def resolve_settings(
    method: str,
    *,
    config_file: Path | None = None,
    cpu: bool = False,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Final config kwargs and the config file's `lora` section (if any), in documented precedence."""
    fields = _config_fields(method)
    settings = {**paper_defaults(method), **_PLATFORM_DEFAULTS}
    lora_section = None
    if config_file is not None:
        from_file = load_config_file(config_file)
        lora_section = from_file.pop("lora", None)
        settings.update(from_file)
    if cpu:
        settings.update(CPU_SETTINGS)
    settings.update({k: v for k, v in (overrides or {}).items() if v is not None})
    settings.pop("output_dir", None)
    settings = normalize_keys(settings, fields=fields)
    check_settings(method, settings)
    return settings, lora_section


# --------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------


def manifest_digest(data_dir: Path) -> tuple[str, dict[str, Any]]:
    """SHA-256 of the export's manifest.json (the data's identity) and the parsed manifest."""
    raw = (Path(data_dir) / "manifest.json").read_bytes()
    return hashlib.sha256(raw).hexdigest(), json.loads(raw)


def _verify(path: Path, manifest: Mapping[str, Any]) -> None:
    expected = manifest.get("files", {}).get(path.name, {}).get("sha256")
    if expected is None:
        raise ValueError(f"{path.name} is not listed in the export's manifest.json")
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != expected:
        raise ValueError(f"{path.name} does not match its manifest checksum: the export was modified")


def _has_rows(path: Path, data_format: str) -> bool:
    """Whether a data file holds a row, without the `datasets` library (which fails on empty files: JSON
    raises StopIteration, Parquet "corresponds to no data")."""
    if data_format == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows > 0
    with path.open("rb") as fh:
        return any(line.strip() for line in fh)


def check_data(data_dir: Path, *, method: str, data_format: str = "jsonl", evaluate: bool = True) -> list[Path]:
    """The files a run will read, checked before anything heavy loads: one clear line per problem."""
    stem = _STEMS[method]
    train = Path(data_dir) / f"{stem}.train.{data_format}"
    if not train.is_file():
        raise FileNotFoundError(f"{train} not found: is {data_dir} an export directory?")
    if not _has_rows(train, data_format):
        raise ValueError(f"{train.name} has no rows: the export holds no {method.upper()} training data")
    if not evaluate:
        return [train]  # --no-eval never reads the eval files
    evaluation = train.with_name(f"{stem}.eval.{data_format}")
    if not evaluation.is_file() or not _has_rows(evaluation, data_format):
        raise ValueError(
            f"{evaluation.name} is empty: rebuild the export with eval_ratio > 0 (it needs at least two prompt "
            "groups) or train with --no-eval"
        )
    return [train, evaluation]


def load_export(
    data_dir: Path,
    *,
    method: str,
    data_format: str = "jsonl",
    manifest: Mapping[str, Any] | None = None,
    evaluate: bool = True,
) -> tuple[Any, Any | None, list[str]]:
    """(train, eval or None, files used) for a method, restricted to the columns its trainer reads."""
    from datasets import load_dataset

    loaded = []
    for path in check_data(data_dir, method=method, data_format=data_format, evaluate=evaluate):
        if manifest is not None:
            _verify(path, manifest)
        dataset = load_dataset(
            "json" if data_format == "jsonl" else "parquet", data_files=str(path), split="train"
        )
        loaded.append((path.name, dataset.select_columns(list(_COLUMNS[method]))))
    train = loaded[0][1]
    evaluation = loaded[1][1] if len(loaded) > 1 else None
    return train, evaluation, [name for name, _ in loaded]


# --------------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------------


def kto_class_weights(labels: Sequence[bool], *, settings: Mapping[str, Any]) -> dict[str, float]:
    """Loss weights that balance desirable and undesirable rows, unless the user chose weights.

    Best-vs-all and custom answers give ~3 rejects per chosen; the KTO paper wants
    desirable_weight * n_desirable / (undesirable_weight * n_undesirable) in [1, 4/3]: we aim at its middle.
    """
    if "desirable_weight" in settings or "undesirable_weight" in settings:
        return {}
    desirable = max(sum(bool(x) for x in labels), 1)
    undesirable = max(len(labels) - desirable, 1)
    if desirable == undesirable:
        return {}
    if undesirable > desirable:
        return {"desirable_weight": round(undesirable / desirable * 1.15, 2)}
    return {"undesirable_weight": round(desirable / undesirable / 1.15, 2)}


class _TokenizationWatch(logging.Handler):
    """Collects TRL's "tokenized prompt is not a prefix" warnings: they mean a broken chat template."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if PREFIX_WARNING in message:
            self.messages.append(message)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def run_training(request: TrainingRequest) -> dict[str, Any]:
    """Train, save the model (or adapter) and `training_run.json` in the output dir; return the record."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import datasets
    import torch
    import transformers
    import trl
    from transformers import AutoTokenizer

    config_class, trainer_class = trainer_classes(request.method)
    settings = dict(request.settings)
    digest, manifest = manifest_digest(request.data_dir)
    train, evaluation, files = load_export(
        request.data_dir,
        method=request.method,
        data_format=request.data_format,
        manifest=manifest if request.verify_checksums else None,
        evaluate=request.evaluate,
    )
    if request.method == "kto":
        settings.update(kto_class_weights(train["label"], settings=settings))
    if evaluation is None:
        settings["eval_strategy"] = "no"
        settings.pop("eval_steps", None)
    # The config is built before the model is loaded, so a DeepSpeed ZeRO-3 run partitions it while loading.
    args = config_class(output_dir=str(request.output_dir), **settings)
    init_kwargs = dict(args.model_init_kwargs or {})
    init_kwargs.setdefault("dtype", "float32" if args.use_cpu or not (args.bf16 or args.fp16) else "auto")
    if str(args.distributed_state.distributed_type).rsplit(".", 1)[-1] in ("MULTI_GPU", "DEEPSPEED"):
        init_kwargs["device_map"] = None  # ORPO defaults to "auto", which breaks DDP and ZeRO-3
    args.model_init_kwargs = init_kwargs
    tokenizer = AutoTokenizer.from_pretrained(request.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    peft_config = None
    if request.lora is not None:
        from peft import LoraConfig

        target = request.lora.target_modules
        peft_config = LoraConfig(
            r=request.lora.r,
            lora_alpha=request.lora.alpha,
            lora_dropout=request.lora.dropout,
            target_modules=target if isinstance(target, str) else list(target),
            task_type="CAUSAL_LM",
        )

    watch = _TokenizationWatch()
    trl_logger = logging.getLogger("trl")
    trl_logger.addHandler(watch)
    try:
        trainer = trainer_class(
            model=request.model,
            args=args,
            train_dataset=train,
            eval_dataset=evaluation,
            processing_class=tokenizer,
            peft_config=peft_config,
        )
        result = trainer.train()
        eval_metrics = {}
        if evaluation is not None:
            # Evaluation already ran at the end of training unless the strategy was changed to "steps"/"no".
            logged = [e for e in trainer.state.log_history if "eval_loss" in e]
            if logged and logged[-1].get("step") == trainer.state.global_step:
                eval_metrics = logged[-1]
            else:
                eval_metrics = trainer.evaluate()
    finally:
        trl_logger.removeHandler(watch)
    trainer.save_model(str(request.output_dir))

    record = {
        "method": request.method,
        "model": request.model,
        "output_dir": str(request.output_dir),
        "data": {
            "dir": str(request.data_dir),
            "manifest_sha256": digest,
            "export_code_version": manifest.get("code_version"),
            "export_parameters": manifest.get("parameters"),
            "files": {name: manifest.get("files", {}).get(name, {}).get("sha256") for name in files},
            "format": request.data_format,
            "train_rows": len(train),
            "eval_rows": 0 if evaluation is None else len(evaluation),
        },
        "parameters": _jsonable(settings),
        "lora": None if request.lora is None else dataclasses.asdict(request.lora),
        "code_version": request.code_version,
        "versions": {
            "trl": trl.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "datasets": datasets.__version__,
        },
        "world_size": args.world_size,
        "results": {
            "global_step": result.global_step,
            "training_loss": result.training_loss,
            "train_metrics": _jsonable(result.metrics),
            "eval_metrics": _jsonable(eval_metrics),
            "log_history": _jsonable(trainer.state.log_history),
        },
        "report": learning_report(trainer.state.log_history, eval_metrics),
        "tokenization_warnings": watch.messages,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **dict(request.extra),
    }
    if trainer.is_world_process_zero():
        record["report"]["plot"] = plot_curves(record["report"], Path(request.output_dir) / CURVES_PLOT)
        text = json.dumps(_jsonable(record), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        (Path(request.output_dir) / RUN_RECORD).write_text(text, encoding="utf-8")
    return record


# --------------------------------------------------------------------------------------------------------
# What the run learned
# --------------------------------------------------------------------------------------------------------


def _pick(entry: Mapping[str, Any], prefix: str) -> dict[str, float]:
    out = {}
    for name in REPORT_METRICS:
        value = entry.get(prefix + name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def learning_report(log_history: Sequence[Mapping[str, Any]], final_eval: Mapping[str, Any]) -> dict[str, Any]:
    """Train metrics per logging step, eval-split metrics per evaluation and at the end (TRL's log history
    regrouped): what the model learned about chosen vs rejected, not just the loss."""
    train, evaluation = [], []
    for entry in log_history:
        step = entry.get("step")
        if any(key.startswith("eval_") for key in entry):
            metrics = _pick(entry, "eval_")
            if metrics:
                evaluation.append({"step": step, **metrics})
        elif "train_loss" not in entry:  # the trainer's closing summary row
            metrics = _pick(entry, "")
            if metrics:
                train.append({"step": step, **metrics})
    return {"train": train, "eval": evaluation, "final_eval": _pick(final_eval or {}, "eval_")}


def plot_curves(report: Mapping[str, Any], path: Path) -> str:
    """Loss and reward margins over steps (train and eval) as a PNG; returns the file name."""
    import matplotlib

    matplotlib.use("Agg")  # no display on cluster nodes
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "rewards/margins"), strict=True):
        for name, rows in (("train", report["train"]), ("eval", report["eval"])):
            points = [(row["step"], row[metric]) for row in rows if metric in row and row["step"] is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", label=name)
        ax.set_title(metric)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def summary_table(record: Mapping[str, Any]) -> str:
    """The end-of-run table printed by the commands: each metric at the first and the final evaluation."""
    report = record.get("report") or {}
    first = report.get("eval", [{}])[0] if report.get("eval") else {}
    final = report.get("final_eval") or {}
    rows = [(name, first.get(name), final.get(name)) for name in REPORT_METRICS if name in final]
    if not rows:
        return "no evaluation (--no-eval or an empty eval split): see the train metrics in " + RUN_RECORD
    width = max(len(name) for name, _, _ in rows)
    lines = [f"{'eval metric'.ljust(width)}  {'first':>10}  {'final':>10}"]
    for name, a, b in rows:
        lines.append(f"{name.ljust(width)}  {_fmt(a):>10}  {_fmt(b):>10}")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


# --------------------------------------------------------------------------------------------------------
# Command line (shared by the train_orpo / train_dpo / train_kto management commands)
# --------------------------------------------------------------------------------------------------------

# flag -> config field; each flag defaults to None so only what the user typed overrides the file.
_FLAGS: tuple[tuple[str, str, type, str], ...] = (
    ("--beta", "beta", float, "loss beta"),
    ("--learning-rate", "learning_rate", float, "peak learning rate"),
    ("--epochs", "num_train_epochs", float, "number of epochs"),
    ("--batch-size", "per_device_train_batch_size", int, "per-device train batch size"),
    ("--eval-batch-size", "per_device_eval_batch_size", int, "per-device eval batch size"),
    ("--grad-accum", "gradient_accumulation_steps", int, "gradient accumulation steps"),
    ("--max-length", "max_length", int, "max tokens of prompt + completion"),
    ("--max-completion-length", "max_completion_length", int, "max completion tokens (ORPO)"),
    ("--warmup-ratio", "warmup_steps", float, "warmup as a fraction of the steps"),
    ("--weight-decay", "weight_decay", float, "weight decay"),
    ("--max-grad-norm", "max_grad_norm", float, "gradient clipping norm"),
    ("--lr-scheduler", "lr_scheduler_type", str, "learning-rate schedule"),
    ("--max-steps", "max_steps", int, "stop after this many optimizer steps (small runs)"),
    ("--seed", "seed", int, "random seed"),
    ("--logging-steps", "logging_steps", float, "log every N steps"),
    ("--save-strategy", "save_strategy", str, "checkpointing: no | steps | epoch"),
)


def add_cli_arguments(parser: argparse.ArgumentParser, *, method: str) -> None:
    """The flags of `manage.py train_<method>`; defaults shown are the paper's (from the reference file)."""
    defaults = paper_defaults(method)
    defaults.setdefault("warmup_steps", defaults.get("warmup_ratio"))
    parser.add_argument("--data", required=True, type=Path, help="export directory (with manifest.json)")
    parser.add_argument("--model", required=True, help="model folder or hub id to start from")
    parser.add_argument("--output", required=True, type=Path, help="where the model and training_run.json go")
    parser.add_argument("--config", type=Path, help="JSON or YAML file of TRL config fields (and `lora:`)")
    parser.add_argument("--cpu", action="store_true", help="CPU run: use_cpu, fp32, no checkpointing")
    parser.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl", help="which files to read")
    parser.add_argument("--no-eval", action="store_true", help="skip evaluation on the eval split")
    parser.add_argument("--no-verify", action="store_true", help="skip checking files against the manifest")
    parser.add_argument(
        "--report-to",
        default=None,
        help="also log to these trackers, comma-separated (e.g. wandb,tensorboard; default none): "
        "training_run.json and the plot are written either way",
    )
    for flag, key, kind, text in _FLAGS:
        if key == "max_completion_length" and method != "orpo":
            continue
        paper = f" (paper default: {defaults[key]})" if key in defaults else ""
        parser.add_argument(flag, dest=key, type=kind, default=None, help=text + paper)
    parser.add_argument(
        "--set",
        dest="set_items",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other TRL config field, repeatable (value parsed as JSON when possible)",
    )
    parser.add_argument("--lora", action="store_true", help="train a LoRA adapter instead of all weights")
    parser.add_argument("--lora-r", type=int, default=None)
    parser.add_argument("--lora-alpha", type=int, default=None)
    parser.add_argument("--lora-dropout", type=float, default=None)
    parser.add_argument("--lora-target-modules", default=None, help='comma-separated, or "all-linear"')


def request_from_options(method: str, options: Mapping[str, Any], *, code_version: str) -> TrainingRequest:
    """Turn parsed command-line options into a TrainingRequest (flags beat the config file)."""
    overrides = {key: options.get(key) for _, key, _, _ in _FLAGS}
    if options.get("report_to"):
        trackers = [t.strip() for t in str(options["report_to"]).split(",") if t.strip()]
        overrides["report_to"] = [] if trackers == ["none"] else trackers
    overrides.update(parse_set_option(options.get("set_items") or []))
    settings, lora_section = resolve_settings(
        method, config_file=options.get("config"), cpu=bool(options.get("cpu")), overrides=overrides
    )
    lora = None
    if options.get("lora") or lora_section:
        base = dict(lora_section or {})
        for key in ("r", "alpha", "dropout", "target_modules"):
            value = options.get(f"lora_{key}")
            if value is not None:
                base[key] = value
        target = base.get("target_modules", LoraSettings.target_modules)
        if isinstance(target, str) and target != "all-linear":
            target = tuple(t.strip() for t in target.split(",") if t.strip())
        elif isinstance(target, list):
            target = tuple(target)
        lora = LoraSettings(**{**base, "target_modules": target})
    return TrainingRequest(
        method=method,
        data_dir=Path(options["data"]),
        model=str(options["model"]),
        output_dir=Path(options["output"]),
        settings=settings,
        lora=lora,
        evaluate=not options.get("no_eval"),
        data_format=options.get("format") or "jsonl",
        verify_checksums=not options.get("no_verify"),
        code_version=code_version,
    )
