#!/usr/bin/env bash
# The README's quickstart, as a new user runs it, driven as a user would: wait for
# /api/v2/monitor/health, log in with the printed password, trigger example_etl, expect
# success, then Ctrl-C (SIGINT to the whole process group, as a terminal sends it) and expect a
# clean exit with nothing left running.
#
#   scripts/smoke.sh            a fresh clone of this repository's HEAD and a fresh HOME; the
#                               README's first command, literally: scripts/standalone.sh
#   scripts/smoke.sh --wheel    python -m build; the wheel into a clean venv (no extras); its
#                               `pinflow standalone` from outside the source tree
#
# Only the pip download cache is shared with the caller (PIP_CACHE_DIR): it saves downloads,
# not installs; every package still goes into a new virtualenv.
set -euo pipefail

mode=clone
case "${1:-}" in
  "") ;;
  --wheel) mode=wheel ;;
  *) echo "usage: scripts/smoke.sh [--wheel]" >&2; exit 2 ;;
esac

repo=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
PORT=${SMOKE_PORT:-8080}
BASE="http://127.0.0.1:$PORT"
work=$(mktemp -d "${TMPDIR:-/tmp}/pinflow-smoke.XXXXXX")
export PIP_CACHE_DIR=${PIP_CACHE_DIR:-$HOME/.cache/pip}
export PIP_DISABLE_PIP_VERSION_CHECK=1
pid=""
started=$(date +%s)

say() { printf '[smoke %s %3ss] %s\n' "$mode" "$(($(date +%s) - started))" "$*"; }
die() {
  say "FAILED: $*" >&2
  for f in "$work"/standalone.out "$work"/standalone.err; do
    [ -s "$f" ] && { echo "--- $f (last 40 lines)" >&2; tail -n 40 "$f" >&2; }
  done
  exit 1
}
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  die "port $PORT is already in use: stop what listens there, or set SMOKE_PORT"
fi

# A fresh HOME: no ~/.pinflow, no stored login, no user-level pip or Python configuration.
export HOME="$work/home"
mkdir -p "$HOME"
unset PINFLOW_HOME PINFLOW_DATABASE_URL PINFLOW_EXECUTOR VIRTUAL_ENV PYTHONPATH

if [ "$mode" = clone ]; then
  git clone -q "$repo" "$work/pinflow"
  cd "$work/pinflow"
  command=(scripts/standalone.sh)
  [ "$PORT" = 8080 ] || command+=(--port "$PORT")
else
  say "building the wheel"
  "$PY" -m venv "$work/build-env"
  "$work/build-env/bin/pip" install -q build
  git clone -q "$repo" "$work/src"
  "$work/build-env/bin/python" -m build --wheel --outdir "$work/dist" "$work/src" \
    >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; die "python -m build failed"; }
  wheel=$(ls "$work"/dist/pinflow-*.whl)
  contents=$(unzip -Z1 "$wheel")
  for needed in pinflow/ui/static/ pinflow/ui/templates/ pinflow/store/migrations/env.py \
    pinflow/store/migrations/versions/0001_initial_schema.py pinflow/example_dags/etl.py \
    pinflow/py.typed; do
    grep -q "^$needed" <<<"$contents" || die "the wheel lacks $needed"
  done
  say "wheel $(basename "$wheel") has the UI's files, the migrations and the examples"
  "$PY" -m venv "$work/venv"
  "$work/venv/bin/pip" install -q "$wheel"
  mkdir -p "$work/elsewhere" && cd "$work/elsewhere"  # not the source tree: the wheel only
  command=("$work/venv/bin/pinflow" standalone --port "$PORT")
fi

say "starting: ${command[*]}"
set -m  # its own process group, like a terminal's foreground job
"${command[@]}" >"$work/standalone.out" 2>"$work/standalone.err" &
pid=$!
set +m

# Bounded: the first command installs Pinflow before it serves (a minute or two).
for _ in $(seq 1 600); do
  curl -fsS "$BASE/api/v2/monitor/health" >"$work/health.json" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || die "the first command exited before it served"
  sleep 0.5
done
[ -s "$work/health.json" ] || die "no answer from $BASE/api/v2/monitor/health"
grep -q '"metadatabase":{"status":"healthy"}' "$work/health.json" || die "unhealthy: $(cat "$work/health.json")"
say "healthy: $(cat "$work/health.json")"

for _ in $(seq 1 100); do grep -q "Press Ctrl-C to stop." "$work/standalone.out" && break; sleep 0.1; done
password=$(sed -n 's/^ *Admin password: *\([^ ]*\)$/\1/p' "$work/standalone.out" | head -n 1)
[ -n "$password" ] || die "no admin password printed"
[ "$password" = "$(cat "$HOME/.pinflow/standalone_admin_password.txt")" ] \
  || die "the printed password differs from ~/.pinflow/standalone_admin_password.txt"

json() { "$PY" -c "import json,sys; print(json.load(sys.stdin)$1)"; }
token=$(curl -fsS -X POST "$BASE/auth/token" -H 'Content-Type: application/json' \
  -d "{\"username\": \"admin\", \"password\": \"$password\"}" | json "['access_token']") \
  || die "login with the printed password failed"
auth=(-H "Authorization: Bearer $token")
say "logged in as admin"

run_id=$(curl -fsS -X POST "$BASE/api/v2/dags/example_etl/dagRuns" "${auth[@]}" \
  -H 'Content-Type: application/json' -d '{"logical_date": null}' | json "['dag_run_id']") \
  || die "triggering example_etl failed"
say "triggered example_etl: $run_id"

state=""
for _ in $(seq 1 300); do
  state=$(curl -fsS "${auth[@]}" "$BASE/api/v2/dags/example_etl/dagRuns/$run_id" | json "['state']")
  case "$state" in success | failed) break ;; esac
  sleep 0.2
done
[ "$state" = success ] || die "example_etl ended '$state', not success"
say "example_etl: success"

children=$(pgrep -g "$pid" | grep -vx "$pid" | tr '\n' ' ' || true)
[ -n "$children" ] || die "the executor's zygote should be running in the process group"
kill -INT -- "-$pid"  # Ctrl-C
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || die "exit code $rc after Ctrl-C"
grep -q "Pinflow standalone stopped." "$work/standalone.err" || die "no 'stopped' line"
! grep -q "Traceback" "$work/standalone.err" || die "a traceback on stderr"
for child in $children; do
  ! kill -0 "$child" 2>/dev/null || die "process $child left running after Ctrl-C"
done
pid=""
say "stopped cleanly on Ctrl-C (exit 0, nothing left running)"
