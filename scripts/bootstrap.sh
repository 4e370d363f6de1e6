#!/usr/bin/env bash
# Create/refresh the platform virtualenv (.venv) from pyproject.toml. Idempotent and quick when nothing
# changed (a marker holds the hash of pyproject.toml). torch 2.13.0 is this machine's local CPU wheel;
# on a GPU host install your CUDA torch into .venv first.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PYTHON="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv || { apt-get install -y -q python3-venv >&2 && "$PYTHON" -m venv .venv; }
fi
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [[ "$(cat .venv/.studio-deps 2>/dev/null)" != "$want" ]]; then
  .venv/bin/python -m pip install -q --upgrade pip >&2 || true
  .venv/bin/python -m pip install -q "torch==2.13.0" >&2
  .venv/bin/python -m pip install -q -e ".[train,dev]" >&2
  echo "$want" > .venv/.studio-deps
fi
