"""scripts/run.sh stops everything it started when it gets SIGTERM (or SIGINT).

Slow (a minute or two): runs the real script, without a model server, in a throwaway var directory and port;
every process it starts is found by the STUDIO_VAR_DIR it inherits.
"""

import http.client
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings

from devtools.localserver import free_port

pytestmark = pytest.mark.slow

ROOT = Path(settings.BASE_DIR)
START_TIMEOUT = 600  # a first run migrates a fresh database and collects static files
STOP_TIMEOUT = 20


def _processes_of(var_dir: Path) -> dict[int, str]:
    """pid -> command line of every process whose environment has STUDIO_VAR_DIR=var_dir."""
    marker = f"STUDIO_VAR_DIR={var_dir}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def _answers(port: int, path: str) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


@pytest.fixture
def run_sh(tmp_path):
    var_dir = tmp_path / "var"
    port = free_port()
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "SECRET_KEY", "DJANGO_SETTINGS_MODULE")}
    env.update(STUDIO_VAR_DIR=str(var_dir), PORT=str(port), STUDIO_NO_MODEL="1")
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen([str(ROOT / "scripts" / "run.sh")], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc, port, var_dir, tmp_path / "run.log"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in _processes_of(var_dir):  # whatever the script failed to stop: not left behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()


def test_sigterm_stops_gunicorn_and_celery(run_sh):
    proc, port, var_dir, log = run_sh
    deadline = time.monotonic() + START_TIMEOUT
    while _answers(port, "/accounts/login/") != 200:
        assert proc.poll() is None, f"run.sh exited early ({proc.returncode}):\n{log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, f"the login page never answered:\n{log.read_text()[-4000:]}"
        time.sleep(1)

    started = _processes_of(var_dir)
    assert any("gunicorn" in cmd for cmd in started.values()), started
    deadline = time.monotonic() + 60  # the worker may still be importing when gunicorn is up
    while not any("celery" in cmd for cmd in started.values()):
        assert time.monotonic() < deadline, started
        time.sleep(1)
        started = _processes_of(var_dir)
    assert (var_dir / "secret_key").stat().st_mode & 0o777 == 0o600

    proc.send_signal(signal.SIGTERM)  # to the script only, as `kill <pid>` does
    deadline = time.monotonic() + STOP_TIMEOUT
    while True:
        proc.poll()  # reap the script once it exits (a zombie has no environment left to match)
        left = _processes_of(var_dir)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not left, f"still running {STOP_TIMEOUT} s after SIGTERM: {left}"
    assert proc.poll() is not None  # the script itself is gone too
    assert _answers(port, "/accounts/login/") is None
