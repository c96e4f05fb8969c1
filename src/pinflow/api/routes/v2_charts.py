"""The data behind the web UI's charts, for scripts and other front ends: one run's Gantt
chart (``…/dagRuns/{dag_run_id}/gantt``) and a DAG's recent durations (``…/durations``).

Airflow 3 keeps these in its private UI API; Pinflow serves them in its public one, under
the DAG's path, read with workflow:read in the DAG's project like the runs themselves.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from pinflow.api.auth import DbDep
from pinflow.api.chart_schemas import DurationsResponse, GanttResponse
from pinflow.api.routes.v2_dags import on_dag
from pinflow.api.schemas import MAX_INT
from pinflow.lifecycle.permissions import Permission, Principal
from pinflow.services.reads import charts

router = APIRouter(prefix="/api/v2/dags/{dag_id}", tags=["Charts"])

Reader = Annotated[Principal, on_dag(Permission.WORKFLOW_READ)]
DEFAULT_RUNS = 25


@router.get("/dagRuns/{dag_run_id}/gantt", response_model=GanttResponse)
def get_gantt(
    db: DbDep,
    dag_id: str,
    dag_run_id: Annotated[str, Path(description="The run's run_id")],
    _: Reader,
) -> GanttResponse:
    """The run's task instances, each with every try's start and end: its Gantt chart."""
    return GanttResponse.of(charts.gantt(db, dag_id, dag_run_id))


@router.get("/durations", response_model=DurationsResponse)
def get_durations(
    db: DbDep,
    dag_id: str,
    _: Reader,
    limit: Annotated[
        int, Query(ge=1, le=MAX_INT, description=f"Runs, at most {charts.MAX_RUNS}")
    ] = DEFAULT_RUNS,
    offset: Annotated[int, Query(ge=0, le=MAX_INT, description="Newest runs skipped")] = 0,
) -> DurationsResponse:
    """The DAG's ``limit`` newest runs (after ``offset``), oldest first: how long each run
    and each of its tasks took, and the median (p50) of each. A limit above the maximum is
    lowered to it, as Airflow's lists do."""
    found = charts.durations(db, dag_id, limit=min(limit, charts.MAX_RUNS), offset=offset)
    return DurationsResponse.of(dag_id, found)
