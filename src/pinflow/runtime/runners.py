"""A task that names a runner (``pinflow.sdk.context.RUNNER_ARG``): what the task process
hands it. The runner decides how the task runs (the Airflow compatibility layer builds
Airflow's context, renders templates and fires callbacks there, docs/adr/0034); the task
process still reports its one result. Standard library, ``pinflow.runtime`` and the SDK only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pinflow.runtime.contract import TaskRequest
from pinflow.runtime.operators import run_bash
from pinflow.runtime.xcoms import load_stored_inputs, unpack_expand_kwargs
from pinflow.sdk.context import RUNNER_ARG, TaskContext, TaskInvocation
from pinflow.sdk.loader import resolve_callable


def task_context(req: TaskRequest) -> TaskContext:
    """The try's ``pinflow.sdk.context``: what its request says of it and its run."""
    return TaskContext(
        dag_id=req.dag_id,
        run_id=req.run_id,
        task_id=req.task_id,
        map_index=req.map_index,
        try_number=req.try_number,
        max_tries=req.max_tries,
        logical_date=req.logical_date,
        data_interval_start=req.data_interval_start,
        data_interval_end=req.data_interval_end,
        run_type=req.run_type,
        params=req.params,
        conf=req.conf,
        staging_dir=req.staging_dir,
        idempotency_key=req.idempotency_key,
        triggering_asset_events=tuple(req.triggering_asset_events),
    )


def run_with_runner(
    req: TaskRequest, bundle: Path, ref: str, resolve: Callable[[TaskRequest, Path], Any]
) -> Any:
    """The task's runner (``RUNNER_ARG``, ``ref``) called with the task, which it runs as it
    sees fit; ``resolve`` finds a Python task's function as the task process does."""
    function = resolve(req, bundle) if req.kind == "python" else None
    if function is None:
        sys.path.insert(0, str(bundle))  # what the runner imports (callbacks) is in the bundle
    runner = resolve_callable(ref)
    kwargs: dict[str, Any] = {}
    if function is not None:
        kwargs = {**req.args, **req.inputs, **req.mapped}
        kwargs.pop(RUNNER_ARG, None)
        kwargs.update(load_stored_inputs(req, kwargs))
        kwargs = unpack_expand_kwargs(kwargs)
    invocation = TaskInvocation(
        context=task_context(req),
        kind=req.kind,
        args=req.args,
        function=function,
        kwargs=kwargs,
        bash_command=req.bash_command,
        run_bash=lambda command: run_bash(command, cwd=os.getcwd()),
    )
    return runner(invocation)
