"""The local executor in real processes: tasks forked from the warm interpreter."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pinflow.executors.local import ExecutorError, LocalExecutor
from pinflow.runtime.contract import TaskKey, TaskRequest, TaskResult
from pinflow.runtime.private import open_private, private_dirs
from pinflow.sdk.compiler import CompiledDag, compile_path

DAG_FILE = """
import os
import stat
import time
from pathlib import Path

from pinflow import dag, task


@task
def extract():
    print("extracting rows")
    return {"rows": [1, 2, 3]}


@task
def total(data, factor=1):
    return sum(data["rows"]) * factor


@task
def boom():
    raise ValueError("the data is bad")


@task
def not_json():
    return {1, 2}


@task
def suicide():
    Path(os.environ["PINFLOW_STAGING_DIR"], "cwd").write_text(os.getcwd())
    os.kill(os.getpid(), 9)


@task
def nap(seconds=30.0):
    Path(os.environ["PINFLOW_STAGING_DIR"], f"nap-{os.getpid()}").write_text("")
    time.sleep(seconds)


@task
def context(params=None, run_id=None, staging_dir=None):
    return {"params": params, "run_id": run_id, "staging_dir": staging_dir}


@dag(dag_id="unit")
def unit():
    total(extract())
    boom()
    not_json()
    suicide()
    nap()
    context()


