"""pytest plugin: one real vLLM server (tiny random model, CPU) for the whole test session.

Register in tests/conftest.py with ``pytest_plugins = ["tests.vllm_plugin"]``.

Fixtures
--------
``vllm_server`` (session): a ``VLLMServer`` with ``.base_url`` (``http://127.0.0.1:PORT/v1``), ``.model``
(served name), ``.log_path``, ``.stop()``, ``.restart()`` (same port), ``.ensure_running()``,
``.received_prompts()`` / ``.received_requests()`` (what the server got, from its request log; see
``devtools.localserver``). Started lazily on first use (~40-60 s on 2 cores), stopped at session end.

``vllm_live`` (function): the same object, restarted first if an earlier test left it stopped.

Environment
-----------
``VLLM_TEST_URL``        use this already running server (e.g. ``http://127.0.0.1:8100/v1``) instead of
                         starting one; ``stop()``/``restart()`` then skip the calling test.
``VLLM_TEST_MODEL``      served model name for VLLM_TEST_URL (default: the first one in /v1/models).
``VLLM_TEST_LOG``        that server's log file, if it was started with request logging.
``VLLM_TEST_MODEL_DIR``  where the tiny model is built/cached (default ``var/models/tiny``).
``VLLM_TEST_READY_TIMEOUT``  seconds to wait for the server (default 600; ~40-60 s alone, 2-3 min on a busy machine).
``VLLM_VENV``            the vLLM virtualenv (default ``.venv-vllm``; created by scripts/vllm_venv.sh
                         if missing).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from devtools import localserver as ls

REPO = Path(__file__).resolve().parent.parent


class VLLMServer:
    def __init__(
        self,
        *,
        model_dir: Path | None,
        model: str,
        host: str = "127.0.0.1",
        port: int,
        log_path: Path | None,
        external_url: str | None = None,
        ready_timeout: float = 600,
    ):
        self.model_dir = model_dir
        self.model = model
        self.host = host
        self.port = port
        self.log_path = log_path
        self.external = external_url is not None
        self._external_url = external_url
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None
        self.start_seconds: list[float] = []  # how long each start took (for reports)

    @property
    def base_url(self) -> str:
        if self._external_url:
            return self._external_url.rstrip("/")
        return f"http://{self.host}:{self.port}/v1"

    @property
    def root_url(self) -> str:
        return ls.server_root(self.base_url)

    # -- lifecycle ----------------------------------------------------------------------------------
    def is_running(self) -> bool:
        if self.external:
            return ls.is_ready(self.base_url)
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> VLLMServer:
        if self.external:
            ls.wait_ready(self.base_url, self.ready_timeout)
            return self
        if self.is_running():
            return self
        t0 = time.monotonic()
        self.proc = ls.start_vllm(
            self.model_dir, port=self.port, served_name=self.model, log_path=self.log_path, host=self.host
        )
        try:
            ls.wait_ready(self.base_url, self.ready_timeout, proc=self.proc)
        except BaseException:
            ls.stop(self.proc)
            raise
        self.start_seconds.append(time.monotonic() - t0)
        return self

    def stop(self) -> None:
        """Stop the server (process group). In-flight requests then hang until their client timeout."""
        if self.external:
            pytest.skip("VLLM_TEST_URL points at an external server; cannot stop it")
        ls.stop(self.proc)
        self.proc = None

    def restart(self) -> VLLMServer:
        """Stop (if running) and start again on the same port; blocks until ready."""
        if self.external:
            pytest.skip("VLLM_TEST_URL points at an external server; cannot restart it")
        self.stop()
        return self.start()

    def ensure_running(self) -> VLLMServer:
        return self if self.is_running() else self.start()

    # -- what the server received -------------------------------------------------------------------
    def received_prompts(self) -> list[ls.ReceivedPrompt]:
        if not self.log_path or not Path(self.log_path).exists():
            pytest.skip("no vLLM request log available (set VLLM_TEST_LOG for an external server)")
        return ls.received_prompts(self.log_path)

    def received_requests(self) -> list[ls.ReceivedRequest]:
        if not self.log_path or not Path(self.log_path).exists():
            pytest.skip("no vLLM request log available (set VLLM_TEST_LOG for an external server)")
        return ls.received_requests(self.log_path)

    def detokenize(self, token_ids: list[int]) -> str:
        return ls.detokenize(self.base_url, self.model, token_ids)

    def __repr__(self) -> str:
        return f"<VLLMServer {self.model} at {self.base_url}>"


def _first_model(base_url: str) -> str:
    with urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=10) as r:  # noqa: S310
        return json.loads(r.read())["data"][0]["id"]


@pytest.fixture(scope="session")
def vllm_server():
    timeout = float(os.environ.get("VLLM_TEST_READY_TIMEOUT", "600"))
    url = os.environ.get("VLLM_TEST_URL")
    if url:
        ls.wait_ready(url, timeout)
        log = os.environ.get("VLLM_TEST_LOG")
        server = VLLMServer(
            model_dir=None,
            model=os.environ.get("VLLM_TEST_MODEL") or _first_model(url),
            port=0,
            log_path=Path(log) if log else None,
            external_url=url,
            ready_timeout=timeout,
        )
        yield server
        return

    ls.ensure_venv()  # no-op (a marker check) when .venv-vllm is up to date
    model_dir = Path(os.environ.get("VLLM_TEST_MODEL_DIR") or REPO / "var" / "models" / "tiny")
    ls.build_model("tiny", model_dir)
    port = ls.free_port()
    log_path = REPO / "var" / "log" / f"vllm-test-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("")
    server = VLLMServer(model_dir=model_dir, model="tiny", port=port, log_path=log_path, ready_timeout=timeout)
    server.start()
    try:
        yield server
    finally:
        ls.stop(server.proc)


@pytest.fixture
def vllm_live(vllm_server):
    """The session server, (re)started if a previous test stopped it."""
    return vllm_server.ensure_running()
