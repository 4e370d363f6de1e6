"""Benchmark: how long a live-dialog token takes from the model server to the annotator's SSE client/browser.

    .venv/bin/python bench/dialog_stream.py [--vllm-url http://127.0.0.1:8100/v1] [--runs 10]
                                            [--max-tokens 32] [--browser] [--db sqlite|postgres]

Starts gunicorn (config.wsgi, gthread worker: the production set-up) on its own database, registers the
same model server three times as the dialog pool (model-a/b/c), and for each run creates a dialog turn
and measures, in the same run:

* baseline — three concurrent streams sent directly to the model server with the same messages: time
  from sending the request to receiving the first chunk (the server's time to first token);
* via the studio — the SSE stream of that turn (`/dialogs/<id>/turns/<n>/stream/`, the three models
  run concurrently by the web worker): time from opening the SSE request to the first `delta` per seat;
* hop — for every seat's first delta, the SSE client's receive time minus the time the web worker
  received that chunk from the model server (`t` in the event; same machine clock). This is the delay the
  studio adds between the server producing a token and the annotator seeing it (target: ~150 ms).
* with --browser: the same hop measured in chromium (Playwright) by the page's own dialog.js.

The model server is --vllm-url (or $VLLM_TEST_URL); without it a tiny CPU vLLM server is started (needs
.venv-vllm, ~40-60 s). Figures are printed, not asserted.
"""

import argparse
import json
import os
import statistics
import subprocess
import threading
import time

from _common import (
    bench_database,
    first_model,
    free_port,
    make_annotators,
    prepare_database,
    setup_django,
    start_gunicorn,
    start_tiny_vllm,
)

CHROMIUM = os.environ.get("STUDIO_CHROMIUM", "/usr/bin/chromium")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vllm-url", default=os.environ.get("VLLM_TEST_URL", ""))
    parser.add_argument("--model", default=os.environ.get("VLLM_TEST_MODEL", ""))
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--browser", action="store_true", help="also measure in chromium (Playwright)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn gthread threads")
    return parser.parse_args()


def model_server(args):
    """(base_url, model, process or None): the given server, or a tiny one started for this run."""
    from devtools import localserver as ls

    if args.vllm_url:
        ls.wait_ready(args.vllm_url, 300)
        return args.vllm_url.rstrip("/"), args.model or first_model(args.vllm_url), None
    base_url, proc = start_tiny_vllm()
    return base_url, "tiny", proc


def fill(base_url: str, model: str, max_tokens: int):
    from django.core.management import call_command
    from django.test import Client

    from generation.models import Endpoint

    prepare_database()
    call_command("collectstatic", interactive=False, verbosity=0)  # gunicorn serves static via WhiteNoise
    (user,) = make_annotators(1, "bench-dialog")  # logged in by session below: no password
    for name in ("model-a", "model-b", "model-c"):
        Endpoint.objects.create(name=name, base_url=base_url, model=model, max_tokens=max_tokens,
                                is_active=True, in_dialog_pool=True)
    client = Client()
    client.force_login(user)
    return user, client.cookies["sessionid"].value


def start_web(url: str, port: int, threads: int) -> subprocess.Popen:
    options = ["--worker-class", "gthread", "--workers", "1", "--threads", str(threads)]
    return start_gunicorn(url, port, options, probe="/accounts/login/", wait_seconds=30)


def next_turn(user, index: int):
    """A new pending turn (a fresh dialog every 10 turns); the previous one is decided first."""
    import uuid

    from dialogs import services as svc
    from dialogs.models import Dialog

    dialog = Dialog.objects.filter(annotator=user, status=Dialog.Status.OPEN).first()
    if dialog is not None:
        last = dialog.turns.order_by("-index").first()
        if last is not None and last.decided_at is None:
            svc.dialog_turn_decide(turn=last, submission_id=uuid.uuid4(), choice="A")
        if last is not None and last.index == svc.MAX_TURNS:
            svc.dialog_finish(dialog=dialog)
            dialog = None
    if dialog is None:
        dialog = svc.dialog_start(annotator=user)
    text = f"Pytanie {index}: opowiedz krótko o Wiśle i Krakowie."
    return svc.dialog_turn_start(dialog=dialog, user_text=text, typology="qa")


def direct_first_chunks(base_url: str, model: str, messages: list[dict], max_tokens: int) -> list[float]:
    """Three concurrent direct streams: seconds from request to first chunk, each."""
    from generation import client as chat_client
    from generation.models import Endpoint

    endpoint = Endpoint(base_url=base_url, model=model, max_tokens=max_tokens)
    results: list[float] = []
    lock = threading.Lock()

    def one():
        started = time.perf_counter()
        for event in chat_client.stream_chat(endpoint, messages):
            if event.text:
                with lock:
                    results.append(time.perf_counter() - started)
                break

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def sse_first_deltas(port: int, session: str, turn, starts: list | None = None) -> tuple[list[float], list[float]]:
    """(seconds from opening the SSE request to each seat's first delta, hop ms per first delta).

    `starts` collects the seconds to each `start` event (the worker has claimed the seat and sends the
    model request), which splits the studio's share of the time to first token from the model's.
    """
    import httpx

    url = f"http://127.0.0.1:{port}/dialogs/{turn.dialog_id}/turns/{turn.index}/stream/"
    firsts, hops, seen = [], [], set()
    started = time.perf_counter()
    with httpx.stream("GET", url, cookies={"sessionid": session}, timeout=120) as response:
        response.raise_for_status()
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "start" and starts is not None:
                starts.append(time.perf_counter() - started)
            elif line.startswith("data: ") and event == "delta":
                received_ms = time.time() * 1000
                data = json.loads(line[6:])
                if data["seat"] not in seen and "t" in data:
                    seen.add(data["seat"])
                    firsts.append(time.perf_counter() - started)
                    hops.append(received_ms - data["t"])
            elif line.startswith("data: ") and event == "end":
                break
    return firsts, hops


