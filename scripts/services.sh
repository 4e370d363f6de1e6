#!/usr/bin/env bash
# Make sure PostgreSQL and Redis (Debian packages) are installed and running, with a `studio` role.
# Prints shell `export` lines for DATABASE_URL / REDIS_URL / CELERY_BROKER_URL; use with eval.
# Needs root (or sudo) to install; does nothing when both already answer.
set -euo pipefail
SUDO=""; [[ $(id -u) == 0 ]] || SUDO="sudo"
need=()
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
if (( ${#need[@]} )); then
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >&2
fi
if ! pg_isready -q -h 127.0.0.1 2>/dev/null; then
  $SUDO service postgresql start >&2 || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
fi
if ! redis-cli ping >/dev/null 2>&1; then
  $SUDO service redis-server start >&2 || (redis-server --daemonize yes >&2)
  for _ in $(seq 1 30); do redis-cli ping >/dev/null 2>&1 && break; sleep 1; done
fi
as_postgres() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
as_postgres psql -q -tAc "SELECT 1 FROM pg_roles WHERE rolname='studio'" | grep -q 1 \
  || as_postgres psql -q -c "CREATE ROLE studio LOGIN SUPERUSER PASSWORD 'studio'" >&2
as_postgres psql -q -tAc "SELECT 1 FROM pg_database WHERE datname='studio'" | grep -q 1 \
  || as_postgres createdb -O studio studio >&2
echo "export DATABASE_URL=postgres://studio:studio@127.0.0.1:5432/studio"
echo "export REDIS_URL=redis://127.0.0.1:6379/0"
echo "export CELERY_BROKER_URL=redis://127.0.0.1:6379/1"
