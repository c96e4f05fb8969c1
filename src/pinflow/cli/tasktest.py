"""``pinflow tasks test PATH_OR_DAG TASK_ID``: one task's real code in a real task process,
with no server (Airflow's ``airflow tasks test``).

It shares ``dags test``'s throw-away installation (``dagtest.sandbox``): the DAG is registered
in a temporary SQLite database and a run is triggered, then every other task of the run is
marked before the scheduler is drained: the task's upstreams ``success`` (without running
them, as Airflow's ``tasks test`` does not run them either), every other task ``skipped``.
So only this task runs; an upstream's output it takes as an argument, or pulls with
``xcom_pull``, is ``None``. Its log and its return value are printed; the exit code is 1
unless it succeeded.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from pinflow.cli.common import ExitCode, err, fail, options, out, output_option
from pinflow.cli.dagtest import ACTOR, Sandbox, drain, log_lines, parse_conf, pick, sandbox
from pinflow.cli.output import to_text
from pinflow.sdk.compiler import CompiledDag


def parse_date(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        fail(f"--logical-date {raw!r} is not an ISO date", ExitCode.USAGE, hint="2026-01-31")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def compiled_for(path_or_dag: str, dags: Path, dag_id: str | None) -> CompiledDag:
    """PATH_OR_DAG is a DAG file or folder, else a DAG id looked for in ``dags``."""
    from pinflow.cli.shipping import compile_strict

    given = Path(path_or_dag)
    if given.exists():
        return pick(compile_strict(given), dag_id)
    if not dags.exists():
        fail(f"{path_or_dag!r} is no file and {dags} does not exist", ExitCode.USAGE, hint="--dags")
    return pick(compile_strict(dags), path_or_dag)


def isolate(box: Sandbox, run_id: str, task_id: str, map_index: int) -> None:
    """Mark every task of the run but ``task_id``: its upstreams success, the others skipped."""
    from pinflow.lifecycle.rebind import graph_of
    from pinflow.lifecycle.states import FINISHED_TASK_STATES, TaskState
    from pinflow.services.commands import task_states
    from pinflow.services.reads import TaskRef

    upstream = graph_of(box.spec).upstream_closure({task_id})
    dag_id = box.spec.dag_id
    for ti in _instances(box, run_id):
        if ti.task_id == task_id and ti.map_index in (map_index, -1):
            continue
        if ti.state in FINISHED_TASK_STATES:
            continue  # marked already, or skipped by an earlier mark
        new = TaskState.SUCCESS if ti.task_id in upstream else TaskState.SKIPPED
        ref = TaskRef(dag_id, run_id, ti.task_id, ti.map_index)
        task_states.set_task_state(box.db, ref, new, actor=ACTOR)


def _instances(box: Sandbox, run_id: str) -> list[Any]:
    from pinflow.services.reads import MAX_PAGE, TaskFilter, task_queries

    found, _ = task_queries.list_task_instances(
        box.db, TaskFilter(dag_id=box.spec.dag_id, run_id=run_id), page=(MAX_PAGE, 0)
    )
    return list(found)


def test_task(
    box: Sandbox,
    task_id: str,
    *,
    conf: dict[str, Any],
    day: datetime | None,
    map_index: int,
    timeout: float,
) -> dict[str, Any]:
    """Run the task in the sandbox; what was seen: state, log, return value."""
    from pinflow.services.commands import runs

    run = runs.trigger_run(box.db, dag_id=box.spec.dag_id, conf=conf, logical_date=day, actor=ACTOR)
    isolate(box, run.run_id, task_id, map_index)
    idle = drain(box, timeout)
    # A mapped task expands when it is ready: its other elements are marked then, and drained.
    isolate(box, run.run_id, task_id, map_index)
    idle = drain(box, timeout) and idle
    mine = [t for t in _instances(box, run.run_id) if t.task_id == task_id]
    ti = next((t for t in mine if t.map_index == map_index), None)
    if ti is None:
        fail(f"Task {task_id!r} has no map index {map_index}", ExitCode.NOT_FOUND)
    state = ti.state.value if idle else "timed out"
    return {
        "dag_id": box.spec.dag_id,
        "task_id": task_id,
        "map_index": map_index,
        "state": state,
        "try_number": ti.try_number,
        "return_value": _return_value(box, run.run_id, task_id, map_index),
        "log": log_lines(box.db, ti, None),
    }


def _return_value(box: Sandbox, run_id: str, task_id: str, map_index: int) -> Any:
    from pinflow.errors import NotFoundError
    from pinflow.runtime.artifacts import open_store
    from pinflow.services.reads import xcoms

    store = open_store(box.settings.artifacts_uri)
    try:
        found = xcoms.get_xcom(
            box.db,
            box.spec.dag_id,
            run_id,
            task_id,
            key="return_value",
            map_index=map_index,
            artifacts=store,
        )
    except NotFoundError:
        return None
    return found.value


@click.command("test")
@click.argument("path_or_dag")
@click.argument("task_id")
@click.option("--dag-id", default=None, help="The DAG, when PATH_OR_DAG is a path holding several.")
@click.option(
    "--dags",
    default=Path("."),
    show_default=True,
    type=click.Path(path_type=Path),
    help="Where a DAG id given as PATH_OR_DAG is looked for.",
)
@click.option("--conf", default=None, help="The run's conf, a JSON object.")
@click.option("--logical-date", default=None, help="The run's logical date (ISO; default: now).")
@click.option("--map-index", default=-1, show_default=True, help="The element of a mapped task.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds the task may take.")
@output_option
def task_test_cmd(
    *,
    path_or_dag: str,
    task_id: str,
    dag_id: str | None,
    dags: Path,
    conf: str | None,
    logical_date: str | None,
    map_index: int,
    timeout: float,
) -> None:
    """Run one task's real code in a real task process, without a server.

    Its upstream tasks are not run (as in Airflow): values it takes from them, or pulls with
    xcom_pull, are None. Prints its log and its return value; exits 1 unless it succeeded
    (7 if --timeout passed). Uses a throw-away database in a temporary directory.

    \b
    Examples:
      pinflow tasks test dags/etl.py transform
      pinflow tasks test etl transform --dags dags/ --conf '{"region": 3}'
      pinflow tasks test dags/etl.py load --logical-date 2026-01-31
    """
    values = parse_conf(conf)
    day = parse_date(logical_date)
    item = compiled_for(path_or_dag, dags, dag_id)
    if task_id not in {t.task_id for t in item.spec.tasks}:
        listed = ", ".join(t.task_id for t in item.spec.tasks)
        fail(
            f"DAG {item.spec.dag_id!r} has no task {task_id!r}; it has {listed}", ExitCode.NOT_FOUND
        )
    err.print(f"Testing {escape(item.spec.dag_id)}.{escape(task_id)}…")
    with (
        tempfile.TemporaryDirectory(prefix="pinflow-tasks-test-") as home,
        sandbox(item, Path(home)) as box,
    ):
        seen = test_task(box, task_id, conf=values, day=day, map_index=map_index, timeout=timeout)
    _show(seen)
    if seen["state"] == "timed out":
        raise click.exceptions.Exit(int(ExitCode.TIMEOUT))
    if seen["state"] != "success":
        raise click.exceptions.Exit(int(ExitCode.FAILURE))


def _show(seen: dict[str, Any]) -> None:
    fmt = options().output
    if fmt != "table":
        out.out(to_text(seen, fmt), highlight=False)
        return
    if seen["log"]:
        out.out("\n".join(seen["log"]), highlight=False)
    out.out(f"Returned: {seen['return_value']!r}", highlight=False)
    err.print(f"Task {escape(seen['task_id'])}: {escape(seen['state'])}")
