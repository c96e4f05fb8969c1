"""``depends_on_past``: a task instance waits for the same task in the DAG's previous run.

Airflow's rule (its ``PrevDagrunDep``): a task with ``depends_on_past=True`` may start only
when its instance in the previous run of the DAG (the run with the closest earlier logical
date) is ``success`` or ``skipped``. A first run has no past, nor does a task the previous
run did not have (new in this version, or ``removed`` there): both may run. The decision is
here; the engine reads the previous run's states (one query per scheduling step, and only for
a DAG that uses the option) and holds the tasks this names (ADR 0038).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from pinflow.lifecycle.states import TaskState
from pinflow.spec.models import DagSpec

# What the past instance must be for its successor to start (Airflow's rule).
PAST_DONE = frozenset({TaskState.SUCCESS, TaskState.SKIPPED})
# A past instance in this state is no past: the task was not in that run's version.
NO_PAST = frozenset({TaskState.REMOVED})


def past_dependent(spec: DagSpec) -> frozenset[str]:
    """The tasks of ``spec`` that wait for their past (their own or ``default_args``').

    Asked on every scheduling step: computed once per spec and kept in its ``__dict__`` with
    the task list it was computed from (as ``DagSpec.tasks_by_id`` is)."""
    kept: tuple[object, object, frozenset[str]] | None = spec.__dict__.get("_past_dependent")
    if kept is None or kept[0] is not spec.tasks or kept[1] is not spec.default_args:
        found = frozenset(t.task_id for t in spec.tasks if spec.depends_on_past(t))
        kept = (spec.tasks, spec.default_args, found)
        spec.__dict__["_past_dependent"] = kept
    return kept[2]


def waiting_on_past(
    task_ids: Collection[str], past: Mapping[str, Sequence[TaskState]]
) -> frozenset[str]:
    """RequirePastSuccess: those of ``task_ids`` whose previous instance is not done yet.

    ``past``: the states of the previous run's instances per task id (a mapped task's
    elements all count); a task absent from it has no past and may run. Why: a task that
    loads into the same table each run must not run out of order, nor after a failed load.
    """
    held: set[str] = set()
    for task_id in task_ids:
        states = [s for s in past.get(task_id, ()) if s not in NO_PAST]
        if any(s not in PAST_DONE for s in states):
            held.add(task_id)
    return frozenset(held)
