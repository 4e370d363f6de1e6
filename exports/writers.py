"""Streaming, byte-reproducible export files: JSONL + Parquet, split, dataset card and manifest.

Pure (no Django). Rows arrive as iterators and leave in batches, so a million-row export never sits in
memory. The train/eval split hashes (seed, group id), so it streams, is stable across runs and never puts
one prompt or dialog on both sides. Nothing time-dependent is written unless the caller passes it in:
same annotations + same parameters -> byte-identical files (pyarrow's `created_by` names its version, so
identical bytes also assume the same pyarrow).
"""

from __future__ import annotations

import hashlib
import json
import queue
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from exports import card as C
from exports import pairs as P

FORMAT_VERSION = 1
SPLITS = ("train", "eval")
MANIFEST = "manifest.json"
CARD = "README.md"
SCORES_FILE = "scores.jsonl"

# --------------------------------------------------------------------------------------------------------
# Schemas (fixed and explicit: Parquet bytes must not depend on which values happen to be null)
# --------------------------------------------------------------------------------------------------------

MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
_CARRIED_FIELDS = [
    ("group_id", pa.string()),
    ("source_task", pa.string()),
    ("strategy", pa.string()),
    ("category", pa.string()),
    ("item_id", pa.string()),
    ("prompt_id", pa.string()),
    ("dialog_id", pa.string()),
    ("turn_index", pa.int32()),
    ("annotators", pa.list_(pa.string())),
]
PREFERENCE_SCHEMA = pa.schema(
    [
        ("pair_id", pa.string()),
        ("prompt", MESSAGES),
        ("chosen", MESSAGES),
        ("rejected", MESSAGES),
        *_CARRIED_FIELDS,
        ("chosen_id", pa.string()),
        ("rejected_id", pa.string()),
        ("chosen_model", pa.string()),
        ("rejected_model", pa.string()),
        ("chosen_is_custom", pa.bool_()),
        ("reject_hardness", pa.string()),
        ("chosen_score", pa.float64()),
        ("rejected_score", pa.float64()),
    ]
)
KTO_SCHEMA = pa.schema(
    [
        ("kto_id", pa.string()),
        ("prompt", MESSAGES),
        ("completion", MESSAGES),
        ("label", pa.bool_()),
        *_CARRIED_FIELDS,
        ("response_id", pa.string()),
        ("model", pa.string()),
        ("is_custom", pa.bool_()),
        ("reject_hardness", pa.string()),
    ]
)
SFT_SCHEMA = pa.schema(
    [
        ("sft_id", pa.string()),
        ("messages", MESSAGES),
        *_CARRIED_FIELDS,
        ("response_id", pa.string()),
        ("model", pa.string()),
        ("is_custom", pa.bool_()),
    ]
)


_ROW_JSON = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE


def dumps_row(row: Mapping[str, Any]) -> bytes:
    """The one JSON encoding of a row: one line of UTF-8 (Polish stays readable), keys sorted, newline ended.

    orjson: the same data gives the same bytes, ~10x faster than the standard library's encoder (which
    was the largest single cost of an export).
    """
    return orjson.dumps(row, option=_ROW_JSON)


