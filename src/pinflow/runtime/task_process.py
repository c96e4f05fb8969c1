"""What runs inside a task process: load the pinned snapshot, run the task, report back.

``child_main`` is the whole life of one forked task process: it detaches into its own process
group (so a timeout or a kill reaches every process the task started), asks the kernel to
kill it if its parent dies (a task must never outlive its supervisor, or a restarted
scheduler could start it a second time), sends stdout and stderr to the try's log file (the
secrets the task reads masked: ``pinflow.runtime.redacting``), runs the task and writes
exactly one ``TaskResult`` to the result pipe.

Imports only the standard library, ``pinflow.runtime``, ``pinflow.sdk`` and
``pinflow.errors``: a worker knows nothing of the metadata database.
"""

from __future__ import annotations

import compileall
import contextlib
import fcntl
import importlib.util
import inspect
import io
import json
import os
import pwd
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from pinflow.runtime.contract import (
    DeferTask,
    RescheduleTask,
    SensorTimeout,
    SkipTask,
    TaskRequest,
    TaskResult,
)
from pinflow.runtime.env_task import exec_in_env
from pinflow.runtime.operators import CommandFailed, run_bash, run_http
from pinflow.runtime.private import private_dirs
from pinflow.runtime.process import encode_frame, read_frame, set_parent_death_signal, write_all
from pinflow.runtime.redacting import redirect_output
from pinflow.runtime.runners import run_with_runner, task_context
from pinflow.runtime.sensors import run_sensor
from pinflow.runtime.workdirs import make_workdir
from pinflow.runtime.xcoms import (
    encode_json,
    load_stored_inputs,
    output_fields,
    unpack_expand_kwargs,
)
from pinflow.sdk.arguments import CONTEXT_PARAMETERS
from pinflow.sdk.bundle import extract_bundle
from pinflow.sdk.context import RUNNER_ARG, running
from pinflow.sdk.dag import deferred
from pinflow.sdk.loader import resolve_callable
from pinflow.spec.masking import redact
from pinflow.spec.models import SensorSpec

_ERROR_CHARS = 2000
# Task function parameters filled from the run's context when the call does not bind them
# (as Airflow's TaskFlow injects ``params``, ``ds``...): the SDK's list, so the two agree.
CONTEXT_NAMES = CONTEXT_PARAMETERS


class TaskTerminated(BaseException):
    """SIGTERM reached the task: unwinds ``finally`` blocks, then the try ends as failed."""


def bundle_cache_path(cache_dir: Path, digest: str) -> Path:
    return cache_dir / digest


