"""Export benchmark: synthesize N annotations in a fresh database, build an export, print rows/s and peak RSS.

    .venv/bin/python bench/export.py                 # N = 200,000 and N/5, each in its own processes
    .venv/bin/python bench/export.py --n 1000000     # the million-row check
    .venv/bin/python bench/export.py --sizes 50000,1000000

For each size a child process bulk-creates the data (SQLite file in a temporary STUDIO_VAR_DIR; or the
database in --database-url, which is FLUSHED first: give it a database of its own), then a second child
process builds the export with the real service (`export_build`: adapters -> pairs -> JSONL + Parquet +
card + manifest). Synthesis is timed apart from the build; the build child's peak RSS is its own, so two
sizes side by side show whether memory grows with N (it must not: everything is streamed).

Mix of N annotations: 50% rankings (2 per 4-response item), 40% ratings (2 per response, 2 responses per
pair), 10% dialog turns (6-turn finished dialogs approved by QA, 3 candidates each). Every fourth ranking has a soft
reject, one in fifty an all-unacceptable custom answer (default review rule: it is pending, so held back).
"""

# ruff: noqa: S608 - the baseline's SQL interpolates only quoted table names from model metadata.
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, make_annotators, prepare_database, setup_django

WORDS = ("żubr", "Wisła", "Kraków", "ustawa", "gmina", "rzeka", "kość", "źródło", "łąka", "zamek", "pierogi", "sejm")


def _text(kind: str, i: int, words: int = 30) -> str:
    body = " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(words))
    return f"{kind} {i}: {body}."


def _setup(var_dir: str, database_url: str | None) -> None:
    os.environ["STUDIO_VAR_DIR"] = var_dir
    os.environ["EXPORT_ROOT"] = str(Path(var_dir) / "exports")
    if not database_url:  # the SQLite file in var_dir, never a database named by the caller's environment
        os.environ.pop("DATABASE_URL", None)
    setup_django(database_url)


