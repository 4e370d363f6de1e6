"""A Celery worker in a subprocess, on a private queue: used by the campaign tests and bench/generation.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def broker_url() -> str:
    url = os.environ.get("STUDIO_TEST_BROKER_URL") or os.environ.get("CELERY_BROKER_URL", "")
    return url if url.startswith("redis://") else "redis://127.0.0.1:6379/1"


class Worker:
    def __init__(self, *, db_url: str, broker: str, queue: str, log_path: Path, pool: str = "threads",
                 concurrency: int = 2, env: dict | None = None, beat: bool = False):
        """`env`: extra settings for the worker (e.g. short leases); `beat`: run Celery beat inside it (-B)."""
        self.db_url, self.broker, self.queue, self.log_path = db_url, broker, queue, log_path
        self.pool, self.concurrency, self.env, self.beat = pool, concurrency, env or {}, beat
        self.proc: subprocess.Popen | None = None

    def start(self) -> Worker:
        # CELERY_TASK_DEFAULT_QUEUE: tasks the worker queues itself (a runner's next slice, beat's resumes) go to
        # the private queue it consumes.
        env = {**os.environ, "DATABASE_URL": self.db_url, "CELERY_BROKER_URL": self.broker,
               "CELERY_TASK_DEFAULT_QUEUE": self.queue, "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "INFO", **self.env}
        beat = ["-B", "-s", str(self.log_path.with_suffix(".beat-schedule"))] if self.beat else []
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        offset = self.log_path.stat().st_size  # a restarted worker appends: only its own " ready." counts
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", self.pool, "-c", str(self.concurrency),
             "-Q", self.queue, "-n", f"{self.queue}-{uuid.uuid4().hex[:4]}@%h", "--without-gossip",
             "--without-mingle", "--without-heartbeat", "-l", "INFO", *beat],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited:\n{self.log_path.read_text()[-3000:]}")
            if b" ready." in self.log_path.read_bytes()[offset:]:
                return self
            time.sleep(0.3)
        raise RuntimeError(f"celery worker not ready:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole worker (no graceful shutdown): what a crashed machine looks like."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None
