"""What the benchmarks share: the repository on sys.path, a database of their own, Django set up on it, the
schema and reference data, annotator accounts, gunicorn, a tiny model server and CPU time from /proc.

Every benchmark imports this first (`from _common import ...`: the script's own folder is on sys.path).
"""

from __future__ import annotations

import http.client
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# First on the path: bench/ (the script's folder, also on it) has annotation.py, generation.py and export.py,
# which must not shadow the apps of the same names.
sys.path.insert(0, str(ROOT))

from devtools.localserver import free_port  # noqa: E402  (stdlib only; re-exported for the benchmarks)

__all__ = [
    "ROOT", "bench_database", "cpu_seconds", "first_model", "free_port", "make_annotators", "prepare_database",
    "setup_django", "start_gunicorn", "start_tiny_vllm",
]


def bench_database(kind: str, *, pg_name: str, sqlite_name: str, fresh: bool = True) -> str:
    """The benchmark's own database URL: the PostgreSQL database `pg_name` (or $BENCH_DATABASE_URL), or the
    SQLite file var/`sqlite_name` (or $BENCH_SQLITE). `fresh`: drop and recreate it (delete the file);
    otherwise the PostgreSQL database is only created when missing and the SQLite file is kept."""
    if kind == "sqlite":
        path = Path(os.environ.get("BENCH_SQLITE", ROOT / "var" / sqlite_name))
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    url = os.environ.get("BENCH_DATABASE_URL", f"postgres://studio:studio@127.0.0.1:5432/{pg_name}")
    base, db_name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        if fresh or not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name]).fetchone():
            conn.execute(f'CREATE DATABASE "{db_name}"')
    return url


def setup_django(database_url: str | None = None) -> None:
    """django.setup() on `database_url` (default: $DATABASE_URL, else the settings' SQLite file).

    Without $SECRET_KEY, a random one for this run (the settings refuse to start without one when DEBUG is
    off); processes started afterwards (gunicorn, workers, children) inherit it, so sessions made here hold.
    """
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def prepare_database(*, flush: bool = False, seed: bool = True) -> None:
    """Migrate; `flush` empties every table first (a database given by the user may hold an earlier run);
    `seed` loads the reference taxonomy and pre-prompts (idempotent)."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if flush:
        call_command("flush", interactive=False, verbosity=0)
    if seed:
        from home.seeding import reference_seed

        reference_seed()


def make_annotators(n: int, username: str = "bench{}") -> list:
    """`n` annotator accounts without a password, named `username.format(i)`."""
    from django.contrib.auth import get_user_model

    from core import roles

    users = []
    for i in range(n):
        user = get_user_model().objects.create_user(username=username.format(i), password=None)
        roles.set_role(user, roles.ANNOTATOR)
        users.append(user)
    return users


def start_gunicorn(database_url: str, port: int, options: list[str], *, probe: str,
                   wait_seconds: float = 60) -> subprocess.Popen:
    """gunicorn serving config.wsgi on 127.0.0.1:`port` (DEBUG off, warnings only); returns once `probe` (a
    path) gets any HTTP answer. A refused connection is retried; an accepted one waits for its answer (a
    worker may still be starting), so the probe is served once."""
    env = dict(os.environ, DATABASE_URL=database_url, DEBUG="0", LOG_LEVEL="WARNING")
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi:application", *options, "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=max(1.0, deadline - time.monotonic()))
        try:
            conn.request("GET", probe)
            conn.getresponse().read()
            return proc
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
        finally:
            conn.close()
    proc.kill()
    raise SystemExit("gunicorn did not start")


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes (all their threads), from /proc; a process gone counts 0."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def first_model(base_url: str) -> str:
    """The first model an OpenAI-compatible server lists."""
    import httpx

    return httpx.get(base_url.rstrip("/") + "/models", timeout=10).json()["data"][0]["id"]


def start_tiny_vllm(*, log_requests: bool = True) -> tuple[str, subprocess.Popen]:
    """A tiny random model (built offline once in var/models/tiny) served by a CPU vLLM server started for
    this run: (base URL ending in /v1, the server process; stop it with devtools.localserver.stop)."""
    from devtools import localserver as ls

    ls.ensure_venv()
    model_dir = ROOT / "var" / "models" / "tiny"
    ls.build_model("tiny", model_dir)
    port = free_port()
    proc = ls.start_vllm(model_dir, port=port, served_name="tiny", log_path=ROOT / "var" / "log" / "bench-vllm.log",
                         log_requests=log_requests)
    base_url = f"http://127.0.0.1:{port}/v1"
    print(f"starting a tiny vLLM server on {base_url} …", flush=True)
    ls.wait_ready(base_url, 300, proc=proc)
    return base_url, proc
