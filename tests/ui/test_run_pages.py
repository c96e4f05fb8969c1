"""Issue #6 in the browser: runs (grid, detail, tries, live refresh), clearing a failed task
after a fix with the dry-run plan first, DAG operations with their impact, the audit filters.

Runs progress only when the test drains them with ``run_until_idle`` (no scheduler, no
sleeps); the page's live refresh picks the change up, and ``expect`` waits for it.
Real uvicorn, real Chromium, one SQLite file per module (UI tests run on SQLite only).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from tests.ui.conftest import Server
from tests.ui.helpers import (
    actions_of,
    audit_shows,
    bash_handler,
    make_spec,
    publish,
    screenshot,
)

from pinflow.services.commands import _runs as runs
from pinflow.services.commands import _versions as versions
from pinflow.testing import run_until_idle

LIVE = 10_000  # ms: how long a live-refreshed page may take to show a drained run


def start_a_run_and_watch_it_fail(page: Page, server: Server, version_id: str) -> None:
    """Start Run on the version's page; drained, the run fails at ``load``: its tries say so."""
    page.goto(f"{server.url}/ui/workflows/{version_id}")
    page.locator("#detail-actions").get_by_role("button", name="Start Run", exact=True).click()
    expect(page.locator("#run-conf")).to_have_value("{}")
    page.click("#dialog-confirm")
    expect(page).to_have_url(re.compile(r"/ui/dags/ui_fix/runs/manual__"))
    expect(page.locator("#run-state")).to_have_text("queued")
    run_until_idle(server.db, bash_handler)
    expect(page.locator("#run-state")).to_have_text("failed", timeout=LIVE)
    expect(page.locator("#task-load [data-testid=task-state]")).to_have_text("failed")
    expect(page.locator("#task-extract [data-testid=task-state]")).to_have_text("success")
    page.locator("#task-load").get_by_role("button", name="Tries & logs").click()
    expect(page.locator("#tries-table tr[data-try='1']")).to_contain_text("failed")
    page.locator("#tries-table").get_by_role("button", name="Log").click()
    expect(page.locator("#log")).to_contain_text("No log file for this try")
    screenshot(page, "run-failed")


def test_clearing_a_failed_task_after_a_fix_reruns_it_on_the_new_version(
    page: Page, server: Server
) -> None:
    v1 = publish(server.db, make_spec("ui_fix", "Fix Me", load="exit 1"))
    start_a_run_and_watch_it_fail(page, server, v1)

    # The fix arrives as CI pushes it: v2, the previous version deprecated.
    publish(server.db, make_spec("ui_fix", "Fix Me", load="echo fixed"), deprecate_previous=True)
    page.locator("#task-load").get_by_role("button", name="Clear").click()
    expect(page.locator("#plan-version")).to_contain_text("v1 (deprecated) → v2 (active)")
    expect(page.locator("#plan-tasks tr[data-plan=re_executed]")).to_contain_text("load")
    expect(page.locator("#plan-tasks tr[data-plan=reused]")).to_contain_text("extract")
    page.click("#dialog-confirm")
    expect(page.locator("#flash")).to_have_text("Cleared: the run is queued again.")
    expect(page.locator("#run-state")).to_have_text("queued")

    run_until_idle(server.db, bash_handler)
    expect(page.locator("#run-state")).to_have_text("success", timeout=LIVE)
    expect(page.locator("#task-load [data-testid=task-state]")).to_have_text("success")
    expect(page.locator("#run-versions")).to_contain_text("v1")
    expect(page.locator("#run-versions")).to_contain_text("v2")
    expect(page.locator("#xcoms")).to_contain_text('"rows": 3')
    screenshot(page, "run")

    page.goto(f"{server.url}/ui/dags/ui_fix/runs")
    expect(page.locator("#runs-grid .run-cell")).to_have_attribute("data-state", "success")
    expect(page.locator("#runs-grid [data-task=load]")).to_have_attribute("data-state", "success")
    audit_shows(page, server.url, "ui_fix", ["run.triggered", "run.tasks_cleared"])


