"""Response bodies of the charts' data (Pinflow's own routes under ``/api/v2``, snake_case as
the rest of it): one run's Gantt chart, and a DAG's recent run and task durations.

As in Airflow's task instance bodies, task state ``none`` is ``null``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from pinflow.lifecycle.states import RunState, TaskState
from pinflow.services.reads import charts

_SPAN = "from its first element's start to its last element's end"


def _state(state: str | None) -> TaskState | None:
    return None if state in (None, TaskState.NONE.value) else TaskState(state)


class GanttTry(BaseModel):
    try_number: int
    state: TaskState | None
    start_date: datetime | None
    end_date: datetime | None = Field(description="null while the try runs.")
    duration: float | None = Field(description="Seconds; null while the try runs.")
    interrupted: bool = Field(
        description="Ended by the infrastructure and retried without spending a retry."
    )

    @classmethod
    def of(cls, t: charts.TrySpan) -> GanttTry:
        return cls(
            try_number=t.try_number,
            state=_state(t.state),
            start_date=t.start_date,
            end_date=t.end_date,
            duration=t.seconds,
            interrupted=t.interrupted,
        )


class GanttTaskInstance(BaseModel):
    task_id: str
    map_index: int = Field(description="-1 unless an element of a mapped task.")
    state: TaskState | None
    try_number: int
    queued_dttm: datetime | None = Field(description="When its latest try was queued.")
    start_date: datetime | None
    end_date: datetime | None
    tries: list[GanttTry] = Field(description="Every try, oldest first (retries, clears).")

    @classmethod
    def of(cls, t: charts.GanttTask) -> GanttTaskInstance:
        return cls(
            task_id=t.task_id,
            map_index=t.map_index,
            state=_state(t.state),
            try_number=t.try_number,
            queued_dttm=t.queued_at,
            start_date=t.start_date,
            end_date=t.end_date,
            tries=[GanttTry.of(tr) for tr in t.tries],
        )


class GanttResponse(BaseModel):
    """One run's task instances with all their tries: what its Gantt chart draws."""

    dag_id: str
    dag_run_id: str
    state: RunState
    start_date: datetime | None
    end_date: datetime | None
    task_instances: list[GanttTaskInstance] = Field(
        description="In the order of the run's graph (layer, then row), then by map index."
    )

    @classmethod
    def of(cls, g: charts.Gantt) -> GanttResponse:
        return cls(
            dag_id=g.run.dag_id,
            dag_run_id=g.run.run_id,
            state=g.run.state,
            start_date=g.run.start_date,
            end_date=g.run.end_date,
            task_instances=[GanttTaskInstance.of(t) for t in g.tasks],
        )


class RunDuration(BaseModel):
    dag_run_id: str
    state: RunState
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None = Field(description="Seconds; null until the run finishes.")


class TaskDurationPoint(BaseModel):
    dag_run_id: str
    state: TaskState | None = Field(
        description="Of a mapped task, its most telling element's (failures first)."
    )
    duration: float | None = Field(
        description=f"Seconds, {_SPAN}; null while unfinished or when it did not run."
    )


class TaskDurations(BaseModel):
    task_id: str
    p50: float | None = Field(description="The median of the known durations, in seconds.")
    points: list[TaskDurationPoint] = Field(description="One per run, in the runs' order.")


class DurationsResponse(BaseModel):
    """A DAG's recent runs, oldest first, how long each and each of its tasks took, and the
    median of each over these runs."""

    dag_id: str
    total_entries: int = Field(description="The DAG's runs in all.")
    runs: list[RunDuration]
    run_p50: float | None = Field(description="The median run duration, in seconds.")
    tasks: list[TaskDurations] = Field(description="In graph order.")

    @classmethod
    def of(cls, dag_id: str, d: charts.Durations) -> DurationsResponse:
        runs = [
            RunDuration(
                dag_run_id=r.run_id,
                state=r.state,
                start_date=r.start_date,
                end_date=r.end_date,
                duration=s,
            )
            for r, s in zip(d.runs, d.run_seconds, strict=True)
        ]
        tasks = [
            TaskDurations(
                task_id=t.task_id,
                p50=t.p50_seconds,
                points=[
                    TaskDurationPoint(
                        dag_run_id=p.run_id, state=_state(p.state), duration=p.seconds
                    )
                    for p in t.points
                ],
            )
            for t in d.tasks
        ]
        return cls(
            dag_id=dag_id, total_entries=d.total, runs=runs, run_p50=d.run_p50_seconds, tasks=tasks
        )
