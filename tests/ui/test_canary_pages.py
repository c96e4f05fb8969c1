"""The Canary action in the browser (issue #18, point 2): on a draft's page the dialog shows
the dry-run plan (which runs, which tasks are reused or re-run), Start canary starts them,
and the comparison page says how they did. Real uvicorn, real Chromium, SQLite."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from tests.ui.conftest import Server
from tests.ui.helpers import bash_handler, make_spec, publish

from pinflow.lifecycle.permissions import Principal, Role
from pinflow.services.commands import runs, versions
from pinflow.services.reads import queries
from pinflow.testing import run_until_idle
from pinflow.ui.pages_workflows import canary_facts


def test_canary_plan_start_and_comparison(page: Page, server: Server) -> None:
    v1 = publish(server.db, make_spec("canary_etl", "Canary ETL", load="exit 1"))
    for day in ("mon", "tue"):
        runs.trigger_run(server.db, dag_id="canary_etl", conf={"day": day}, actor="admin")
    run_until_idle(server.db, bash_handler)
    draft = versions.create_version(server.db, v1, actor="admin").id
    fixed = make_spec("canary_etl", "Canary ETL", load="echo fixed")
    versions.edit_draft(server.db, draft, fixed, actor="admin")

    page.goto(f"{server.url}/ui/workflows/{draft}")
    page.locator("#canary button[data-action=canary]").click()
    plan = page.locator("#canary-plan")
    expect(plan.locator("#canary-head")).to_contain_text(
        "draft of v1 replaying 2 run(s) of v1 · changed tasks: load"
    )
    expect(plan.locator(".plan-run")).to_have_count(2)
    first = plan.locator(".plan-run").first
    expect(first.locator("tr[data-task=extract] td").nth(1)).to_have_text("Reused")
    expect(first.locator("tr[data-task=load] td").nth(1)).to_have_text("Re-run")
    page.locator("#canary-last").fill("1")
    page.locator("#canary-last").dispatch_event("change")
    expect(plan.locator(".plan-run")).to_have_count(1)
    page.locator("#canary-reuse").uncheck()
    expect(first.locator("tr[data-task=extract] td").nth(1)).to_have_text("Re-run")
    page.locator("#canary-reuse").check()
    page.locator("#canary-last").fill("2")
    page.locator("#canary-last").dispatch_event("change")
    expect(plan.locator(".plan-run")).to_have_count(2)

    page.locator("#dialog-confirm").click()
    expect(page).to_have_url(f"{server.url}/ui/workflows/{draft}/canary")
    expect(page.locator("#flash")).to_contain_text("Canary started: 2 run(s) of v1.")
    expect(page.locator("#canary-summary")).to_contain_text("2 not finished")

    run_until_idle(server.db, bash_handler)
    page.reload()
    expect(page.locator("#canary-summary")).to_have_text(
        "draft of v1 vs v1 on 2 runs: 2 fixed, 0 still failing, 0 regressed"
    )
    expect(page.locator("#canary-runs tr[data-outcome=fixed]")).to_have_count(2)
    load = page.locator(".canary-tasks").first.locator("tr[data-task=load]")
    expect(load).to_have_attribute("data-change", "state")
    expect(load.locator("td").nth(2)).to_have_text("failed")
    expect(load.locator("td").nth(3)).to_have_text("success")

    page.goto(f"{server.url}/ui/workflows/{draft}")
    expect(page.locator("#canary-latest")).to_have_text(
        "draft of v1 vs v1 on 2 runs: 2 fixed, 0 still failing, 0 regressed"
    )


def test_the_canary_button_is_for_those_who_may_run_the_version(server: Server) -> None:
    v1 = publish(server.db, make_spec("canary_who", "Canary Who"))
    draft = versions.create_version(server.db, v1, actor="admin").id
    viewer = Principal("vic", roles={"alpha": Role.VIEWER})
    operator = Principal("olga", roles={"alpha": Role.OPERATOR})
    for version_id, who, expected in (
        (draft, viewer, False),
        (draft, operator, True),
        (v1, operator, True),
    ):
        facts = canary_facts(server.db, who, queries.get_version(server.db, version_id), None)
        assert facts["can_start"] is expected, (version_id, who.username)
    versions.deprecate(server.db, v1, actor="admin")
    deprecated = queries.get_version(server.db, v1)
    assert canary_facts(server.db, operator, deprecated, None)["can_start"] is False
