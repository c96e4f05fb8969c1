"""Issue #16 points 2 and 3 in the browser: Start Run with a form generated from the DAG's
params (kept in sync with the raw JSON, unknown keys warned, the server's message shown once);
mark a task (with up/downstream) and a run success or failed; clear many tasks of the grid at
once with the same dry-run plan as a single clear.

Runs progress only when the test drains them with ``run_until_idle``; the pages' live refresh
picks the change up. Real uvicorn, real Chromium, SQLite (the API tests cover PostgreSQL).
"""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, Route, expect
from tests.ui.conftest import Server
from tests.ui.helpers import Watch, audit_shows, bash_handler, publish, screenshot

from pinflow.services.commands import _runs as runs
from pinflow.spec.models import DagSpec, TaskSpec
from pinflow.testing import ExecutionContext, TaskOutcome, run_until_idle

LIVE = 10_000  # ms


def params_spec(dag_id: str) -> DagSpec:
    return DagSpec(
        dag_id=dag_id,
        name="Params",
        project="alpha",
        params={
            "day": {"type": "string", "default": "today", "description": "Which day to load"},
            "mode": {"type": "string", "enum": ["fast", "full"], "default": "fast"},
            "limit": {"type": "integer", "required": True, "minimum": 1, "maximum": 10},
            "dry": {"type": "boolean", "default": False},
        },
        tasks=[TaskSpec(task_id="only", kind="bash", bash_command="echo only")],
    )


def chain_spec(dag_id: str, *, fail: str = "") -> DagSpec:
    """a -> b -> c; ``fail`` names the task whose command fails."""
    tasks = []
    for i, t in enumerate("abc"):
        command = "exit 1" if t == fail else f"echo {t}"
        after = list("abc"[i - 1 : i])
        tasks.append(TaskSpec(task_id=t, kind="bash", bash_command=command, depends_on=after))
    return DagSpec(dag_id=dag_id, name=dag_id, project="alpha", tasks=tasks)


def conf_of(page: Page) -> dict[str, object]:
    value = json.loads(page.locator("#run-conf").input_value())
    assert isinstance(value, dict)
    return value


def test_start_run_shows_a_form_of_the_params_in_sync_with_the_raw_json(
    page: Page, server: Server, watch: Watch
) -> None:
    v1 = publish(server.db, params_spec("ui_params"))
    page.goto(f"{server.url}/ui/workflows/{v1}")
    page.locator("#detail-actions").get_by_role("button", name="Start Run", exact=True).click()
    expect(page.locator("#param-day")).to_have_value("today")
    expect(page.locator("#help-day")).to_contain_text("Which day to load")
    expect(page.locator("#param-mode option")).to_have_text(["(default)", "fast", "full"])
    expect(page.locator("#param-limit")).to_have_attribute("type", "number")
    expect(page.locator("#param-limit")).to_have_attribute("max", "10")
    expect(page.locator("label:has(#param-limit) .param-name")).to_have_text("limit *")
    expect(page.locator("#param-dry")).not_to_be_checked()

    # Form -> JSON: only what differs from the defaults.
    page.fill("#param-limit", "4")
    page.select_option("#param-mode", label="full")
    page.click("#tab-json")
    assert conf_of(page) == {"limit": 4, "mode": "full"}
    screenshot(page, "trigger-form-json")

    # JSON -> form, and a key the DAG does not declare is warned about.
    page.fill("#run-conf", '{"limit": 3, "colour": "red", "dry": true}')
    expect(page.locator("#run-conf-warning")).to_contain_text("Not a parameter of this DAG: colour")
    page.click("#tab-form")
    expect(page.locator("#param-limit")).to_have_value("3")
    expect(page.locator("#param-mode option:checked")).to_have_text("fast")  # its default
    expect(page.locator("#param-dry")).to_be_checked()

    # The server's refusal appears once, not once per list.
    page.fill("#param-limit", "50")
    watch.expect(400, "/runs")
    page.click("#dialog-confirm")
    error = page.locator("#dialog-error")
    expect(error).to_contain_text("expected at most 10, got 50")
    assert error.inner_text().count("expected at most 10") == 1
    screenshot(page, "trigger-form")

    page.fill("#param-limit", "5")
    page.click("#dialog-confirm")
    expect(page).to_have_url(re.compile(r"/ui/dags/ui_params/runs/manual__"))
    conf = page.locator("#run-live dd code").last
    expect(conf).to_contain_text('"limit": 5')
    expect(conf).to_contain_text('"colour": "red"')


