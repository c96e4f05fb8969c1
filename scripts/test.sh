#!/usr/bin/env bash
# The README's test command: installs what it needs, then runs every check and the tests on
# SQLite and PostgreSQL. Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet -e ".[dev]"

# The UI tests drive Debian's Chromium through Playwright (no browser download is possible).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "Installing Debian's chromium for the UI tests..."
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# PostgreSQL: a database of our own on the local server, created fresh for this run.
if [ -z "${PINFLOW_TEST_DATABASE_URL:-}" ]; then
  PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
  export PGHOST PGPORT PGUSER
  db="pinflow_test_$$"
  if command -v psql >/dev/null && psql -q -d postgres -c "CREATE DATABASE $db" >/dev/null 2>&1; then
    export PINFLOW_TEST_DATABASE_URL="postgresql://$PGUSER@$PGHOST:$PGPORT/$db"
    drop_test_databases() {  # ours and the per-worker ones next to it (<name>_gw0, ...)
      for name in $(psql -qAt -d postgres -c "SELECT datname FROM pg_database WHERE datname = '$db' OR datname LIKE '${db}_gw%'"); do
        psql -q -d postgres -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null 2>&1 || true
      done
    }
    trap drop_test_databases EXIT
    echo "PostgreSQL: testing on $PINFLOW_TEST_DATABASE_URL"
  elif [ "${CI:-}" = "true" ]; then
    echo "CI=true but PostgreSQL at $PGHOST:$PGPORT is not reachable: failing (it must be tested)." >&2
    exit 1
  else
    echo "PostgreSQL not reachable at $PGHOST:$PGPORT: running the SQLite tests only." >&2
  fi
fi

echo "== ruff";          .venv/bin/ruff check .
echo "== ruff format";   .venv/bin/ruff format --check .
echo "== mypy (strict)"; .venv/bin/mypy
echo "== import layers"; .venv/bin/lint-imports
# In parallel (pytest-xdist): each worker has its own PostgreSQL database (tests/conftest.py).
# More workers than cores, because much of the suite waits on task processes and the servers.
echo "== pytest"
set +e
.venv/bin/python -m pytest -n "${PINFLOW_TEST_WORKERS:-4}" --durations=15 "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure, not a pass." >&2
  exit 1
fi
exit "$rc"
