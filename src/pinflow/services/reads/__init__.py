"""Reads: the read models the API, the UI and the CLI show (DAGs, versions, runs, task
instances, XComs, the audit log, the grid and the charts, the fleet of schedulers and
workers, per-version statistics, canary comparisons, lineage, assets). They never write, and import
neither ``commands`` nor ``engine``.

This face is the room's public API; the modules behind it are private."""

from __future__ import annotations

from pinflow.services.reads import _assets as assets
from pinflow.services.reads import _audit_log as audit_log
from pinflow.services.reads import _backfills as backfill_queries
from pinflow.services.reads import _canary as canary
from pinflow.services.reads import _charts as charts
from pinflow.services.reads import _dag_overview as dag_overview
from pinflow.services.reads import _dag_queries as dag_queries
from pinflow.services.reads import _dag_tasks as dag_tasks
from pinflow.services.reads import _event_log as event_log
from pinflow.services.reads import _fleet as fleet
from pinflow.services.reads import _lineage as lineage
from pinflow.services.reads import _metrics as metrics
from pinflow.services.reads import _queries as queries
from pinflow.services.reads import _read_models as read_models
from pinflow.services.reads import _retirement as retirement
from pinflow.services.reads import _run_callbacks as run_callback_queries
from pinflow.services.reads import _run_queries as run_queries
from pinflow.services.reads import _task_queries as task_queries
from pinflow.services.reads import _traces as traces
from pinflow.services.reads import _version_stats as version_stats
from pinflow.services.reads import _views as views
from pinflow.services.reads import _xcoms as xcoms
from pinflow.services.reads._backfills import BackfillView
from pinflow.services.reads._dag_queries import DagDetails, DagFilter, DagInfo
from pinflow.services.reads._dag_tasks import DagTasks, TaskDefinition
from pinflow.services.reads._event_log import EventFilter
from pinflow.services.reads._fleet import ComponentView, FleetView
from pinflow.services.reads._queries import MAX_PAGE, Page
from pinflow.services.reads._run_queries import RANGE_FIELDS, DateRange, RunFilter, RunInfo
from pinflow.services.reads._task_queries import TaskFilter, TaskInstanceInfo, TaskRef, TryInfo
from pinflow.services.reads._version_stats import Change, StatsComparison, TaskStats, VersionStats
from pinflow.services.reads._views import AuditEventView, RunView, VersionView
from pinflow.services.reads._xcoms import XComFilter, XComInfo

__all__ = [
    "MAX_PAGE",
    "RANGE_FIELDS",
    "AuditEventView",
    "BackfillView",
    "Change",
    "ComponentView",
    "DagDetails",
    "DagFilter",
    "DagInfo",
    "DagTasks",
    "DateRange",
    "EventFilter",
    "FleetView",
    "Page",
    "RunFilter",
    "RunInfo",
    "RunView",
    "StatsComparison",
    "TaskDefinition",
    "TaskFilter",
    "TaskInstanceInfo",
    "TaskRef",
    "TaskStats",
    "TryInfo",
    "VersionStats",
    "VersionView",
    "XComFilter",
    "XComInfo",
    "assets",
    "audit_log",
    "backfill_queries",
    "canary",
    "charts",
    "dag_overview",
    "dag_queries",
    "dag_tasks",
    "event_log",
    "fleet",
    "lineage",
    "metrics",
    "queries",
    "read_models",
    "retirement",
    "run_callback_queries",
    "run_queries",
    "task_queries",
    "traces",
    "version_stats",
    "views",
    "xcoms",
]
