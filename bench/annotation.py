"""Benchmark: annotators claiming and submitting rating items through the REST API, in parallel.

    .venv/bin/python bench/annotation.py [--db postgres|sqlite] [--clients 16] [--workers 4] [--threads 1]
                                         [--seconds 20] [--tasks 3000] [--kill-after 6] [--retry-share 0.1]
    .venv/bin/python bench/annotation.py --long-history [--claims 5000] [--window 500] [--db ...]

Starts gunicorn (config.wsgi) on its own database (PostgreSQL `ann_bench` via BENCH_DATABASE_URL, or a
SQLite file), fills it with rating items (overlap 2) and a few gold items, then drives `--clients`
annotator threads: claim the next item (POST /api/tasks/next/) and submit seven scores with a fresh
submission id; a share of submissions is posted twice (a retry) and must come back as the same row.

Prints, measured in the same run:
* baseline: the cheapest authenticated endpoint (GET /api/tasks/ping/) driven by the same clients;
* annotations/s, latency p50/p95 of one annotation and of each request (by default each submission
  carries `"next": true` and gets the next item back: one request per annotation; --two-requests
  measures separate claim and submit calls);
* gunicorn workers' CPU per annotation (utime+stime from /proc), and PostgreSQL's;
* checks: no item beyond its overlap, nobody twice on an item, every retried submission stored once,
  no error responses, and — with --kill-after — that one worker killed with SIGKILL mid-run lost
  nothing a client had been told was saved (every 2xx-acknowledged submission id is in the database).
Figures, not assertions; the checks print OK/FAIL and set the exit code.

--long-history: no server and one annotator, in process, on a freshly filled database (statistics as
bulk inserts leave them): claim the next item and submit it, `--claims` times, on an overlap-2 queue
where every item they had stays open. Prints the next-item latency (task_claim_next, median and p95) per
`--window` claims, the ratio of the last window to the first, and — the baseline, since a shared
machine's load drifts over minutes — the same latency for annotators with no history claiming at the same
moments (every 10th round a new annotator claims and gives the item back). Target: ≤ 1.5 (a claim costs
the same after 5,000 claims as after none). Checks: every claim a new item, overlap kept.
"""

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid

from _common import (
    ROOT,
    bench_database,
    cpu_seconds,
    free_port,
    make_annotators,
    prepare_database,
    setup_django,
    start_gunicorn,
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per worker: more than 1 runs gthread workers (as docker-compose.yml does)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--gold", type=int, default=5)
    parser.add_argument("--kill-after", type=float, default=0.0, help="SIGKILL one worker after N seconds")
    parser.add_argument("--retry-share", type=float, default=0.1)
    parser.add_argument("--two-requests", action="store_true",
                        help="claim and submit as separate requests (default: submit with next=true)")
    parser.add_argument("--long-history", action="store_true",
                        help="one annotator from 0 to --claims claims in process: next-item latency per window")
    parser.add_argument("--claims", type=int, default=5000, help="--long-history: claims (and submissions)")
    parser.add_argument("--window", type=int, default=500, help="--long-history: claims per printed window")
    return parser.parse_args()


def fill(n_clients: int, n_tasks: int, n_gold: int) -> list[str]:
    """Migrate, seed, create annotators with API tokens and rating items; return the tokens."""
    from django.db import transaction
    from rest_framework.authtoken.models import Token

    from annotation.models import RatingPair, Task, TaskKind, TaskResponse
    from core.text import normalize_text, text_hash
    from generation.models import Endpoint, Generation, PrePromptVersion
    from prompts.models import Category, Prompt

    prepare_database()
    tokens = [Token.objects.create(user=user).key for user in make_annotators(n_clients, "bench{:02d}")]
    category = Category.objects.first()
    version = PrePromptVersion.objects.filter(preprompt__key="none").first()
    endpoints = [Endpoint.objects.create(name=f"bench-{i}", model=f"m{i}", is_active=False) for i in range(2)]
    n_prompts = (n_tasks + n_gold + 1) // 2
    with transaction.atomic():
        prompts = Prompt.objects.bulk_create(
            Prompt(
                text=f"Pytanie {i}: ile to {i} + {i}?",
                normalized=normalize_text(f"Pytanie {i}: ile to {i} + {i}?"),
                normalized_hash=text_hash(normalize_text(f"Pytanie {i}: ile to {i} + {i}?")),
                category=category,
            )
            for i in range(n_prompts)
        )
        generations = Generation.objects.bulk_create(
            Generation(
                prompt=p, endpoint=e, preprompt_version=version, status=Generation.Status.DONE,
                text=f"Odpowiedź **{p.pk}** modelu {e.name}. " * 5, imported=True,
            )
            for p in prompts
            for e in endpoints
        )
        pairs = {pair.prompt_id: pair for pair in RatingPair.objects.bulk_create(RatingPair(prompt=p) for p in prompts)}
        tasks = Task.objects.bulk_create(
            Task(kind=TaskKind.RATING, prompt=g.prompt, pair=pairs[g.prompt_id], overlap=2, remaining=2,
                 is_gold=i < n_gold)
            for i, g in enumerate(generations[: n_tasks + n_gold])
        )
        TaskResponse.objects.bulk_create(
            TaskResponse(task=t, generation=g, position=0) for t, g in zip(tasks, generations, strict=False)
        )
    return tokens


# The app is loaded once in the master (preload) and every URL module imported there before the
# workers fork, so no worker spends its first requests importing views (seconds on a busy machine).
GUNICORN_CONF = """
preload_app = True

def when_ready(server):
    from django.urls import get_resolver
    get_resolver().url_patterns
"""


def start_web(url: str, workers: int, port: int, threads: int = 1) -> subprocess.Popen:
    conf = ROOT / "var" / "bench-annotation-gunicorn.py"
    conf.write_text(GUNICORN_CONF)
    options = ["--workers", str(workers), "-c", str(conf), "--graceful-timeout", "5"]
    if threads > 1:
        options += ["--worker-class", "gthread", "--threads", str(threads)]
    return start_gunicorn(url, port, options, probe="/api/tasks/ping/")  # 401: up


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def postgres_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.transport_retries = 0
        self.acked: set[str] = set()
        self.replays_ok = 0
        self.replays_bad = 0
        self.annotations = 0

    def add(self, name, seconds):
        with self.lock:
            self.latencies.setdefault(name, []).append(seconds)


class Client:
    """A minimal HTTP client (http.client, one connection per request: gunicorn's sync workers close
    it anyway). Cheaper per request than a full-featured client, so the figures measure the server."""

    def __init__(self, port: int, token: str):
        self.port = port
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def request(self, method: str, path: str, payload=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            body = json.dumps(payload) if payload is not None else None
            conn.request(method, path, body=body, headers=self.headers)
            response = conn.getresponse()
            data = response.read()
            return response.status, (json.loads(data) if data and response.status != 204 else None), data
        finally:
            conn.close()


def call(client: Client, stats: Stats, method: str, path: str, payload=None):
    """One request, retried on connection errors (a killed worker) — the way a real client behaves."""
    for attempt in range(8):
        try:
            started = time.perf_counter()
            status, body, raw = client.request(method, path, payload)
            return status, body, raw, time.perf_counter() - started
        except (OSError, http.client.HTTPException):
            with stats.lock:
                stats.transport_retries += 1
            time.sleep(0.05 * (attempt + 1))
    raise RuntimeError(f"{method} {path}: no answer after retries")


def ping_loop(port: int, token: str, stop: threading.Event, stats: Stats):
    client = Client(port, token)
    while not stop.is_set():
        status, _body, _raw, seconds = call(client, stats, "GET", "/api/tasks/ping/")
        if status != 200:
            stats.errors.append(f"ping {status}")
        stats.add("ping", seconds)


def annotate_loop(port: int, token: str, stop: threading.Event, stats: Stats, keys: list[str], retry_share: float,
                  one_trip: bool):
    """Claim, then submit; with `one_trip` each submission also asks for the next item (`"next": true`),
    so an annotation costs one request instead of two."""
    rng = random.Random(token)
    client = Client(port, token)
    item = None
    while not stop.is_set():
        started = time.perf_counter()
        if item is None:
            status, item, raw, seconds = call(client, stats, "POST", "/api/tasks/next/", {"kind": "rating"})
            stats.add("claim", seconds)
            if status == 204:
                return
            if status != 200:
                stats.errors.append(f"claim {status} {raw[:200]!r}")
                return
        task_id = item["task_id"]
        payload = {"submission_id": str(uuid.uuid4()), "scores": {k: rng.randint(1, 5) for k in keys}, "time_ms": 1000,
                   "next": one_trip}
        status, body, raw, seconds = call(client, stats, "POST", f"/api/tasks/{task_id}/rating/", payload)
        stats.add("submit", seconds)
        if status not in (200, 201):
            stats.errors.append(f"submit {status} {raw[:200]!r}")
            item = None
            continue
        with stats.lock:
            stats.acked.add(payload["submission_id"])
            stats.annotations += 1
        stats.add("annotation", time.perf_counter() - started)
        if rng.random() < retry_share:
            again, again_body, _raw, _seconds = call(client, stats, "POST", f"/api/tasks/{task_id}/rating/", payload)
            ok = again == 200 and again_body["id"] == body["id"]
            if one_trip:  # the retry resumes the same next claim
                ok = ok and (again_body["next"] or {}).get("task_id") == (body["next"] or {}).get("task_id")
            with stats.lock:
                if ok:
                    stats.replays_ok += 1
                else:
                    stats.replays_bad += 1
        if one_trip:
            item = body["next"]
            if item is None:
                return
        else:
            item = None


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def run_threads(target, tokens, seconds, *args) -> float:
    stop = threading.Event()
    threads = [threading.Thread(target=target, args=(token, stop, *args), daemon=True) for token in tokens]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    deadline = started + seconds
    while time.perf_counter() < deadline and any(t.is_alive() for t in threads):
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    return time.perf_counter() - started


def verify(stats: Stats) -> list[tuple[str, bool, str]]:
    from django.db.models import Count

    from annotation.models import Rating, Task

    checks = []
    stored = set(str(s) for s in Rating.objects.values_list("submission_id", flat=True))
    missing = stats.acked - stored
    checks.append(("every acknowledged submission is stored", not missing, f"{len(missing)} missing"))
    over = Task.objects.filter(is_gold=False).annotate(n=Count("ratings")).filter(n__gt=2).count()
    checks.append(("no item beyond its overlap (2)", over == 0, f"{over} items over"))
    twice = (
        Rating.objects.values("task_id", "annotator_id").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    checks.append(("nobody twice on one item", twice == 0, f"{twice} pairs"))
    slots = Task.objects.filter(is_gold=False).annotate(n=Count("claims")).filter(n__gt=2).count()
    checks.append(("no item claimed beyond overlap", slots == 0, f"{slots} items"))
    checks.append(("retried submissions return the same row", stats.replays_bad == 0,
                   f"{stats.replays_ok} ok, {stats.replays_bad} bad"))
    checks.append(("no error responses", not stats.errors, "; ".join(stats.errors[:3])))
    return checks


def long_history(args) -> None:
    """One annotator, 0 → `args.claims` claims (claim + submit), next-item latency per window, against
    annotators with no history claiming at the same moments (the baseline: the machine's load drifts)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.db.models import Count, Q

    from annotation.models import Claim, Task
    from annotation.services import assignment, submissions
    from prompts.models import Criterion

    # The fresh annotators' first claim would be a gold turn (a different query): compare like with like.
    settings.STUDIO_GOLD_EVERY = 0
    print(f"database: {args.db}; filling {args.claims + 100} rating items (+{args.gold} gold), overlap 2…")
    fill(1, args.claims + 100, args.gold)
    keys = list(Criterion.objects.values_list("key", flat=True))
    annotator = get_user_model().objects.get(username="bench00")
    rng = random.Random(1)
    windows: list[list[float]] = []  # the claim's statements (commit excluded: a constant, and noisy here)
    rounds: list[list[float]] = []  # claim + submit + commit
    fresh: list[list[float]] = []  # a claim by an annotator with no history, at the same moments
    seen: set[int] = set()
    repeated = 0

    def timed_claim(user) -> tuple[Claim | None, float]:
        started = time.perf_counter()
        return assignment.task_claim_next(annotator=user, kind="rating"), time.perf_counter() - started

    for i in range(args.claims):
        if i % args.window == 0:
            windows.append([])
            rounds.append([])
            fresh.append([])
        if i % 10 == 5:  # baseline sample: a new annotator claims (the oldest open item) and gives it back
            (newcomer,) = make_annotators(1, f"fresh{i:05d}")
            with transaction.atomic():
                claim, seconds = timed_claim(newcomer)
            fresh[-1].append(seconds)
            assignment.claim_release(annotator=newcomer, task_id=claim.task_id)
        started = time.perf_counter()
        with transaction.atomic():
            claim, seconds = timed_claim(annotator)
            windows[-1].append(seconds)
            if claim is None:
                print(f"ran out of items after {i} claims")
                break
            submissions.rating_submit(annotator=annotator, task_id=claim.task_id, submission_id=uuid.uuid4(),
                                      scores={k: rng.randint(1, 5) for k in keys}, time_ms=1000)
        rounds[-1].append(time.perf_counter() - started)
        repeated += claim.task_id in seen
        seen.add(claim.task_id)
    print(f"\none annotator, {args.db} ({connection.vendor}), per {args.window} claims: next-item latency"
          " (task_claim_next in process, before commit), the same for annotators with no history at the same"
          " moments (baseline), and one round of the annotator (claim + submit + commit):")
    for n, values in enumerate(windows):
        print(f"  claims {n * args.window:>5}–{n * args.window + len(values) - 1:>5}:"
              f"  next item p50 {pct(values, .5):6.2f} p95 {pct(values, .95):6.2f} ms"
              f" | no history p50 {pct(fresh[n], .5):6.2f} p95 {pct(fresh[n], .95):6.2f} ms"
              f" | ratio p50 {pct(values, .5) / pct(fresh[n], .5):4.2f}"
              f" | round p50 {pct(rounds[n], .5):6.2f} p95 {pct(rounds[n], .95):6.2f} ms")
    first, last = windows[0], windows[-1]
    print(f"  next item, last window / first window: p50 {pct(last, .5) / pct(first, .5):4.2f},"
          f" p95 {pct(last, .95) / pct(first, .95):4.2f};"
          f" last window / no history at the same time: p50 {pct(last, .5) / pct(fresh[-1], .5):4.2f},"
          f" p95 {pct(last, .95) / pct(fresh[-1], .95):4.2f} (target ≤ 1.50)")
    held = Count("claims", filter=~Q(claims__status=Claim.Status.RELEASED))  # given back: slot returned
    over = Task.objects.filter(is_gold=False).annotate(n=held).filter(n__gt=2).count()
    checks = [
        ("every claim a new item", repeated == 0, f"{repeated} repeated"),
        ("no item claimed beyond overlap", over == 0, f"{over} items"),
        ("every claim submitted or given back",
         not Claim.objects.filter(status=Claim.Status.ACTIVE).exists(), "active claims left"),
    ]
    print()
    for name, ok, detail in checks:
        print(f"  [{'OK' if ok else 'FAIL'}] {name}" + ("" if ok else f": {detail}"))
    sys.exit(0 if all(ok for _name, ok, _detail in checks) else 1)


def main():
    args = parse_args()
    if args.long_history:
        url = bench_database(args.db, pg_name="ann_history_bench", sqlite_name="bench-annotation-history.sqlite3")
        setup_django(url)
        long_history(args)
        return
    url = bench_database(args.db, pg_name="ann_bench", sqlite_name="bench-annotation.sqlite3")
    setup_django(url)
    from prompts.models import Criterion

    print(f"database: {args.db}; filling {args.tasks} rating items (+{args.gold} gold) for {args.clients} clients…")
    tokens = fill(args.clients, args.tasks, args.gold)
    keys = list(Criterion.objects.values_list("key", flat=True))
    from django.db import connections

    connections.close_all()
    port = free_port()
    master = start_web(url, args.workers, port, args.threads)
    try:
        warm = Stats()
        # every worker imports the URLconf and views on its first requests: keep that out of the figures
        run_threads(lambda token, stop, *a: ping_loop(port, token, stop, warm), tokens, 2.0)

        baseline = Stats()
        pids = worker_pids(master.pid)
        cpu0 = cpu_seconds(pids)
        elapsed = run_threads(lambda token, stop: ping_loop(port, token, stop, baseline), tokens, args.baseline_seconds)
        ping_cpu = cpu_seconds(pids) - cpu0
        pings = len(baseline.latencies.get("ping", []))

        stats = Stats()
        killer = None
        if args.kill_after:
            def kill():
                time.sleep(args.kill_after)
                victims = worker_pids(master.pid)
                if victims:
                    os.kill(victims[0], signal.SIGKILL)
                    print(f"killed worker {victims[0]} with SIGKILL at {args.kill_after:.1f}s")
            killer = threading.Thread(target=kill, daemon=True)
            killer.start()
        pids = worker_pids(master.pid)
        cpu0 = cpu_seconds(pids)
        db_pids = postgres_pids() if args.db == "postgres" else []
        db_cpu0 = cpu_seconds(db_pids)
        elapsed_main = run_threads(
            lambda token, stop: annotate_loop(port, token, stop, stats, keys, args.retry_share, not args.two_requests), tokens, args.seconds
        )
        pids_after = set(pids) | set(worker_pids(master.pid))
        work_cpu = cpu_seconds(sorted(pids_after)) - cpu0
        db_cpu = cpu_seconds(sorted(set(db_pids) | set(postgres_pids()))) - db_cpu0 if db_pids else 0.0
    finally:
        master.send_signal(signal.SIGTERM)
        master.wait(timeout=30)

    n = stats.annotations
    print()
    server = f"{args.workers} gthread workers × {args.threads} threads" if args.threads > 1 else f"{args.workers} sync workers"
    print(f"gunicorn: {server}; {args.clients} client threads; {os.cpu_count()} cores (shared)")
    print(f"baseline GET /api/tasks/ping/: {pings / elapsed:8.1f} req/s   p50 {pct(baseline.latencies['ping'], .5):6.1f} ms"
          f"   p95 {pct(baseline.latencies['ping'], .95):6.1f} ms   worker CPU {ping_cpu / max(pings, 1) * 1000:5.2f} ms/req")
    mode = "claim, then submit" if args.two_requests else "submit with next=true, one request each"
    print(f"annotations ({mode}): {n / elapsed_main:8.1f} /s over {elapsed_main:.1f}s ({n} stored)")
    for name in ("annotation", "claim", "submit"):
        values = stats.latencies.get(name, [])
        print(f"  {name:<10} p50 {pct(values, .5):6.1f} ms   p95 {pct(values, .95):6.1f} ms   (n={len(values)})")
    per_annotation_cpu = work_cpu / max(n, 1) * 1000
    print(f"  worker CPU per annotation: {per_annotation_cpu:5.2f} ms (includes the retried share)")
    if db_cpu:
        print(f"  postgres CPU per annotation: {db_cpu / max(n, 1) * 1000:5.2f} ms"
              " (every postgres process on the server: other users of a shared server count too)")
    if pings:
        ping_rate = pings / elapsed
        print(f"  ratio vs baseline: {n / elapsed_main / ping_rate:4.2f} annotations per ping request;"
              f" worker CPU per annotation = {per_annotation_cpu / (ping_cpu / pings * 1000):4.2f} pings")
    print(f"  transport errors retried by clients: {stats.transport_retries}")
    print()
    failed = False
    for name, ok, detail in verify(stats):
        failed |= not ok
        print(f"  [{'OK' if ok else 'FAIL'}] {name}" + ("" if ok else f": {detail}"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