def synthesize(n: int, batch: int = 5000) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from annotation.models import Ranking, Rating, RatingPair, Task, TaskKind, TaskResponse
    from core import roles
    from dialogs.models import Dialog, DialogCandidate, DialogSeat, DialogTurn
    from generation.models import Endpoint, Generation, PrePrompt
    from prompts.models import Category, Criterion, DialogTypology, Prompt
    from qa.models import Review, ReviewTarget

    prepare_database(flush=bool(os.environ.get("DATABASE_URL")))  # only a --database-url one
    users = [user.pk for user in make_annotators(10)]
    reviewer = get_user_model().objects.create_user(username="bench-qa", password=None)
    roles.set_role(reviewer, roles.QA_LEAD)
    endpoints = [Endpoint.objects.create(name=f"bench-model-{k}", model=f"m{k}").pk for k in range(4)]
    version = PrePrompt.objects.get(key="none").versions.first().pk
    categories = list(Category.objects.values_list("pk", flat=True))
    criteria = list(Criterion.objects.values_list("key", flat=True))
    typology = DialogTypology.objects.first().pk
    now = timezone.now()

    n_rank_items = n * 5 // 10 // 2
    n_pairs = n * 4 // 10 // 4
    n_dialogs = max(n // 10 // 6, 1)
    ids = {"prompt": 0, "gen": 0, "pair": 0, "task": 0, "tr": 0, "ranking": 0, "rating": 0}

    def next_id(key: str) -> int:
        ids[key] += 1
        return ids[key]

    buffers: dict[type, list] = {}

    def add(obj) -> None:
        rows = buffers.setdefault(type(obj), [])
        rows.append(obj)
        if len(rows) >= batch:
            flush(type(obj))

    order = [Prompt, Generation, RatingPair, Task, TaskResponse, Ranking, Rating, Dialog, DialogSeat, DialogTurn,
             DialogCandidate, Review]

    def flush(model=None) -> None:
        # Parents before children (tidy; the deferred foreign keys would accept any order).
        for m in order[: order.index(model) + 1] if model else order:
            rows = buffers.get(m)
            if rows:
                m.objects.bulk_create(rows, batch_size=batch)
                rows.clear()

    def prompt(i: int) -> int:
        pid = next_id("prompt")
        text = _text("Pytanie", pid, 12)
        add(Prompt(id=pid, text=text, normalized=text, normalized_hash=f"{pid:064d}",
                   category_id=categories[pid % len(categories)], created=now))
        return pid

    def response(task_id: int, prompt_id: int, endpoint: int, position: int) -> int:
        gid = next_id("gen")
        text = _text("Odpowiedź", gid)
        add(Generation(id=gid, prompt_id=prompt_id, endpoint_id=endpoint, preprompt_version_id=version,
                       status=Generation.Status.DONE, raw_text=text, text=text, imported=True))
        rid = next_id("tr")
        add(TaskResponse(id=rid, task_id=task_id, generation_id=gid, position=position))
        return rid

    started = time.perf_counter()
    with transaction.atomic():
        for i in range(n_rank_items):
            pid = prompt(i)
            tid = next_id("task")
            add(Task(id=tid, kind=TaskKind.RANKING, prompt_id=pid, remaining=0))
            rids = [response(tid, pid, endpoints[p], p) for p in range(4)]
            for a in range(2):
                order_ids = rids[a:] + rids[:a]
                custom = i % 50 == 0
                add(Ranking(id=next_id("ranking"), task_id=tid, annotator_id=users[(i + a) % len(users)],
                            order=order_ids, display_order=rids,
                            hardness={str(r): ("soft" if (i + k) % 4 == 0 else "hard") for k, r in enumerate(order_ids[1:])},
                            all_unacceptable=custom, custom_text=_text("Własna", i) if custom else ""))
        for i in range(n_pairs):
            pid = prompt(i)
            pair_id = next_id("pair")
            add(RatingPair(id=pair_id, prompt_id=pid))
            for side in range(2):
                tid = next_id("task")
                add(Task(id=tid, kind=TaskKind.RATING, prompt_id=pid, pair_id=pair_id, remaining=0))
                response(tid, pid, endpoints[side], 0)
                for a in range(2):
                    score = 5 if side == 0 else 1 + (i + a) % 4
                    add(Rating(id=next_id("rating"), task_id=tid, annotator_id=users[(i + a + side) % len(users)],
                               scores=dict.fromkeys(criteria, score)))
        flush()
        # Foreign keys are checked at commit (Django creates them deferred), so a turn may name its chosen
        # candidate before the candidate row is inserted.
        turn_id = cand_id = seat_id = 0
        for d in range(1, n_dialogs + 1):
            add(Dialog(id=d, annotator_id=users[d % len(users)], status=Dialog.Status.FINISHED, finished_at=now))
            add(Review(target_kind=ReviewTarget.DIALOG, dialog_id=d, decision=Review.Decision.APPROVE, reviewer=reviewer))
            seats = []
            for label, endpoint in zip("ABC", endpoints, strict=False):
                seat_id += 1
                seats.append(seat_id)
                add(DialogSeat(id=seat_id, dialog_id=d, label=label, endpoint_id=endpoint))
            for index in range(1, 7):
                turn_id += 1
                add(DialogTurn(id=turn_id, dialog_id=d, index=index, user_text=_text("Pytanie w dialogu", turn_id, 10),
                               typology_id=typology, column_order=["A", "B", "C"], chosen_id=cand_id + 1 + turn_id % 3))
                for seat in seats:
                    cand_id += 1
                    add(DialogCandidate(id=cand_id, turn_id=turn_id, seat_id=seat, status=DialogCandidate.Status.DONE,
                                        text=_text("Odpowiedź w dialogu", cand_id)))
        flush()
    seconds = time.perf_counter() - started
    annotations = ids["ranking"] + ids["rating"] + turn_id
    return {"annotations": annotations, "rankings": ids["ranking"], "ratings": ids["rating"], "dialog_turns": turn_id,
            "synth_seconds": round(seconds, 1)}


def baseline(out: Path) -> dict:
    """The floor of any export: stream the rows an export reads (annotations joined to their prompt and
    response texts) through a plain cursor and write each as a JSON line (orjson) — no pairing, no
    review rule, no split, no Parquet. The export's rows/s is compared with this one's."""
    import orjson
    from django.db import connection

    from annotation.models import Ranking, Rating, Task, TaskResponse
    from dialogs.models import DialogCandidate, DialogTurn
    from generation.models import Generation
    from prompts.models import Prompt

    t = {m: connection.ops.quote_name(m._meta.db_table) for m in
         (Ranking, Rating, Task, Prompt, TaskResponse, Generation, DialogTurn, DialogCandidate)}
    queries = [
        f"SELECT a.id, a.annotator_id, a.{connection.ops.quote_name('order')}, a.hardness, p.text, g.text"
        f" FROM {t[Ranking]} a JOIN {t[Task]} k ON k.id = a.task_id JOIN {t[Prompt]} p ON p.id = k.prompt_id"
        f" JOIN {t[TaskResponse]} r ON r.task_id = a.task_id JOIN {t[Generation]} g ON g.id = r.generation_id"
        f" ORDER BY a.id, r.position",
        f"SELECT a.id, a.annotator_id, a.scores, p.text, g.text FROM {t[Rating]} a JOIN {t[Task]} k"
        f" ON k.id = a.task_id JOIN {t[Prompt]} p ON p.id = k.prompt_id JOIN {t[TaskResponse]} r"
        f" ON r.task_id = a.task_id JOIN {t[Generation]} g ON g.id = r.generation_id ORDER BY a.id",
        f"SELECT d.id, d.user_text, c.id, c.text FROM {t[DialogTurn]} d JOIN {t[DialogCandidate]} c"
        f" ON c.turn_id = d.id ORDER BY d.id, c.id",
    ]
    rows = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    with out.open("wb") as fh, connection.cursor() as cursor:
        for sql in queries:
            cursor.execute(sql)
            while batch := cursor.fetchmany(2000):
                for row in batch:
                    fh.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
                rows += len(batch)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    out.unlink()
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_second": round(rows / seconds),
            "cpu_seconds": round(cpu, 2)}


