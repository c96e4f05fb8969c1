"""The run pages: the grid of a DAG's runs x tasks (with each run's duration bar) and the
recent runs' duration chart, and one run (its Gantt chart, tasks, tries and their logs,
XComs). Each live part also has a fragment URL that the page's script re-fetches
while something is unfinished (one rendering path: the same template serves both)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from pinflow.api.auth import DbDep, authorize
from pinflow.lifecycle.permissions import Permission, Principal
from pinflow.lifecycle.states import (
    FINISHED_TASK_STATES,
    TIMED_WAIT_STATES,
    UNFINISHED_RUN_STATES,
)
from pinflow.services.reads import (
    TaskFilter,
    TaskRef,
    XComFilter,
    charts,
    dag_queries,
    run_callback_queries,
    run_queries,
    task_queries,
    xcoms,
)
from pinflow.services.reads import read_models as reads
from pinflow.spec.models import DagSpec
from pinflow.ui import durations
from pinflow.ui.gantt import gantt_chart
from pinflow.ui.graph import spec_layout
from pinflow.ui.session import PageUser
from pinflow.ui.templating import render

GRID_RUNS = 25
MAX_TASKS = 1000
MAX_XCOMS = 100
Offset = Annotated[int, Query(ge=0, le=2**62)]
# Finished, or waiting with no process (a retry's delay, a sensor's wait).
_CLEARABLE = {s.value for s in FINISHED_TASK_STATES | TIMED_WAIT_STATES}

router = APIRouter(prefix="/ui/dags/{dag_id}", include_in_schema=False)


def _readable_dag(db: DbDep, user: Principal, dag_id: str) -> str:
    project = dag_queries.project_of(db, dag_id)
    authorize(user, Permission.WORKFLOW_READ, project, f"DAG {dag_id!r} was not found.")
    return project


def _grid_context(db: DbDep, dag_id: str, offset: int) -> dict[str, Any]:
    grid = reads.grid(db, dag_id, limit=GRID_RUNS, offset=offset)
    recent = charts.durations(db, dag_id, limit=GRID_RUNS, offset=offset)
    return {
        "dag_id": dag_id,
        "g": grid,
        "bars": durations.run_bars(grid.runs, datetime.now(UTC)),
        "bar_w": durations.RUN_BAR_W,
        "bar_h": durations.RUN_BAR_H,
        "durations": durations.duration_chart(recent),
        "offset": offset,
        "page_size": GRID_RUNS,
        "clearable": _CLEARABLE,
    }


@router.get("/runs")
def runs(request: Request, db: DbDep, user: PageUser, dag_id: str, offset: Offset = 0) -> Response:
    """The grid: the DAG's runs (newest page first, oldest left) x their tasks, by state;
    a bar per run as tall as it took; the same runs' durations, per task."""
    project = _readable_dag(db, user, dag_id)
    info = dag_queries.get_dag(db, dag_id)
    context = _grid_context(db, dag_id, offset)
    return render(request, "runs.html", user=user, dag=info, project=project, **context)


@router.get("/grid")
def grid_fragment(
    request: Request, db: DbDep, user: PageUser, dag_id: str, offset: Offset = 0
) -> Response:
    _readable_dag(db, user, dag_id)
    return render(request, "_grid.html", user=user, **_grid_context(db, dag_id, offset))


def _run_context(db: DbDep, dag_id: str, run_id: str) -> dict[str, Any]:
    info = run_queries.get_run(db, dag_id, run_id)
    tis, _ = task_queries.list_task_instances(
        db, TaskFilter(dag_id=dag_id, run_id=run_id), page=(MAX_TASKS, 0)
    )
    spec: DagSpec = reads.spec_of_snapshot(db, info.run.snapshot_digest)
    layout = spec_layout(spec, task_summary_states(tis))
    found, xcoms_total = xcoms.list_xcoms(
        db, XComFilter(dag_id=dag_id, run_id=run_id), page=(MAX_XCOMS, 0)
    )
    order = {n.task_id: (n.x, n.y) for n in layout.nodes}
    tis.sort(key=lambda ti: (order.get(ti.task_id, (1 << 30, 0)), ti.task_id, ti.map_index))
    return {
        "dag_id": dag_id,
        "info": info,
        "run": info.run,
        "tis": tis,
        "layout": layout,
        "live": info.run.state in UNFINISHED_RUN_STATES,
        "clearable": _CLEARABLE,
        "has_failed": any(ti.state.value in ("failed", "upstream_failed") for ti in tis),
        "xcoms": found,
        "xcoms_total": xcoms_total,
        "gantt": gantt_chart(charts.gantt(db, dag_id, run_id), datetime.now(UTC)),
        "callbacks": run_callback_queries.run_callbacks(db, dag_id, run_id),
    }


@router.get("/runs/{run_id}")
def run(request: Request, db: DbDep, user: PageUser, dag_id: str, run_id: str) -> Response:
    """One run: its state and pin, the graph by state, its Gantt chart, tasks with
    durations, XComs."""
    project = _readable_dag(db, user, dag_id)
    context = _run_context(db, dag_id, run_id)
    return render(request, "run.html", user=user, project=project, **context)


@router.get("/runs/{run_id}/live")
def run_fragment(request: Request, db: DbDep, user: PageUser, dag_id: str, run_id: str) -> Response:
    project = _readable_dag(db, user, dag_id)
    context = _run_context(db, dag_id, run_id)
    return render(request, "_run_live.html", user=user, project=project, **context)


@router.get("/runs/{run_id}/tasks/{task_id}/tries")
def tries_fragment(
    *,
    request: Request,
    db: DbDep,
    user: PageUser,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: Annotated[int, Query(ge=-1, le=2**31 - 1)] = -1,
) -> Response:
    """Every try of one task instance (the history survives retries and clears)."""
    _readable_dag(db, user, dag_id)
    tries = task_queries.list_tries(db, TaskRef(dag_id, run_id, task_id, map_index))
    return render(
        request,
        "_tries.html",
        user=user,
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=map_index,
        tries=tries,
    )


# A mapped task's node shows its least advanced element: failures first, then live work.
_SUMMARY_RANK = (
    "failed",
    "upstream_failed",
    "running",
    "queued",
    "up_for_retry",
    "up_for_reschedule",
    "deferred",
    "scheduled",
    "none",
    "skipped",
    "success",
    "removed",
)


def task_summary_states(tis: list[Any]) -> dict[str, str]:
    """One state per task for the graph: a plain task's own, a mapped task's summary."""
    summary: dict[str, str] = {}
    for ti in tis:
        state = ti.state.value
        known = summary.get(ti.task_id)
        if known is None or _rank(state) < _rank(known):
            summary[ti.task_id] = state
    return summary


def _rank(state: str) -> int:
    return _SUMMARY_RANK.index(state) if state in _SUMMARY_RANK else len(_SUMMARY_RANK)