def fetch_bundle(uri: str) -> bytes:
    """The bundle bytes behind ``uri`` (``file://`` here; ``http(s)://`` for remote workers)."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path)).read_bytes()
    if parsed.scheme in ("http", "https"):
        with urllib.request.urlopen(uri, timeout=60) as response:  # noqa: S310 - scheme checked
            data: bytes = response.read()
            return data
    raise ValueError(f"unsupported bundle URI {uri!r} (expected file:// or http(s)://)")


def ensure_bundle(
    cache_dir: Path, digest: str, uri: str | None, *, fetch: Callable[[], bytes] | None = None
) -> Path:
    """The extracted bundle for ``digest``, extracting it into the cache on first use.

    The bytes come from ``fetch()`` when given (a remote worker fetches them over the
    execution API and checks the digest first), else from ``uri`` (``None``: no code).

    Safe for many task processes at once: one extracts under a file lock into a temporary
    folder and renames it into place atomically; the others wait for the lock and find it.
    A crash mid-extraction leaves only a temporary folder, never a half-filled cache entry.
    """
    target = bundle_cache_path(cache_dir, digest)
    if target.is_dir():
        return target
    private_dirs(cache_dir)
    with open(cache_dir / f".{digest}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_dir():
            return target
        data = fetch() if fetch is not None else fetch_bundle(uri) if uri else b""
        tmp = Path(tempfile.mkdtemp(prefix=f".{digest}.", dir=cache_dir))
        try:
            if data:
                extract_bundle(data, tmp)
                # Bytecode now, once per snapshot: every task process imports this code, and
                # may not write bytecode itself (PYTHONDONTWRITEBYTECODE).
                compileall.compile_dir(tmp, quiet=2)
            tmp.rename(target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def _environment(req: TaskRequest, bundle: Path) -> dict[str, str]:
    """What a task (and any command it starts) can read about its run."""
    python_path = os.pathsep.join(p for p in (str(bundle), os.environ.get("PYTHONPATH")) if p)
    return {
        "PINFLOW_STAGING_DIR": req.staging_dir,
        "PINFLOW_BUNDLE_DIR": str(bundle),
        "PINFLOW_DAG_ID": req.dag_id,
        "PINFLOW_RUN_ID": req.run_id,
        "PINFLOW_TASK_ID": req.task_id,
        "PINFLOW_MAP_INDEX": str(req.map_index),
        "PINFLOW_TRY_NUMBER": str(req.try_number),
        "PINFLOW_IDEMPOTENCY_KEY": req.idempotency_key,
        "PINFLOW_LOGICAL_DATE": req.logical_date or "",
        "PINFLOW_PARAMS": json.dumps(req.params),
        "PINFLOW_CONF": json.dumps(req.conf),
        "PYTHONPATH": python_path,
        **({"PINFLOW_TASK_API": req.task_api} if req.task_api else {}),
    }


def _set_environment(own: dict[str, str]) -> None:
    """The task's environment: its supervisor's, without the control plane's settings (every
    ``PINFLOW_*`` variable: the database URL, the instance secret, the broker's URL with its
    password...), plus the task's own ``PINFLOW_*`` variables. What a task needs of the
    control plane it asks over its own channel (``PINFLOW_TASK_API``)."""
    for name in [name for name in os.environ if name.startswith("PINFLOW_")]:
        del os.environ[name]
    os.environ.update(own)


def _context(req: TaskRequest) -> dict[str, Any]:
    return {
        "params": req.params,
        "conf": req.conf,
        "dag_id": req.dag_id,
        "run_id": req.run_id,
        "task_id": req.task_id,
        "map_index": req.map_index,
        "try_number": req.try_number,
        "logical_date": req.logical_date,
        "ds": (req.logical_date or "")[:10] or None,
        "data_interval_start": req.data_interval_start,
        "data_interval_end": req.data_interval_end,
        "staging_dir": req.staging_dir,
        "idempotency_key": req.idempotency_key,
    }


def _call_arguments(function: Callable[..., Any], req: TaskRequest) -> dict[str, Any]:
    kwargs = {**req.args, **req.inputs, **req.mapped}
    kwargs.update(load_stored_inputs(req, kwargs))
    kwargs = unpack_expand_kwargs(kwargs)
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return kwargs
    context = _context(req)
    for name in CONTEXT_NAMES:
        if name in parameters and name not in kwargs:
            kwargs[name] = context[name]
    return kwargs


def _resolve(req: TaskRequest, bundle: Path) -> Callable[..., Any]:
    if not req.callable:
        raise ValueError(f"python task {req.task_id!r} has no callable")
    sys.path.insert(0, str(bundle))
    with deferred():  # the DAG file's ``@dag`` calls build nothing unless something reads them
        return resolve_callable(req.callable)


def _run_python(req: TaskRequest, bundle: Path) -> Any:
    function = _resolve(req, bundle)
    return function(**_call_arguments(function, req))


def _run_bash(req: TaskRequest) -> Any:
    if not req.bash_command:
        raise ValueError(f"bash task {req.task_id!r} has no bash_command")
    return run_bash(req.bash_command, cwd=os.getcwd())


def _execute(req: TaskRequest, bundle: Path) -> Any:
    if req.sensor is None:
        return _execute_once(req, bundle)
    sensor = SensorSpec.model_validate(req.sensor)
    return run_sensor(sensor, lambda: _execute_once(req, bundle))


def _execute_once(req: TaskRequest, bundle: Path) -> Any:
    with running(task_context(req)):
        runner = req.args.get(RUNNER_ARG)
        if isinstance(runner, str) and req.kind in ("python", "bash"):
            return run_with_runner(req, bundle, runner, _resolve)
        if req.kind == "python":
            return _run_python(req, bundle)
        if req.kind == "bash":
            return _run_bash(req)
        if req.kind == "http":
            if not req.http:
                raise ValueError(f"http task {req.task_id!r} has no http request")
            return run_http(req.http)
    raise ValueError(f"unknown task kind {req.kind!r}")


def summarize(exc: BaseException) -> str:
    """The error a failed try reports (kept and shown): its secrets masked."""
    text = redact(str(exc) + _missing_bundle_file(exc))
    summary = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return summary if len(summary) <= _ERROR_CHARS else summary[: _ERROR_CHARS - 1] + "…"


def _missing_bundle_file(exc: BaseException) -> str:
    """What to do when a task opens a bundle file its snapshot does not hold: a version ships
    only its DAG's inputs (ADR 0041)."""
    bundle = os.environ.get("PINFLOW_BUNDLE_DIR")
    if not isinstance(exc, FileNotFoundError) or not exc.filename or not bundle:
        return ""
    try:
        name = Path(os.fsdecode(exc.filename)).resolve().relative_to(Path(bundle).resolve())
    except (ValueError, OSError, TypeError):
        return ""
    return (
        f" ({name.as_posix()!r} is not in this version's snapshot, which holds only the DAG's "
        f"inputs: declare it with bundle_files=[{name.as_posix()!r}] on the DAG, or read it "
        "while the DAG file loads, and push again)"
    )


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def log_line(message: str) -> None:
    """One line of Pinflow's own in the try's log (stderr)."""
    print(f"[{_stamp()}] pinflow: {message}", file=sys.stderr, flush=True)


