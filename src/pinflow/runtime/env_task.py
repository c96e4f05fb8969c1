"""A try of a version with ``requirements``: the same task process, in its environment's Python.

A forked task process (``task_process.child_main``) whose request names requirements finds
(or builds) their environment, then replaces itself with that environment's interpreter
(``execve``: the same pid, process group, parent-death signal, log on fds 1 and 2, result
pipe), which runs ``python -m pinflow.runtime.env_task`` and so ``run_task``, exactly as the
fork would have: private working folder, scrubbed environment, result frame, timeouts and
kills from the zygote. Only the interpreter is fresh, so that nothing the warm zygote
imported shadows the versions the DAG pinned (ADR 0032).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import NoReturn

from pinflow.runtime.contract import TaskRequest, TaskResult
from pinflow.runtime.envs import EnvBuildError, EnvConfig, ensure_env
from pinflow.runtime.process import encode_frame, set_parent_death_signal, write_all

_CONFIG: EnvConfig | None = None
# The frame the environment's interpreter sends its zygote just before the task runs (then
# its result): the execution timeout counts from it, since building an environment (minutes,
# the first time) and starting an interpreter are not the task's execution time.
ENV_READY = "environment_ready"


def use_envs(config: EnvConfig | None) -> None:
    """Where the task processes forked from here find and build environments."""
    global _CONFIG  # noqa: PLW0603 - set once in the zygote, inherited by each fork
    _CONFIG = config


def exec_in_env(
    req: TaskRequest, cache_dir: Path, result_fd: int, run_as_user: str | None
) -> TaskResult:
    """Become the environment's interpreter running ``req``; returns only when that cannot
    happen (the environment failed to build), with the failed try's result."""
    from pinflow.runtime.task_process import log_line

    started = time.monotonic()
    try:
        _become_env_python(req, cache_dir, result_fd, run_as_user)
    except (EnvBuildError, OSError) as exc:
        what = "built" if isinstance(exc, EnvBuildError) else "started"
        log_line(f"failed: {exc}")
        return TaskResult(
            ti_id=req.ti_id,
            try_number=req.try_number,
            success=False,
            error=f"the task's environment could not be {what}: {exc}"[:2000],
            exit_code=1,
            pid=os.getpid(),
            duration=time.monotonic() - started,
        )


def _become_env_python(
    req: TaskRequest, cache_dir: Path, result_fd: int, run_as_user: str | None
) -> NoReturn:
    from pinflow.runtime.task_process import log_line

    if _CONFIG is None:
        raise EnvBuildError("this executor was started without an environment cache")
    if run_as_user is not None:
        raise EnvBuildError(
            "requirements are not supported with PINFLOW_RUN_TASKS_AS_USER yet "
            "(the environments are the server's, under its private home; ADR 0032)"
        )
    env = ensure_env(_CONFIG, req.requirements, log=log_line)
    log_line(f"running in the environment {env.key[:12]} ({', '.join(env.requirements)})")
    request_fd = os.memfd_create("pinflow-request", 0)
    os.write(request_fd, req.to_json().encode())
    os.lseek(request_fd, 0, os.SEEK_SET)
    os.set_inheritable(request_fd, True)
    os.set_inheritable(result_fd, True)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    python = str(env.python)
    argv = [python, "-I", "-B", "-m", "pinflow.runtime.env_task"]
    argv += [f"--request-fd={request_fd}", f"--result-fd={result_fd}", f"--cache-dir={cache_dir}"]
    os.execv(python, argv)  # noqa: S606 - the environment's own interpreter


def main(argv: list[str] | None = None) -> NoReturn:
    """The exec'd interpreter: the rest of ``child_main``'s work, in the environment."""
    from pinflow.runtime import task_process
    from pinflow.runtime.redacting import redact_handlers, redacting

    parser = argparse.ArgumentParser(prog="pinflow.runtime.env_task")
    parser.add_argument("--request-fd", type=int, required=True)
    parser.add_argument("--result-fd", type=int, required=True)
    parser.add_argument("--cache-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    code = 0
    try:
        # ``execve`` kept the process group and the parent-death signal, but not the handlers.
        set_parent_death_signal(signal.SIGKILL)
        signal.signal(signal.SIGTERM, task_process.on_sigterm)
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        # fds 1 and 2 are the try's log already; the streams redact its secrets as in a fork.
        sys.stdout, sys.stderr = redacting(sys.stdout), redacting(sys.stderr)
        redact_handlers()
        with os.fdopen(args.request_fd, "rb") as source:
            req = TaskRequest.from_dict(json.loads(source.read()))
        write_all(args.result_fd, encode_frame({"ev": ENV_READY}))  # the clock starts now
        result = task_process.run_task(req, args.cache_dir)
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        task_process.write_result(args.result_fd, result)
    except BaseException:  # nothing may escape: the zygote turns the exit into a failed try
        code = 70
        with contextlib.suppress(BaseException):
            import traceback

            traceback.print_exc()
    os._exit(code)


if __name__ == "__main__":
    main()