def group_fraction(group_id: str, *, seed: int) -> float:
    """A group's place in [0, 1) from a hash of (seed, group): streaming, order-free, stable across machines."""
    digest = hashlib.sha256(f"{seed}:{group_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(group_id: str, *, seed: int, eval_ratio: float) -> str:
    """ "train" or "eval": groups whose fraction falls below `eval_ratio` go to eval."""
    return "eval" if group_fraction(group_id, seed=seed) < eval_ratio else "train"


@dataclass(frozen=True)
class GroupMove:
    """One group moved after the stream so that neither split is left empty (see `_Splitter.rebalance`)."""

    group_id: str
    source: str
    target: str


class _Splitter:
    """`split_of` that remembers the last group (an item's rows arrive together and share their group) and
    every group it placed, so a small export can be rebalanced at the end."""

    def __init__(self, *, seed: int, eval_ratio: float) -> None:
        self.seed, self.eval_ratio = seed, eval_ratio
        self._group: str | None = None
        self._split = "train"
        self.groups: dict[str, str] = {}  # group id -> split, for groups that produced a training row

    def __call__(self, group_id: str) -> str:
        if group_id != self._group:
            split = self.groups.get(group_id)
            if split is None:
                split = self.groups[group_id] = split_of(group_id, seed=self.seed, eval_ratio=self.eval_ratio)
            self._group, self._split = group_id, split
        return self._split

    def peek(self, group_id: str) -> str:
        """The split of a group without counting it as a training group (the scores file)."""
        return self.groups.get(group_id) or split_of(group_id, seed=self.seed, eval_ratio=self.eval_ratio)

    def group_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(SPLITS, 0)
        for split in self.groups.values():
            counts[split] += 1
        return counts

    def rebalance(self) -> GroupMove | None:
        """The hash split can leave a split empty in a small export (with 8 groups and `eval_ratio` 0.1 every
        group lands in train 43% of the time). Rule: with at least two groups and `eval_ratio > 0`, eval gets
        at least one group (the train group whose hash lies lowest, i.e. nearest to the eval side); train is
        never empty while there is a group (the eval group whose hash lies highest goes back). Deterministic,
        so rebuilds stay byte-identical; a large export is practically never touched."""
        counts = self.group_counts()
        if self.eval_ratio > 0 and len(self.groups) >= 2 and counts["eval"] == 0:
            group = min(self.groups, key=lambda g: (group_fraction(g, seed=self.seed), g))
            move = GroupMove(group, "train", "eval")
        elif counts["train"] == 0 and self.groups:
            group = max(self.groups, key=lambda g: (group_fraction(g, seed=self.seed), g))
            move = GroupMove(group, "eval", "train")
        else:
            return None
        self.groups[group] = move.target
        self._group = None
        return move


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def describe_code_version(repo_dir: Path | None = None) -> str:
    """`git describe --always --dirty --tags` of the code, or "unknown" outside a checkout."""
    cwd = repo_dir or Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


# --------------------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------------------


class ParquetTwins:
    """Makes the Parquet twins of JSONL files on a background thread, while the rows are still coming.

    A writer hands over each finished stretch of its JSONL file (a whole number of row groups); the thread
    parses it with Arrow's JSON reader against the fixed schema and appends it to the Parquet file. Arrow
    parses and compresses without the GIL, so this runs on the second core while Python builds rows. The
    queue is bounded (memory stays flat) and the result is the same as converting each file at the end:
    row groups of exactly `row_group_size` rows, bytes that depend only on the rows.
    """

    def __init__(self, *, row_group_size: int, depth: int = 2) -> None:
        self.row_group_size = row_group_size
        self._jobs: queue.Queue = queue.Queue(maxsize=depth)
        self._writers: dict[Path, pq.ParquetWriter] = {}
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="parquet-twins", daemon=True)
        self._thread.start()

    def open(self, parquet_path: Path, schema: pa.Schema) -> None:
        """Create the file now (an empty split still gets a Parquet file with the schema)."""
        self._put(("open", parquet_path, schema, b""))

    def append(self, parquet_path: Path, schema: pa.Schema, data: bytes) -> None:
        """Queue JSONL lines (`dumps_row` output, a multiple of `row_group_size` rows but for the last)."""
        self._put(("append", parquet_path, schema, data))

    def finish(self) -> None:
        """Wait for the queued stretches and close every Parquet file; re-raise the thread's error."""
        self._put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abandon(self) -> None:
        """Stop without finishing (a failed build: its files are thrown away)."""
        self._error = self._error or RuntimeError("abandoned")
        self._jobs.put(None)
        self._thread.join()

    def _put(self, job) -> None:
        if self._error is not None:
            raise self._error
        self._jobs.put(job)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            if self._error is not None:
                continue  # drain: the producer learns about the error at its next call
            kind, path, schema, data = job
            try:
                if kind == "open":
                    self._writers[path] = pq.ParquetWriter(path, schema, compression="zstd")
                else:
                    self._convert(self._writers[path], schema, data)
            except BaseException as exc:  # noqa: BLE001 - handed to the producer thread
                self._error = exc
        for writer in self._writers.values():
            try:
                writer.close()
            except BaseException as exc:  # noqa: BLE001
                self._error = self._error or exc

    def _convert(self, writer: pq.ParquetWriter, schema: pa.Schema, data: bytes) -> None:
        table = pa_json.read_json(
            pa.BufferReader(data),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=max(len(data), 1 << 20)),
            parse_options=pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error"),
        )
        # A stretch is a whole number of row groups (but for a file's last), so the writer's own split
        # gives row groups of exactly `row_group_size` rows.
        writer.write_table(table.select(schema.names).cast(schema), row_group_size=self.row_group_size)


