"""SQLAlchemy tables: the one schema, for SQLite and PostgreSQL alike.

Naming follows the seeds where they name things (``workflow_definition``,
``source_workflow_id``); Airflow's names elsewhere (``dag``, ``dag_run``, ``task_instance``).
Timestamps are timezone-aware UTC. Ids of versions are UUID strings (portable across both
databases and readable in URLs).

Import every table from here (``from pinflow.store.tables import DagRun``): the modules behind
this face group them by aggregate (``_dags``, ``_runs``, ``_access``, ``_resources``,
``_fleet``, ``_canary``, ``_assets``, ``_callbacks``) on the base and column types of ``base``.
``Base.metadata`` holds every table once this package is imported, which is what Alembic
compares the migrations with.
"""

from pinflow.store.tables._access import (
    ApiToken,
    AuditEvent,
    LoginAttempt,
    ProjectRole,
    User,
    new_uid,
)
from pinflow.store.tables._assets import (
    Asset,
    AssetEvent,
    AssetQueue,
    AssetReference,
    AssetTriggeredRun,
)
from pinflow.store.tables._backfills import Backfill
from pinflow.store.tables._callbacks import RunCallback
from pinflow.store.tables._canary import CanaryRun
from pinflow.store.tables._dags import (
    Dag,
    DagImportError,
    Project,
    RetirementPolicy,
    Snapshot,
    WorkflowDefinition,
    WorkflowSet,
)
from pinflow.store.tables._fleet import Component
from pinflow.store.tables._resources import POOL_NAME_LEN, Connection, Pool, Variable
from pinflow.store.tables._runs import (
    DagRun,
    StagingDir,
    TaskInstance,
    TaskInstanceNote,
    TaskInstanceTry,
    TaskLogChunk,
    XCom,
)
from pinflow.store.tables.base import (
    DIGEST_LEN,
    ID_LEN,
    NAMING_CONVENTION,
    UUID_LEN,
    Base,
    UTCDateTime,
    utcnow,
)

__all__ = [
    "DIGEST_LEN",
    "ID_LEN",
    "NAMING_CONVENTION",
    "POOL_NAME_LEN",
    "UUID_LEN",
    "ApiToken",
    "Asset",
    "AssetEvent",
    "AssetQueue",
    "AssetReference",
    "AssetTriggeredRun",
    "AuditEvent",
    "Backfill",
    "Base",
    "CanaryRun",
    "Component",
    "Connection",
    "Dag",
    "DagImportError",
    "DagRun",
    "LoginAttempt",
    "Pool",
    "Project",
    "ProjectRole",
    "RetirementPolicy",
    "RunCallback",
    "Snapshot",
    "StagingDir",
    "TaskInstance",
    "TaskInstanceNote",
    "TaskInstanceTry",
    "TaskLogChunk",
    "UTCDateTime",
    "User",
    "Variable",
    "WorkflowDefinition",
    "WorkflowSet",
    "XCom",
    "new_uid",
    "utcnow",
]
