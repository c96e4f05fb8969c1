"""A realistic instance to look at: DAGs with several versions, runs that succeeded, failed and
were cleared onto a fix, a draft, a paused DAG, the audit trail all that leaves, and a small
cluster. The width test (``test_responsive.py``) walks its pages, and
``scripts/screenshots.py`` photographs them for docs/screenshots; both seed through the same
services the API uses, and drain runs with ``run_until_idle`` (no scheduler, no sleeps).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from tests.ui.helpers import bash_handler, publish

from pinflow.services.commands import _clear as clear
from pinflow.services.commands import _dags as dags
from pinflow.services.commands import _runs as runs
from pinflow.services.commands import _versions as versions
from pinflow.services.engine import fleet, scheduler_id, worker_id
from pinflow.spec.assets import AssetCondition, AssetSpec
from pinflow.spec.models import DagSpec
from pinflow.store.db import Database
from pinflow.testing import run_until_idle

ETL = "orders_etl"
FEATURES = "customer_features_refresh"
REPORTS = "finance_reports_monthly"


@dataclass(frozen=True)
class Showcase:
    """What was seeded, by the names the pages need."""

    v1: str  # orders_etl v1, deprecated
    v2: str  # orders_etl v2, active and current
    draft: str  # a draft copied from v2
    failed_run: str  # a run of features that failed
    cleared_run: str  # the orders run that failed on v1 and passed once cleared onto v2
    on_assets: str = ""  # the dashboard's version, scheduled on assets

    def pages(self) -> dict[str, str]:
        """Every main page: a short name (used in messages and file names) -> its path."""
        q = lambda value: quote(value, safe="")  # noqa: E731 (one path segment)
        return {
            "dags": "/ui/dags",
            "workflows": "/ui/workflows",
            "detail": f"/ui/workflows/{self.v2}",
            "detail-deprecated": f"/ui/workflows/{self.v1}",
            "diff": f"/ui/diff?from={self.v1}&to={self.v2}",
            "designer": f"/ui/workflows/{self.draft}/designer",
            "runs": f"/ui/dags/{ETL}/runs",
            "run": f"/ui/dags/{ETL}/runs/{q(self.cleared_run)}",
            "run-failed": f"/ui/dags/{FEATURES}/runs/{q(self.failed_run)}",
            "audit": "/ui/audit",
            "cluster": "/ui/cluster",
            "assets": "/ui/assets",
            "detail-on-assets": f"/ui/workflows/{self.on_assets}",
            "error": "/ui/workflows/00000000-0000-0000-0000-000000000000",
        }


def _etl(load: str, *, description: str) -> DagSpec:
    return DagSpec.model_validate(
        {
            "dag_id": ETL,
            "name": "Orders ETL",
            "description": description,
            "project": "sales",
            "owner": "data-platform",
            "tags": ["sales", "etl", "hourly"],
            "params": {
                "day": {"type": "string", "default": "today", "description": "Day to load"},
                "full_refresh": {"type": "boolean", "default": False},
                "region": {"type": "string", "enum": ["eu", "us", "apac"], "default": "eu"},
            },
            "trigger": {"schedule": "0 * * * *", "timezone": "Europe/Paris"},
            "tasks": [
                {"task_id": "extract_orders", "kind": "bash", "bash_command": "extract orders"},
                {"task_id": "extract_customers", "kind": "bash", "bash_command": "extract cust"},
                {
                    "task_id": "transform_and_deduplicate",
                    "kind": "bash",
                    "bash_command": "dbt run --select orders_clean",
                    "depends_on": ["extract_orders", "extract_customers"],
                },
                {
                    "task_id": "load_warehouse",
                    "kind": "bash",
                    "bash_command": load,
                    "depends_on": ["transform_and_deduplicate"],
                    "retries": 2,
                },
                {
                    "task_id": "notify_finance",
                    "kind": "bash",
                    "bash_command": "notify #finance",
                    "depends_on": ["load_warehouse"],
                    "trigger_rule": "all_done",
                },
            ],
        }
    )


def _features() -> DagSpec:
    """A chain whose model training fails (``exit 1``), so its run is a failed one."""
    chain = ["snapshot_customers", "compute_rfm_scores", "train_churn_model", "publish_features"]
    commands = ["snapshot", "rfm", "exit 1", "publish"]
    tasks = [
        {"task_id": t, "kind": "bash", "bash_command": c, "depends_on": chain[:i][-1:]}
        for i, (t, c) in enumerate(zip(chain, commands, strict=True))
    ]
    return DagSpec.model_validate(
        {
            "dag_id": FEATURES,
            "name": "Customer features refresh",
            "description": "Recomputes the customer feature table that the churn model reads.",
            "project": "ml",
            "owner": "ml-team",
            "tags": ["ml", "features"],
            "trigger": {"schedule": "@daily", "timezone": "UTC"},
            "tasks": tasks,
        }
    )


def _reports() -> DagSpec:
    return DagSpec.model_validate(
        {
            "dag_id": REPORTS,
            "name": "Finance reports (monthly)",
            "description": "Closes the month: ledgers, then the board pack.",
            "project": "finance",
            "owner": "finance-eng",
            "tags": ["finance"],
            "trigger": {"schedule": "0 6 1 * *", "timezone": "America/New_York"},
            "tasks": [
                {"task_id": "close_ledgers", "kind": "bash", "bash_command": "close"},
                {
                    "task_id": "board_pack",
                    "kind": "bash",
                    "bash_command": "render board pack",
                    "depends_on": ["close_ledgers"],
                },
            ],
        }
    )


def _cluster(db: Database) -> None:
    now = datetime.now(UTC)
    info = {"executor": "LocalExecutor", "live_tries": 2}
    for host, pid, seen in (("sched-a", 4101, now), ("sched-b", 4202, now - timedelta(minutes=7))):
        sid = scheduler_id(host, pid)
        fleet.beat(db, sid, kind="scheduler", hostname=host, pid=pid, info=info, now=seen)
    worker = worker_id("celery@gpu-worker-1.internal.example.com")
    queues = ["default", "gpu", "reports"]
    fleet.beat(db, worker, kind="worker", hostname="gpu-worker-1", pid=77, queues=queues, now=now)
    fleet.broker_checked(db, error=None, now=now)


def seed(db: Database) -> Showcase:
    """Fill ``db`` (migrated, empty of these DAGs) with the showcase; what was made."""
    v1 = publish(db, _etl("exit 1", description="Hourly orders into the warehouse."))
    for _ in range(3):
        runs.trigger_run(db, version_id=v1, actor="alice", conf={"region": "us"})
    run_until_idle(db, bash_handler)
    failing = runs.trigger_run(db, version_id=v1, actor="alice").run_id
    run_until_idle(db, bash_handler)
    fixed = _etl("copy into warehouse.orders", description="Hourly orders, deduplicated.")
    v2 = publish(db, fixed, deprecate_previous=True)
    clear.clear_task_instances(db, ETL, actor="alice", dag_run_id=failing)
    for _ in range(4):
        runs.trigger_run(db, version_id=v2, actor="scheduler")
    run_until_idle(db, bash_handler)
    runs.trigger_run(db, version_id=v2, actor="bob")  # left queued: the grid shows it live
    draft = versions.create_version(db, v2, actor="bob").id

    publish(db, _features())
    failed = runs.trigger_run(db, dag_id=FEATURES, actor="carol").run_id
    run_until_idle(db, bash_handler)
    publish(db, _reports())
    dags.set_paused(db, REPORTS, True, actor="dave")
    _cluster(db)
    on_assets = _assets(db)
    return Showcase(
        v1=v1, v2=v2, draft=draft, failed_run=failed, cleared_run=failing, on_assets=on_assets
    )


LAKE = AssetSpec(uri="s3://sales-data-lake/warehouse/orders/daily/partitioned-by-region")
FX = AssetSpec(uri="https://rates.example.com/fx/eur", name="fx_rates", group="finance")


def _assets(db: Database) -> str:
    """A producer of the lake's orders, and a dashboard scheduled on them and the FX rates;
    one export ran, so the orders have an event and the dashboard waits for the rates."""
    export = {"task_id": "export", "kind": "bash", "bash_command": "export", "outlets": [LAKE]}
    publish(db, DagSpec.model_validate({"dag_id": "lake_export", "tasks": [export]}))
    on = AssetCondition(all=[AssetCondition(asset=LAKE), AssetCondition(asset=FX)])
    refresh = {"task_id": "refresh", "kind": "bash", "bash_command": "refresh", "inlets": [FX]}
    dashboard = {"dag_id": "orders_dashboard", "trigger": {"assets": on}, "tasks": [refresh]}
    version = publish(db, DagSpec.model_validate(dashboard))
    runs.trigger_run(db, dag_id="lake_export", actor="alice")
    run_until_idle(db, bash_handler)
    return version