class SplitWriter:
    """Writes `<stem>.train.jsonl`, `<stem>.eval.jsonl` and (with `twins`) their `.parquet` twins.

    Rows go to the JSONL files through a buffer; every `batch_size * groups_per_handoff` rows of a split
    the buffered lines are written and also handed to `twins`, which turns them into Parquet row groups of
    `batch_size` rows in the background. Files are created up front so an empty split still exists and the
    file set is always the same.
    """

    def __init__(
        self,
        out_dir: Path,
        *,
        stem: str,
        schema: pa.Schema,
        split_of: Callable[[str], str],
        twins: ParquetTwins | None = None,
        batch_size: int = 1000,
        groups_per_handoff: int = 4,
    ) -> None:
        self.stem = stem
        self.schema = schema
        self.names = frozenset(schema.names)
        self.split_of = split_of
        self.twins = twins
        self.handoff = batch_size * groups_per_handoff
        self.paths: dict[str, Path] = {}
        self.counts = dict.fromkeys(SPLITS, 0)
        self._jsonl = {}
        self._parquet: dict[str, Path] = {}
        self._lines: dict[str, list[bytes]] = {s: [] for s in SPLITS}
        for split in SPLITS:
            path = out_dir / f"{stem}.{split}.jsonl"
            self.paths[path.name] = path
            self._jsonl[split] = path.open("wb")
            if twins is not None:
                ppath = out_dir / f"{stem}.{split}.parquet"
                self.paths[ppath.name] = ppath
                self._parquet[split] = ppath
                twins.open(ppath, schema)

    def write(self, row: Mapping[str, Any]) -> str:
        if row.keys() != self.names:
            raise ValueError(f"row columns {sorted(row)} differ from the schema {sorted(self.names)}")
        split = self.split_of(row["group_id"])
        lines = self._lines[split]
        lines.append(dumps_row(row))
        self.counts[split] += 1
        if len(lines) >= self.handoff:
            self._flush(split)
        return split

    def write_many(self, rows: Iterable[Mapping[str, Any]]) -> None:
        write = self.write
        for row in rows:
            write(row)

    def _flush(self, split: str) -> None:
        lines = self._lines[split]
        if not lines:
            return
        data = b"".join(lines)
        lines.clear()
        self._jsonl[split].write(data)
        if self.twins is not None:
            self.twins.append(self._parquet[split], self.schema, data)

    def close(self) -> None:
        """Write what is buffered and close the JSONL files (the twins finish with `ParquetTwins.finish`)."""
        for split in SPLITS:
            self._flush(split)
            self._jsonl[split].close()

    def discard(self) -> None:
        """Close the files without writing the buffer (a failed build)."""
        for split in SPLITS:
            self._jsonl[split].close()

    def move_group(self, move: GroupMove, *, row_group_size: int) -> None:
        """After `close`: move one group's rows from the source split's files to the (empty) target's, and
        rebuild both Parquet twins from their JSONL files."""
        source = self.paths[f"{self.stem}.{move.source}.jsonl"]
        target = self.paths[f"{self.stem}.{move.target}.jsonl"]
        kept, moved = _partition_lines(source, move.group_id)
        if not moved:
            return
        source.write_bytes(b"".join(kept))
        target.write_bytes(target.read_bytes() + b"".join(moved))
        self.counts[move.source] -= len(moved)
        self.counts[move.target] += len(moved)
        if self._parquet:
            twins = ParquetTwins(row_group_size=row_group_size)
            try:
                for path in (source, target):
                    parquet = self._parquet[path.name.split(".")[1]]
                    twins.open(parquet, self.schema)
                    lines = path.read_bytes().splitlines(keepends=True)
                    step = row_group_size * 4
                    for start in range(0, len(lines), step):
                        twins.append(parquet, self.schema, b"".join(lines[start : start + step]))
            finally:
                twins.finish()