unit()
"""


@pytest.fixture
def compiled(tmp_path: Path) -> CompiledDag:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "unit_dag.py").write_text(DAG_FILE)
    (result,) = compile_path(folder)
    return result


@pytest.fixture
def executor(tmp_path: Path) -> Iterator[LocalExecutor]:
    ex = LocalExecutor(snapshot_cache_dir=tmp_path / "cache", parallelism=4, stop_grace=2.0)
    ex.start()
    yield ex
    ex.stop(graceful=False)


class Requests:
    def __init__(self, compiled: CompiledDag, home: Path) -> None:
        self.compiled = compiled
        self.home = home
        self.next_id = 0
        cache = home / "cache"
        cache.mkdir(exist_ok=True)
        self.zip = cache / f"{compiled.digest}.zip"
        self.zip.write_bytes(compiled.bundle)

    def make(self, task_id: str, **fields: Any) -> TaskRequest:
        self.next_id += 1
        base: dict[str, Any] = {
            "ti_id": self.next_id,
            "dag_id": "unit",
            "run_id": "manual__1",
            "task_id": task_id,
            "try_number": 1,
            "snapshot_digest": self.compiled.digest,
            "staging_dir": str(self.home / "staging" / "unit" / "manual__1"),
            "log_path": str(self.home / "logs" / f"{task_id}-{self.next_id}.log"),
            "callable": f"unit_dag:{task_id}",
            "bundle_uri": self.zip.as_uri(),
        }
        return TaskRequest(**{**base, **fields})


@pytest.fixture
def requests(compiled: CompiledDag, tmp_path: Path) -> Requests:
    return Requests(compiled, tmp_path)


def collect(executor: LocalExecutor, count: int, timeout: float = 30.0) -> list[TaskResult]:
    deadline = time.monotonic() + timeout
    results: list[TaskResult] = []
    while len(results) < count and time.monotonic() < deadline:
        results += executor.poll(deadline - time.monotonic())
    assert len(results) == count, f"got {len(results)} of {count} results in {timeout}s"
    return results


def run_one(executor: LocalExecutor, request: TaskRequest) -> TaskResult:
    executor.submit(request)
    (result,) = collect(executor, 1)
    assert result.key == request.key
    return result


def test_a_python_task_from_a_compiled_dag_returns_its_value(
    executor: LocalExecutor, requests: Requests
) -> None:
    extract = requests.make("extract")
    result = run_one(executor, extract)
    assert result.success
    assert result.value == {"rows": [1, 2, 3]}
    assert result.pid is not None
    assert result.pid != os.getpid()
    assert "extracting rows" in Path(extract.log_path).read_text()

    total = requests.make("total", inputs={"data": {"rows": [1, 2, 3]}}, args={"factor": 10})
    assert run_one(executor, total).value == 60


def test_context_is_injected_by_parameter_name(executor: LocalExecutor, requests: Requests) -> None:
    request = requests.make("context", params={"n": 1})
    result = run_one(executor, request)
    assert result.value == {
        "params": {"n": 1},
        "run_id": "manual__1",
        "staging_dir": request.staging_dir,
    }


def test_a_failure_puts_the_traceback_in_the_log_and_a_summary_in_the_result(
    executor: LocalExecutor, requests: Requests
) -> None:
    request = requests.make("boom")
    result = run_one(executor, request)
    assert not result.success
    assert result.error == "ValueError: the data is bad"
    log = Path(request.log_path).read_text()
    assert "Traceback (most recent call last)" in log
    assert 'raise ValueError("the data is bad")' in log


def test_a_return_value_that_is_not_json_fails_clearly(
    executor: LocalExecutor, requests: Requests
) -> None:
    result = run_one(executor, requests.make("not_json"))
    assert not result.success
    assert result.error is not None
    assert "not JSON-serializable (set)" in result.error


def test_bash_output_exit_codes_and_staging_dir(
    executor: LocalExecutor, requests: Requests
) -> None:
    script = 'echo first; echo "$PINFLOW_STAGING_DIR"; echo oops >&2'
    request = requests.make("bash", kind="bash", callable=None, bash_command=script)
    result = run_one(executor, request)
    assert result.success
    assert result.value == request.staging_dir
    assert Path(request.staging_dir).is_dir()
    assert "first" in Path(request.log_path).read_text()
    assert "oops" in Path(request.log_path).read_text()

    failing = run_one(executor, requests.make("b2", kind="bash", bash_command="exit 3"))
    assert (failing.success, failing.exit_code) == (False, 3)
    assert failing.error == "bash command exited with code 3"

    skipped = run_one(executor, requests.make("b3", kind="bash", bash_command="exit 99"))
    assert skipped.success
    assert skipped.skipped


def test_execution_timeout_kills_the_whole_process_group(
    executor: LocalExecutor, requests: Requests, tmp_path: Path
) -> None:
    pid_file = tmp_path / "sleeper.pid"
    command = f"sleep 60 & echo $! > {pid_file}; wait"
    request = requests.make("slow", kind="bash", bash_command=command, execution_timeout=0.5)
    result = run_one(executor, request)
    assert not result.success
    assert result.error == "execution timeout after 0.5s"
    assert result.exit_code == -signal.SIGKILL
    assert_gone(int(pid_file.read_text()))


def test_a_task_process_killed_with_sigkill_is_reported_failed_and_its_folder_swept(
    executor: LocalExecutor, requests: Requests
) -> None:
    request = requests.make("suicide")
    result = run_one(executor, request)
    assert not result.success
    assert result.error == "the task process killed by signal SIGKILL"
    workdir = Path(Path(request.staging_dir, "cwd").read_text())
    assert workdir.name.startswith(f"pinflow-try-{result.pid}-")
    assert not workdir.exists()  # it removed nothing itself: the zygote swept it


def test_kill_ends_a_running_try_with_the_reason(
    executor: LocalExecutor, requests: Requests
) -> None:
    request = requests.make("nap")
    executor.submit(request)
    wait_for_nap(Path(request.staging_dir))
    executor.kill(request.key, "cleared by alice")
    (result,) = collect(executor, 1)
    assert (result.success, result.error) == (False, "cleared by alice")


def test_parallelism_limits_submissions(executor: LocalExecutor, requests: Requests) -> None:
    naps = [requests.make("nap", args={"seconds": 30}) for _ in range(4)]
    for request in naps:
        executor.submit(request)
    assert executor.free_slots() == 0
    with pytest.raises(ExecutorError, match="no free slot"):
        executor.submit(requests.make("extract"))
    assert sorted(executor.live()) == sorted(r.key for r in naps)
    results = executor.stop(graceful=True)
    assert sorted(r.key for r in results) == sorted(r.key for r in naps)
    assert {r.error for r in results} == {"scheduler stopped"}


def test_concurrent_first_uses_of_a_snapshot_extract_the_bundle_once(
    executor: LocalExecutor, requests: Requests, tmp_path: Path
) -> None:
    for _ in range(4):
        executor.submit(requests.make("extract"))
    assert all(r.success for r in collect(executor, 4))
    entries = sorted(p.name for p in (tmp_path / "cache").iterdir())
    digest = requests.compiled.digest
    assert [e for e in entries if not e.endswith(".lock")] == [digest, f"{digest}.zip"]


def test_requests_and_results_round_trip_as_json(requests: Requests) -> None:
    request = requests.make("total", inputs={"data": {"rows": [1]}}, mapped={"x": 2})
    assert TaskRequest.from_json(request.to_json()) == request
    result = TaskResult(ti_id=1, try_number=2, success=True, value=[1, "a"], duration=0.5)
    assert TaskResult.from_json(json.dumps(result.to_dict())) == result
    assert TaskResult.failure(TaskKey(3, 1), "boom").error == "boom"
    with pytest.raises(ValueError, match="unknown field"):
        TaskResult.from_dict({**result.to_dict(), "extra": 1})


SUPERVISOR = """
import sys, time
from pathlib import Path
from pinflow.executors.local import LocalExecutor
from pinflow.runtime.contract import TaskRequest

