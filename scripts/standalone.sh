#!/usr/bin/env bash
# The README's first command: installs Pinflow into .venv (the first time), then runs
# `pinflow standalone` (API, web UI, scheduler, local executor and example DAGs on SQLite under
# $PINFLOW_HOME, default ~/.pinflow). Usage: scripts/standalone.sh [--port N] [--home DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/python -m pinflow.cli standalone "$@"
