"""``/api/v2/monitor/health`` and ``/api/v2/version``: public, like Airflow's."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from pinflow import __version__
from pinflow.api.auth import DbDep

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v2", tags=["monitor"])


class BaseInfo(BaseModel):
    status: str | None


class SchedulerInfo(BaseInfo):
    latest_scheduler_heartbeat: str | None = None


class TriggererInfo(BaseInfo):
    latest_triggerer_heartbeat: str | None = None


class DagProcessorInfo(BaseInfo):
    latest_dag_processor_heartbeat: str | None = None


class HealthInfo(BaseModel):
    """Airflow's ``HealthInfoResponse``. Pinflow has no triggerer or DAG processor (DAGs are
    compiled on push), so those report ``None``; the scheduler reports through its own
    heartbeat once it records one."""

    metadatabase: BaseInfo
    scheduler: SchedulerInfo
    triggerer: TriggererInfo
    dag_processor: DagProcessorInfo | None = None


class VersionInfo(BaseModel):
    version: str
    git_version: str | None = None


@router.get("/monitor/health", response_model=HealthInfo)
def health(db: DbDep) -> HealthInfo:
    try:
        with db.read() as session:
            session.execute(text("SELECT 1"))
        database = "healthy"
    except SQLAlchemyError:
        log.exception("metadata database health check failed")
        database = "unhealthy"
    return HealthInfo(
        metadatabase=BaseInfo(status=database),
        scheduler=SchedulerInfo(status=None),
        triggerer=TriggererInfo(status=None),
    )


@router.get("/version", response_model=VersionInfo)
def version() -> VersionInfo:
    return VersionInfo(version=__version__)