home = Path(sys.argv[1])
ex = LocalExecutor(snapshot_cache_dir=home / "cache", parallelism=1)
ex.start()
ex.submit(TaskRequest(ti_id=1, dag_id="d", run_id="r", task_id="t", try_number=1,
    snapshot_digest="0" * 64, staging_dir=str(home / "stage"), log_path=str(home / "t.log"),
    kind="bash", bash_command="echo $$ > " + str(home / "task.pid") + "; exec sleep 60"))
print(ex.zygote_pid, flush=True)
time.sleep(60)
"""


def test_tasks_die_with_the_process_that_started_the_executor(tmp_path: Path) -> None:
    """kill -9 of the supervisor: the zygote and the task process die too (pdeathsig)."""
    with subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, str(tmp_path)], stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            zygote_pid = int(proc.stdout.readline())
            task_pid = int(wait_for_file(tmp_path / "task.pid").read_text())
            assert_alive(zygote_pid)
            assert_alive(task_pid)
        finally:
            proc.kill()
            proc.wait(timeout=10)
    assert_gone(zygote_pid)
    assert_gone(task_pid)


# -- helpers -----------------------------------------------------------------------------------


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _eventually(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)  # another process's state: nothing to wait on but the clock


def assert_alive(pid: int) -> None:
    assert _exists(pid), f"process {pid} should be alive"


def assert_gone(pid: int, timeout: float = 10.0) -> None:
    _eventually(lambda: not _exists(pid), timeout, f"process {pid} still alive")


def wait_for_file(path: Path, timeout: float = 30.0) -> Path:
    _eventually(lambda: path.is_file() and path.stat().st_size > 0, timeout, f"no {path}")
    return path


def wait_for_nap(staging: Path, timeout: float = 30.0) -> None:
    _eventually(lambda: staging.is_dir() and any(staging.glob("nap-*")), timeout, "no nap")


def test_a_dead_zygote_fails_its_tries_and_is_replaced(
    executor: LocalExecutor, requests: Requests
) -> None:
    nap = requests.make("nap")
    executor.submit(nap)
    wait_for_nap(Path(nap.staging_dir))
    (task_pid,) = [int(p.name.split("-")[1]) for p in Path(nap.staging_dir).glob("nap-*")]
    old = executor.zygote_pid
    assert old is not None
    os.kill(old, signal.SIGKILL)
    (result,) = collect(executor, 1)
    assert (result.key, result.success) == (nap.key, False)
    assert result.error == "the executor's worker process (zygote) died"
    assert_gone(task_pid)  # it died with its zygote
    assert executor.zygote_pid not in (None, old)
    assert run_one(executor, requests.make("extract")).success


class _Api(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 200 if self.path == "/ok" else 503
        payload = json.dumps({"echo": json.loads(body), "path": self.path}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: object) -> None:
        pass


def test_http_tasks(executor: LocalExecutor, requests: Requests) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        call = {"method": "POST", "body": {"n": 1}, "expected_status": [200], "timeout": 10}
        ok = requests.make("h1", kind="http", http={**call, "url": f"{base}/ok"})
        assert run_one(executor, ok).value == {"echo": {"n": 1}, "path": "/ok"}
        down = run_one(executor, requests.make("h2", kind="http", http={**call, "url": base}))
        assert not down.success
        assert down.error is not None
        assert down.error.startswith("HttpStatusError: HTTP 503 from POST")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_task_sees_none_of_the_control_planes_settings(
    tmp_path: Path, requests: Requests, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler's (and so the zygote's) PINFLOW_* settings stay with it: a task and the
    commands it starts get only their own PINFLOW_* variables."""
    monkeypatch.setenv("PINFLOW_DATABASE_URL", "postgresql://pinflow:hunter2@db/pinflow")
    monkeypatch.setenv("PINFLOW_JWT_SECRET", "the-instance-secret")
    monkeypatch.setenv("PINFLOW_KEEP_ME_NOT", "x")
    monkeypatch.setenv("UNRELATED_SETTING", "kept")
    ex = LocalExecutor(snapshot_cache_dir=tmp_path / "cache", parallelism=1, stop_grace=2.0)
    ex.start()
    try:
        script = "env | cut -d= -f1 | sort | tr '\\n' ' '"
        request = requests.make("env", kind="bash", callable=None, bash_command=script)
        result = run_one(ex, request)
    finally:
        ex.stop(graceful=False)
    assert result.success, result.error
    names = set(str(result.value).split())
    assert {n for n in names if n.startswith("PINFLOW_")} == {
        "PINFLOW_STAGING_DIR",
        "PINFLOW_BUNDLE_DIR",
        "PINFLOW_DAG_ID",
        "PINFLOW_RUN_ID",
        "PINFLOW_TASK_ID",
        "PINFLOW_MAP_INDEX",
        "PINFLOW_TRY_NUMBER",
        "PINFLOW_IDEMPOTENCY_KEY",
        "PINFLOW_LOGICAL_DATE",
        "PINFLOW_PARAMS",
        "PINFLOW_CONF",
    }
    assert "UNRELATED_SETTING" in names


