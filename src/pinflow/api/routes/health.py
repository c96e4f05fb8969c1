"""``/api/v2/monitor/health`` and ``/api/v2/version``: public, like Airflow's.

Health keeps Airflow's shape (``metadatabase``, ``scheduler``, ``triggerer``,
``dag_processor``), so Airflow's clients and probes read it as they would Airflow's, and adds
the fleet: every scheduler and Celery worker on record with its status, and the last check of
the broker (``pinflow.services.reads.fleet``). Being public, it shows hostnames, pids and
queues, never a secret: the fleet's strings come with URL credentials masked.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from pinflow import __version__
from pinflow.api.auth import DbDep
from pinflow.services.reads import ComponentView, FleetView, fleet

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


class ComponentInfo(BaseModel):
    """One scheduler or worker: ``healthy`` while its heartbeat is younger than
    ``PINFLOW_SCHEDULER_HEALTH_THRESHOLD``, ``unhealthy`` after, ``stopped`` once it stopped."""

    id: str
    hostname: str | None
    pid: int | None
    queues: list[str]
    status: str
    latest_heartbeat: str
    started_at: str
    stopped_at: str | None = None
    info: dict[str, Any]


class BrokerInfo(BaseModel):
    """The last check of the Celery broker: ``healthy``, ``unreachable`` (with why), or
    ``unknown`` when nobody checked it within the threshold."""

    status: str
    error: str | None = None
    checked_at: str


class HealthInfo(BaseModel):
    """Airflow's ``HealthInfoResponse``, plus Pinflow's fleet. Pinflow has no triggerer or DAG
    processor (DAGs are compiled on push), so those report ``None``; ``scheduler`` is healthy
    when one scheduler is (``None`` when none was ever seen)."""

    metadatabase: BaseInfo
    scheduler: SchedulerInfo
    triggerer: TriggererInfo
    dag_processor: DagProcessorInfo | None = None
    schedulers: list[ComponentInfo] = []
    workers: list[ComponentInfo] = []
    broker: BrokerInfo | None = None


class VersionInfo(BaseModel):
    version: str
    git_version: str | None = None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _component(view: ComponentView) -> ComponentInfo:
    return ComponentInfo(
        id=view.id,
        hostname=view.hostname,
        pid=view.pid,
        queues=list(view.queues),
        status=view.status,
        latest_heartbeat=view.heartbeat_at.isoformat(),
        started_at=view.started_at.isoformat(),
        stopped_at=_iso(view.stopped_at),
        info=view.info,
    )


def _broker(view: ComponentView | None) -> BrokerInfo | None:
    if view is None:
        return None
    error = view.info.get("error")
    return BrokerInfo(
        status=view.status,
        error=None if error is None else str(error),
        checked_at=view.heartbeat_at.isoformat(),
    )


def _health(database: str, seen: FleetView | None) -> HealthInfo:
    if seen is None:  # the fleet could not be read: nothing is known of it
        return HealthInfo(
            metadatabase=BaseInfo(status=database),
            scheduler=SchedulerInfo(status=None),
            triggerer=TriggererInfo(status=None),
        )
    return HealthInfo(
        metadatabase=BaseInfo(status=database),
        scheduler=SchedulerInfo(
            status=seen.scheduler_status,
            latest_scheduler_heartbeat=_iso(seen.latest_scheduler_heartbeat),
        ),
        triggerer=TriggererInfo(status=None),
        schedulers=[_component(view) for view in seen.schedulers],
        workers=[_component(view) for view in seen.workers],
        broker=_broker(seen.broker),
    )


@router.get("/monitor/health", response_model=HealthInfo)
def health(request: Request, db: DbDep) -> HealthInfo:
    threshold: float = request.app.state.settings.scheduler_health_threshold
    try:
        with db.read() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        log.exception("metadata database health check failed")
        return _health("unhealthy", None)
    try:
        seen = fleet.fleet(db, threshold=threshold)
    except SQLAlchemyError:
        log.exception("cannot read the fleet's heartbeats")
        return _health("healthy", None)
    return _health("healthy", seen)


@router.get("/version", response_model=VersionInfo)
def version() -> VersionInfo:
    return VersionInfo(version=__version__)