def _partition_lines(path: Path, group_id: str) -> tuple[list[bytes], list[bytes]]:
    """A JSONL file's lines split into (other groups, this group), order kept."""
    kept: list[bytes] = []
    moved: list[bytes] = []
    with path.open("rb") as fh:
        for line in fh:
            (moved if orjson.loads(line)["group_id"] == group_id else kept).append(line)
    return kept, moved


# --------------------------------------------------------------------------------------------------------
# Table 1 counts and the dataset card
# --------------------------------------------------------------------------------------------------------


@dataclass
class Table1Counts:
    """Counts in the shape of the paper's Table 1: per category rating/ranking prompts and pairs; dialogs."""

    rating_prompts: dict[str, set[str]] = field(default_factory=dict)
    rating_pairs: dict[str, int] = field(default_factory=dict)
    ranking_prompts: dict[str, set[str]] = field(default_factory=dict)
    ranking_pairs: dict[str, int] = field(default_factory=dict)
    dialogs: int = 0
    dialog_turns: int = 0
    dialog_pairs: int = 0

    def observe_item(self, *, source_task: str, category: str, prompt_id: str, n_pairs: int) -> None:
        """Count a rating or ranking item; items that yield no pair are not training prompts."""
        if n_pairs == 0:
            return
        prompts, pair_counts = (
            (self.rating_prompts, self.rating_pairs)
            if source_task == "rating"
            else (self.ranking_prompts, self.ranking_pairs)
        )
        prompts.setdefault(category, set()).add(prompt_id)
        pair_counts[category] = pair_counts.get(category, 0) + n_pairs

    def observe_dialog(self, *, n_turns: int, n_pairs: int) -> None:
        if n_pairs == 0:
            return
        self.dialogs += 1
        self.dialog_turns += n_turns
        self.dialog_pairs += n_pairs

    def as_dict(self) -> dict[str, Any]:
        categories = sorted(set(self.rating_pairs) | set(self.ranking_pairs))
        return {
            "single_turn": {
                c: {
                    "rating_prompts": len(self.rating_prompts.get(c, ())),
                    "rating_pairs": self.rating_pairs.get(c, 0),
                    "ranking_prompts": len(self.ranking_prompts.get(c, ())),
                    "ranking_pairs": self.ranking_pairs.get(c, 0),
                }
                for c in categories
            },
            "dialogs": {
                "dialogs": self.dialogs,
                "turns": self.dialog_turns,
                "pairs": self.dialog_pairs,
                "mean_turns": round(self.dialog_turns / self.dialogs, 2) if self.dialogs else 0.0,
            },
        }


