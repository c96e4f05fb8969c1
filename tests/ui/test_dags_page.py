"""The DAGs page in the browser: one row per DAG with its current version, schedule, last run
and a strip of recent runs, tags that filter, and the pause toggle (issue #16, point 1).

Runs progress only when the test drains them with ``run_until_idle`` (no scheduler)."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from tests.ui.conftest import Server
from tests.ui.helpers import bash_handler, make_spec, publish, screenshot

from pinflow.services.commands import _runs as runs
from pinflow.services.reads import dag_queries
from pinflow.testing import run_until_idle


def _seed(server: Server) -> None:
    tagged = make_spec("ui_dags_etl", "Nightly ETL", load="exit 1")
    publish(server.db, tagged.model_copy(update={"tags": ["nightly", "finance"], "owner": "data"}))
    other = make_spec("ui_dags_other", "Other").model_copy(update={"tags": ["adhoc"]})
    publish(server.db, other)
    for _ in range(3):
        runs.trigger_run(server.db, dag_id="ui_dags_etl", actor="tester")
    run_until_idle(server.db, bash_handler)  # each run fails at ``load``


def test_the_dags_page_shows_each_dag_its_health_and_pauses_it(page: Page, server: Server) -> None:
    _seed(server)
    page.goto(f"{server.url}/ui/dags")
    etl = page.locator("[data-testid=dag-row][data-dag=ui_dags_etl]")
    expect(etl).to_contain_text("v1")
    expect(etl).to_contain_text("@daily")
    expect(etl).to_contain_text("data")  # the owner
    expect(etl.locator(".run-strip .run-cell")).to_have_count(3)
    expect(etl.locator(".run-strip .run-cell.st-failed")).to_have_count(3)
    expect(etl.locator("td").nth(3)).to_contain_text("failed")  # the last run
    screenshot(page, "dags")

    # A tag filters the list; removing it shows every DAG again.
    etl.get_by_role("link", name="nightly").click()
    expect(page.locator("[data-testid=dag-row]")).to_have_count(1)
    expect(page.locator("#active-tags")).to_contain_text("nightly")
    page.locator("#active-tags").get_by_role("link").click()
    expect(page.locator("[data-testid=dag-row][data-dag=ui_dags_other]")).to_be_visible()

    # The pause toggle goes through the API; the database says so, and so does the filter.
    toggle = page.locator(
        "[data-testid=dag-row][data-dag=ui_dags_other] [data-action=toggle-pause]"
    )
    expect(toggle).to_have_text("Active")
    toggle.click()
    expect(toggle).to_have_text("Paused")
    expect(toggle).to_have_attribute("aria-checked", "true")
    assert dag_queries.get_dag(server.db, "ui_dags_other").is_paused
    page.select_option("#paused-filter", "paused")
    expect(page.locator("[data-testid=dag-row][data-dag=ui_dags_other]")).to_be_visible()
    expect(page.locator("[data-testid=dag-row][data-dag=ui_dags_etl]")).to_have_count(0)
    toggle = page.locator(
        "[data-testid=dag-row][data-dag=ui_dags_other] [data-action=toggle-pause]"
    )
    toggle.click()
    expect(toggle).to_have_text("Active")
    assert not dag_queries.get_dag(server.db, "ui_dags_other").is_paused

    # The versions are one click away.
    page.goto(f"{server.url}/ui/dags")
    page.locator("[data-testid=dag-row][data-dag=ui_dags_etl] .versions-link").click()
    expect(page.locator("[data-testid=workflow-row][data-dag=ui_dags_etl]")).to_have_count(1)
