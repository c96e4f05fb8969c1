"""The process that calls a run's end callbacks (ADR 0044): ``python -m
pinflow.runtime.run_callbacks --result-fd N --cache-dir D``, started by the scheduler
(``pinflow.scheduler.callbacks``) with the request on stdin (a
``pinflow.runtime.contract.RunCallbackRequest`` as JSON) and stdout/stderr on the callback's
log file.

It dies with its parent (a scheduler that dies leaves no callback running that another
scheduler could start again beside it), extracts the version's bundle (the same cache as the
task processes), moves into that version's environment when it has requirements (ADR 0032),
imports each callback by reference and calls it with ``pinflow.sdk.RunEnd`` (or hands them
to the spec's runner: the Airflow layer's builds Airflow's context). It writes one JSON line
to the result pipe, ``{"errors": [...]}``, before it exits: the errors of the callbacks that
raised. No metadata database here, as in a task process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from pinflow.runtime.contract import RunCallbackRequest
from pinflow.runtime.envs import EnvConfig, ensure_env
from pinflow.runtime.process import set_parent_death_signal, write_all
from pinflow.runtime.task_process import ensure_bundle
from pinflow.sdk.context import RunEnd
from pinflow.sdk.loader import call_each, resolve_callable


def call_callbacks(refs: Sequence[str], runner: str | None, end: RunEnd) -> list[str]:
    """Each callback called with ``end`` (or the runner called with them all): the errors."""
    if runner is not None:
        run: Callable[[Sequence[str], RunEnd], list[str]] = resolve_callable(runner)
        return list(run(refs, end))
    return call_each(refs, end)


def _enter_environment(request: RunCallbackRequest, argv: list[str]) -> None:
    """Replace this process with the version's environment's interpreter (once)."""
    if not request.requirements or os.environ.get("PINFLOW_IN_ENV") == "1":
        return
    config = EnvConfig.from_json(request.env_config)
    env = ensure_env(config, request.requirements, log=print)
    print(f"running in the environment {env.key[:12]} ({', '.join(env.requirements)})")
    sys.stdout.flush()
    request_fd = os.memfd_create("pinflow-callback-request", 0)
    os.write(request_fd, request.to_json().encode())
    os.lseek(request_fd, 0, os.SEEK_SET)
    os.dup2(request_fd, 0)  # the environment's interpreter reads the request on stdin too
    os.environ["PINFLOW_IN_ENV"] = "1"
    python = str(env.python)
    os.execv(python, [python, "-I", "-B", "-m", "pinflow.runtime.run_callbacks", *argv])  # noqa: S606


def main(argv: list[str] | None = None) -> NoReturn:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="pinflow.runtime.run_callbacks")
    parser.add_argument("--result-fd", type=int, required=True)
    parser.add_argument("--cache-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    set_parent_death_signal(signal.SIGKILL)
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    errors: list[str]
    try:
        request = RunCallbackRequest.from_json(sys.stdin.read())
        _enter_environment(request, argv)
        bundle = ensure_bundle(args.cache_dir, request.snapshot_digest, request.bundle_uri)
        sys.path.insert(0, str(bundle))
        end = RunEnd(**request.end)
        print(f"calling the {request.kind} callbacks of run {end.run_id} ({end.reason})")
        with tempfile.TemporaryDirectory(prefix="pinflow-callback-") as workdir:
            os.chdir(workdir)
            errors = call_callbacks(request.refs, request.runner, end)
    except BaseException as exc:  # whatever happens, the scheduler is told
        traceback.print_exc()
        errors = [f"the callbacks could not be called: {type(exc).__name__}: {exc}"]
    print("done" if not errors else f"{len(errors)} callback(s) failed")
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    write_all(args.result_fd, (json.dumps({"errors": errors}) + "\n").encode())
    os._exit(0)


if __name__ == "__main__":
    main()
