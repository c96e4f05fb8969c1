"""A DAG's versions page in the browser (issue #18, points 3 and 5): the lineage timeline with
status, events and who did them, run figures; the retirement policy form, its preview, and
what the policy did (actor ``policy``). Real uvicorn, real Chromium, SQLite."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect
from tests.ui.conftest import Server
from tests.ui.helpers import Watch, make_spec, publish, screenshot

from pinflow.lifecycle.permissions import Role
from pinflow.services.commands import _users as users
from pinflow.services.commands import retirement, versions
from pinflow.services.commands._runs import trigger_run
from pinflow.testing import run_until_idle, scripted


def test_policy_form_preview_and_lineage(page: Page, server: Server, watch: Watch) -> None:
    v1 = publish(server.db, make_spec("retire_etl", "Retire ETL"))
    trigger_run(server.db, version_id=v1, run_id="r1", actor="admin")
    run_until_idle(server.db, scripted({}))
    publish(server.db, make_spec("retire_etl", "Retire ETL", load="echo v2"))

    page.goto(f"{server.url}/ui/dags")
    page.locator("tr[data-dag=retire_etl] .lineage-link").click()
    expect(page.locator("#dag-title")).to_have_text("retire_etl: versions")
    expect(page.locator("#preview-empty")).to_have_text("Nothing to retire.")
    timeline = page.locator("[data-testid=lineage-version]")
    expect(timeline).to_have_count(2)
    newest, oldest = timeline.nth(0), timeline.nth(1)
    expect(newest).to_have_attribute("data-version", "2")
    expect(newest).to_contain_text("current")
    expect(newest).to_contain_text("from v1")
    expect(oldest.locator("[data-testid=lineage-runs]")).to_contain_text("1 run · 1 succeeded")
    expect(oldest.locator("[data-testid=lineage-runs]")).to_contain_text("success 100%")
    expect(oldest.locator("[data-action='workflow.published']")).to_contain_text("by ci")

    # A bad duration: the API's message, and nothing saved.
    watch.expect(422, "/retirement-policy")
    page.fill("#keep-active", "1")
    page.fill("#purge-after", "a month")
    page.click("#save-policy")
    expect(page.locator("#flash")).to_contain_text("write a whole number and a unit")
    page.fill("#purge-after", "30d")
    page.click("#save-policy")
    expect(page.locator("#flash")).to_contain_text("Retirement policy saved")
    action = page.locator("[data-testid=preview-action]")
    expect(action).to_have_count(1)
    expect(action).to_have_attribute("data-kind", "deprecate")
    expect(action).to_have_attribute("data-status", "due")
    expect(action).to_contain_text("v1")
    expect(action).to_contain_text("KeepActive")
    expect(page.locator("#keep-active")).to_have_value("1")
    expect(page.locator("#purge-after")).to_have_value("30d")

    # The scheduler's pass (the service it calls) applies it; the page shows who and why.
    assert len(retirement.apply_due(server.db)) == 1
    page.reload()
    expect(oldest).to_have_attribute("data-status", "deprecated")
    event = oldest.locator("[data-action='workflow.deprecated']")
    expect(event).to_contain_text("by policy")
    expect(event).to_contain_text("KeepActive")
    expect(action).to_have_attribute("data-kind", "purge")
    expect(action).to_have_attribute("data-status", "scheduled")
    screenshot(page, "dag-versions")


def test_members_see_the_policy_read_only(browser: Browser, server: Server) -> None:
    v1 = publish(server.db, make_spec("retire_ro", "Read only"))
    users.create_user(server.db, "reader", None, actor="test")
    users.grant_role(server.db, "reader", "alpha", Role.VIEWER, actor="test")
    versions.create_version(server.db, v1, actor="admin")
    ctx = browser.new_context()
    ctx.add_cookies([{"name": "pinflow_token", "value": server.token("reader"), "url": server.url}])
    page = ctx.new_page()
    page.goto(f"{server.url}/ui/dags/retire_ro/versions")
    expect(page.locator("#policy-facts")).to_contain_text("any number")
    expect(page.locator("#retirement-form")).to_have_count(0)
    timeline = page.locator("[data-testid=lineage-version]")
    expect(timeline.nth(0)).to_have_attribute("data-status", "draft")
    ctx.close()