_log = log_line


def run_task(req: TaskRequest, cache_dir: Path) -> TaskResult:
    """Run one try in this process (output already redirected) and describe how it ended."""
    started = time.monotonic()
    base: dict[str, Any] = {"ti_id": req.ti_id, "try_number": req.try_number, "pid": os.getpid()}
    _log(f"running {req.label} on {socket.gethostname()} pid {os.getpid()}")
    workdir: Path | None = None
    try:
        private_dirs(Path(req.staging_dir))
        bundle = ensure_bundle(cache_dir, req.snapshot_digest, req.bundle_uri)
        _set_environment(_environment(req, bundle))
        workdir = _enter_private_workdir()
        if _TASK_USER is not None:
            bundle = _become_task_user(_TASK_USER, workdir, bundle)
        output = output_fields(req, _execute(req, bundle))
    except SkipTask as exc:
        _log(f"skipped: {exc}" if str(exc) else "skipped")
        base.update(success=True, skipped=True, exit_code=0)
    except (RescheduleTask, DeferTask, SensorTimeout) as exc:
        _log(f"sensor: {exc}")
        base.update(success=False, exit_code=0, **_sensor_fields(exc))
    except CommandFailed as exc:
        _log(f"failed: {exc}")
        base.update(success=False, error=str(exc), exit_code=exc.exit_code)
    except (Exception, TaskTerminated, SystemExit, KeyboardInterrupt) as exc:
        traceback.print_exc()
        _log(f"failed: {summarize(exc)}")
        base.update(success=False, error=summarize(exc), exit_code=1)
    else:
        _log("succeeded")
        base.update(success=True, exit_code=0, **output)
    finally:
        _leave_private_workdir(workdir)
    return TaskResult(**base, duration=time.monotonic() - started)


def _sensor_fields(exc: Exception) -> dict[str, Any]:
    """What a sensor's try that did not end reports (``TaskResult.sensor``)."""
    if isinstance(exc, DeferTask):
        return {"sensor": "defer", "trigger": exc.trigger, "error": str(exc)}
    if isinstance(exc, SensorTimeout):
        return {"sensor": "timeout", "error": f"AirflowSensorTimeout: {exc}"}
    return {"sensor": "reschedule"}


_TASK_USER: pwd.struct_passwd | None = None


def run_tasks_as(name: str) -> None:
    """Every task process forked from here from now on runs its task as ``name`` (the zygote,
    started as root, with ``PINFLOW_RUN_TASKS_AS_USER``)."""
    global _TASK_USER  # noqa: PLW0603 - set once in the zygote, inherited by each fork
    _TASK_USER = pwd.getpwnam(name)


def _become_task_user(user: pwd.struct_passwd, workdir: Path, bundle: Path) -> Path:
    """Drop this process to ``user`` for good (groups, then gid, then uid), after its log is
    open (the fd stays writable; the file stays the server's, 0600). The try's folder becomes
    the user's, with a copy of the bundle in it: the snapshot cache and the rest of the home
    stay out of its reach (0700, the server's). Returns where the bundle now is."""
    own = workdir / "bundle"
    shutil.copytree(bundle, own, symlinks=True)
    for root, dirs, files in os.walk(workdir):
        for name in (root, *(os.path.join(root, n) for n in dirs + files)):
            os.lchown(name, user.pw_uid, user.pw_gid)
    os.initgroups(user.pw_name, user.pw_gid)
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    os.environ.update(HOME=user.pw_dir, USER=user.pw_name, LOGNAME=user.pw_name)
    os.environ["PINFLOW_BUNDLE_DIR"] = str(own)
    python_path = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(own), *python_path[1:]])
    return own