def test_each_try_runs_in_a_private_folder_of_its_own_removed_after_it(
    executor: LocalExecutor, requests: Requests, tmp_path: Path
) -> None:
    """cwd and TMPDIR: a fresh 0700 ``pinflow-try-*`` folder, neither the staging dir nor
    anywhere under the home; gone once the try has ended (issue #14, point 2)."""
    script = 'touch left-behind; echo "$(pwd) $TMPDIR $(stat -c %a .)"'
    first = run_one(executor, requests.make("b1", kind="bash", callable=None, bash_command=script))
    second = run_one(executor, requests.make("b2", kind="bash", callable=None, bash_command=script))
    assert first.success, first.error
    seen = []
    for result in (first, second):
        cwd, tmpdir, cwd_mode = str(result.value).split()
        assert Path(cwd).name.startswith("pinflow-try-")
        assert tmpdir == cwd
        assert cwd_mode == "700"
        assert not Path(cwd).is_relative_to(tmp_path)  # not under the home, not staging
        assert not Path(cwd).exists()  # removed with what the task left in it
        seen.append(cwd)
    assert seen[0] != seen[1]


def test_a_python_task_gets_the_private_folder_and_still_imports_its_bundle(
    executor: LocalExecutor, requests: Requests
) -> None:
    request = requests.make("context")
    result = run_one(executor, request)
    assert result.success, result.error  # its DAG file was imported from the bundle
    # The task's own files: log 0600 in a 0700 folder, staging dir 0700.
    log = Path(request.log_path)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(Path(request.staging_dir).stat().st_mode) == 0o700


def test_the_zygote_is_started_without_the_control_planes_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINFLOW_JWT_SECRET", "the-instance-secret")
    ex = LocalExecutor(snapshot_cache_dir=tmp_path / "cache", parallelism=1, stop_grace=2.0)
    ex.start()
    try:
        assert ex.zygote_pid is not None
        environ = Path(f"/proc/{ex.zygote_pid}/environ").read_bytes().split(b"\0")
    finally:
        ex.stop(graceful=False)
    assert not [entry for entry in environ if entry.startswith(b"PINFLOW_")]
    assert any(entry.startswith(b"PATH=") for entry in environ)