def _cell(text: object) -> str:
    """Markdown table cell: category names come from the database, so pipes and newlines are neutralized."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _n(value: int) -> str:
    return f"{value:,}".replace(",", " ")  # the paper's thin-space thousands: 10 497


def render_table1(counts: Mapping[str, Any], language: str = "pl") -> str:
    """Markdown tables shaped like the paper's Table 1 (reference categories in paper order, then others),
    with headings and category names in ``language``."""
    single = counts["single_turn"]
    reference = P.load_reference()["prompt_categories"]
    known = {c["key"] for c in reference}
    names = C.category_names(language)
    t = C.text(language)
    groups = [
        (t["original"], [(c["key"], names[c["key"]]) for c in reference if c["origin"] == "original"]),
        (t["adapted"], [(c["key"], names[c["key"]]) for c in reference if c["origin"] == "adapted"]),
    ]
    others = [(k, k) for k in sorted(single) if k not in known]
    if others:
        groups.append((t["other"], others))
    lines = [
        t["table1_header"],
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    totals = [0, 0, 0, 0]
    zero = {"rating_prompts": 0, "rating_pairs": 0, "ranking_prompts": 0, "ranking_pairs": 0}
    for title, rows in groups:
        lines.append(f"| **{title}** | | | | |")
        for key, name in rows:
            row = single.get(key, zero)
            values = [
                row["rating_prompts"],
                row["rating_pairs"],
                row["ranking_prompts"],
                row["ranking_pairs"],
            ]
            totals = [t + v for t, v in zip(totals, values, strict=True)]
            lines.append(f"| {_cell(name)} | " + " | ".join(_n(v) for v in values) + " |")
    lines.append(f"| **{t['total']}** | " + " | ".join(f"**{_n(v)}**" for v in totals) + " |")
    d = counts["dialogs"]
    lines += [
        "",
        t["dialog_header"],
        "| --- | ---: | ---: | ---: | ---: |",
        f"| {t['dialogs']} | {_n(d['dialogs'])} | {_n(d['turns'])} | {_n(d['pairs'])} | {d['mean_turns']:.2f} |",
    ]
    return "\n".join(lines)


def render_dataset_card(
    *,
    title: str,
    counts: Mapping[str, Any],
    files: Mapping[str, Mapping[str, Any]],
    parameters: Mapping[str, Any],
    code_version: str,
    language: str = "pl",
    groups: Mapping[str, Any] | None = None,
) -> str:
    """A Hugging Face style README.md: data-file configs in the YAML header, Table 1 counts, parameters.

    Written in ``language`` (the `language:` of the header): Polish for "pl", English otherwise."""
    t = C.text(language)
    configs = []
    for stem in ("preference", "kto", "sft"):
        present = [s for s in SPLITS if f"{stem}.{s}.jsonl" in files]
        if present:
            configs.append(f"- config_name: {stem}\n  data_files:")
            configs += [f"  - split: {s}\n    path: {stem}.{s}.jsonl" for s in present]
    header = "\n".join(["---", f"language:\n- {language}", "configs:", *configs, "---"])
    file_lines = [t["file_table"], "| --- | ---: |"]
    file_lines += [f"| `{name}` | {_n(meta['rows'])} |" for name, meta in sorted(files.items())]
    parameter_lines = [
        f"- `{k}`: `{json.dumps(v, ensure_ascii=False)}`" for k, v in sorted(parameters.items())
    ]
    return "\n".join(
        [
            header,
            "",
            f"# {_cell(title)}",
            "",
            t["intro"],
            "",
            t["counts"],
            "",
            render_table1(counts, language),
            "",
            t["files"],
            "",
            t["split"],
            *_group_lines(groups, t),
            "",
            *file_lines,
            "",
            t["parameters"],
            "",
            *parameter_lines,
            "",
            t["code_version"].format(version=_cell(code_version)),
            "",
        ]
    )


def _group_lines(groups: Mapping[str, Any] | None, t: Mapping[str, str]) -> list[str]:
    if not groups:
        return []
    lines = ["", t["groups"].format(train=_n(groups["train"]), eval=_n(groups["eval"]))]
    if groups.get("moved"):
        moved = groups["moved"]
        lines.append(t["moved"].format(group=_cell(moved["group_id"]), source=moved["from"], target=moved["to"]))
    return lines


def _move_scores(path: Path, move: GroupMove) -> None:
    """The scores file carries each row's split: follow a moved group."""
    out = []
    with path.open("rb") as fh:
        for line in fh:
            row = orjson.loads(line)
            if row["group_id"] == move.group_id:
                row["split"] = move.target
                line = dumps_row(row)
            out.append(line)
    path.write_bytes(b"".join(out))


def write_manifest(
    out_dir: Path,
    *,
    parameters: Mapping[str, Any],
    counts: Mapping[str, Any],
    rows: Mapping[str, int],
    code_version: str,
    created_at: str | None = None,
    unchanged: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """manifest.json: parameters, counts, code version and the SHA-256, size and row count of every file.

    `unchanged`: the `files` of an earlier manifest of this directory; entries of files that were not
    touched since (same size; the caller vouches for the rest) are reused instead of hashed again.
    """
    files = {}
    for path in sorted(p for p in out_dir.iterdir() if p.is_file() and p.name != MANIFEST):
        size = path.stat().st_size
        known = (unchanged or {}).get(path.name)
        sha = known["sha256"] if known is not None and known["bytes"] == size else sha256_file(path)
        files[path.name] = {"sha256": sha, "bytes": size}
        if path.name in rows:
            files[path.name]["rows"] = rows[path.name]
    manifest = {
        "format_version": FORMAT_VERSION,
        "code_version": code_version,
        "created_at": created_at,
        "parameters": dict(parameters),
        "counts": dict(counts),
        "files": files,
    }
    text = json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=2) + "\n"
    (out_dir / MANIFEST).write_text(text, encoding="utf-8")
    return manifest