def _enter_private_workdir() -> Path:
    """A folder of this try's own (0700, under the supervisor's temporary folder, never under
    ``$PINFLOW_HOME``), made its working directory and ``TMPDIR``: a task's scratch files
    are nobody else's, and a relative path no longer lands in the run's staging dir (that is
    ``PINFLOW_STAGING_DIR``)."""
    workdir = make_workdir()
    for name in ("TMPDIR", "TMP", "TEMP"):
        os.environ[name] = str(workdir)
    tempfile.tempdir = str(workdir)
    os.chdir(workdir)
    return workdir


def _leave_private_workdir(workdir: Path | None) -> None:
    """Remove the try's folder and everything the task left in it."""
    if workdir is None:
        return
    with contextlib.suppress(OSError):
        os.chdir("/")
    shutil.rmtree(workdir, ignore_errors=True)


def on_sigterm(_signum: int, _frame: FrameType | None) -> NoReturn:
    raise TaskTerminated("the task process received SIGTERM")


def detach(parent_pid: int) -> None:
    """Own process group; die with the parent; exit at once if the parent is already gone."""
    os.setpgid(0, 0)
    set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(70)
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)


def write_result(fd: int, result: TaskResult) -> None:
    """One frame, so that the reader knows the result is whole before the process exits."""
    write_all(fd, encode_frame(result.to_dict()))


def child_main(req: TaskRequest, cache_dir: Path, result_fd: int) -> NoReturn:
    """Run one try in this (detached) process; never returns, whatever the task does."""
    code = 0
    try:
        redirect_output(req.log_path)
        if req.requirements:  # its own interpreter, in its version's environment (ADR 0032)
            user = _TASK_USER.pw_name if _TASK_USER is not None else None
            result = exec_in_env(req, cache_dir, result_fd, user)
        else:
            result = run_task(req, cache_dir)
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        write_result(result_fd, result)
    except BaseException:  # nothing may escape a forked child
        code = 70
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    os._exit(code)


def _warm_task() -> Any:
    return {"rows": [1, 2.5, "x", None, True]}


def prefault() -> None:
    """Walk the path every task takes (SDK, import system, log streams, JSON), in a spare.

    A forked process copies each memory page it first writes to (copy-on-write; in CPython
    even reading an object writes its reference count). Doing this before the request arrives
    takes most of those copies off the path to the task's start: a DAG file's import drops
    from ~2 ms to ~0.5 ms. Builds nothing visible: no DAG is registered, nothing is imported.
    """
    from pinflow.sdk import chain, dag, task

    @dag(dag_id="pinflow_prefault")
    def warm() -> None:
        chain(task(_warm_task)(), task.bash(task_id="bash", bash_command="true"))

    with deferred():  # as a task process imports its DAG file: decorators run, nothing builds
        warm()
    importlib.util.find_spec("pinflow_prefault_no_such_module")
    with io.TextIOWrapper(open(os.devnull, "wb"), line_buffering=True) as out:
        out.write(_stamp())
    value = _warm_task()
    encode_json(value)
    summarize(ValueError("warm"))
    inspect.signature(_call_arguments)
    encode_frame(TaskResult(ti_id=0, try_number=0, success=True, value=value).to_dict())


def spare_main(request_fd: int, result_fd: int, cache_dir: Path, parent_pid: int) -> NoReturn:
    """A task process forked ahead of its task: detach, then wait for the one request.

    Forking before the request arrives takes the fork off the path from one task's end to the
    next one's start. A spare whose request pipe closes without a request just exits.
    """
    code = 0
    try:
        detach(parent_pid)
        with contextlib.suppress(Exception):
            prefault()
        message = read_frame(request_fd)
        os.close(request_fd)
        if message is not None:
            child_main(TaskRequest.from_dict(message), cache_dir, result_fd)
    except BaseException:  # nothing may escape a forked child
        code = 70
    os._exit(code)
