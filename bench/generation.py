"""Benchmark: a generation campaign (Celery + database + post-processing) against the same model server
driven directly with the same concurrency.

    .venv/bin/python bench/generation.py [--url http://127.0.0.1:8100/v1] [--model NAME] [--start-server]
                                         [--prompts 24] [--preprompts 2] [--concurrency 8] [--max-tokens 64]
                                         [--rounds 2] [--db postgres|sqlite]

Uses its own database (PostgreSQL `gen_bench` via BENCH_DATABASE_URL, or a SQLite file), a Celery worker
subprocess on a private queue (broker: CELERY_BROKER_URL when it is Redis, else redis://127.0.0.1:6379/1),
and the model server at --url (or, with --start-server, a tiny CPU vLLM server started for the run).

Measured in the same run, same prompts x pre-prompts, same sampling parameters, same concurrency:
* direct  — a thread pool of --concurrency sending the chat requests straight to the server;
* campaign — campaign_start → one runner per endpoint in the worker → every row written with its
  post-processed text; wall time from Campaign.started_at to Campaign.finished_at.
Rounds alternate the order (ABBA) against load drift on a shared machine. Prints each run, then for the
totals generations/s and completion tokens/s of both, the ratio campaign/direct (target ≥ 0.95), the mean
request latency seen by each side (a slower server shows there, not in the platform), the platform's
overhead per generation in ms ((campaign wall − direct wall) × concurrency / generations: the extra time
each request slot spends per generation) and the worker's CPU per generation. A warm-up batch runs first.
Figures, no assertions.
"""

import argparse
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from _common import ROOT, bench_database, cpu_seconds, first_model, prepare_database, setup_django, start_tiny_vllm


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default=os.environ.get("STUDIO_LOCAL_MODEL_URL", "http://127.0.0.1:8100/v1"))
    p.add_argument("--model", help="served model name (default: the first in /v1/models)")
    p.add_argument("--start-server", action="store_true", help="start a tiny CPU vLLM server for this run")
    p.add_argument("--prompts", type=int, default=24)
    p.add_argument("--preprompts", type=int, default=2, help="how many pre-prompts (\"none\" + the first n-1)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--rounds", type=int, default=2, help="direct/campaign pairs, in ABBA order")
    p.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    # The database is kept between runs (every run makes fresh prompts): created when missing, migrated, seeded.
    setup_django(bench_database(args.db, pg_name="gen_bench", sqlite_name="bench-generation.sqlite3", fresh=False))
    prepare_database()

    from devtools import localserver as ls
    from generation import client

    server = None
    if args.start_server:
        args.url, server = start_tiny_vllm(log_requests=False)
    try:
        return run(args, client)
    finally:
        if server is not None:
            ls.stop(server)


