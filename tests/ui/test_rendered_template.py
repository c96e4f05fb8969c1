"""An Airflow task's "Rendered template" in the browser: the tries of a task instance show
what each try rendered its templated fields to (kept over the try's channel, ADR 0034).

The try reports its fields as a task process does (``set_rendered_fields`` with its own
claims, while it runs); the run is drained with ``run_until_idle``. Real uvicorn, real
Chromium, SQLite (UI tests run on SQLite only).
"""

from __future__ import annotations

from playwright.sync_api import Page, expect
from tests.ui.conftest import Server
from tests.ui.helpers import publish, screenshot

from pinflow.services.commands import _runs as runs
from pinflow.services.engine import TryClaims, set_rendered_fields
from pinflow.spec.models import DagSpec, TaskSpec
from pinflow.testing import ExecutionContext, TaskOutcome, run_until_idle

COMMAND = "echo {{ ds }} {{ ti.xcom_pull('extract') }}"


def test_the_tries_show_each_tries_rendered_template(page: Page, server: Server) -> None:
    spec = DagSpec(
        dag_id="ui_rendered",
        project="alpha",
        tasks=[
            TaskSpec(task_id="extract", kind="bash", bash_command="echo 3"),
            TaskSpec(task_id="report", kind="bash", bash_command=COMMAND, depends_on=["extract"]),
        ],
    )
    version_id = publish(server.db, spec)
    run = runs.trigger_run(server.db, version_id=version_id, actor="admin")

    def render_then_succeed(ctx: ExecutionContext) -> TaskOutcome:
        if ctx.task_id == "report":
            claims = TryClaims(
                ctx.ti_id,
                ctx.try_number,
                ctx.dag_id,
                ctx.run_id,
                ctx.task_id,
                ctx.map_index,
                ctx.snapshot_digest,
            )
            fields = {"bash_command": "echo 2024-03-01 3", "env": {"DAY": "2024-03-01"}}
            set_rendered_fields(server.db, claims, fields)
        return TaskOutcome(success=True, value="3")

    run_until_idle(server.db, render_then_succeed)
    page.goto(f"{server.url}/ui/dags/ui_rendered/runs/{run.run_id}")
    expect(page.locator("#run-state")).to_have_text("success")

    page.locator("#task-extract").get_by_role("button", name="Tries & logs").click()
    expect(page.locator("#tries-table tr[data-try='1']")).to_contain_text("success")
    expect(page.locator("#tries-table .rendered-template")).to_have_count(0)  # nothing rendered

    page.locator("#task-report").get_by_role("button", name="Tries & logs").click()
    rendered = page.locator("#tries-table tr[data-try='1'] .rendered-template")
    expect(rendered).to_have_count(1)
    rendered.get_by_text("Rendered template").click()
    expect(rendered.locator("dt")).to_have_text(["bash_command", "env"])
    expect(rendered.locator("dd").nth(0)).to_have_text("echo 2024-03-01 3")
    expect(rendered.locator("dd").nth(1)).to_contain_text('"DAY": "2024-03-01"')
    screenshot(page, "rendered-template")
