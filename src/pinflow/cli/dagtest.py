"""``pinflow dags test PATH``: one run of a DAG's real tasks, in real task processes, with no
server (Airflow's ``airflow dags test``).

The DAG is compiled and checked as ``dags push`` would, registered in a throw-away SQLite
database under a temporary home (nothing of the user's installation is read or written: the
database URL, home and executor are set explicitly), triggered once without its schedule, and
the scheduler is drained with the local executor until the run ends. Each task's state is
printed, then the tail of each failed task's log; the exit code is 1 unless the run succeeded.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from pinflow.cli.common import ExitCode, err, fail, options, out, output_option
from pinflow.cli.output import Column, emit_list
from pinflow.sdk.compiler import CompiledDag

if TYPE_CHECKING:
    from pinflow.services.reads import TaskInstanceInfo
    from pinflow.settings import Settings
    from pinflow.spec.models import DagSpec
    from pinflow.store.db import Database

ACTOR = "dags-test"
LOG_TAIL_LINES = 40
TEST_COLUMNS = (
    Column("Task", "task"),
    Column("State", "state"),
    Column("Try", "try_number"),
    Column("Duration", lambda t: f"{t['duration']:.2f}s" if t.get("duration") else ""),
)


@dataclass(frozen=True)
class TestedTask:
    task: str
    state: str
    try_number: int
    duration: float | None
    log_tail: list[str]


def parse_conf(raw: str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        fail(f"--conf is not valid JSON: {exc}", ExitCode.USAGE, hint="--conf '{\"x\": 1}'")
    if not isinstance(value, dict):
        fail("--conf must be a JSON object", ExitCode.USAGE, hint="--conf '{\"x\": 1}'")
    return value


def pick(compiled: list[CompiledDag], dag_id: str | None) -> CompiledDag:
    ids = [c.spec.dag_id for c in compiled]
    if dag_id is None and len(compiled) == 1:
        return compiled[0]
    for item in compiled:
        if item.spec.dag_id == dag_id:
            return item
    listed = ", ".join(ids)
    if dag_id is None:
        fail(f"PATH holds {len(ids)} DAGs ({listed}); name one", ExitCode.USAGE, hint="--dag-id ID")
    fail(f"no DAG {dag_id!r} in PATH; it holds {listed}", ExitCode.NOT_FOUND)


@dataclass(frozen=True)
class Sandbox:
    """A throw-away installation under a temporary home with one DAG registered (its
    schedule removed: only the runs the test starts)."""

    db: Database
    settings: Settings
    spec: DagSpec


@contextmanager
def sandbox(item: CompiledDag, home: Path) -> Iterator[Sandbox]:
    from pinflow.runtime.private import private_dirs
    from pinflow.services.commands import push
    from pinflow.settings import Settings
    from pinflow.store import migrate
    from pinflow.store.db import Database

    settings = Settings(home=home, database_url=f"sqlite:///{home / 'test.db'}", executor="local")
    private_dirs(settings.home)
    db = Database(settings.database_url)
    try:
        migrate.upgrade(db)
        spec = item.spec
        # Only this run: the schedule would add runs of its own.
        spec = spec.model_copy(
            update={"trigger": spec.trigger.model_copy(update={"schedule": None})}
        )
        push.register_snapshot(db, spec, item.bundle, actor=ACTOR)
        yield Sandbox(db, settings, spec)
    finally:
        db.dispose()


def drain(box: Sandbox, timeout: float) -> bool:
    """Run the scheduler with the local executor until nothing is left to do (``False``:
    ``timeout`` passed first)."""
    from pinflow.executors.base import load_executor
    from pinflow.scheduler.loop import Scheduler

    scheduler = Scheduler(box.db, load_executor(box.settings), box.settings, in_process_api=True)
    try:
        return scheduler.drain(timeout)
    finally:
        scheduler.close()


def run_once(
    item: CompiledDag, conf: dict[str, Any], home: Path, timeout: float
) -> tuple[str, list[TestedTask], list[dict[str, Any]]]:
    """The run's state, its tasks and its DAG callbacks (ADR 0044), from a fresh database
    under ``home``."""
    from pinflow.services.commands import runs
    from pinflow.services.reads import run_callback_queries

    with sandbox(item, home) as box:
        run = runs.trigger_run(box.db, dag_id=box.spec.dag_id, conf=conf, actor=ACTOR)
        idle = drain(box, timeout)
        state, tasks = _results(box.db, box.spec.dag_id, run.run_id)
        callbacks = run_callback_queries.run_callbacks(box.db, box.spec.dag_id, run.run_id)
        called = [
            {
                "callback": f"{c.kind}_callback",
                "state": c.state,
                "error": c.error,
                "output": c.output,
            }
            for c in callbacks
        ]
        return (state if idle else "timed out"), tasks, called


def _results(db: Database, dag_id: str, run_id: str) -> tuple[str, list[TestedTask]]:
    from pinflow.services.reads import MAX_PAGE, TaskFilter, run_queries, task_queries

    run = run_queries.get_run(db, dag_id, run_id).run
    found, _ = task_queries.list_task_instances(
        db, TaskFilter(dag_id=dag_id, run_id=run_id), page=(MAX_PAGE, 0)
    )
    tasks = []
    for ti in found:
        label = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        tail = log_lines(db, ti) if ti.state.value in ("failed", "upstream_failed") else []
        duration = (
            (ti.end_date - ti.start_date).total_seconds() if ti.start_date and ti.end_date else None
        )
        tasks.append(TestedTask(label, ti.state.value, ti.try_number, duration, tail))
    return str(run.state), tasks


def log_lines(db: Database, ti: TaskInstanceInfo, lines: int | None = LOG_TAIL_LINES) -> list[str]:
    from pinflow.services.reads import TaskRef, task_queries

    tries = task_queries.list_tries(db, TaskRef(ti.dag_id, ti.run_id, ti.task_id, ti.map_index))
    if not tries:
        return []
    last = tries[-1]
    path = Path(last.log_path) if last.log_path else None
    if path is None or not path.is_file():
        return [f"*** {last.error}"] if last.error else []
    found = path.read_text(errors="replace").splitlines()
    return found[-lines:] if lines else found


@click.command("test")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--dag-id", default=None, help="The DAG to run, when PATH holds several.")
@click.option("--conf", default=None, help="The run's conf, a JSON object.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds the run may take.")
@output_option
def test_cmd(path: Path, dag_id: str | None, conf: str | None, timeout: float) -> None:
    """Run a DAG once, its real tasks in real task processes, without a server.

    PATH is a DAG file or folder; the run uses a throw-away database in a temporary
    directory, so nothing is pushed anywhere. Prints each task's state and the end of each
    failed task's log; exits 1 unless the run succeeded (7 if --timeout passed).

    \b
    Examples:
      pinflow dags test dags/etl.py
      pinflow dags test dags/ --dag-id etl --conf '{"region": 3}'
    """
    from pinflow.cli.shipping import compile_strict

    values = parse_conf(conf)
    item = pick(compile_strict(path), dag_id)
    err.print(f"Testing {escape(item.spec.dag_id)} from {escape(str(path))}…")
    with tempfile.TemporaryDirectory(prefix="pinflow-dags-test-") as home:
        state, tasks, called = run_once(item, values, Path(home), timeout)
    rows = [asdict(t) for t in tasks]
    raw = {"dag_id": item.spec.dag_id, "state": state, "tasks": rows, "callbacks": called}
    emit_list(rows, TEST_COLUMNS, raw=raw)
    table = options().output == "table"
    for t in tasks if table else []:
        if t.log_tail:
            out.print(f"\n[bold red]{escape(t.task)}[/] ({t.state}), end of its log:")
            out.out("\n".join(t.log_tail), highlight=False)
    for c in called if table else []:
        out.print(f"\n[bold]{escape(c['callback'])}[/] {escape(c['state'])}:")
        out.out((c["output"] or c["error"] or "").rstrip(), highlight=False)
    err.print(f"Run {escape(state)}")
    if state == "timed out":
        raise click.exceptions.Exit(int(ExitCode.TIMEOUT))
    if state != "success":
        raise click.exceptions.Exit(int(ExitCode.FAILURE))