def page_round_trip(port: int, session: str) -> float:
    """Seconds for a plain authenticated page (the dialog list): the web stack's own cost under this load."""
    import httpx

    started = time.perf_counter()
    httpx.get(f"http://127.0.0.1:{port}/dialogs/", cookies={"sessionid": session}, timeout=60).raise_for_status()
    return time.perf_counter() - started


def browser_hops(port: int, session: str, user, runs: int, start_index: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls here are plain sync calls.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    hops: list[float] = []
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        context = browser.new_context(base_url=f"http://127.0.0.1:{port}")
        context.add_cookies([{"name": "sessionid", "value": session, "url": f"http://127.0.0.1:{port}"}])
        page = context.new_page()
        for i in range(runs):
            turn = next_turn(user, start_index + i)
            page.goto(f"/dialogs/{turn.dialog_id}/")
            # Polled from here: wait_for_function evals its predicate in the page, which the site's CSP forbids.
            deadline = time.monotonic() + 120
            while page.evaluate("(window.__dialogFirstTokens || []).length") < 3:
                if time.monotonic() > deadline:
                    raise TimeoutError("the three first tokens never reached the page")
                page.wait_for_timeout(50)
            for item in page.evaluate("window.__dialogFirstTokens"):
                hops.append(item["clientMs"] - item["serverMs"])
            page.wait_for_selector("#decide-submit:not([disabled])", timeout=120_000)
        browser.close()
    return hops


def summary(name: str, values: list[float], unit: str, scale: float = 1.0) -> str:
    if not values:
        return f"{name:<58} (no data)"
    values = sorted(v * scale for v in values)
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return (f"{name:<58} n={len(values):<3} median {statistics.median(values):8.1f} {unit}  "
            f"p95 {p95:8.1f} {unit}  max {values[-1]:8.1f} {unit}")


def main():
    args = parse_args()
    url = bench_database(args.db, pg_name="dlg_bench", sqlite_name="bench-dialog.sqlite3")
    setup_django(url)
    from devtools import localserver as ls
    from dialogs.services import turn_messages

    base_url, model, vllm_proc = model_server(args)
    user, session = fill(base_url, model, args.max_tokens)
    port = free_port()
    web = start_web(url, port, args.threads)
    direct, via_sse, hops, starts, pages = [], [], [], [], []
    try:
        # warm-up (connections, prefix cache, imports in the worker)
        turn = next_turn(user, 0)
        sse_first_deltas(port, session, turn)
        for i in range(1, args.runs + 1):
            turn = next_turn(user, i)
            messages = turn_messages(turn=turn, endpoint=turn.dialog.seats.first().endpoint)
            if i % 2:  # alternate the order so neither side always hits a warm prefix cache
                direct += direct_first_chunks(base_url, model, messages, args.max_tokens)
                firsts, hop = sse_first_deltas(port, session, turn, starts)
            else:
                firsts, hop = sse_first_deltas(port, session, turn, starts)
                direct += direct_first_chunks(base_url, model, messages, args.max_tokens)
            via_sse += firsts
            hops += hop
            pages.append(page_round_trip(port, session))
        browser = browser_hops(port, session, user, args.runs, args.runs + 1) if args.browser else []
    finally:
        web.terminate()
        web.wait(10)
        if vllm_proc is not None:
            ls.stop(vllm_proc)

    print()
    print(f"live dialog streaming — {args.runs} turns x 3 models, max_tokens {args.max_tokens}, "
          f"model server {base_url} ({model}), gunicorn gthread x{args.threads}, {args.db}")
    print(summary("baseline: direct stream, request -> first chunk", direct, "ms", 1000))
    print(summary("baseline: a plain page (GET /dialogs/), round trip", pages, "ms", 1000))
    print(summary("studio SSE: request -> seat claimed, model request sent", starts, "ms", 1000))
    print(summary("studio SSE: request -> first delta per seat", via_sse, "ms", 1000))
    if direct and via_sse:
        print(f"{'overhead of the studio on time to first token (medians)':<58} "
              f"{(statistics.median(via_sse) - statistics.median(direct)) * 1000:8.1f} ms")
    print(summary("hop: web worker got the chunk -> SSE client has it", hops, "ms"))
    if args.browser:
        print(summary("hop: web worker got the chunk -> browser (dialog.js) has it", browser, "ms"))
    worst = max(hops + (browser if args.browser else []), default=0.0)
    print(f"target ~150 ms from the server producing a token to the client: worst hop {worst:.1f} ms "
          f"({'within' if worst <= 150 else 'OVER'} target)")


if __name__ == "__main__":
    main()
