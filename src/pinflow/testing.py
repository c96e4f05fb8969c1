"""Public test helpers: drain runs deterministically in-process, script outcomes, build specs.

``run_until_idle`` is Pinflow's burst mode (arq's ``burst=True``, procrastinate's
``run_worker(wait=False)``): it runs the same services a scheduler and an executor call,
in a loop, with the task bodies replaced by a handler, until nothing changes. No threads, no
sleeps, no processes::

    spec = make_spec("etl", {"extract": [], "load": ["extract"]})
    register_snapshot(db, spec, actor="alice")
    trigger_run(db, dag_id="etl", actor="alice")
    run_until_idle(db, scripted({"extract": [False, True]}), ignore_retry_delay=True)

Retry delays are real: a task ``up_for_retry`` whose ``next_try_at`` is in the future stays
there, and ``run_until_idle`` returns. Either pass ``ignore_retry_delay=True`` (retries are due
at once), or pass a ``clock`` and move it forward between calls to test the delays themselves.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pinflow.errors import InvalidInputError
from pinflow.runtime.artifacts import ArtifactStore
from pinflow.services.engine import (
    NO_XCOM,
    ClaimedTask,
    StartedTask,
    claim_scheduled,
    finish_task,
    get_inputs,
    schedule_pass,
    start_task,
)
from pinflow.spec.models import DagSpec, ResolvedTask, TaskSpec
from pinflow.store import repo
from pinflow.store.db import Database

# Every retry is due before the end of time.
_END_OF_TIME = datetime.max.replace(tzinfo=UTC)
_CLAIM_BATCH = 64


@dataclass(frozen=True)
class ExecutionContext:
    """What a task sees when it runs: its identity, its definition, its inputs."""

    dag_id: str
    run_id: str
    run_pk: int
    ti_id: int
    task_id: str
    map_index: int
    try_number: int
    snapshot_digest: str  # the run's pin when the try started
    version_id: str | None
    task: TaskSpec  # from that snapshot
    resolved: ResolvedTask  # the task with the DAG's default_args applied
    inputs: dict[str, Any] = field(default_factory=dict)  # ``TaskSpec.inputs`` resolved
    params: dict[str, Any] = field(default_factory=dict)
    conf: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskOutcome:
    """How a try ended. ``value`` becomes the ``return_value`` XCom of a success (None: none)."""

    success: bool
    value: Any = None
    error: str | None = None
    skipped: bool = False
    # A sensor's try that did not end: "reschedule", "defer" (on ``trigger``), "timeout".
    sensor: str | None = None
    trigger: dict[str, Any] | None = None


Handler = Callable[[ExecutionContext], TaskOutcome]
Script = (
    Mapping[str, Sequence[bool | TaskOutcome]] | Callable[[ExecutionContext], bool | TaskOutcome]
)


def run_until_idle(
    db: Database,
    handler: Handler,
    *,
    max_steps: int = 10_000,
    clock: Callable[[], datetime] | None = None,
    ignore_retry_delay: bool = False,
    artifacts: ArtifactStore | None = None,
) -> int:
    """Schedule, claim, run and report until nothing changes; returns the number of tries run.

    Each step is one scheduler pass, then every claimable task is started, handed to
    ``handler`` in-process and reported. A handler that raises fails its try (the traceback is
    the try's error), as a task that raises would; so does a value that cannot be stored as an
    XCom. ``clock`` replaces the wall clock for scheduling and reporting (retry delays are
    measured on it). ``artifacts`` is where upstream values kept in the artifact store are
    read from for a handler's ``inputs``. Raises ``RuntimeError`` when ``max_steps`` pass
    without settling.
    """
    tries = 0
    for _ in range(max_steps):
        stamp = clock() if clock is not None else None
        changes = schedule_pass(db, now=stamp)
        claimed = claim_scheduled(db, limit=_CLAIM_BATCH, now=stamp)
        for task in claimed:
            _run_one(db, task, handler, clock, artifacts)
        tries += len(claimed)
        if changes or claimed:
            continue
        if ignore_retry_delay and schedule_pass(db, now=stamp, retries_due_by=_END_OF_TIME):
            continue
        return tries
    raise RuntimeError(f"run_until_idle did not settle within {max_steps} steps")


def _run_one(
    db: Database,
    task: ClaimedTask,
    handler: Handler,
    clock: Callable[[], datetime] | None,
    artifacts: ArtifactStore | None,
) -> None:
    def stamp() -> datetime | None:
        return clock() if clock is not None else None

    started = start_task(
        db,
        task.ti_id,
        try_number=task.try_number,
        hostname="run_until_idle",
        pid=os.getpid(),
        now=stamp(),
    )
    try:
        outcome = handler(_context(db, task, started, artifacts))
    except Exception:
        outcome = TaskOutcome(success=False, error=traceback.format_exc())
    xcom = NO_XCOM if outcome.value is None else outcome.value
    try:
        finish_task(
            db,
            task.ti_id,
            try_number=started.try_number,
            success=outcome.success,
            error=outcome.error,
            xcom=xcom,
            skipped=outcome.skipped,
            now=stamp(),
            sensor=outcome.sensor,
            trigger=outcome.trigger,
        )
    except InvalidInputError as exc:  # the value cannot be stored: the try fails, as in Airflow
        finish_task(
            db,
            task.ti_id,
            try_number=started.try_number,
            success=False,
            error=str(exc),
            now=stamp(),
        )


def _context(
    db: Database, task: ClaimedTask, started: StartedTask, artifacts: ArtifactStore | None
) -> ExecutionContext:
    with db.read() as s:
        spec = repo.load_spec(s, started.snapshot_digest)
    definition = spec.task(task.task_id)
    if definition is None:
        raise LookupError(f"task {task.task_id!r} is not in snapshot {started.snapshot_digest}")
    return ExecutionContext(
        dag_id=task.dag_id,
        run_id=task.run_id,
        run_pk=task.run_pk,
        ti_id=task.ti_id,
        task_id=task.task_id,
        map_index=task.map_index,
        try_number=started.try_number,
        snapshot_digest=started.snapshot_digest,
        version_id=started.version_id,
        task=definition,
        resolved=spec.resolve(definition),
        inputs=get_inputs(db, task.run_pk, definition, artifacts=artifacts),
        params=task.params,
        conf=task.conf,
    )


def scripted(outcomes: Script) -> Handler:
    """A handler that plays a script: per task id, one entry per try, or a function.

    ``{"extract": [False, True]}``: try 1 of ``extract`` fails, try 2 succeeds; the last entry
    repeats for later tries, and a task without an entry succeeds. An entry (or the function's
    answer) is a ``bool`` or a full ``TaskOutcome`` (to return a value or skip).
    """

    def handler(ctx: ExecutionContext) -> TaskOutcome:
        if isinstance(outcomes, Mapping):
            script = outcomes.get(ctx.task_id) or [True]
            result = script[min(ctx.try_number, len(script)) - 1]
        else:
            result = outcomes(ctx)
        if isinstance(result, TaskOutcome):
            return result
        error = None if result else f"scripted failure of {ctx.task_id} (try {ctx.try_number})"
        return TaskOutcome(success=result, error=error)

    return handler


def make_spec(
    dag_id: str,
    tasks: Mapping[str, Sequence[str]],
    *,
    task_fields: Mapping[str, Mapping[str, Any]] | None = None,
    **spec_fields: Any,
) -> DagSpec:
    """A DAG of bash tasks (``bash_command="true"``) from ``{task_id: [upstream ids]}``.

    ``task_fields`` adds fields per task (``{"load": {"trigger_rule": "all_done"}}``);
    ``spec_fields`` are the DAG's (``error_strategy=``, ``default_args=``, ...).
    """
    extra = task_fields or {}
    return DagSpec.model_validate(
        {
            "dag_id": dag_id,
            "tasks": [
                {
                    "task_id": task_id,
                    "kind": "bash",
                    "bash_command": "true",
                    "depends_on": list(upstream),
                    **extra.get(task_id, {}),
                }
                for task_id, upstream in tasks.items()
            ],
            **spec_fields,
        }
    )