def test_a_dag_without_params_says_so_and_keeps_the_raw_json(page: Page, server: Server) -> None:
    v1 = publish(server.db, chain_spec("ui_noparams"))
    page.goto(f"{server.url}/ui/workflows/{v1}")
    page.locator("#detail-actions").get_by_role("button", name="Start Run", exact=True).click()
    expect(page.locator("#run-form")).to_contain_text("declares no parameters")
    page.click("#tab-json")
    page.fill("#run-conf", "[1")
    expect(page.locator("#run-conf-warning")).to_contain_text("not a valid JSON object")
    page.click("#dialog-confirm")
    expect(page.locator("#dialog-error")).to_contain_text("The configuration is not valid JSON")


def run_page(page: Page, server: Server, dag_id: str) -> str:
    """The page of the DAG's only run; its run id."""
    page.goto(f"{server.url}/ui/dags/{dag_id}/runs")
    page.locator("#runs-table a").first.click()
    return page.locator("#run-id").inner_text()


def test_marking_a_failed_task_success_with_its_downstream_finishes_the_run(
    page: Page, server: Server
) -> None:
    v1 = publish(server.db, chain_spec("ui_mark", fail="b"))
    runs.trigger_run(server.db, version_id=v1, actor="admin")
    run_until_idle(server.db, bash_handler)
    run_page(page, server, "ui_mark")
    expect(page.locator("#run-state")).to_have_text("failed")
    expect(page.locator("#task-c [data-testid=task-state]")).to_have_text("upstream_failed")

    page.locator("#task-b").get_by_role("button", name="Mark…").click()
    expect(page.locator("#mark-state")).to_have_value("success")  # the opposite of failed
    expect(page.locator("#mark-tasks tr")).to_have_count(1)
    expect(page.locator("#mark-tasks")).to_contain_text("failed → success")
    page.check("#mark-downstream")
    expect(page.locator("#mark-tasks tr")).to_have_count(2)
    expect(page.locator("#mark-tasks tr[data-task=c]")).to_contain_text("upstream_failed → success")
    page.check("#mark-upstream")  # a is success already: nothing more changes
    expect(page.locator("#mark-tasks tr")).to_have_count(2)
    screenshot(page, "mark-task")
    page.click("#dialog-confirm")
    expect(page.locator("#flash")).to_have_text("Marked b, c success.")
    for task in "abc":
        expect(page.locator(f"#task-{task} [data-testid=task-state]")).to_have_text("success")
    expect(page.locator("#run-state")).to_have_text("success")

    # Marking it back to what it is already: the dry run says so, confirm is disabled.
    page.locator("#task-a").get_by_role("button", name="Mark…").click()
    page.select_option("#mark-state", "success")
    expect(page.locator("#mark-plan")).to_contain_text("Nothing to change")
    expect(page.locator("#dialog-confirm")).to_be_disabled()
    page.click("#dialog-cancel")
    audit_shows(page, server.url, "ui_mark", ["task.state_set"])


def test_a_late_answer_to_an_older_mark_plan_does_not_replace_the_newer_one(
    page: Page, server: Server
) -> None:
    """The dialog asks for a plan on open (success → failed) and again when the state changes;
    the first answer is held back until the second has been shown, as a slow server might."""
    v1 = publish(server.db, chain_spec("ui_markrace"))
    runs.trigger_run(server.db, version_id=v1, actor="admin")
    run_until_idle(server.db, bash_handler)
    run_page(page, server, "ui_markrace")
    expect(page.locator("#task-a [data-testid=task-state]")).to_have_text("success")

    held: list[Route] = []
    page.route("**/dry_run*", lambda route: held.append(route) if not held else route.continue_())
    page.locator("#task-a").get_by_role("button", name="Mark…").click()
    expect(page.locator("#mark-state")).to_have_value("failed")  # the opposite of success
    page.select_option("#mark-state", "success")
    expect(page.locator("#mark-plan")).to_contain_text("Nothing to change")
    # Routes are handed over in the order the requests were made: the held one is the first.
    assert json.loads(held[0].request.post_data or "{}")["new_state"] == "failed"
    with page.expect_response("**/dry_run*"):
        held[0].continue_()
    expect(page.locator("#mark-plan")).to_contain_text("Nothing to change")
    expect(page.locator("#dialog-confirm")).to_be_disabled()


def test_marking_a_run_failed_then_success(page: Page, server: Server) -> None:
    v1 = publish(server.db, chain_spec("ui_markrun"))
    runs.trigger_run(server.db, version_id=v1, actor="admin")
    run_page(page, server, "ui_markrun")
    expect(page.locator("#run-state")).to_have_text("queued")
    actions = page.locator("#run-actions")
    actions.get_by_role("button", name="Mark run failed").click()
    expect(page.locator("#mark-run-tasks")).to_contain_text("the ones not started skipped")
    page.click("#dialog-confirm")
    expect(page.locator("#flash")).to_contain_text("marked failed.")
    expect(page.locator("#run-state")).to_have_text("failed")
    expect(page.locator("#task-a [data-testid=task-state]")).to_have_text("skipped")
    expect(actions.get_by_role("button", name="Mark run failed")).to_have_count(0)

    actions.get_by_role("button", name="Mark run success").click()
    page.click("#dialog-confirm")
    expect(page.locator("#flash")).to_contain_text("marked success.")
    expect(page.locator("#run-state")).to_have_text("success")
    expect(page.locator("#task-a [data-testid=task-state]")).to_have_text("skipped")  # an outcome
    audit_shows(page, server.url, "ui_markrun", ["run.state_set"])