def build() -> dict:
    from django.conf import settings

    from exports import services

    floor = baseline(Path(settings.EXPORT_ROOT).parent / "baseline.jsonl")
    export = services.export_create(user=None, name="bench", params={}, enqueue=False)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu_started = time.perf_counter(), time.process_time()
    export = services.export_build(export_id=export.pk)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if export.status != export.Status.DONE:
        raise SystemExit(f"export failed: {export.error}")
    return {
        "rows": export.counters["rows"],
        "items": sum(export.counters["items"].values()),
        "build_seconds": round(seconds, 2),
        "rows_per_second": round(export.counters["rows"] / seconds),
        "cpu_seconds": round(cpu, 2),
        "rows_per_cpu_second": round(export.counters["rows"] / cpu),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_build_mib": round(rss_before / 1024, 1),
        "bytes": sum(p.stat().st_size for p in Path(export.directory).iterdir()),
        "baseline": floor,
    }


def _child(step: str, n: int, var_dir: str, database_url: str | None) -> dict:
    cmd = [sys.executable, __file__, "--child", step, "--n", str(n), "--var-dir", var_dir]
    if database_url:
        cmd += ["--database-url", database_url]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000, help="annotations for the larger size")
    parser.add_argument("--sizes", help="comma list of sizes (default: N/5 and N)")
    parser.add_argument("--database-url", help="a dedicated database (flushed!); default: temporary SQLite")
    parser.add_argument("--child", choices=["synth", "build"], help=argparse.SUPPRESS)
    parser.add_argument("--var-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _setup(args.var_dir, args.database_url)
        result = synthesize(args.n) if args.child == "synth" else build()
        print(json.dumps(result))
        return
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [args.n // 5, args.n]
    print("N = annotations synthesized; rows = rows written (JSONL rows; the Parquet twins hold the same rows);")
    print("build = export_build wall time (and CPU time of the build process: the machine may be shared).")
    print("baseline = the same database rows streamed through a plain cursor to one JSONL file (orjson), no logic;")
    print("ratio = export rows/s / baseline rows/s, both measured in the same process.")
    print(f"{'N':>10} {'synth s':>8} {'rows':>10} {'build s':>8} {'rows/s':>9} {'cpu s':>7} {'rows/cpu-s':>10} "
          f"{'annot./s':>9} {'peak RSS MiB':>13} {'MiB out':>8} {'base rows/s':>11} {'ratio':>6}")
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-export-") as var_dir:
            synth = _child("synth", n, var_dir, args.database_url)
            result = _child("build", n, var_dir, args.database_url)
            print(
                f"{synth['annotations']:>10} {synth['synth_seconds']:>8} {result['rows']:>10} {result['build_seconds']:>8} "
                f"{result['rows_per_second']:>9} {result['cpu_seconds']:>7} {result['rows_per_cpu_second']:>10} "
                f"{round(synth['annotations'] / result['build_seconds']):>9} "
                f"{result['peak_rss_mib']:>13} {round(result['bytes'] / 2**20, 1):>8} "
                f"{result['baseline']['rows_per_second']:>11} "
                f"{result['rows_per_second'] / result['baseline']['rows_per_second']:>6.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
