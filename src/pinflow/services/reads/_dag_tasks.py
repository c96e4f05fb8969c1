"""The tasks of one version of a DAG, as Airflow's ``GET /dags/{dag_id}/tasks`` shows them.

A task is shown with the DAG's ``default_args`` applied (what it runs with), its direct
downstream tasks, and the version it was read from: the DAG's current version unless a
published version number is asked for (``dagVersions`` numbers). Reads record no audit event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pinflow.errors import NotFoundError
from pinflow.services.reads._dag_queries import get_dag_details, get_dag_version
from pinflow.services.reads._queries import invalid
from pinflow.services.reads._read_models import spec_of_snapshot
from pinflow.spec.models import DagSpec, ResolvedTask, TaskFlow, TaskSpec
from pinflow.store.db import Database

# What Airflow calls the operator of each kind of task (``operator_name``).
_OPERATORS = {"python": "@task", "bash": "BashOperator", "http": "HttpOperator"}
_FLOWS = {TaskFlow.BRANCH: "@task.branch", TaskFlow.SHORT_CIRCUIT: "@task.short_circuit"}


@dataclass(frozen=True)
class TaskDefinition:
    """One task of a version: its spec, with defaults applied, and its direct downstreams."""

    spec: TaskSpec
    resolved: ResolvedTask
    owner: str
    downstream_task_ids: list[str]

    @property
    def operator_name(self) -> str:
        if self.spec.flow is not None:
            return _FLOWS.get(self.spec.flow, "@task")
        return _OPERATORS.get(self.spec.kind, self.spec.kind)

    @property
    def is_mapped(self) -> bool:
        return self.spec.mapped


@dataclass(frozen=True)
class DagTasks:
    dag_id: str
    version_number: int | None  # None: a version without a number of its own (a draft)
    dag: DagSpec
    tasks: list[TaskDefinition]


_ORDER: dict[str, Callable[[TaskDefinition], Any]] = {
    "task_id": lambda t: t.spec.task_id,
    "task_display_name": lambda t: t.spec.task_id,
    "operator_name": lambda t: t.operator_name,
    "trigger_rule": lambda t: t.resolved.trigger_rule.value,
    "retries": lambda t: t.resolved.retries,
    "pool": lambda t: t.resolved.pool,
    "queue": lambda t: t.resolved.queue,
}


def dag_tasks(
    db: Database,
    dag_id: str,
    *,
    version_number: int | None = None,
    order_by: Sequence[str] = ("task_id",),
) -> DagTasks:
    """The tasks of the DAG's current version (or of published version ``version_number``)."""
    number, spec = _version_spec(db, dag_id, version_number)
    downstream: dict[str, list[str]] = {t.task_id: [] for t in spec.tasks}
    for t in spec.tasks:
        for up in t.upstream_task_ids:
            downstream.setdefault(up, []).append(t.task_id)
    tasks = [
        TaskDefinition(t, spec.resolve(t), spec.owner, sorted(downstream[t.task_id]))
        for t in spec.tasks
    ]
    return DagTasks(dag_id, number, spec, _ordered(tasks, order_by))


def dag_task(
    db: Database, dag_id: str, task_id: str, *, version_number: int | None = None
) -> tuple[DagTasks, TaskDefinition]:
    found = dag_tasks(db, dag_id, version_number=version_number)
    for task in found.tasks:
        if task.spec.task_id == task_id:
            return found, task
    raise NotFoundError(
        f"Task {task_id!r} was not found in DAG {dag_id!r}; its tasks are listed at "
        f"/api/v2/dags/{dag_id}/tasks."
    )


def _version_spec(
    db: Database, dag_id: str, version_number: int | None
) -> tuple[int | None, DagSpec]:
    if version_number is not None:
        version = get_dag_version(db, dag_id, version_number)
        return version.version, spec_of_snapshot(db, version.snapshot_digest)
    details = get_dag_details(db, dag_id)
    if details.info.spec is None:
        raise NotFoundError(f"DAG {dag_id!r} has no version to list the tasks of; push one.")
    # Without a current version (every version deprecated) the DAG is described by its
    # newest remaining version, as everywhere else (``_dag_queries``).
    latest = details.latest_version
    return (latest.version if latest else None), details.info.spec


def _ordered(tasks: list[TaskDefinition], order_by: Sequence[str]) -> list[TaskDefinition]:
    result = sorted(tasks, key=_ORDER["task_id"])
    for name in reversed(order_by or ("task_id",)):
        key = _ORDER.get(name.removeprefix("-"))
        if key is None:
            allowed = ", ".join(sorted(_ORDER))
            raise invalid("order_by", f"cannot order tasks by {name!r}; use one of {allowed}")
        result.sort(key=key, reverse=name.startswith("-"))
    return result
