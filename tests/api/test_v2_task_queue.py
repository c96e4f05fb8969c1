"""A task instance's ``queue`` in /api/v2 (Airflow's ``TaskInstanceResponse.queue``)."""

from __future__ import annotations

from pathlib import Path

from tests.api.helpers import make_spec, publish
from tests.api.test_v2_routes import ADMIN, v2_world

from pinflow.services.commands import _runs as runs
from pinflow.store.db import Database


def test_task_instances_show_their_queue(db: Database, tmp_path: Path) -> None:
    world = v2_world(db, tmp_path)
    spec = make_spec()
    routed = [spec.tasks[0].model_copy(update={"queue": "gpu"}), *spec.tasks[1:]]
    publish(db, spec.model_copy(update={"tasks": routed}))
    runs.trigger_run(db, dag_id="etl", run_id="r2", actor="editor")

    queues = {}
    for run_id in ("r1", "r2"):
        url = f"/api/v2/dags/etl/dagRuns/{run_id}/taskInstances"
        response = world.call(ADMIN, "GET", url)
        assert response.status_code == 200, response.text
        for ti in response.json()["task_instances"]:
            queues[(run_id, ti["task_id"])] = ti["queue"]
    one = world.call(ADMIN, "GET", "/api/v2/dags/etl/dagRuns/r2/taskInstances/extract")

    assert queues == {
        ("r1", "extract"): "default",
        ("r1", "load"): "default",
        ("r2", "extract"): "gpu",
        ("r2", "load"): "default",
    }
    assert one.json()["queue"] == "gpu"