# --------------------------------------------------------------------------------------------------------
# The whole export
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportParams:
    """Everything that decides an export's bytes (recorded in the manifest and the card)."""

    ranking_strategy: str = P.RankingStrategy.BEST_VS_WORST.value
    dialog_strategy: str = P.DialogStrategy.ALL_TURNS_ALL_PAIRS.value
    rating_threshold: float = field(default_factory=P.default_rating_threshold)
    ranking_merge: str = P.RankingMerge.BORDA.value
    rating_merge: str = P.RatingMerge.MEAN.value
    seed: int = 0
    eval_ratio: float = field(default_factory=P.default_eval_ratio)
    keep_reject_hardness: tuple[str, ...] | None = None  # e.g. ("hard",); None keeps every pair
    sft_cap_per_source: int | None = field(default_factory=P.default_sft_cap)
    sft_capped_sources: tuple[str, ...] = field(default_factory=P.adapted_categories)
    outputs: tuple[str, ...] = ("preference", "kto", "sft", "scores")
    parquet: bool = True
    batch_size: int = 1000  # Parquet row-group size: part of the bytes, hence a parameter
    language: str = "pl"

    def __post_init__(self) -> None:
        P.RankingStrategy(self.ranking_strategy)
        P.DialogStrategy(self.dialog_strategy)
        P.RankingMerge(self.ranking_merge)
        P.RatingMerge(self.rating_merge)
        if not 0.0 <= self.eval_ratio < 1.0:
            raise ValueError("eval_ratio must be in [0, 1)")
        unknown = set(self.outputs) - {"preference", "kto", "sft", "scores"}
        if unknown:
            raise ValueError(f"unknown outputs: {sorted(unknown)}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExportParams:
        """From stored JSON (e.g. `Export.params`): lists become tuples, unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown export parameters: {unknown}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("keep_reject_hardness", "sft_capped_sources", "outputs"):
            out[key] = None if out[key] is None else list(out[key])
        return out


class _Null:
    """Stands in for a writer of an output that was not requested."""

    counts = dict.fromkeys(SPLITS, 0)
    paths: dict[str, Path] = {}

    def write(self, row: Mapping[str, Any]) -> None:
        return None

    def write_many(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for _ in rows:
            pass

    def close(self) -> None:
        return None

    def discard(self) -> None:
        return None


def _keep(pair: Mapping[str, Any], params: ExportParams) -> bool:
    return params.keep_reject_hardness is None or pair["reject_hardness"] in params.keep_reject_hardness


def write_export(
    out_dir: Path,
    *,
    ranking_items: Iterable[P.RankingItem] = (),
    rating_items: Iterable[P.RatingItem] = (),
    dialogs: Iterable[P.Dialog] = (),
    params: ExportParams,
    code_version: str,
    title: str = "Preference Studio export",
    created_at: str | None = None,
    on_item: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Build every requested output in one pass over the items and return the manifest.

    `on_item(source_task)` is called after each ranking item, rating item and dialog (progress reporting).

    Iterate items in a stable order (e.g. by primary key): pair ids, KTO/SFT de-duplication and file order
    follow it, and byte-identical rebuilds need it. `out_dir` must be new or empty so the manifest covers
    exactly what was written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty")
    want = set(params.outputs)
    split_of = _Splitter(seed=params.seed, eval_ratio=params.eval_ratio)  # shared: an item's rows share a group
    twins = ParquetTwins(row_group_size=params.batch_size) if params.parquet else None

    def split_writer(stem: str, schema: pa.Schema) -> SplitWriter | _Null:
        if stem not in want:
            return _Null()
        return SplitWriter(
            out_dir, stem=stem, schema=schema, split_of=split_of, twins=twins, batch_size=params.batch_size
        )

    pref = kto = sft = _Null()
    scores_file = None
    try:
        pref = split_writer("preference", PREFERENCE_SCHEMA)
        kto = split_writer("kto", KTO_SCHEMA)
        sft = split_writer("sft", SFT_SCHEMA)
        sft_cap = P.SourceCap(
            cap=params.sft_cap_per_source, capped_sources=params.sft_capped_sources, seed=params.seed
        )
        scores_file = (out_dir / SCORES_FILE).open("wb") if "scores" in want else None
        scores_rows = 0
        table1 = Table1Counts()

        def emit(rows: list[dict[str, Any]]) -> None:
            pref.write_many(rows)
            kto.write_many(P.kto_rows_from_pairs(rows))
            for row in P.sft_rows_from_pairs(rows):
                sft.write_many(sft_cap.push(row))

        for item in ranking_items:
            rows = [
                p
                for p in P.pairs_from_ranking(
                    item, strategy=params.ranking_strategy, seed=params.seed, merge=params.ranking_merge
                )
                if _keep(p, params)
            ]
            table1.observe_item(
                source_task="ranking", category=item.category, prompt_id=item.prompt_id, n_pairs=len(rows)
            )
            emit(rows)
            if on_item is not None:
                on_item("ranking")
        for item in rating_items:
            rows = [
                p
                for p in P.pairs_from_rating(
                    item, threshold=params.rating_threshold, merge=params.rating_merge
                )
                if _keep(p, params)
            ]
            table1.observe_item(
                source_task="rating", category=item.category, prompt_id=item.prompt_id, n_pairs=len(rows)
            )
            emit(rows)
            if scores_file is not None:
                for row in P.rating_score_rows(item, merge=params.rating_merge):
                    row["split"] = split_of.peek(row["group_id"])
                    scores_file.write(dumps_row(row))
                    scores_rows += 1
            if on_item is not None:
                on_item("rating")
        for dialog in dialogs:
            rows = [
                p
                for p in P.pairs_from_dialog(dialog, strategy=params.dialog_strategy, seed=params.seed)
                if _keep(p, params)
            ]
            table1.observe_dialog(n_turns=len(dialog.turns), n_pairs=len(rows))
            emit(rows)
            if on_item is not None:
                on_item("dialog")
        sft.write_many(sft_cap.finish())
        for writer in (pref, kto, sft):
            writer.close()
        if twins is not None:
            twins.finish()
        if scores_file is not None:
            scores_file.close()
        move = split_of.rebalance()
        if move is not None:
            for writer in (pref, kto, sft):
                if isinstance(writer, SplitWriter):
                    writer.move_group(move, row_group_size=params.batch_size)
            if scores_file is not None:
                _move_scores(out_dir / SCORES_FILE, move)
    except BaseException:
        for writer in (pref, kto, sft):
            writer.discard()
        if twins is not None:
            twins.abandon()
        raise
    finally:
        if scores_file is not None:
            scores_file.close()

    rows_per_file: dict[str, int] = {}
    for writer in (pref, kto, sft):
        for name in writer.paths:
            rows_per_file[name] = writer.counts[name.split(".")[1]]
    if scores_file is not None:
        rows_per_file[SCORES_FILE] = scores_rows
    counts = {
        "table1": table1.as_dict(),
        "splits": {
            stem: dict(w.counts)
            for stem, w in (("preference", pref), ("kto", kto), ("sft", sft))
            if stem in want
        },
    }
    if scores_file is not None:
        counts["scores"] = scores_rows
    counts["groups"] = {
        **split_of.group_counts(),
        "moved": None if move is None else {"group_id": move.group_id, "from": move.source, "to": move.target},
    }
    parameters = params.as_dict()
    files_for_card = {name: {"rows": n} for name, n in rows_per_file.items()}
    card = render_dataset_card(
        title=title,
        counts=counts["table1"],
        groups=counts["groups"],
        files=files_for_card,
        parameters=parameters,
        code_version=code_version,
        language=params.language,
    )
    (out_dir / CARD).write_text(card, encoding="utf-8")
    return write_manifest(
        out_dir,
        parameters=parameters,
        counts=counts,
        rows=rows_per_file,
        code_version=code_version,
        created_at=created_at,
    )


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Read back a JSONL file row by row (tests, the exports preview, training sanity checks)."""
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