def test_a_key_hunting_task_finds_no_path_to_the_home(
    tmp_path: Path, requests: Requests, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a separate task user the task runs as the server's user, so the guarantee is
    that nothing leads it to the home: no PINFLOW_HOME (or any setting) in its environment,
    and its cwd is not the home, the staging dir, or anywhere near the secrets (relative
    paths from the old cwd, the staging dir, reached them)."""
    home = private_dirs(tmp_path / "home")
    for name in ("jwt_secret", "fernet_key", "standalone_admin_password.txt", "pinflow.db"):
        fd = open_private(home / name, os.O_WRONLY)
        os.write(fd, b"secret")
        os.close(fd)
    monkeypatch.setenv("PINFLOW_HOME", str(home))
    monkeypatch.chdir(home)  # the supervisor's own cwd is the home
    ex = LocalExecutor(snapshot_cache_dir=tmp_path / "cache", parallelism=1, stop_grace=2.0)
    ex.start()
    script = (
        "found=0; for f in jwt_secret fernet_key standalone_admin_password.txt pinflow.db "
        "../../../jwt_secret ../../../pinflow.db; do "
        '[ -r "$f" ] && found=$((found+1)); done; '
        'ls "${PINFLOW_HOME:-/nonexistent}" >/dev/null 2>&1 && found=$((found+1)); '
        "python3 -c \"import sqlite3; sqlite3.connect('file:pinflow.db?mode=ro', uri=True)"
        ".execute('select 1 from sqlite_master')\" 2>/dev/null && found=$((found+1)); "
        'echo "found=$found"'
    )
    try:
        # The real layout: the staging dir is under the home (it was the task's cwd).
        staging = str(home / "staging" / "unit" / "manual__1")
        request = requests.make(
            "hunt", kind="bash", callable=None, bash_command=script, staging_dir=staging
        )
        result = run_one(ex, request)
    finally:
        ex.stop(graceful=False)
    assert result.success, result.error
    assert result.value == "found=0"


def test_with_run_as_user_a_task_can_reach_none_of_the_servers_secrets(
    tmp_path: Path, requests: Requests, task_user: str
) -> None:
    home = private_dirs(tmp_path / "home")
    secrets = [home / n for n in ("jwt_secret", "fernet_key", "standalone_admin_password.txt")]
    for path in secrets:
        fd = open_private(path, os.O_WRONLY)
        os.write(fd, b"secret")
        os.close(fd)
    db = home / "pinflow.db"
    sqlite3.connect(db).execute("create table t (x)").connection.close()
    ex = LocalExecutor(
        snapshot_cache_dir=tmp_path / "cache",
        parallelism=1,
        stop_grace=2.0,
        run_as_user=task_user,
    )
    ex.start()
    attempts = [f'cat "{p}"' for p in secrets] + [
        f'ls "{home}"',
        f"python3 -c \"import sqlite3; sqlite3.connect('{db}').execute('select 1 from t')\"",
    ]
    script = (
        'echo "user=$(id -un) cwd_owner=$(stat -c %U .)"; '
        + " ".join(f"{a} >/dev/null 2>&1 && echo LEAK;" for a in attempts)
        + " echo done"
    )
    try:
        hunt = run_one(ex, requests.make("hunt", kind="bash", callable=None, bash_command=script))
        python = run_one(ex, requests.make("extract"))  # imports its DAG file as that user
    finally:
        ex.stop(graceful=False)
    assert hunt.success, hunt.error
    log = Path(requests.home / "logs").glob("hunt-*.log")
    text = "".join(p.read_text() for p in log)
    assert f"user={task_user} cwd_owner={task_user}" in text
    assert "LEAK" not in text
    assert hunt.value == "done"
    assert python.success, python.error
    assert python.value == {"rows": [1, 2, 3]}


def test_run_as_user_refuses_an_unknown_user_at_start(tmp_path: Path) -> None:
    ex = LocalExecutor(snapshot_cache_dir=tmp_path / "cache", run_as_user="no-such-user-pf")
    with pytest.raises(ExecutorError, match="no such user on this host"):
        ex.start()


def test_run_as_user_refuses_root_as_the_task_user(tmp_path: Path) -> None:
    ex = LocalExecutor(snapshot_cache_dir=tmp_path / "cache", run_as_user="root")
    with pytest.raises(ExecutorError, match="is root; name an unprivileged user"):
        ex.start()