def test_the_grid_shows_runs_by_tasks_and_refreshes_while_runs_are_live(
    page: Page, server: Server
) -> None:
    v1 = publish(server.db, make_spec("ui_grid", "Grid", load="exit 1"))
    for _ in range(2):
        runs.trigger_run(server.db, version_id=v1, actor="admin")
    run_until_idle(server.db, bash_handler)
    v2 = publish(server.db, make_spec("ui_grid", "Grid"), deprecate_previous=True)
    for _ in range(3):
        runs.trigger_run(server.db, version_id=v2, actor="admin")
    page.goto(f"{server.url}/ui/dags/ui_grid/runs")
    cells = page.locator("#runs-grid .run-cell")
    expect(cells).to_have_count(5)
    expect(cells.nth(0)).to_have_attribute("data-state", "failed")
    expect(cells.nth(4)).to_have_attribute("data-state", "queued")
    run_until_idle(server.db, bash_handler)
    for i in range(2, 5):
        expect(cells.nth(i)).to_have_attribute("data-state", "success", timeout=LIVE)
    loads = page.locator("#runs-grid [data-task=load]")
    expect(loads).to_have_count(5)
    expect(loads.nth(1)).to_have_attribute("data-state", "failed")
    screenshot(page, "runs")


def test_dag_operations_and_delete_restore_with_their_dialogs(page: Page, server: Server) -> None:
    v1 = publish(server.db, make_spec("ui_ops", "Ops"))
    runs.trigger_run(server.db, version_id=v1, actor="admin")
    run_until_idle(server.db, bash_handler)
    page.goto(f"{server.url}/ui/workflows/{v1}")
    page.get_by_role("button", name="Clear history", exact=True).click()
    expect(page.locator("#clear-history-impact")).to_contain_text("1 run(s), 2 task instance(s)")
    page.click("#dialog-confirm")
    expect(page.locator("#flash")).to_have_text("History of ui_ops cleared.")
    expect(page.locator("#runs")).to_contain_text("No runs are pinned to this version.")

    page.get_by_role("button", name="Deregister", exact=True).click()
    expect(page.locator("#dialog")).to_contain_text("leave every list and schedule")
    page.click("#dialog-confirm")
    expect(page).to_have_url(f"{server.url}/ui/workflows")
    expect(page.locator("[data-dag=ui_ops]")).to_have_count(0)
    page.check("#show-deleted")
    page.locator("[data-dag=ui_ops] .wf-link").click()
    page.get_by_role("button", name="Restore DAG", exact=True).click()
    page.click("#dialog-confirm")
    expect(page.locator("#flash")).to_have_text("DAG ui_ops restored.")

    page.locator("#detail-actions").get_by_role("button", name="Delete", exact=True).click()
    expect(page.locator("#dialog")).to_contain_text("can be restored")
    page.click("#dialog-confirm")
    expect(page.locator("#flash")).to_have_text("Workflow deleted: it can be restored.")
    assert actions_of(page, "#detail-actions") == ["Restore", "Delete permanently"]
    page.locator("#detail-actions").get_by_role("button", name="Restore", exact=True).click()
    page.click("#dialog-confirm")
    expect(page.locator("#flash")).to_have_text("Workflow restored.")
    audit_shows(
        page,
        server.url,
        "ui_ops",
        ["dag.history_cleared", "dag.deregistered", "dag.restored", "workflow.deleted"],
    )


def test_audit_page_filters_by_action_actor_target_and_time(page: Page, server: Server) -> None:
    v1 = publish(server.db, make_spec("ui_audit", "Audited"))
    draft_id = versions.create_version(server.db, v1, actor="carol").id
    versions.deprecate(server.db, v1, actor="dave")
    base = f"{server.url}/ui/audit"
    page.goto(base)
    page.fill("#audit-action", "workflow.")
    page.fill("#audit-target", "ui_audit")
    page.click("#audit-apply")
    rows = page.locator("[data-testid=audit-row]")
    expect(rows).to_have_count(4)  # by ci: version_created, published; then carol's, dave's
    screenshot(page, "audit")
    page.fill("#audit-actor", "carol")
    page.click("#audit-apply")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("workflow.version_created")
    expect(rows.first).to_contain_text(draft_id)

    page.goto(f"{base}?target={v1}&action=workflow.deprecated")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("dave")
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    page.goto(f"{base}?target=ui_audit&since={later}")
    expect(rows).to_have_count(0)
    page.goto(f"{base}?target=ui_audit&action=workflow.&until={later}")
    expect(rows).to_have_count(4)
