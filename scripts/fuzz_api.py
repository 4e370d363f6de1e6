#!/usr/bin/env python
"""Fuzz the API against its own OpenAPI schema (schemathesis), once per role; non-zero exit on any failure.

    .venv/bin/python scripts/fuzz_api.py                    # every operation, as annotator, qa_lead and admin
    .venv/bin/python scripts/fuzz_api.py --max-examples 50  # more cases per operation (default 10)
    .venv/bin/python scripts/fuzz_api.py --role admin -- --include-path-regex exports   # extra schemathesis args
    FUZZ_SEED=123 .venv/bin/python scripts/fuzz_api.py      # replay a run (its seed is printed at the end)

Checks: no server error (5xx), every response documented for its status (status_code_conformance) and valid
against the schema of that status (response_schema_conformance). Run by scripts/test.sh, so CI.

Phases: admin (who may call every operation) gets schemathesis' coverage phase too (boundary and invalid
values of every parameter and field: ~2,700 requests, most of the run's time); annotator and qa_lead get the
random fuzzing and stateful phases, which reach the same operations as those roles (and their 403s). Under
3 minutes in all on 2 cores; --full runs the coverage phase for every role.

Each run is throwaway and never touches the checkout's var/ or the database a developer works with:
* a fresh STUDIO_VAR_DIR (a temporary directory: SQLite database, Celery's filesystem queue, export files);
* with DATABASE_URL (PostgreSQL), a database of its own on that server, `<name>_fuzz`, created and dropped here;
* Celery's filesystem queue and the file cache in that directory, whatever CELERY_BROKER_URL and REDIS_URL say.
It migrates, seeds the taxonomy and the demo content (users, prompts, rating and ranking tasks), builds one
export (files to download), registers three dialog-pool endpoints, creates a draft campaign and an open dialog
per user, and gives the demo users admin, qa and ania (one per role) a DRF token. Then it starts gunicorn on a free local port and runs `schemathesis run` per role.

Nothing the fuzzer starts can hang the run: the server gets ALL_PROXY pointing at a closed local port, so every
outgoing request (endpoint health checks, dialog turns against whatever URL the fuzzer registered) is refused
at once instead of waiting on the network; campaigns and exports only queue a Celery message (no worker runs).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
ROLES = {"annotator": "ania", "qa_lead": "qa", "admin": "admin"}  # seed_demo's users
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
CLOSED_PORT = 9  # discard: nothing listens there, so a connection is refused at once


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def throwaway_database():
    """Point DATABASE_URL at a fresh `<name>_fuzz` database on the same server; drop it afterwards.

    Without DATABASE_URL the SQLite file in the (temporary) STUDIO_VAR_DIR is throwaway already.
    """
    url = os.environ.get("DATABASE_URL")
    if not url:
        yield
        return
    import dj_database_url
    import psycopg
    from psycopg import sql

    config = dj_database_url.parse(url)
    if "postgresql" not in config["ENGINE"]:
        raise SystemExit(f"fuzz_api: DATABASE_URL must be PostgreSQL or unset (SQLite), got {config['ENGINE']}")
    name = f"{config['NAME']}_fuzz"
    admin = {"host": config["HOST"] or None, "port": config["PORT"] or None, "user": config["USER"] or None,
             "password": config["PASSWORD"] or None, "dbname": "postgres", "autocommit": True}

    def recreate(create: bool) -> None:
        with psycopg.connect(**{k: v for k, v in admin.items() if v is not None}) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            if create:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    recreate(True)
    os.environ["DATABASE_URL"] = url.rsplit("/", 1)[0] + "/" + name
    try:
        yield
    finally:
        os.environ["DATABASE_URL"] = url
        recreate(False)


def prepare() -> dict[str, str]:
    """Migrate and seed the throwaway database; one token per role."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(REPO))
    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from rest_framework.authtoken.models import Token

    from dialogs.services import dialog_start
    from generation.models import Endpoint, PrePrompt
    from generation.services.campaigns import campaign_create

    quiet = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    call_command("migrate", verbosity=0)
    call_command("seed_taxonomy", **quiet)
    call_command("seed_demo", **quiet)
    pool = [  # a dialog pool, so dialogs start (their turns fail fast: nothing listens there)
        Endpoint.objects.get_or_create(name=label, defaults={
            "base_url": f"http://127.0.0.1:{CLOSED_PORT}/v1", "model": label, "is_active": True,
            "in_dialog_pool": True, "timeout_seconds": 5,
        })[0]
        for label in ("fuzz-a", "fuzz-b", "fuzz-c")
    ]
    call_command("export_dataset", name="fuzz", user="admin", **quiet)  # a finished export: files to download
    from django.contrib.auth import get_user_model

    users = {role: get_user_model().objects.get(username=name) for role, name in ROLES.items()}
    # Objects with small ids for the operations on one object (the fuzzer tries small numbers often).
    campaign_create(name="fuzz", prompt_filter={}, endpoints=pool, preprompts=list(PrePrompt.objects.all()[:1]),
                    created_by=users["admin"])
    for user in users.values():
        dialog_start(annotator=user)
    tokens = {role: Token.objects.get_or_create(user=user)[0].key for role, user in users.items()}
    connections.close_all()
    return tokens