def run(args, client) -> int:
    from config.celery_app import app
    from generation.models import Campaign, Endpoint, Generation, PrePrompt
    from generation.services.campaigns import campaign_create, campaign_start
    from tests.factories import make_prompt
    from tests.generation.support import Worker

    model = args.model or first_model(args.url)
    tag = uuid.uuid4().hex[:8]
    endpoint = Endpoint.objects.create(name=f"bench-{tag}", base_url=args.url, model=model,
                                       max_concurrency=args.concurrency, timeout_seconds=120, is_active=True)
    keys = ["none"] + [p.key for p in PrePrompt.objects.exclude(key="none").order_by("id")][: args.preprompts - 1]
    preprompts = list(PrePrompt.objects.filter(key__in=keys))
    params = {"max_tokens": args.max_tokens}
    n = args.prompts * len(preprompts)

    def batch(round_no: int):
        """Fresh prompts per round (a campaign never regenerates a combination) and their chat messages."""
        prompts = [make_prompt(text=f"[{tag}/{round_no}] Pytanie {i}: opisz krótko historię miasta numer {i}.")
                   for i in range(args.prompts)]
        requests = [
            client.build_messages(user_text=prompt.text, preprompt_text=pre.current_version().text,
                                  supports_system=endpoint.supports_system_role, placement=pre.placement)
            for pre in preprompts for prompt in prompts
        ]
        return prompts, requests

    latencies = {"direct": [], "campaign": []}

    def direct(requests):
        with ThreadPoolExecutor(args.concurrency) as pool:
            started = time.perf_counter()
            results = list(pool.map(lambda m: client.chat(endpoint, m, params=params, timeout=120), requests))
            wall = time.perf_counter() - started
        latencies["direct"] += [r.latency_ms for r in results]
        return wall, sum(r.completion_tokens or 0 for r in results), len(results)

    def campaign_run(prompts, worker):
        campaign = campaign_create(name=f"bench {tag}", prompt_filter={"ids": [p.pk for p in prompts]},
                                   endpoints=[endpoint], preprompts=preprompts, params=params)
        cpu_before = cpu_seconds([worker.proc.pid])
        campaign_start(campaign=campaign)
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            campaign.refresh_from_db()
            if campaign.status != Campaign.Status.RUNNING:
                break
            time.sleep(1.0)  # the wall time comes from the campaign's own timestamps, not from this poll
        cpu["worker"] += cpu_seconds([worker.proc.pid]) - cpu_before
        done = Generation.objects.filter(campaign=campaign, status=Generation.Status.DONE)
        latencies["campaign"] += list(done.values_list("latency_ms", flat=True))
        wall = (campaign.finished_at - campaign.started_at).total_seconds()
        return wall, sum(done.values_list("completion_tokens", flat=True)), done.count()

    print(f"model {model} at {args.url}; {n} generations per run ({args.prompts} prompts x {len(preprompts)} "
          f"pre-prompts), concurrency {args.concurrency}, max_tokens {args.max_tokens}, {args.rounds} round(s)",
          flush=True)
    direct(batch(0)[1][: args.concurrency * 2])  # warm-up
    latencies["direct"].clear()

    broker = os.environ.get("CELERY_BROKER_URL", "")
    broker = broker if broker.startswith("redis://") else "redis://127.0.0.1:6379/1"
    queue = f"gen-bench-{tag}"
    app.conf.broker_url = broker
    app.conf.task_default_queue = queue
    log_path = ROOT / "var" / "log" / f"celery-{queue}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    worker = Worker(db_url=os.environ["DATABASE_URL"], broker=broker, queue=queue, log_path=log_path).start()
    cpu = {"worker": 0.0}
    totals = {"direct": [0.0, 0, 0], "campaign": [0.0, 0, 0]}  # wall, tokens, generations
    try:
        for round_no in range(1, args.rounds + 1):
            prompts, requests = batch(round_no)
            # ABBA order: the load on a shared machine drifts, so neither side always goes first.
            order = ["direct", "campaign"] if round_no % 2 else ["campaign", "direct"]
            for side in order:
                wall, tokens, count = direct(requests) if side == "direct" else campaign_run(prompts, worker)
                totals[side] = [totals[side][0] + wall, totals[side][1] + tokens, totals[side][2] + count]
                print(f"  round {round_no} {side:8}: {wall:7.2f} s  {count / wall:6.2f} gen/s  "
                      f"{tokens / wall:7.1f} tok/s", flush=True)
    finally:
        worker.stop()

    (d_wall, d_tokens, d_count), (c_wall, c_tokens, c_count) = totals["direct"], totals["campaign"]
    mean = {side: sum(v) / max(1, len(v)) for side, v in latencies.items()}
    print(f"mean request latency: direct {mean['direct']:.0f} ms, campaign {mean['campaign']:.0f} ms")
    print(f"direct   : {d_wall:7.2f} s  {d_count / d_wall:7.2f} gen/s  {d_tokens / d_wall:8.1f} tok/s")
    print(f"campaign : {c_wall:7.2f} s  {c_count / c_wall:7.2f} gen/s  {c_tokens / c_wall:8.1f} tok/s  "
          f"({c_count}/{n * args.rounds} done)")
    ratio = (c_count / c_wall) / (d_count / d_wall)
    token_ratio = (c_tokens / c_wall) / (d_tokens / d_wall) if d_tokens else float("nan")
    overhead_ms = (c_wall - d_wall) * args.concurrency / max(1, c_count) * 1000
    print(f"ratio campaign/direct: {ratio:.3f} (generations/s), {token_ratio:.3f} (tokens/s)")
    print(f"platform overhead per generation: {overhead_ms:.1f} ms wall per request slot; "
          f"worker CPU {cpu['worker'] * 1000 / max(1, c_count):.1f} ms")
    return 0 if c_count == n * args.rounds else 1


if __name__ == "__main__":
    sys.exit(main())