def test_clearing_tasks_of_several_runs_from_the_grid_shows_each_runs_plan(
    page: Page, server: Server
) -> None:
    v1 = publish(server.db, chain_spec("ui_many", fail="c"))
    for _ in range(2):
        runs.trigger_run(server.db, version_id=v1, actor="admin")
    run_until_idle(server.db, bash_handler)
    publish(server.db, chain_spec("ui_many"), deprecate_previous=True)
    page.goto(f"{server.url}/ui/dags/ui_many/runs")
    expect(page.locator("#clear-selected")).to_be_hidden()
    page.click("#select-tasks")
    expect(page.locator("#clear-selected")).to_be_disabled()
    cs = page.locator("#runs-grid a.cell[data-task=c]")
    bs = page.locator("#runs-grid a.cell[data-task=b]")
    for cell in (cs.nth(0), cs.nth(1), bs.nth(1), bs.nth(0)):
        cell.click()
    bs.nth(0).click()  # a second click unselects
    expect(page).to_have_url(f"{server.url}/ui/dags/ui_many/runs")  # no navigation
    expect(page.locator("#selection-count")).to_have_text("3 selected")
    expect(page.locator("#runs-grid a.cell.selected")).to_have_count(3)

    page.click("#clear-selected")
    expect(page.locator("#dialog")).to_contain_text("Clear 3 task instance(s) in 2 runs")
    plans = page.locator("#clear-plan .plan-run")
    expect(plans).to_have_count(2)
    expect(plans.nth(0).locator(".plan-version")).to_contain_text("v1 (deprecated) → v2 (active)")
    expect(plans.nth(0).locator("tr[data-plan=re_executed]")).to_have_text(["cRe-executedfailed"])
    expect(plans.nth(1).locator("tr[data-plan=re_executed]")).to_have_count(2)  # b and c
    expect(plans.nth(1).locator("tr[data-plan=reused]")).to_contain_text("a")
    screenshot(page, "clear-many")
    page.click("#dialog-confirm")
    expect(page.locator("#flash")).to_have_text("Cleared: 2 runs are queued again.")
    expect(page.locator("#runs-grid .run-cell[data-state=queued]")).to_have_count(2)
    run_until_idle(server.db, bash_handler)
    expect(page.locator("#runs-grid .run-cell[data-state=success]")).to_have_count(2, timeout=LIVE)
    audit_shows(page, server.url, "ui_many", ["run.tasks_cleared"])


def test_clearing_one_element_of_a_mapped_task_reruns_only_it(page: Page, server: Server) -> None:
    spec = DagSpec(
        dag_id="ui_fan",
        name="Fan",
        project="alpha",
        tasks=[
            TaskSpec(task_id="list", kind="bash", bash_command="echo list"),
            TaskSpec(
                task_id="square",
                kind="bash",
                bash_command="echo sq",
                expand={"x": {"task_id": "list"}},
            ),
        ],
    )
    v1 = publish(server.db, spec)
    runs.trigger_run(server.db, version_id=v1, actor="admin")
    failing = {1}

    def handle(ctx: ExecutionContext) -> TaskOutcome:
        if ctx.task_id == "list":
            return TaskOutcome(success=True, value=[1, 2, 3])
        return TaskOutcome(success=ctx.map_index not in failing, error="unlucky")

    run_until_idle(server.db, handle)
    run_page(page, server, "ui_fan")
    expect(page.locator("#task-square-1 [data-testid=task-state]")).to_have_text("failed")
    page.locator("#task-square-1").get_by_role("button", name="Clear").click()
    expect(page.locator("#dialog")).to_contain_text("square[1] (this element only)")
    expect(page.locator("#plan-version")).to_contain_text("unchanged")
    expect(page.locator("#plan-tasks tr[data-plan=re_executed]")).to_contain_text("square")
    page.click("#dialog-confirm")
    expect(page.locator("#flash")).to_have_text("Cleared: the run is queued again.")
    expect(page.locator("#task-square-1 [data-testid=task-state]")).to_have_text("none")
    expect(page.locator("#task-square-0 [data-testid=task-state]")).to_have_text("success")
    failing.clear()
    run_until_idle(server.db, handle)
    expect(page.locator("#run-state")).to_have_text("success", timeout=LIVE)
    tries = page.locator("#task-instances tr[data-task=square] td:nth-child(3)")
    expect(tries).to_have_text(["1", "2", "1"])  # only element 1 ran again