def wait_until_up(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"fuzz_api: the server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - our own local server
            return
        except urllib.error.HTTPError:
            return  # it answers (401 without a token)
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"fuzz_api: the server did not answer at {url} within {seconds:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=10, help="test cases per operation and phase")
    parser.add_argument("--role", action="append", choices=list(ROLES), help="only these roles (default: all)")
    parser.add_argument("--full", action="store_true", help="the coverage phase for every role, not only admin")
    parser.add_argument("--keep", action="store_true", help="keep the temporary var directory (logs, database)")
    parser.add_argument("schemathesis_args", nargs="*", help="after --: passed to schemathesis run")
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="studio-fuzz-"))
    os.environ["STUDIO_VAR_DIR"] = str(var)
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ["DEBUG"] = "false"
    # Celery's filesystem queue and the file cache in the var directory: no worker (jobs just wait), and no
    # Redis shared with other runs (a cached QA dashboard of another database).
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.pop("REDIS_URL", None)
    failed: list[str] = []
    try:
        with throwaway_database():
            started = time.monotonic()
            tokens = prepare()
            print(f"fuzz_api: database ready in {time.monotonic() - started:.0f} s ({var})", flush=True)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            server_env = {**os.environ, "ALL_PROXY": f"http://127.0.0.1:{CLOSED_PORT}",
                          "HTTP_PROXY": f"http://127.0.0.1:{CLOSED_PORT}", "HTTPS_PROXY": f"http://127.0.0.1:{CLOSED_PORT}",
                          "NO_PROXY": "", "no_proxy": ""}
            log = open(var / "gunicorn.log", "w")  # closed with the run
            server = subprocess.Popen(
                [str(VENV_BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                 "--timeout", "60", "--graceful-timeout", "5"],
                cwd=REPO, env=server_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
            try:
                wait_until_up(f"{base}/api/schema/", server)
                for role in args.role or list(ROLES):
                    print(f"\n== schemathesis as {role} ({ROLES[role]})", flush=True)
                    command = [
                        str(VENV_BIN / "schemathesis"), "run", f"{base}/api/schema/",
                        "--header", f"Authorization: Token {tokens[role]}",
                        "--checks", CHECKS, "--max-examples", str(args.max_examples),
                        "--workers", "2", "--request-timeout", "30", "--generation-database", "none",
                        "--no-color", "--output-sanitize", "true",
                        "--phases", "examples,coverage,fuzzing,stateful" if args.full or role == "admin" else
                        "examples,fuzzing,stateful",
                    ]
                    if os.environ.get("FUZZ_SEED"):
                        command += ["--seed", os.environ["FUZZ_SEED"]]
                    # cwd: the var directory, so nothing (reports, caches) lands in the checkout
                    if subprocess.run([*command, *args.schemathesis_args], cwd=var).returncode != 0:
                        failed.append(role)
            finally:
                stop(server)
                log.close()
                if failed or args.keep:
                    print(f"fuzz_api: server log in {var / 'gunicorn.log'}", flush=True)
    finally:
        if not (failed or args.keep):
            shutil.rmtree(var, ignore_errors=True)
    if failed:
        print(f"fuzz_api: FAILED for {', '.join(failed)}", file=sys.stderr)
        return 1
    print("fuzz_api: no failures", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
