#!/usr/bin/env bash
# The whole test suite, against the real parts: PostgreSQL, Redis, a real vLLM server on the CPU (tiny
# model built locally), Debian's chromium for browser tests, TRL on a tiny model.
#   scripts/test.sh                 # everything
#   scripts/test.sh tests/test_x.py -k name    # extra arguments go to pytest
# Set STUDIO_TEST_SQLITE=1 to run against the SQLite default instead of PostgreSQL.
# STUDIO_FUZZ_API=0|1 skips or forces the API fuzzing (scripts/fuzz_api.py; by default only on a full run).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
SUDO=""; [[ $(id -u) == 0 ]] || SUDO="sudo"

scripts/bootstrap.sh
scripts/vllm_venv.sh >/dev/null
if ! command -v chromium >/dev/null || ! command -v msgfmt >/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver gettext >/dev/null
fi
if [[ -z "${STUDIO_TEST_SQLITE:-}" ]]; then
  eval "$(scripts/services.sh)"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TRL_EXPERIMENTAL_SILENCE=1 PYTHONUNBUFFERED=1
# Settings refuse to load without a secret unless DEBUG=true, and pytest-django imports them before any
# conftest runs: a random key for this run, in the environment (subprocesses the tests start inherit it).
export SECRET_KEY="${SECRET_KEY:-$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))')}"
.venv/bin/python manage.py compilemessages -v 0
scripts/check_reference.sh
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache   # the app graph: pyproject.toml [tool.importlinter]
# The API against its own OpenAPI schema, per role (~3 min; its own var dir and database). Runs on a full run
# (CI) or with STUDIO_FUZZ_API=1; STUDIO_FUZZ_API=0 skips it, and so does a run with arguments for pytest.
if [[ "${STUDIO_FUZZ_API:-$(( $# == 0 ))}" == 1 ]]; then
  .venv/bin/python scripts/fuzz_api.py
fi
exec .venv/bin/pytest "$@"
